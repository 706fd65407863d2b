/**
 * Builds one watch-cached store per served resource over one shared lean etcd client
 * (range, txn and the watch streams over plain or TLS etcd, see ../etcd-client/README.md).
 */
import type { Etcd3 } from 'etcd3';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { apiVersionOf } from '../../api-types/group-version.js';
import type { ApiserverMetrics } from '../http/metrics.js';
import { createKvClient, etcd3Kv } from '../etcd-client/etcd-kv.js';
import { EtcdStore, leanKvTls, type EtcdClientTls } from '../storage/etcd-store.js';
import type { Store } from '../storage/interface.js';
import { CachedStore } from '../storage/watch-cache.js';
import { storageResourceOf, type Lister } from './served-resource.js';

export interface StoreSet {
  get(def: ResourceDefinition): Store;
  /** Reads the watch caches synchronously (admission's lookups). */
  lister: Lister;
  /** etcd revision minus cache revision, per resource (for /metrics). */
  lagByResource(): [ResourceDefinition, number][];
  stop(): void;
}

export interface EtcdConnection {
  endpoints: readonly string[];
  tls?: EtcdClientTls;
  /** Measurement only (the lean-vs-etcd3 benchmark): 'etcd3' serves the stores with etcd3's client. */
  kvClient?: 'lean' | 'etcd3';
}

export async function buildStores(etcd: Etcd3, connection: EtcdConnection, defs: readonly ResourceDefinition[], metrics?: ApiserverMetrics): Promise<StoreSet> {
  const tls = connection.tls && leanKvTls(connection.tls);
  const kv = connection.kvClient === 'etcd3' ? etcd3Kv(etcd) : createKvClient(connection.endpoints, { tls });
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
    lister: {
      list(def) {
        const store = stores.get(def);
        if (!store) throw new Error(`no store for ${def.plural}`);
        return store.cachedObjects();
      },
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
