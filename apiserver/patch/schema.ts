/**
 * The structural schema the patch modules read, and how a value is shaped under it.
 *
 * `StructuralSchema` is the subset of an apiextensions/v1 JSONSchemaProps (the OpenAPI v3
 * schema of a CRD) that matters for merging and field ownership; the resource schemas in
 * `api-types/schema` are assignable to it. Where a value has no schema (no schema given,
 * an undeclared field), it is treated as Kubernetes treats unknown ("deduced") types:
 * objects merge key by key and lists are atomic.
 */
import { canonicalJson, getOwn, hasOwn, isObject } from './json.js';
import type { PathElement } from './field-set.js';

export interface StructuralSchema {
  type?: string;
  properties?: Record<string, StructuralSchema>;
  additionalProperties?: boolean | StructuralSchema;
  items?: StructuralSchema;
  /** `atomic` (default): replaced whole. `set`: scalar items merged by value. `map`: items merged by key. */
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  /** `atomic`: the object is replaced whole and owned as one field. */
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/**
 * The schema of the metadata fields that field management tracks, as in Kubernetes'
 * ObjectMeta: labels and annotations are granular maps, finalizers a set, ownerReferences
 * a list-map keyed by uid. Other metadata is never tracked (see managed-fields.ts).
 */
export const OBJECT_META_SCHEMA: StructuralSchema = {
  type: 'object',
  properties: {
    labels: { type: 'object', additionalProperties: { type: 'string' } },
    annotations: { type: 'object', additionalProperties: { type: 'string' } },
    finalizers: { type: 'array', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
    ownerReferences: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          apiVersion: { type: 'string' },
          kind: { type: 'string' },
          name: { type: 'string' },
          uid: { type: 'string' },
          controller: { type: 'boolean' },
          blockOwnerDeletion: { type: 'boolean' },
        },
      },
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['uid'],
    },
  },
};

/** The kind's schema with `metadata` replaced by {@link OBJECT_META_SCHEMA}. */
export function withObjectMeta(schema: StructuralSchema | undefined): StructuralSchema {
  return { ...(schema ?? { type: 'object' }), properties: { ...schema?.properties, metadata: OBJECT_META_SCHEMA } };
}

/** The schema of an object's field, and whether the field is declared (a named property). */
export function fieldSchema(schema: StructuralSchema | undefined, key: string): { schema?: StructuralSchema; declared: boolean } {
  if (schema?.properties && hasOwn(schema.properties, key)) return { schema: schema.properties[key], declared: true };
  const additional = schema?.additionalProperties;
  return { schema: isObject(additional) ? additional : undefined, declared: false };
}

/** A list item with the path element that names it. */
export interface ListItem {
  element: PathElement;
  value: unknown;
}

/** How a value is merged and tracked under its schema. */
export type Shape = { kind: 'leaf' } | { kind: 'map' } | { kind: 'list'; items: ListItem[] };

/** A list-map or set whose items cannot be told apart by key (missing keys, duplicates). */
export class InvalidListError extends Error {
  constructor(readonly reason: string) {
    super(reason);
    this.name = 'InvalidListError';
  }
}

/**
 * The shape of `value` under `schema`. Scalars, atomic lists and atomic maps are leaves.
 * A list-map or set whose items cannot be keyed is an {@link InvalidListError} when
 * `strict` (an applied config), otherwise treated as atomic (a stored object is never
 * refused for it).
 */
export function shapeOf(schema: StructuralSchema | undefined, value: unknown, strict: boolean): Shape {
  if (isObject(value)) {
    if (schema?.['x-kubernetes-map-type'] === 'atomic') return { kind: 'leaf' };
    if (schema?.type !== undefined && schema.type !== 'object') return { kind: 'leaf' };
    return { kind: 'map' };
  }
  if (!Array.isArray(value)) return { kind: 'leaf' };
  const listType = schema?.['x-kubernetes-list-type'];
  const keys = schema?.['x-kubernetes-list-map-keys'] ?? [];
  let items: ListItem[] | string;
  if (listType === 'map' && keys.length > 0) items = keyedItems(value, keys);
  else if (listType === 'set') items = setItems(value);
  else return { kind: 'leaf' };
  if (typeof items === 'string') {
    if (strict) throw new InvalidListError(items);
    return { kind: 'leaf' };
  }
  return { kind: 'list', items };
}

function keyedItems(list: unknown[], keys: string[]): ListItem[] | string {
  const seen = new Set<string>();
  const items: ListItem[] = [];
  for (const [index, item] of list.entries()) {
    if (!isObject(item)) return `item ${index} must be an object`;
    const key: Record<string, unknown> = {};
    for (const name of keys) {
      const value = getOwn(item, name);
      if (value === undefined || value === null) return `item ${index} has no key field "${name}"`;
      if (typeof value === 'object') return `key field "${name}" of item ${index} must be a string, number or boolean`;
      key[name] = value;
    }
    const element = `k:${canonicalJson(key)}`;
    if (seen.has(element)) return `duplicate entries for key ${keys.map((k) => `${k}=${JSON.stringify(key[k])}`).join(',')}`;
    seen.add(element);
    items.push({ element, value: item });
  }
  return items;
}

function setItems(list: unknown[]): ListItem[] | string {
  const seen = new Set<string>();
  const items: ListItem[] = [];
  for (const value of list) {
    const element = `v:${canonicalJson(value)}`;
    if (seen.has(element)) return `duplicate value ${canonicalJson(value)} in a set`;
    seen.add(element);
    items.push({ element, value });
  }
  return items;
}
