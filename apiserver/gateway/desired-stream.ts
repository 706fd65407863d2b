/**
 * WatchDesiredState: one node's desired state as a stream — the VMs bound to it
 * (spec.nodeName) and the StoragePools assigned to it — served from the apiserver's watch
 * caches. Fresh streams start with RESET, the initial list and SYNCED; resumed streams
 * continue from the agent's resource versions. A resume point the cache no longer holds
 * (410 Expired) turns into RESET + a fresh initial list.
 *
 * Pools, Networks and Images (cluster-scoped): the agent only needs spec and deletion, so a
 * MODIFIED event whose generation the agent already has (a status-only change, e.g. another
 * host's report) is not sent; an object that stops being relevant to the node (a pool or
 * network unassigned from it) is sent as DELETED. Every Image is relevant: the agent imports
 * those its VMs need or that name the node, and removes its copies of deleted ones.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Network, StoragePool } from '../../api-types/generated/types.js';
import type { DesiredStateEvent, DesiredStateEvent_Kind, Init, WatchDesiredStateRequest } from '../../api-types/proto/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import { ExpiredError } from '../storage/errors.js';
import type { KubeObject } from '../../api-types/meta.js';
import type { Store, Watch, WatchEvent } from '../storage/interface.js';
import { objectJson } from '../storage/watch-events.js';
import { poolAssignedTo } from '../../api-types/pool-usage.js';

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export interface DesiredStreamDeps {
  vms: Store;
  pools: Store;
  images: Store;
  networks: Store;
  log: Logger;
}

type StreamKind = 'vm' | 'pool' | 'image' | 'network';
type ClusterKind = Exclude<StreamKind, 'vm'>;

const WIRE_KIND: Record<StreamKind, DesiredStateEvent_Kind> = { vm: 'VM', pool: 'POOL', image: 'IMAGE', network: 'NETWORK' };

/** Whether a cluster-scoped object belongs in this node's desired state. */
const RELEVANT: Record<ClusterKind, (obj: KubeObject, node: string) => boolean> = {
  pool: (obj, node) => poolAssignedTo(obj as StoragePool, node),
  network: (obj, node) => ((obj as Network).spec?.assignedNodes ?? []).includes(node),
  image: () => true,
};

export function serveDesiredState(call: ServerWritableStream<WatchDesiredStateRequest, DesiredStateEvent>, node: string, deps: DesiredStreamDeps): void {
  const req = call.request;
  const sent: Record<ClusterKind, Map<string, number>> = {
    pool: new Map(Object.entries(req.knownPools ?? {})),
    image: new Map(Object.entries(req.knownImages ?? {})),
    network: new Map(Object.entries(req.knownNetworks ?? {})),
  };
  const stores: Record<StreamKind, Store> = { vm: deps.vms, pool: deps.pools, image: deps.images, network: deps.networks };
  let watches: Watch[] = [];
  let closed = false;
  let generation = 0;
  const lastRV: Record<StreamKind, string> = {
    vm: req.vmResourceVersion,
    pool: req.poolResourceVersion,
    image: req.imageResourceVersion ?? '',
    network: req.networkResourceVersion ?? '',
  };

  const write = (event: Init<DesiredStateEvent>): void | Promise<void> => {
    if (closed) return;
    if (call.write(event as DesiredStateEvent)) return;
    return new Promise<void>((resolve) => call.once('drain', () => resolve()));
  };

  const stopWatches = () => {
    for (const w of watches) w.stop();
    watches = [];
  };

  const close = (err?: Error) => {
    if (closed) return;
    closed = true;
    stopWatches();
    if (err) {
      deps.log.warn('desired-state stream ended', { node, error: err.message });
      call.destroy(Object.assign(new Error(err.message), { code: 14 /* UNAVAILABLE */ }));
    } else {
      call.end();
    }
  };

  const start = (resume: boolean) => {
    const gen = ++generation;
    const pending: Record<StreamKind, boolean> = { vm: !resume, pool: !resume, image: !resume, network: !resume };
    if (!resume) {
      for (const m of Object.values(sent)) m.clear();
      void write({ type: 'RESET' });
    }
    const maybeSynced = () => {
      if (Object.values(pending).some(Boolean)) return;
      return write({
        type: 'SYNCED',
        vmResourceVersion: lastRV.vm,
        poolResourceVersion: lastRV.pool,
        imageResourceVersion: lastRV.image,
        networkResourceVersion: lastRV.network,
      });
    };
    const onError = (err: Error) => {
      if (closed || gen !== generation) return;
      if (err instanceof ExpiredError) {
        deps.log.info('desired-state resume point expired: relisting', { node, error: err.message });
        stopWatches();
        start(false);
        return;
      }
      close(err);
    };
    const bookmark = (kind: StreamKind, ev: WatchEvent) => {
      const rv = ev.object.metadata.resourceVersion ?? '';
      lastRV[kind] = rv;
      if (ev.object.metadata.annotations?.[INITIAL_EVENTS_END] === 'true') {
        pending[kind] = false;
        return maybeSynced();
      }
      return write({ type: 'BOOKMARK', kind: WIRE_KIND[kind], resourceVersion: rv });
    };

    const onVm = (ev: WatchEvent) => {
      if (closed || gen !== generation) return;
      if (ev.type === 'BOOKMARK') return bookmark('vm', ev);
      if (ev.type === 'ERROR') return;
      const rv = ev.object.metadata.resourceVersion ?? '';
      lastRV.vm = rv;
      return write({ type: ev.type, kind: 'VM', objectJson: objectJson(ev.object), resourceVersion: rv });
    };

    const onClusterObject = (kind: ClusterKind) => (ev: WatchEvent) => {
      if (closed || gen !== generation) return;
      if (ev.type === 'BOOKMARK') return bookmark(kind, ev);
      if (ev.type === 'ERROR') return;
      const obj = ev.object;
      const name = obj.metadata.name!;
      const rv = obj.metadata.resourceVersion ?? '';
      lastRV[kind] = rv;
      const known = sent[kind].get(name);
      const wireKind = WIRE_KIND[kind];
      if (ev.type === 'DELETED' || !RELEVANT[kind](obj, node)) {
        if (known === undefined) return write({ type: 'BOOKMARK', kind: wireKind, resourceVersion: rv });
        sent[kind].delete(name);
        return write({ type: 'DELETED', kind: wireKind, objectJson: objectJson(obj), resourceVersion: rv });
      }
      const objGen = obj.metadata.generation ?? 0;
      // Deletion bumps the generation too, so a deleting object is always sent.
      if (known === objGen && ev.type === 'MODIFIED') return;
      sent[kind].set(name, objGen);
      return write({ type: known === undefined ? 'ADDED' : 'MODIFIED', kind: wireKind, objectJson: objectJson(obj), resourceVersion: rv });
    };

    try {
      watches.push(
        deps.vms.watch(
          { fieldSelector: `spec.nodeName=${node}`, resourceVersion: resume ? lastRV.vm : '', sendInitialEvents: !resume, allowBookmarks: true },
          onVm,
          onError,
        ),
      );
      for (const kind of ['pool', 'image', 'network'] as const) {
        watches.push(
          stores[kind].watch({ resourceVersion: resume ? lastRV[kind] : '', sendInitialEvents: !resume, allowBookmarks: true }, onClusterObject(kind), onError),
        );
      }
    } catch (err) {
      close(err instanceof Error ? err : new Error(String(err)));
    }
  };

  call.on('cancelled', () => close());
  call.on('close', () => close());
  call.on('error', () => close());
  // Agents from before Images and Networks send no resume points for them: relist.
  start(Boolean(req.vmResourceVersion && req.poolResourceVersion && req.imageResourceVersion && req.networkResourceVersion));
}
