/** A definition's schema with `metadata` expanded to the full ObjectMeta schema (for validation, pruning, defaulting). */
import { OBJECT_META_SCHEMA } from './objectmeta.js';
import type { JSONSchema, ResourceDefinition } from './types.js';

const cache = new WeakMap<ResourceDefinition, JSONSchema>();

export function fullSchema(def: ResourceDefinition): JSONSchema {
  let s = cache.get(def);
  if (!s) {
    s = { ...def.schema, properties: { ...def.schema.properties, metadata: OBJECT_META_SCHEMA } };
    cache.set(def, s);
  }
  return s;
}

/** The schema for the value under `key` of an object described by `s` (a property or a map value). */
export function childSchema(s: JSONSchema | undefined, key: string): { schema: JSONSchema | undefined; isMapKey: boolean } {
  if (!s) return { schema: undefined, isMapKey: false };
  // Own properties only: `key in` would find `constructor`, `toString`… on Object.prototype
  // and take a function for the schema of an unknown field of that name.
  if (s.properties && Object.hasOwn(s.properties, key)) return { schema: s.properties[key], isMapKey: false };
  if (s.additionalProperties) return { schema: s.additionalProperties, isMapKey: true };
  return { schema: undefined, isMapKey: false };
}
