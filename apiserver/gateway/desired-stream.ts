/**
 * WatchDesiredState: one node's desired state as a stream — the VMs bound to it
 * (spec.nodeName) and the StoragePools assigned to it — served from the apiserver's watch
 * caches. Fresh streams start with RESET, the initial list and SYNCED; resumed streams
 * continue from the agent's resource versions. A resume point the cache no longer holds
 * (410 Expired) turns into RESET + a fresh initial list.
 *
 * Pools: the agent only needs spec and deletion, so a MODIFIED pool event whose generation
 * the agent already has (a status-only change, e.g. another host's report) is not sent;
 * a pool that stops being assigned to the node is sent as DELETED.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { StoragePool } from '../../api-types/generated/types.js';
import type { DesiredStateEvent, Init, WatchDesiredStateRequest } from '../../api-types/proto/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import { ExpiredError } from '../storage/errors.js';
import type { Store, Watch, WatchEvent } from '../storage/interface.js';
import { objectJson } from '../storage/watch-events.js';
import { poolAssignedTo } from '../../api-types/pool-usage.js';

const INITIAL_EVENTS_END = 'k8s.io/initial-events-end';

export interface DesiredStreamDeps {
  vms: Store;
  pools: Store;
  log: Logger;
}

export function serveDesiredState(call: ServerWritableStream<WatchDesiredStateRequest, DesiredStateEvent>, node: string, deps: DesiredStreamDeps): void {
  const req = call.request;
  const sentPools = new Map<string, number>(Object.entries(req.knownPools ?? {}));
  let watches: Watch[] = [];
  let closed = false;
  let generation = 0;
  const lastRV = { vm: req.vmResourceVersion, pool: req.poolResourceVersion };

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
    const pending = { vm: !resume, pool: !resume };
    if (!resume) {
      sentPools.clear();
      void write({ type: 'RESET' });
    }
    const maybeSynced = () => {
      if (pending.vm || pending.pool) return;
      return write({ type: 'SYNCED', vmResourceVersion: lastRV.vm, poolResourceVersion: lastRV.pool });
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
    const bookmark = (kind: 'vm' | 'pool', ev: WatchEvent) => {
      const rv = ev.object.metadata.resourceVersion ?? '';
      lastRV[kind] = rv;
      if (ev.object.metadata.annotations?.[INITIAL_EVENTS_END] === 'true') {
        pending[kind] = false;
        return maybeSynced();
      }
      return write({ type: 'BOOKMARK', kind: kind === 'vm' ? 'VM' : 'POOL', resourceVersion: rv });
    };

    const onVm = (ev: WatchEvent) => {
      if (closed || gen !== generation) return;
      if (ev.type === 'BOOKMARK') return bookmark('vm', ev);
      if (ev.type === 'ERROR') return;
      const rv = ev.object.metadata.resourceVersion ?? '';
      lastRV.vm = rv;
      return write({ type: ev.type, kind: 'VM', objectJson: objectJson(ev.object), resourceVersion: rv });
    };

    const onPool = (ev: WatchEvent) => {
      if (closed || gen !== generation) return;
      if (ev.type === 'BOOKMARK') return bookmark('pool', ev);
      if (ev.type === 'ERROR') return;
      const pool = ev.object as StoragePool;
      const name = pool.metadata.name!;
      const rv = pool.metadata.resourceVersion ?? '';
      lastRV.pool = rv;
      const known = sentPools.get(name);
      if (ev.type === 'DELETED' || !poolAssignedTo(pool, node)) {
        if (known === undefined) return write({ type: 'BOOKMARK', kind: 'POOL', resourceVersion: rv });
        sentPools.delete(name);
        return write({ type: 'DELETED', kind: 'POOL', objectJson: objectJson(ev.object), resourceVersion: rv });
      }
      const gen2 = pool.metadata.generation ?? 0;
      if (known === gen2 && ev.type === 'MODIFIED') return;
      sentPools.set(name, gen2);
      return write({ type: known === undefined ? 'ADDED' : 'MODIFIED', kind: 'POOL', objectJson: objectJson(ev.object), resourceVersion: rv });
    };

    try {
      watches.push(
        deps.vms.watch(
          { fieldSelector: `spec.nodeName=${node}`, resourceVersion: resume ? lastRV.vm : '', sendInitialEvents: !resume, allowBookmarks: true },
          onVm,
          onError,
        ),
      );
      watches.push(deps.pools.watch({ resourceVersion: resume ? lastRV.pool : '', sendInitialEvents: !resume, allowBookmarks: true }, onPool, onError));
    } catch (err) {
      close(err instanceof Error ? err : new Error(String(err)));
    }
  };

  call.on('cancelled', () => close());
  call.on('close', () => close());
  call.on('error', () => close());
  start(Boolean(req.vmResourceVersion && req.poolResourceVersion));
}
