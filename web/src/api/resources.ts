/**
 * The API resources the UI reads and writes, and their object paths (collections:
 * resourcePath from lib/apimachinery). Kinds and types come
 * from api-types; only the REST coordinates are spelled out here.
 */
import type {
  Event,
  HostJoin,
  Image,
  Network,
  Node,
  StoragePool,
  VirtualMachine,
  VirtualMachineRestore,
  VirtualMachineSnapshot,
} from '../../../api-types/generated/types.js';
import type { KubeObject } from '../../../api-types/meta.js';
import { resourcePath, type RestResource } from '../../../api-types/group-version.js';

export interface ResourceRef<T extends KubeObject = KubeObject> extends RestResource {
  /** Key of the shared watch for this resource (one stream per key). */
  key: string;
  kind: string;
  /** Phantom field carrying the object type. */
  readonly _type?: T;
}

export const VirtualMachines: ResourceRef<VirtualMachine> = {
  key: 'virtualmachines',
  group: 'quantix.io',
  version: 'v1alpha1',
  plural: 'virtualmachines',
  kind: 'VirtualMachine',
  namespaced: true,
};
export const VirtualMachineSnapshots: ResourceRef<VirtualMachineSnapshot> = {
  key: 'virtualmachinesnapshots',
  group: 'quantix.io',
  version: 'v1alpha1',
  plural: 'virtualmachinesnapshots',
  kind: 'VirtualMachineSnapshot',
  namespaced: true,
};
export const VirtualMachineRestores: ResourceRef<VirtualMachineRestore> = {
  key: 'virtualmachinerestores',
  group: 'quantix.io',
  version: 'v1alpha1',
  plural: 'virtualmachinerestores',
  kind: 'VirtualMachineRestore',
  namespaced: true,
};
export const Nodes: ResourceRef<Node> = { key: 'nodes', group: 'quantix.io', version: 'v1alpha1', plural: 'nodes', kind: 'Node', namespaced: false };
export const StoragePools: ResourceRef<StoragePool> = {
  key: 'storagepools',
  group: 'quantix.io',
  version: 'v1alpha1',
  plural: 'storagepools',
  kind: 'StoragePool',
  namespaced: false,
};
export const Images: ResourceRef<Image> = { key: 'images', group: 'quantix.io', version: 'v1alpha1', plural: 'images', kind: 'Image', namespaced: false };
export const Networks: ResourceRef<Network> = {
  key: 'networks',
  group: 'quantix.io',
  version: 'v1alpha1',
  plural: 'networks',
  kind: 'Network',
  namespaced: false,
};
export const HostJoins: ResourceRef<HostJoin> = {
  key: 'hostjoins',
  group: 'quantix.io',
  version: 'v1alpha1',
  plural: 'hostjoins',
  kind: 'HostJoin',
  namespaced: false,
};
export const Events: ResourceRef<Event> = { key: 'events', group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };

/** An object (or its subresource); a namespaced object without a namespace is in `default`. */
export function objectPath(ref: ResourceRef, namespace: string | undefined, name: string, subresource?: string): string {
  return resourcePath(ref, ref.namespaced ? (namespace ?? 'default') : undefined, name, subresource);
}
