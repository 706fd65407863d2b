/**
 * OpenAPI v3 documents for /openapi/v3/apis/<group>/<version> (what `kubectl explain` reads):
 * each kind's schema inlined, with `x-kubernetes-group-version-kind`, and `metadata`
 * referencing the shared ObjectMeta schema as the Kubernetes apiserver does.
 */
import { apiVersionOf } from './group-version.js';
import { RESOURCES } from './registry.js';
import { LIST_META_SCHEMA, MANAGED_FIELDS_ENTRY_SCHEMA, OBJECT_META_SCHEMA, OWNER_REFERENCE_SCHEMA } from './schema/objectmeta.js';
import type { JSONSchema, ResourceDefinition } from './schema/types.js';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
export const OBJECT_META_REF = `#/components/schemas/${META}.ObjectMeta`;
export const LIST_META_REF = `#/components/schemas/${META}.ListMeta`;

/** An OpenAPI v3 schema object (JSONSchema plus $ref / allOf and the GVK extension). */
export type OpenAPISchema = Record<string, unknown>;

export interface OpenAPIDocument {
  openapi: '3.0.0';
  info: { title: string; version: string };
  paths: Record<string, unknown>;
  components: { schemas: Record<string, OpenAPISchema> };
}

/** Component name of a kind: `io.quantix.v1alpha1.VirtualMachine`, `io.k8s.api.core.v1.Event`. */
export function openAPIName(def: { group: string; version: string }, kind: string): string {
  if (def.group === '') return `io.k8s.api.core.${def.version}.${kind}`;
  if (def.group.endsWith('.k8s.io')) return `io.k8s.api.${def.group.slice(0, -'.k8s.io'.length)}.${def.version}.${kind}`;
  return `${def.group.split('.').reverse().join('.')}.${def.version}.${kind}`;
}

function gvk(def: ResourceDefinition, kind: string): { group: string; version: string; kind: string }[] {
  return [{ group: def.group, version: def.version, kind }];
}

/** The OpenAPI v3 schema of one kind. */
export function openAPISchemaFor(def: ResourceDefinition): OpenAPISchema {
  const schema = structuredClone(def.schema) as JSONSchema & Record<string, unknown>;
  const props = schema.properties as Record<string, unknown>;
  props.metadata = { allOf: [{ $ref: OBJECT_META_REF }], default: {}, description: "Standard object's metadata." };
  return { ...schema, 'x-kubernetes-group-version-kind': gvk(def, def.kind) };
}

/** The OpenAPI v3 schema of a kind's list. */
export function openAPIListSchemaFor(def: ResourceDefinition): OpenAPISchema {
  return {
    type: 'object',
    description: `${def.listKind} is a list of ${def.kind}.`,
    required: ['items'],
    properties: {
      apiVersion: { type: 'string', description: 'APIVersion defines the versioned schema of this representation of an object.' },
      kind: { type: 'string', description: 'Kind is a string value representing the REST resource this object represents.' },
      metadata: { allOf: [{ $ref: LIST_META_REF }], default: {}, description: "Standard list's metadata." },
      items: { type: 'array', items: { allOf: [{ $ref: `#/components/schemas/${openAPIName(def, def.kind)}` }], default: {} } },
    },
    'x-kubernetes-group-version-kind': gvk(def, def.listKind),
  };
}

function metaSchemas(): Record<string, OpenAPISchema> {
  const objectMeta = structuredClone(OBJECT_META_SCHEMA) as JSONSchema & Record<string, unknown>;
  const p = objectMeta.properties as Record<string, Record<string, unknown>>;
  p.ownerReferences = { ...p.ownerReferences, items: { allOf: [{ $ref: `#/components/schemas/${META}.OwnerReference` }], default: {} } };
  p.managedFields = { ...p.managedFields, items: { allOf: [{ $ref: `#/components/schemas/${META}.ManagedFieldsEntry` }], default: {} } };
  return {
    [`${META}.ObjectMeta`]: objectMeta,
    [`${META}.ListMeta`]: structuredClone(LIST_META_SCHEMA) as OpenAPISchema,
    [`${META}.OwnerReference`]: structuredClone(OWNER_REFERENCE_SCHEMA) as OpenAPISchema,
    [`${META}.ManagedFieldsEntry`]: structuredClone(MANAGED_FIELDS_ENTRY_SCHEMA) as OpenAPISchema,
  };
}

/** The OpenAPI v3 document of one group/version (`quantix.io`, `v1alpha1`; `''`, `v1` for core). */
export function openAPIDocument(group: string, version: string): OpenAPIDocument {
  const defs = RESOURCES.filter((d) => d.group === group && d.version === version);
  const schemas: Record<string, OpenAPISchema> = metaSchemas();
  for (const def of defs) {
    schemas[openAPIName(def, def.kind)] = openAPISchemaFor(def);
    schemas[openAPIName(def, def.listKind)] = openAPIListSchemaFor(def);
  }
  return {
    openapi: '3.0.0',
    info: { title: 'Quantix', version: apiVersionOf({ group, version }) },
    paths: {},
    components: { schemas },
  };
}
