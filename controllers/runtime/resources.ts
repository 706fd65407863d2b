/** The resources the controllers use, as REST coordinates (from the api-types registry). */
import {
  eventDefinition,
  hostJoinDefinition,
  imageDefinition,
  leaseDefinition,
  networkDefinition,
  nodeDefinition,
  storagePoolDefinition,
  virtualMachineDefinition,
  virtualMachineRestoreDefinition,
  virtualMachineSnapshotDefinition,
} from '../../api-types/registry.js';
import type { RestResource } from '../../api-types/group-version.js';

/** A resource's REST coordinates and its kind (written into the objects the controllers send). */
export interface ResourceRef extends RestResource {
  kind: string;
}

function ref(def: { group: string; version: string; plural: string; kind: string; namespaced: boolean }): ResourceRef {
  return { group: def.group, version: def.version, plural: def.plural, kind: def.kind, namespaced: def.namespaced };
}

export const VirtualMachines = ref(virtualMachineDefinition);
export const VirtualMachineSnapshots = ref(virtualMachineSnapshotDefinition);
export const VirtualMachineRestores = ref(virtualMachineRestoreDefinition);
export const StoragePools = ref(storagePoolDefinition);
export const Nodes = ref(nodeDefinition);
export const Events = ref(eventDefinition);
export const Leases = ref(leaseDefinition);
export const Images = ref(imageDefinition);
export const Networks = ref(networkDefinition);
export const HostJoins = ref(hostJoinDefinition);
/** Not a stored resource: the apiserver's bootstrap-token routes (create answers the secret once). */
export const BootstrapTokens: ResourceRef = { group: 'quantix.io', version: 'v1alpha1', plural: 'bootstraptokens', kind: 'BootstrapToken', namespaced: false };

/** The queue key of an object: `namespace/name`, or `name` when cluster-scoped. */
export function keyOf(obj: { metadata: { namespace?: string; name?: string } }): string {
  const { namespace, name } = obj.metadata;
  return namespace ? `${namespace}/${name ?? ''}` : (name ?? '');
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
