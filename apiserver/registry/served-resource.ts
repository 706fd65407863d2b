/** One resource the apiserver serves: its definition from api-types and its store. */
import type { KubeObject } from '../../api-types/meta.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import type { Store, StorageResource } from '../storage/interface.js';
import type { StatusSubject } from '../../lib/apimachinery/status-error.js';

export interface ServedResource {
  def: ResourceDefinition;
  store: Store;
  /** `quantix.io/v1alpha1`, or `v1` for the core group. */
  apiVersion: string;
  /** Other resources as the watch caches hold them, for admission's lookups (absent: no lookups possible). */
  lister?: Lister;
}

/**
 * Synchronous reads of the watch caches (no etcd round trip), for admission checks that
 * look at other objects. Items are shared and frozen: read-only. They trail etcd by the
 * watch delay, as an informer does in Kubernetes' admission plugins.
 */
export interface Lister {
  list(def: ResourceDefinition): readonly KubeObject[];
}

export function storageResourceOf(def: ResourceDefinition): StorageResource {
  const selectableFields: Record<string, (obj: KubeObject) => string> = {};
  for (const field of def.selectableFields) selectableFields[field.path] = field.get;
  return { group: def.group, resource: def.plural, namespaced: def.namespaced, selectableFields };
}

export function refOf(def: ResourceDefinition, name?: string): StatusSubject {
  return { group: def.group, resource: def.plural, kind: def.kind, name };
}
