/**
 * The API resources the UI reads and writes, and their URL paths. Kinds and types come
 * from api-types; only the REST coordinates are spelled out here.
 */
import type { Event, Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import type { KubeObject } from '../../../api-types/meta.js';

export interface ResourceRef<T extends KubeObject = KubeObject> {
  /** Key of the shared watch for this resource (one stream per key). */
  key: string;
  group: string;
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
  /** Phantom field carrying the object type. */
  readonly _type?: T;
}

export const VirtualMachines: ResourceRef<VirtualMachine> = { key: 'virtualmachines', group: 'quantix.io', version: 'v1alpha1', plural: 'virtualmachines', kind: 'VirtualMachine', namespaced: true };
export const Nodes: ResourceRef<Node> = { key: 'nodes', group: 'quantix.io', version: 'v1alpha1', plural: 'nodes', kind: 'Node', namespaced: false };
export const StoragePools: ResourceRef<StoragePool> = { key: 'storagepools', group: 'quantix.io', version: 'v1alpha1', plural: 'storagepools', kind: 'StoragePool', namespaced: false };
export const Events: ResourceRef<Event> = { key: 'events', group: '', version: 'v1', plural: 'events', kind: 'Event', namespaced: true };

function prefix(ref: ResourceRef): string {
  return ref.group ? `/apis/${ref.group}/${ref.version}` : `/api/${ref.version}`;
}

/** The collection: across all namespaces when `namespace` is omitted. */
export function collectionPath(ref: ResourceRef, namespace?: string): string {
  const ns = ref.namespaced && namespace ? `/namespaces/${encodeURIComponent(namespace)}` : '';
  return `${prefix(ref)}${ns}/${ref.plural}`;
}

export function objectPath(ref: ResourceRef, namespace: string | undefined, name: string, subresource?: string): string {
  const base = `${collectionPath(ref, ref.namespaced ? (namespace ?? 'default') : undefined)}/${encodeURIComponent(name)}`;
  return subresource ? `${base}/${subresource}` : base;
}

export function apiVersionOf(ref: ResourceRef): string {
  return ref.group ? `${ref.group}/${ref.version}` : ref.version;
}
