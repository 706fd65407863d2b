/**
 * Storage-layer benchmark. Starts its own etcd (tmpfs data dir; TLS with client certificates,
 * as `make up` runs it; the stores use the apiserver's lean etcd client) and prints one JSON
 * document on stdout (progress goes to stderr):
 *
 * - creates/s and updates/s through the storage layer next to the raw etcd3 client doing
 *   the same etcd operations (create = txn "mod revision == 0 → put"; update = txn
 *   "mod revision == N → put") at the same concurrency (64 in flight), alternating
 *   rounds in the same run, with the ratio. The raw client serializes the same object
 *   with JSON.stringify per operation and calls `kv.txn` directly (its cheapest path).
 *   Updates are measured for EtcdStore (read + CAS: two round trips) and for CachedStore
 *   (CAS from the cached object when it is at the caller's resourceVersion: one).
 * - list latency for 10,000 objects: consistent list from etcd vs resourceVersion=0 from
 *   the watch cache;
 * - put-to-event latency p50/p99 with 1 and 1,000 cache watchers (each receiving every
 *   event) under 500 writes/s (updates through CachedStore over 1,000 objects), measured
 *   from the write's scheduled time to the moment each watcher's handler runs (the
 *   handler touches `event.json`, as an HTTP stream would). Next to it, the write's own
 *   acknowledgement latency and the cache's dispatch time, to show where time goes.
 *   Trials alternate between 1 and 1,000 watchers; the median over trials is reported
 *   with every trial's p99.
 *
 * Environment knobs: BENCH_CREATES (per round, default 600), BENCH_ROUNDS (10),
 * BENCH_WATCH_SECONDS (5), BENCH_WATCH_TRIALS (3), BENCH_WATCHERS (1000),
 * BENCH_RAW_WATCHERS (100), BENCH_SECTIONS (writes,list,watch,rawwatch).
 *
 * `rawwatch` (contrast, one trial): the same writes observed by 100 watchers on the raw
 * etcd3 client instead of the cache.
 *
 * `burst`: BENCH_BURST (10,000) puts of 3 KB issued at once, as an apiserver under a create
 * storm has them waiting on etcd's HTTP/2 connection window: wall time and this process's
 * CPU for the lean client, next to the etcd3 client (grpc-js) in the same run, rounds
 * alternating. A put that misses its 30 s deadline is counted, not retried.
 */
import { Etcd3 } from 'etcd3';
import type { KubeObject } from '../../../api-types/meta.js';
import { createKvClient, type KvClient } from '../../../apiserver/etcd-client/etcd-kv.js';
import { EtcdStore } from '../../../apiserver/storage/etcd-store.js';
import type { StorageResource, WatchEvent } from '../../../apiserver/storage/interface.js';
import { CachedStore } from '../../../apiserver/storage/watch-cache.js';
import { startEtcd } from '../../testenv/etcd.js';
import { percentile } from '../stats.js';

/** The apiserver's etcd client (apiserver/etcd-client/), set in main: the stores here use it as the apiserver's do. */
let kv: KvClient;
const newEtcdStore = (client: Etcd3, res: StorageResource) => new EtcdStore(client, res, { kv });

const IN_FLIGHT = 64;
const OPS = Number(process.env.BENCH_CREATES ?? 600);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const LIST_SIZE = 10_000;
const WRITE_RATE = 500;
const WATCH_SECONDS = Number(process.env.BENCH_WATCH_SECONDS ?? 5);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const WATCH_TRIALS = Number(process.env.BENCH_WATCH_TRIALS ?? 3);
const SECTIONS = new Set((process.env.BENCH_SECTIONS ?? 'writes,list,watch,rawwatch,burst').split(','));
const BURST = Number(process.env.BENCH_BURST ?? 10_000);
const BURST_ROUNDS = 3;
const RAW_WATCHERS = Number(process.env.BENCH_RAW_WATCHERS ?? 100);

const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench storage +${((performance.now() - t0) / 1000).toFixed(1)}s] ${msg}\n`);

const ms = (v: number) => Math.round(v * 10) / 10;

/** CPU time (µs, this process) of the last runConcurrently call. */
let lastRunCpuMicros = 0;

async function runConcurrently(count: number, inFlight: number, task: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = performance.now();
  const cpu = process.cpuUsage();
  await Promise.all(
    Array.from({ length: Math.min(inFlight, count) }, async () => {
      while (next < count) await task(next++);
    }),
  );
  const used = process.cpuUsage(cpu);
  lastRunCpuMicros = used.user + used.system;
  return (performance.now() - start) / 1000;
}

function vmResource(name: string): StorageResource {
  return { group: 'quantix.io', resource: name, namespaced: true, kind: 'VirtualMachine', apiVersion: 'quantix.io/v1alpha1' };
}

/** A VirtualMachine of realistic size (~700 bytes of JSON). */
function vm(name: string, i: number): KubeObject {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace: `project-${i % 10}`,
      labels: { app: `app-${i % 50}`, tier: i % 2 ? 'web' : 'db', 'quantix.io/owner': 'bench' },
      annotations: { 'quantix.io/description': 'benchmark virtual machine' },
    },
    spec: {
      runStrategy: 'Always',
      cpu: { cores: 2, sockets: 1 },
      memory: '4Gi',
      disks: [
        { name: 'root', storagePool: 'default', size: '20Gi', bus: 'virtio', source: { image: 'debian-12-genericcloud-amd64.qcow2' } },
        { name: 'data', storagePool: 'nfs-shared', size: '100Gi', bus: 'virtio' },
      ],
      networks: [{ name: 'default', bridge: 'br0', model: 'virtio' }],
      nodeName: `node-${i % 20}`,
    },
    status: { phase: 'Running', powerState: 'running', nodeName: `node-${i % 20}`, origin: 'control-plane', managed: true },
  };
}

interface ThroughputPair {
  storageOpsPerSec: number;
  rawEtcd3OpsPerSec: number;
  ratio: number;
}

function pair(storageOps: number, storageSec: number, rawOps: number, rawSec: number): ThroughputPair {
  const s = storageOps / storageSec;
  const r = rawOps / rawSec;
  return { storageOpsPerSec: Math.round(s), rawEtcd3OpsPerSec: Math.round(r), ratio: Math.round((s / r) * 100) / 100 };
}

async function rawCreate(client: Etcd3, key: string, obj: KubeObject): Promise<string> {
  const k = Buffer.from(key);
  const res = await client.kv.txn({
    compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: 0 }],
    success: [{ request_put: { key: k, value: Buffer.from(JSON.stringify(obj)) } }],
    failure: [],
  });
  if (!res.succeeded) throw new Error(`raw create: ${key} exists`);
  return res.header.revision;
}

async function rawUpdate(client: Etcd3, key: string, obj: KubeObject, rev: string): Promise<string> {
  const k = Buffer.from(key);
  const res = await client.kv.txn({
    compare: [{ key: k, target: 'Mod', result: 'Equal', mod_revision: rev }],
    success: [{ request_put: { key: k, value: Buffer.from(JSON.stringify(obj)) } }],
    failure: [{ request_range: { key: k } }],
  });
  if (!res.succeeded) throw new Error(`raw update: ${key} conflict`);
  return res.header.revision;
}

async function benchCreatesAndUpdates(client: Etcd3) {
  let storageCreates = 0,
    storageCreateSec = 0,
    rawCreates = 0,
    rawCreateSec = 0;
  let etcdUpdates = 0,
    etcdUpdateSec = 0,
    cachedUpdates = 0,
    cachedUpdateSec = 0,
    rawUpdates = 0,
    rawUpdateSec = 0;
  const createRatios: number[] = [];
  let rawCreateCpu = 0;
  let storageCreateCpu = 0;
  const bump = (o: KubeObject, n: number): KubeObject => ({ ...o, status: { ...(o.status as object), observedGeneration: n } });
  // Round 0 warms up JIT, gRPC channels and etcd and is not counted. Later rounds
  // alternate which side goes first, so drift on this shared machine hits both.
  for (let round = 0; round <= ROUNDS; round++) {
    const counted = round > 0;
    const n = counted ? OPS : Math.min(OPS, 1000);
    log(`creates/updates ${counted ? `round ${round}/${ROUNDS}` : 'warm-up'}`);
    const rawPrefix = `/bench/raw${round}/`;
    const rawRevs: string[] = new Array(n);
    const res = vmResource(`vms-round${round}`);
    const etcdStore = newEtcdStore(client, res);
    const objs: KubeObject[] = new Array(n);

    const raw = {
      creates: () =>
        runConcurrently(n, IN_FLIGHT, async (i) => {
          rawRevs[i] = await rawCreate(client, `${rawPrefix}${i}`, vm(`vm-${i}`, i));
        }),
      updates: () =>
        runConcurrently(n, IN_FLIGHT, async (i) => {
          rawRevs[i] = await rawUpdate(client, `${rawPrefix}${i}`, bump(vm(`vm-${i}`, i), 1), rawRevs[i]!);
        }),
    };
    const storage = {
      // EtcdStore; CachedStore.create is the same call passed through.
      creates: () =>
        runConcurrently(n, IN_FLIGHT, async (i) => {
          objs[i] = await etcdStore.create(vm(`vm-${i}`, i));
        }),
      // The caller holds the resourceVersion of its last write (as a controller does).
      updates: () =>
        runConcurrently(n, IN_FLIGHT, async (i) => {
          objs[i] = await etcdStore.update(bump(objs[i]!, 1));
        }),
    };
    const rawFirst = round % 2 === 1;
    const [a, b] = rawFirst ? [raw, storage] : [storage, raw];
    const t1 = await a.creates();
    const c1 = lastRunCpuMicros;
    const t2 = await b.creates();
    const c2 = lastRunCpuMicros;
    const [rc, sc] = rawFirst ? [t1, t2] : [t2, t1];
    if (counted) {
      rawCreateCpu += rawFirst ? c1 : c2;
      storageCreateCpu += rawFirst ? c2 : c1;
    }
    const t3 = await a.updates();
    const t4 = await b.updates();
    const [ru, su] = rawFirst ? [t3, t4] : [t4, t3];
    // Through the cache (started only now, so its watch does not load the runs above).
    const cached = new CachedStore(newEtcdStore(client, res), { bookmarkIntervalMs: 0 });
    await cached.ready();
    const last = objs.reduce((m, o) => Math.max(m, Number(o.metadata.resourceVersion)), 0);
    while (cached.stats().cacheRevision < last) await new Promise((r) => setTimeout(r, 5));
    const cu = await runConcurrently(n, IN_FLIGHT, async (i) => {
      objs[i] = await cached.update(bump(objs[i]!, 2));
    });
    cached.close();
    if (!counted) continue;
    createRatios.push(rc / sc);
    rawCreates += n;
    rawCreateSec += rc;
    storageCreates += n;
    storageCreateSec += sc;
    rawUpdates += n;
    rawUpdateSec += ru;
    etcdUpdates += n;
    etcdUpdateSec += su;
    cachedUpdates += n;
    cachedUpdateSec += cu;
    log(
      `  creates/s storage ${Math.round(n / sc)} raw ${Math.round(n / rc)}; updates/s etcdStore ${Math.round(n / su)} cached ${Math.round(n / cu)} raw ${Math.round(n / ru)}`,
    );
  }
  return {
    creates: {
      ...pair(storageCreates, storageCreateSec, rawCreates, rawCreateSec),
      ratioPerRound: createRatios.map((r) => Math.round(r * 100) / 100),
      // Client CPU per create in this process: steadier than throughput on a shared machine.
      storageClientCpuMicrosPerOp: Math.round(storageCreateCpu / storageCreates),
      rawEtcd3ClientCpuMicrosPerOp: Math.round(rawCreateCpu / rawCreates),
    },
    updates: {
      etcdStore: pair(etcdUpdates, etcdUpdateSec, rawUpdates, rawUpdateSec),
      cachedStore: pair(cachedUpdates, cachedUpdateSec, rawUpdates, rawUpdateSec),
    },
  };
}

async function benchList(client: Etcd3) {
  const res = vmResource('vms-list');
  const etcdStore = newEtcdStore(client, res);
  log(`seeding ${LIST_SIZE} objects`);
  await runConcurrently(LIST_SIZE, IN_FLIGHT, (i) => etcdStore.create(vm(`vm-${String(i).padStart(5, '0')}`, i)));
  const cached = new CachedStore(newEtcdStore(client, res), { bookmarkIntervalMs: 0 });
  const t0 = performance.now();
  await cached.ready();
  const cacheInitialSyncMs = performance.now() - t0;
  const time = async (fn: () => Promise<{ items: unknown[] }>, runs: number) => {
    const out: number[] = [];
    for (let i = 0; i < runs; i++) {
      const s = performance.now();
      const r = await fn();
      out.push(performance.now() - s);
      if (r.items.length !== LIST_SIZE) throw new Error(`list returned ${r.items.length} items`);
    }
    return { p50Ms: ms(percentile(out, 50)), minMs: ms(Math.min(...out)), maxMs: ms(Math.max(...out)), runs };
  };
  log('listing from etcd');
  const fromEtcd = await time(() => etcdStore.list({}), 5);
  log('listing from the cache');
  const fromCache = await time(() => cached.list({ resourceVersion: '0' }), 20);
  const fromCacheWithSelector = await time(async () => {
    const r = await cached.list({ resourceVersion: '0', labelSelector: 'quantix.io/owner=bench' });
    return r;
  }, 20);
  cached.close();
  return { objects: LIST_SIZE, fromEtcd, fromCache, fromCacheWithLabelSelector: fromCacheWithSelector, cacheInitialSyncMs: ms(cacheInitialSyncMs) };
}

type WatchTrial = Awaited<ReturnType<typeof watchTrial>>;

/**
 * Trials alternate between the scenarios, so load from elsewhere on this shared machine
 * hits both alike; each scenario reports the median of its trials and every trial's p99.
 */
async function benchWatch(client: Etcd3, scenarios: number[], trials: number) {
  const results = new Map<number, WatchTrial[]>(scenarios.map((w) => [w, []]));
  for (let t = 0; t < trials; t++) {
    for (const watchers of scenarios) results.get(watchers)!.push(await watchTrial(client, watchers, t));
  }
  const median = (xs: number[]) => ms(percentile(xs, 50));
  return scenarios.map((watchers) => {
    const rs = results.get(watchers)!;
    return {
      watchers,
      trials: rs.length,
      writesPerSecond: Math.round(rs.reduce((a, r) => a + r.writesPerSecond, 0) / rs.length),
      deliveries: rs.reduce((a, r) => a + r.deliveries, 0),
      expectedDeliveries: rs.reduce((a, r) => a + r.expectedDeliveries, 0),
      p50Ms: median(rs.map((r) => r.p50Ms)),
      p99Ms: median(rs.map((r) => r.p99Ms)),
      p99MsPerTrial: rs.map((r) => r.p99Ms),
      maxMs: Math.max(...rs.map((r) => r.maxMs)),
      writeAckP50Ms: median(rs.map((r) => r.writeAckP50Ms)),
      writeAckP99Ms: median(rs.map((r) => r.writeAckP99Ms)),
      writeAckP99MsPerTrial: rs.map((r) => r.writeAckP99Ms),
      cacheDispatchP99Ms: median(rs.map((r) => r.cacheDispatchP99Ms)),
      processCpuPercent: Math.round(rs.reduce((a, r) => a + r.processCpuPercent, 0) / rs.length),
      serializedBytesPerEvent: rs[0]!.serializedBytesPerEvent,
    };
  });
}

/**
 * One put-to-event trial. `rawEtcd3` replaces the cache watchers by watchers on the raw etcd3
 * client (its WatchBuilder, each parsing the value it receives), for contrast.
 */
async function watchTrial(client: Etcd3, watchers: number, trial: number, rawEtcd3?: Etcd3) {
  const res = vmResource(`vms-watch-${watchers}-${trial}${rawEtcd3 ? '-raw' : ''}`);
  const writer = newEtcdStore(client, res);
  const dispatch: number[] = [];
  const cached = new CachedStore(newEtcdStore(client, res), {
    bookmarkIntervalMs: 0,
    metrics: { dispatch: (latency) => void dispatch.push(latency) },
  });
  await cached.ready();
  // Writes cycle over 1,000 objects, each one's writes chained (no conflicts, no retries).
  const targets = 1000;
  const objs: KubeObject[] = new Array(targets);
  await runConcurrently(targets, IN_FLIGHT, async (i) => {
    objs[i] = await writer.create(vm(`w-${i}`, i));
  });
  const chains: Promise<unknown>[] = new Array(targets).fill(Promise.resolve());
  await new Promise((r) => setTimeout(r, 200));

  const sentAt = new Map<string, number>();
  const latencies: number[] = [];
  const acks: number[] = [];
  let deliveries = 0;
  let jsonBytes = 0;
  // Kept cheap so the bench measures the cache, not itself: the write time is looked up
  // once per event (every watcher receives the same shared event object).
  let lastEvent: WatchEvent | undefined;
  let lastSent: number | undefined;
  const handler = (e: WatchEvent) => {
    if (e !== lastEvent) {
      lastEvent = e;
      const seq = e.object.metadata.annotations?.['bench-seq'];
      lastSent = seq === undefined ? undefined : sentAt.get(seq);
    }
    if (lastSent === undefined) return; // not a measured write
    const json = e.json; // shared: serialized once per event, as an HTTP stream would write it
    latencies.push(performance.now() - lastSent);
    jsonBytes += json.length;
    deliveries++;
  };
  let ws: { stop(): unknown }[];
  if (rawEtcd3) {
    const prefix = `/registry/quantix.io/${res.resource}/`;
    const raws = await Promise.all(Array.from({ length: watchers }, () => rawEtcd3.watch().prefix(prefix).create()));
    for (const w of raws) {
      w.on('put', (kv) => {
        const o = JSON.parse(kv.value.toString()) as KubeObject;
        const t = sentAt.get(o.metadata.annotations?.['bench-seq'] ?? '');
        if (t === undefined) return;
        latencies.push(performance.now() - t);
        jsonBytes += kv.value.length;
        deliveries++;
      });
    }
    ws = raws.map((w) => ({ stop: () => w.cancel() }));
  } else {
    ws = Array.from({ length: watchers }, () =>
      cached.watch({ sendInitialEvents: false }, handler, (err) => {
        throw err;
      }),
    );
  }
  await new Promise((r) => setTimeout(r, 100));

  log(`${watchers} ${rawEtcd3 ? 'raw etcd3' : 'cache'} watcher(s): ${WRITE_RATE} writes/s for ${WATCH_SECONDS} s (after 1 s of warm-up)`);
  let cpuStart = process.cpuUsage();
  const warmup = WRITE_RATE;
  const total = WRITE_RATE * WATCH_SECONDS + warmup;
  const pending: Promise<unknown>[] = [];
  let start = performance.now();
  for (let seq = 0; seq < total; seq++) {
    if (seq === warmup) {
      await Promise.all(pending);
      pending.length = 0;
      latencies.length = 0;
      acks.length = 0;
      dispatch.length = 0;
      deliveries = 0;
      jsonBytes = 0;
      sentAt.clear();
      cpuStart = process.cpuUsage();
      start = performance.now() - (seq * 1000) / WRITE_RATE;
    }
    const due = start + (seq * 1000) / WRITE_RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const target = seq % targets;
    const marker = String(seq);
    sentAt.set(marker, performance.now()); // scheduled time: any queueing counts
    const write = chains[target]!.then(async () => {
      const o = objs[target]!;
      objs[target] = await cached.update({ ...o, metadata: { ...o.metadata, annotations: { ...o.metadata.annotations, 'bench-seq': marker } } });
      const t = sentAt.get(marker);
      if (t !== undefined) acks.push(performance.now() - t);
    });
    chains[target] = write;
    pending.push(write);
  }
  await Promise.all(pending);
  const measured = total - warmup;
  const elapsed = (performance.now() - start) / 1000 - 1;
  const achieved = measured / elapsed;
  const cpu = process.cpuUsage(cpuStart);
  const expected = measured * watchers;
  const deadline = performance.now() + (rawEtcd3 ? 15_000 : 30_000);
  while (deliveries < expected && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  await Promise.all(ws.map((w) => w.stop()));
  cached.close();
  return {
    writesPerSecond: Math.round(achieved),
    deliveries,
    expectedDeliveries: expected,
    p50Ms: ms(percentile(latencies, 50)),
    p99Ms: ms(percentile(latencies, 99)),
    maxMs: ms(latencies.reduce((a, b) => Math.max(a, b), 0)),
    writeAckP50Ms: ms(percentile(acks, 50)),
    writeAckP99Ms: ms(percentile(acks, 99)),
    cacheDispatchP99Ms: ms(percentile(dispatch, 99)),
    // CPU of this process (writer + cache + watchers) as % of one core while writing.
    processCpuPercent: Math.round(((cpu.user + cpu.system) / 1e6 / elapsed) * 100),
    serializedBytesPerEvent: Math.round(jsonBytes / Math.max(1, deliveries)),
  };
}

/** BURST puts issued at once through `txn` (lean client or etcd3): seconds, CPU seconds of this process, failures. */
async function burstRound(txn: (key: string, value: Buffer) => Promise<unknown>, prefix: string) {
  const value = Buffer.alloc(3000, 120);
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const outcomes = await Promise.allSettled(Array.from({ length: BURST }, (_, i) => txn(`/registry/bench-burst/${prefix}-${i}`, value)));
  const cpu = process.cpuUsage(cpu0);
  return {
    seconds: Math.round(performance.now() - t0) / 1000,
    cpuSeconds: Math.round((cpu.user + cpu.system) / 1e4) / 100,
    failed: outcomes.filter((o) => o.status === 'rejected').length,
  };
}

async function benchBurst(client: Etcd3) {
  const lean: Awaited<ReturnType<typeof burstRound>>[] = [];
  const etcd3: Awaited<ReturnType<typeof burstRound>>[] = [];
  for (let round = 0; round < BURST_ROUNDS; round++) {
    process.stderr.write(`bench storage: burst round ${round + 1}: ${BURST} puts at once\n`);
    lean.push(await burstRound((key, value) => kv.txn({ success: [{ request_put: { key: Buffer.from(key), value } }] }), `lean-${round}`));
    etcd3.push(await burstRound((key, value) => client.put(key).value(value).exec(), `etcd3-${round}`));
  }
  const median = (rs: typeof lean, f: (r: (typeof lean)[number]) => number) => rs.map(f).sort((a, b) => a - b)[Math.floor(rs.length / 2)]!;
  return {
    puts: BURST,
    valueBytes: 3000,
    rounds: { lean, etcd3 },
    medianSeconds: { lean: median(lean, (r) => r.seconds), etcd3: median(etcd3, (r) => r.seconds) },
    medianCpuSeconds: { lean: median(lean, (r) => r.cpuSeconds), etcd3: median(etcd3, (r) => r.cpuSeconds) },
  };
}

async function main() {
  const started = performance.now();
  const etcd = await startEtcd({ tls: true });
  const client = new Etcd3(etcd.etcd3Options());
  kv = createKvClient(etcd.endpoints, { tls: etcd.kvTls() });
  try {
    const cu = SECTIONS.has('writes') ? await benchCreatesAndUpdates(client) : undefined;
    const list = SECTIONS.has('list') ? await benchList(client) : undefined;
    const [watch1, watchN] = SECTIONS.has('watch') ? await benchWatch(client, [1, WATCHERS], WATCH_TRIALS) : [];
    let rawWatch: Awaited<ReturnType<typeof watchTrial>> | undefined;
    if (SECTIONS.has('rawwatch')) {
      const rawClient = new Etcd3(etcd.etcd3Options());
      try {
        rawWatch = await watchTrial(client, RAW_WATCHERS, 0, rawClient);
      } finally {
        rawClient.close();
      }
    }
    const burst = SECTIONS.has('burst') ? await benchBurst(client) : undefined;
    const result = {
      benchmark: 'storage',
      environment: {
        node: process.version,
        cpus: (await import('node:os')).cpus().length,
        etcd: 'single member, data dir on tmpfs, TLS with client certificates',
        loadAverageAtStart: (await import('node:os')).loadavg().map((x) => Math.round(x * 100) / 100),
        inFlight: IN_FLIGHT,
        opsPerRound: OPS,
        rounds: ROUNDS,
      },
      creates: cu?.creates,
      updates: cu?.updates,
      list,
      putToEvent: watch1 && watchN ? [watch1, watchN] : undefined,
      putToEventRawEtcd3Watchers: rawWatch
        ? {
            watchers: RAW_WATCHERS,
            note: 'contrast only: watchers on the raw etcd3 client, each parsing every value; same writes; one trial',
            ...rawWatch,
            cacheDispatchP99Ms: undefined,
            serializedBytesPerEvent: undefined,
          }
        : undefined,
      burst,
      targets: {
        createsRatioAtLeast0_8: cu ? cu.creates.ratio >= 0.8 : undefined,
        p99With1000WatchersUnder50ms: watchN ? watchN.p99Ms < 50 : undefined,
      },
      durationSeconds: Math.round((performance.now() - started) / 100) / 10,
    };
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
  } finally {
    kv.close();
    client.close();
    await etcd.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench storage failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
