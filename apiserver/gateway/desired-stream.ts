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
 * network unassigned from it) is sent as DELETED. Images: only those the node acts on
 * (image-relevance.ts); one that a VM bound here starts to use is sent just before that VM,
 * so the agent never sees a disk from an Image it was not given.
 */
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Image, Network, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import type { DesiredStateEvent, DesiredStateEvent_Kind, Init, WatchDesiredStateRequest } from '../../api-types/proto/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import { ExpiredError } from '../storage/errors.js';
import type { KubeObject } from '../../api-types/meta.js';
import type { Store, Watch, WatchEvent } from '../storage/interface.js';
import { objectJson } from '../storage/watch-events.js';
import { poolAssignedTo } from '../../api-types/pool-usage.js';
import { imageRelevantTo, imagesOfVm, NodeImageUse } from './image-relevance.js';

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
const RELEVANT: Record<ClusterKind, (obj: KubeObject, node: string, imageUse: NodeImageUse) => boolean> = {
  pool: (obj, node) => poolAssignedTo(obj as StoragePool, node),
  network: (obj, node) => ((obj as Network).spec?.assignedNodes ?? []).includes(node),
  image: (obj, node, imageUse) => imageRelevantTo(obj as Image, node, imageUse.uses(obj.metadata.name!)),
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
  // Which Images the VMs bound here use, and every Image as last seen (relevant or not), so
  // one a VM starts to use can be sent at once.
  let imageUse = new NodeImageUse();
  const images = new Map<string, KubeObject>();
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

  /**
   * Image relevance needs the node's VMs and all Images from the start, also when the watches
   * resume (they then deliver only changes): both read from the watch caches.
   */
  const seed = async () => {
    const [vms, all] = await Promise.all([
      deps.vms.list({ fieldSelector: `spec.nodeName=${node}`, resourceVersion: '0' }),
      deps.images.list({ resourceVersion: '0' }),
    ]);
    imageUse = new NodeImageUse();
    for (const vm of vms.items as VirtualMachine[]) imageUse.setVm(`${vm.metadata.namespace}/${vm.metadata.name}`, imagesOfVm(vm));
    images.clear();
    for (const image of all.items) images.set(image.metadata.name!, image);
  };

  const start = (resume: boolean) => {
    void seed().then(
      () => {
        if (!closed) watchAll(resume);
      },
      (err: unknown) => close(err instanceof Error ? err : new Error(String(err))),
    );
  };

  const watchAll = (resume: boolean) => {
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
      const type = ev.type;
      const vm = ev.object as VirtualMachine;
      const key = `${vm.metadata.namespace}/${vm.metadata.name}`;
      const vmEvent = (): void | Promise<void> => {
        const rv = vm.metadata.resourceVersion ?? '';
        lastRV.vm = rv;
        return write({ type, kind: 'VM', objectJson: objectJson(vm), resourceVersion: rv });
      };
      if (type === 'DELETED') {
        imageUse.deleteVm(key);
        return vmEvent();
      }
      const newlyUsed = imageUse.setVm(key, imagesOfVm(vm)).filter((name) => images.has(name) && !sent.image.has(name));
      if (newlyUsed.length === 0) return vmEvent();
      // Images this VM starts to use go first. They carry the image watch's position, not
      // their own resourceVersion: a resume from theirs could skip other Images' events.
      return (async () => {
        for (const name of newlyUsed) {
          const image = images.get(name)!;
          sent.image.set(name, image.metadata.generation ?? 0);
          await write({ type: 'ADDED', kind: 'IMAGE', objectJson: objectJson(image), resourceVersion: lastRV.image });
          if (closed || gen !== generation) return;
        }
        return vmEvent();
      })();
    };

    const onClusterObject = (kind: ClusterKind) => (ev: WatchEvent) => {
      if (closed || gen !== generation) return;
      if (ev.type === 'BOOKMARK') return bookmark(kind, ev);
      if (ev.type === 'ERROR') return;
      const obj = ev.object;
      const name = obj.metadata.name!;
      const rv = obj.metadata.resourceVersion ?? '';
      lastRV[kind] = rv;
      if (kind === 'image') {
        if (ev.type === 'DELETED') images.delete(name);
        else images.set(name, obj);
      }
      const known = sent[kind].get(name);
      const wireKind = WIRE_KIND[kind];
      if (ev.type === 'DELETED' || !RELEVANT[kind](obj, node, imageUse)) {
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
