/**
 * Builds one watch-cached store per served resource over one shared lean etcd client
 * (range, txn and the watch streams, see storage/etcd-kv.ts); etcd3's client serves
 * https:// endpoints.
 */
import type { Etcd3 } from 'etcd3';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { apiVersionOf } from '../../api-types/group-version.js';
import type { ApiserverMetrics } from '../http/metrics.js';
import { createKvClient, etcd3Kv } from '../storage/etcd-kv.js';
import { EtcdStore } from '../storage/etcd-store.js';
import type { Store } from '../storage/interface.js';
import { CachedStore } from '../storage/watch-cache.js';
import { storageResourceOf } from './served-resource.js';

export interface StoreSet {
  get(def: ResourceDefinition): Store;
  /** etcd revision minus cache revision, per resource (for /metrics). */
  lagByResource(): [ResourceDefinition, number][];
  stop(): void;
}

export async function buildStores(
  etcd: Etcd3,
  etcdEndpoints: readonly string[],
  defs: readonly ResourceDefinition[],
  metrics?: ApiserverMetrics,
): Promise<StoreSet> {
  // The lean client speaks plain HTTP/2 only; TLS endpoints keep etcd3's client.
  const plain = etcdEndpoints.every((endpoint) => !/^https:/i.test(endpoint));
  const kv = plain ? createKvClient(etcdEndpoints) : etcd3Kv(etcd);
  const stores = new Map<ResourceDefinition, CachedStore>();
  try {
    for (const def of defs) {
      const resource = storageResourceOf(def);
      const backing = new EtcdStore(etcd, { ...resource, kind: def.kind, apiVersion: apiVersionOf(def) }, { kv });
      const cached = new CachedStore(backing, {
        metrics: metrics ? { watchers: () => undefined, lag: (revisions) => metrics.watchCacheLag.set({ resource: def.plural }, revisions) } : undefined,
      });
      stores.set(def, cached);
      await cached.ready();
    }
  } catch (err) {
    for (const store of stores.values()) store.close();
    kv.close();
    throw err;
  }
  return {
    get(def) {
      const store = stores.get(def);
      if (!store) throw new Error(`no store for ${def.plural}`);
      return store;
    },
    lagByResource() {
      return [...stores.entries()].map(([def, store]) => [def, store.stats().lag]);
    },
    stop() {
      for (const store of stores.values()) store.close();
      kv.close();
    },
  };
}
