/**
 * Memory per cached object in the apiserver's watch cache (issue 20), measured in isolation
 * so each retained part can be told apart (the scale benchmark measures the whole apiserver):
 *
 *   node --expose-gc --import tsx hack/bench/scale/cache-memory.ts
 *
 * A real etcd; COUNT VirtualMachines (shaped as the scale benchmark's bound, running VMs:
 * managedFields of four managers, status conditions) written straight into it; then a
 * CachedStore over them, as the apiserver's. After each stage a full GC and the heap and
 * off-heap (Buffer) bytes per object:
 *   synced     the initial list decoded into the cache;
 *   snapshot   one watch from resourceVersion 0 (an informer's start), each event encoded as
 *              its HTTP watch line, then closed;
 *   modified   every object changed once (a status write each) with that watch open, each
 *              event encoded (HTTP) and each object serialized alone (the gateway's desired
 *              state stream to its node), as in a running cluster; the window holds them.
 * Each stage is measured right after it and again after an idle pause (memoized JSON is let
 * go of two generations after its last use, watch-events.ts).
 * BENCH_OBJECTS (default 10000), BENCH_VM_TEMPLATE (a VM's JSON to copy; default the built-in one).
 */
import { readFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { Etcd3 } from 'etcd3';
import type { KubeObject } from '../../../api-types/meta.js';
import { createKvClient } from '../../../apiserver/etcd-client/etcd-kv.js';
import { EtcdStore } from '../../../apiserver/storage/etcd-store.js';
import type { WatchEvent } from '../../../apiserver/storage/interface.js';
import { CachedStore } from '../../../apiserver/storage/watch-cache.js';
import { eventLine, JSON_MEMO_GENERATION_MS, objectJson } from '../../../apiserver/storage/watch-events.js';
import { startEtcd } from '../../testenv/etcd.js';
import { runConcurrently } from '../stats.js';

const COUNT = Number(process.env.BENCH_OBJECTS ?? 10_000);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with node --expose-gc');
const log = (msg: string) => process.stderr.write(`[cache-memory] ${msg}\n`);

const TEMPLATE = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: {
    name: 'vm-0',
    namespace: 'scale',
    uid: '',
    generation: 1,
    creationTimestamp: '2026-12-07T13:00:00Z',
    finalizers: ['quantix.io/vm-cleanup'],
    managedFields: [
      {
        manager: 'bench-scale',
        operation: 'Update',
        apiVersion: 'quantix.io/v1alpha1',
        time: '2026-12-07T13:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': {}, 'f:memory': {}, 'f:runStrategy': {} } },
      },
      {
        manager: 'quantix-controller-manager',
        operation: 'Update',
        apiVersion: 'quantix.io/v1alpha1',
        time: '2026-12-07T13:00:01Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:metadata': { 'f:finalizers': { '.': {}, 'v:"quantix.io/vm-cleanup"': {} } }, 'f:spec': { 'f:nodeName': {} } },
      },
      {
        manager: 'quantix-controller-manager',
        operation: 'Update',
        apiVersion: 'quantix.io/v1alpha1',
        time: '2026-12-07T13:00:01Z',
        fieldsType: 'FieldsV1',
        subresource: 'status',
        fieldsV1: { 'f:status': { '.': {}, 'f:conditions': {}, 'f:phase': {} } },
      },
      {
        manager: 'quantix-gateway',
        operation: 'Update',
        apiVersion: 'quantix.io/v1alpha1',
        time: '2026-12-07T13:00:02Z',
        fieldsType: 'FieldsV1',
        subresource: 'status',
        fieldsV1: { 'f:status': { 'f:domainUUID': {}, 'f:nodeName': {}, 'f:phase': {}, 'f:conditions': {}, 'f:observedGeneration': {} } },
      },
    ],
  },
  spec: { cpu: 1, memory: '256Mi', runStrategy: 'Always', disks: [{ name: 'root', storagePool: 'bench', size: '1Gi' }], nodeName: 'hollow-000' },
  status: {
    phase: 'Running',
    nodeName: 'hollow-000',
    domainUUID: '',
    observedGeneration: 1,
    conditions: [
      { type: 'Scheduled', status: 'True', reason: 'Scheduled', message: 'bound to node hollow-000', lastTransitionTime: '2026-12-07T13:00:01Z' },
      { type: 'Synced', status: 'True', reason: 'Synced', message: 'domain matches the spec', lastTransitionTime: '2026-12-07T13:00:02Z' },
      { type: 'Ready', status: 'True', reason: 'Running', message: 'the domain is running', lastTransitionTime: '2026-12-07T13:00:02Z' },
    ],
  },
};

/** Object i: the template with its own name, uid, node, domain and times (as real objects differ). */
function objectAt(template: KubeObject, i: number, version: number): KubeObject {
  const node = `hollow-${String(i % 1000).padStart(3, '0')}`;
  const second = String(i % 60).padStart(2, '0');
  const text = JSON.stringify(template).replaceAll('hollow-000', node).replaceAll('13:00:0', `13:${second}:0`).replace('"name":"vm-0"', `"name":"vm-${i}"`);
  const obj = JSON.parse(text) as KubeObject & { status: Record<string, unknown> };
  obj.metadata.uid = randomUUID();
  delete obj.metadata.resourceVersion;
  obj.status.domainUUID = randomUUID();
  if (version > 0) obj.status.observedGeneration = version + 1;
  return obj;
}

function measure(): { heap: number; external: number; rss: number } {
  gc!();
  gc!();
  const m = process.memoryUsage();
  // external includes arrayBuffers (Buffers' memory).
  return { heap: m.heapUsed, external: m.external, rss: m.rss };
}

/** Long enough for memoized JSON to age out (watch-events.ts JSON_MEMO_GENERATION_MS, two generations). */
const idle = () => new Promise((r) => setTimeout(r, 2 * JSON_MEMO_GENERATION_MS + 1000));

async function main(): Promise<void> {
  const template = process.env.BENCH_VM_TEMPLATE ? (JSON.parse(readFileSync(process.env.BENCH_VM_TEMPLATE, 'utf8')) as KubeObject) : (TEMPLATE as KubeObject);
  const etcd = await startEtcd();
  const client = new Etcd3(etcd.etcd3Options());
  const kv = createKvClient(etcd.endpoints);
  const resource = { group: 'quantix.io', resource: 'virtualmachines', namespaced: true, kind: 'VirtualMachine', apiVersion: 'quantix.io/v1alpha1' };
  const store = new EtcdStore(client, resource, { kv });
  const put = (i: number, version: number) =>
    client
      .put(`${store.keyPrefix}scale/vm-${i}`)
      .value(JSON.stringify(objectAt(template, i, version)))
      .exec();
  let cache: CachedStore | undefined;
  try {
    log(`writing ${COUNT} VMs`);
    await runConcurrently(COUNT, 64, (i) => put(i, 0));
    const storedBytes = JSON.stringify(objectAt(template, 1, 0)).length;
    const before = measure();
    cache = new CachedStore(store);
    await cache.ready();
    const synced = measure();

    // An informer's start: a watch from 0, every event encoded as the HTTP stream does.
    let seen = 0;
    const snapshotDone = new Promise<void>((resolve) => {
      const w = cache!.watch(
        { resourceVersion: '0' },
        (ev: WatchEvent) => {
          eventLine(ev);
          if (++seen === COUNT) {
            w.stop();
            resolve();
          }
        },
        () => undefined,
      );
    });
    await snapshotDone;
    const snapshot = measure();
    await idle();
    const snapshotIdle = measure();

    // A running cluster: a watch open (HTTP lines) and each object also serialized alone (gateway desired state).
    let modified = 0;
    const allModified = new Promise<void>((resolve) => {
      cache!.watch(
        { resourceVersion: String(cache!.stats().cacheRevision) },
        (ev: WatchEvent) => {
          if (ev.type !== 'MODIFIED') return;
          eventLine(ev);
          objectJson(ev.object);
          if (++modified === COUNT) resolve();
        },
        () => undefined,
      );
    });
    await runConcurrently(COUNT, 64, (i) => put(i, 1));
    await allModified;
    const running = measure();
    await idle();
    const runningIdle = measure();
    const stats = cache.stats();
    const per = (a: { heap: number; external: number; rss: number }) => ({
      heapBytesPerObject: Math.round((a.heap - before.heap) / COUNT),
      offHeapBytesPerObject: Math.round((a.external - before.external) / COUNT),
      rssBytesPerObject: Math.round((a.rss - before.rss) / COUNT),
    });
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'cache-memory',
          objects: COUNT,
          storedBytesPerObject: storedBytes,
          synced: per(synced),
          afterSnapshotWatch: per(snapshot),
          afterSnapshotWatchIdle: per(snapshotIdle),
          afterOneModificationEach: per(running),
          afterOneModificationEachIdle: per(runningIdle),
          window: { events: stats.windowEvents, storedMiB: Math.round(stats.windowBytes / 1024 / 102.4) / 10 },
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    cache?.close();
    kv.close();
    client.close();
    await etcd.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`cache-memory failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
