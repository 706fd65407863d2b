/**
 * Builds one watch-cached store per served resource over one shared lean etcd client
 * (range, txn and the watch streams over plain or TLS etcd, see ../etcd-client/README.md).
 */
import type { Etcd3 } from 'etcd3';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { apiVersionOf } from '../../api-types/group-version.js';
import { leaseDefinition } from '../../api-types/registry.js';
import type { ApiserverMetrics } from '../http/metrics.js';
import { createKvClient, etcd3Kv, type KvClient } from '../etcd-client/etcd-kv.js';
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

/** `kv` with its reads (range) and writes (txn) timed for etcd_request_duration_seconds, failures included. */
function timedKv(kv: KvClient, observe: (operation: 'range' | 'txn', seconds: number) => void): KvClient {
  const timed = async <T>(operation: 'range' | 'txn', call: () => Promise<T>): Promise<T> => {
    const start = process.hrtime.bigint();
    try {
      return await call();
    } finally {
      observe(operation, Number(process.hrtime.bigint() - start) / 1e9);
    }
  };
  return {
    range: (req) => timed('range', () => kv.range(req)),
    txn: (req) => timed('txn', () => kv.txn(req)),
    compact: (req) => kv.compact(req),
    watch: () => kv.watch(),
    close: () => kv.close(),
  };
}

export async function buildStores(etcd: Etcd3, connection: EtcdConnection, defs: readonly ResourceDefinition[], metrics?: ApiserverMetrics): Promise<StoreSet> {
  const tls = connection.tls && leanKvTls(connection.tls);
  // Leases (the controller-manager's leader election, node heartbeats) get an etcd client, so
  // a connection, of their own: etcd serves one connection's calls 250 at a time and then in
  // order (its TLS server also lets busy streams starve others: etcd-io/etcd#15402), so on the
  // shared connection a storm of VM writes held every Lease renewal behind it, and the
  // controller-manager lost its lease (the 300-node scale run, docs/scale.md). Everything else
  // shares one client: a client per resource, as kube-apiserver has, was measured too, and
  // cut the VM write throughput (the VM calls alone on their connection waited 1-6 s).
  const clients: KvClient[] = [];
  const newClient = (): KvClient => {
    const kv = connection.kvClient === 'etcd3' ? etcd3Kv(etcd) : createKvClient(connection.endpoints, { tls });
    clients.push(kv);
    return kv;
  };
  const shared = newClient();
  const kvFor = (def: ResourceDefinition): KvClient => (def === (leaseDefinition as unknown as ResourceDefinition) ? newClient() : shared);
  const closeClients = (): void => {
    for (const kv of clients) kv.close();
  };
  const stores = new Map<ResourceDefinition, CachedStore>();
  try {
    for (const def of defs) {
      const resource = storageResourceOf(def);
      const kv = kvFor(def);
      const timed = metrics ? timedKv(kv, (operation, seconds) => metrics.etcdDuration.observe({ operation, resource: def.plural }, seconds)) : kv;
      const backing = new EtcdStore(etcd, { ...resource, kind: def.kind, apiVersion: apiVersionOf(def) }, { kv: timed });
      const cached = new CachedStore(backing, {
        metrics: metrics ? { watchers: () => undefined, lag: (revisions) => metrics.watchCacheLag.set({ resource: def.plural }, revisions) } : undefined,
      });
      stores.set(def, cached);
      await cached.ready();
    }
  } catch (err) {
    for (const store of stores.values()) store.close();
    closeClients();
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
      closeClients();
    },
  };
}
