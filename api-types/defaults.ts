/**
 * Defaulting driven by the `default` values in the schemas (one source for the CRDs, the
 * docs and the apiserver): a property with a default that is absent from an object that
 * is present gets the default, as a Kubernetes structural-schema defaulter does.
 */
import type { KubeObject } from './meta.js';
import { resourceForKind } from './registry.js';
import { childSchema, fullSchema } from './schema/resolve.js';
import type { JSONSchema, ResourceDefinition } from './schema/types.js';

/** Per schema: its properties that have a default (most have none; computed once). */
const defaultedProperties = new WeakMap<JSONSchema, [string, JSONSchema][]>();

function propertiesWithDefaults(s: JSONSchema): [string, JSONSchema][] {
  let list = defaultedProperties.get(s);
  if (!list) {
    list = Object.entries(s.properties ?? {}).filter(([, p]) => p.default !== undefined);
    defaultedProperties.set(s, list);
  }
  return list;
}

function fill(s: JSONSchema | undefined, data: unknown): unknown {
  if (!s || data === null || typeof data !== 'object') return data;
  if (Array.isArray(data)) return s.type === 'array' ? data.map((item) => fill(s.items, item)) : data;
  if (s['x-kubernetes-preserve-unknown-fields'] && !s.properties) return data;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(data)) out[k] = fill(childSchema(s, k).schema, (data as Record<string, unknown>)[k]);
  for (const [k, p] of propertiesWithDefaults(s)) {
    if (out[k] === undefined) out[k] = fill(p, structuredClone(p.default));
  }
  return out;
}

/**
 * A defaulted copy of `obj` (never mutates it). VirtualMachine: runStrategy Always, cpu 1,
 * paused false, disk bus virtio, network type user and model virtio; Node: unschedulable
 * false when spec is present. Values of the wrong type are left for validation to report.
 */
export function applyDefaults<T>(kind: string | ResourceDefinition, obj: T): T {
  const def = typeof kind === 'string' ? resourceForKind(kind) : kind;
  if (!def) throw new Error(`unknown kind ${JSON.stringify(kind)}`);
  return fill(fullSchema(def), obj) as T;
}

/** applyDefaults for a stored object. */
export function defaulted<T extends KubeObject>(obj: T): T {
  if (typeof obj.kind !== 'string') throw new Error('object has no kind');
  return applyDefaults(obj.kind, obj);
}
