/**
 * Schema fragments shared by several kinds, and the name patterns used by schemas and
 * semantic validation. Fragments are shared by identity so the TS emitter writes each once.
 */
import { QUANTITY_PATTERN } from '../quantity.js';
import { named, type JSONSchema } from './types.js';

/** RFC 1123 label: lower-case alphanumerics and '-', starting and ending alphanumeric, ≤ 63. */
export const DNS1123_LABEL_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?$';
/** RFC 1123 subdomain: dot-separated labels, ≤ 253. */
export const DNS1123_SUBDOMAIN_PATTERN = '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$';
export const MAC_PATTERN = '^([0-9a-fA-F]{2}:){5}[0-9a-fA-F]{2}$';
export const UUID_PATTERN = '^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$';

/**
 * Readable messages for the schema patterns above, used by validation instead of
 * "must match pattern …".
 */
export const PATTERN_MESSAGES: Record<string, string> = {
  [QUANTITY_PATTERN]: 'must be a quantity like 2Gi',
  [DNS1123_LABEL_PATTERN]:
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')",
  [DNS1123_SUBDOMAIN_PATTERN]:
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
  [MAC_PATTERN]: 'must be a MAC address like 52:54:00:12:34:56',
  [UUID_PATTERN]: 'must be a UUID like 0f8fad5b-d9cb-469f-a165-70867728950e',
};

export function str(description: string, extra: Partial<JSONSchema> = {}): JSONSchema {
  return { type: 'string', description, ...extra };
}
export function int(description: string, extra: Partial<JSONSchema> = {}): JSONSchema {
  return { type: 'integer', description, ...extra };
}
export function bool(description: string, extra: Partial<JSONSchema> = {}): JSONSchema {
  return { type: 'boolean', description, ...extra };
}
export function time(description: string): JSONSchema {
  return { type: 'string', format: 'date-time', description };
}
export function quantity(description: string): JSONSchema {
  return { type: 'string', pattern: QUANTITY_PATTERN, description };
}
export function stringMap(description: string): JSONSchema {
  return { type: 'object', description, additionalProperties: { type: 'string' } };
}
export function stringSet(description: string, itemPattern?: string): JSONSchema {
  return {
    type: 'array',
    description,
    items: itemPattern ? { type: 'string', pattern: itemPattern } : { type: 'string' },
    'x-kubernetes-list-type': 'set',
  };
}

export const ConditionStatus = named('ConditionStatus', {
  type: 'string',
  enum: ['True', 'False', 'Unknown'],
  description: 'Status of a condition.',
} satisfies JSONSchema);

/** metav1.Condition: the condition shape of VirtualMachine and StoragePool. */
export const Condition = named('Condition', {
  type: 'object',
  description: 'One aspect of the current state of a resource (metav1.Condition).',
  required: ['type', 'status'],
  properties: {
    type: str('Condition type in CamelCase, e.g. Ready.'),
    status: ConditionStatus,
    reason: str('Machine-readable CamelCase reason for the last transition.'),
    message: str('Human-readable details about the last transition.'),
    lastTransitionTime: time('When the status last changed.'),
    observedGeneration: int('metadata.generation the condition was computed from.', { minimum: 0 }),
  },
} satisfies JSONSchema);

export function conditions(description: string, item: JSONSchema = Condition): JSONSchema {
  return {
    type: 'array',
    description,
    items: item,
    'x-kubernetes-list-type': 'map',
    'x-kubernetes-list-map-keys': ['type'],
  };
}

/** The placeholder for `metadata`: a plain object in CRDs, ObjectMeta everywhere else. */
export const ObjectMetaRef = named('ObjectMeta', { type: 'object', description: "Standard object's metadata." } satisfies JSONSchema, {
  importFrom: '../meta.js',
});

/** The top-level schema of a resource: apiVersion, kind, metadata and the given fields. */
export function resourceSchema(description: string, properties: Record<string, JSONSchema>, required: string[] = []): JSONSchema {
  return {
    type: 'object',
    description,
    ...(required.length ? { required } : {}),
    properties: {
      apiVersion: str('APIVersion defines the versioned schema of this representation of an object.'),
      kind: str('Kind is a string value representing the REST resource this object represents.'),
      metadata: ObjectMetaRef,
      ...properties,
    },
  };
}
