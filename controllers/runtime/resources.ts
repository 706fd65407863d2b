/** The resources the controllers use, as REST coordinates (from the api-types registry). */
import {
  apiVersionOf, eventDefinition, leaseDefinition, nodeDefinition, storagePoolDefinition, virtualMachineDefinition,
} from '../../api-types/registry.js';

export interface ResourceRef {
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

function ref(def: { group: string; version: string; plural: string; kind: string; namespaced: boolean }): ResourceRef {
  return { group: def.group, version: def.version, plural: def.plural, kind: def.kind, namespaced: def.namespaced };
}

export const VirtualMachines = ref(virtualMachineDefinition);
export const StoragePools = ref(storagePoolDefinition);
export const Nodes = ref(nodeDefinition);
export const Events = ref(eventDefinition);
export const Leases = ref(leaseDefinition);

export function apiVersion(r: ResourceRef): string {
  return apiVersionOf(r);
}

/** /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]] (core: /api/v1/…). */
export function resourcePath(r: ResourceRef, namespace?: string, name?: string, subresource?: string): string {
  let p = r.group ? `/apis/${r.group}/${r.version}` : `/api/${r.version}`;
  if (r.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${r.plural}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/** The queue key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function keyOf(obj: { metadata: { namespace?: string; name?: string } }): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
