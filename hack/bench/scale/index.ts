/**
 * Scale benchmark (issue 20; `make bench-scale`, `tsx hack/bench/run.ts scale`).
 *
 * Real processes, as in production: etcd (TLS, client certificates), quantix-apiserver (with
 * its node gateway) and quantix-controller-manager (every controller, leader election on,
 * production lease timings) each run as their own process; a child process runs the hollow
 * agents (hollow-agents.ts: real agents on simulated hypervisors, each joining with a
 * bootstrap token and then on mutual TLS, heartbeating every 10 s); this process plays the
 * users. Phases:
 *
 *   nodes      BENCH_NODES hollow agents join (spread over BENCH_JOIN_SPREAD_S), a pool
 *              "bench" is assigned to all; wait until every Node is Ready and the pool HEALTHY
 *              on each.
 *   idle       BENCH_IDLE_S with no user activity: etcd writes per second (etcd's own put and
 *              txn counters, and a watch on every key to say which objects were written) —
 *              what heartbeats cost; the gateway's quantix_gateway_heartbeat_etcd_writes_total
 *              when the apiserver has it. Then the raw etcd baseline: puts straight from an
 *              etcd3 client, 64 in flight, for a few seconds.
 *   create     BENCH_VMS VMs created open-loop at BENCH_CREATE_RATE/s; wait until all are
 *              bound. apiserver memory (RSS, V8 heap) at 10,000 VMs and at the end: per cached VM.
 *   churn      BENCH_CHURN_S of start / stop / delete+create / get at BENCH_CHURN_RATE/s:
 *              client-side latency per verb, and the apiserver's own histogram; etcd db size
 *              before and after (compaction keeps it flat).
 *   storm      BENCH_STORM_VMS VMs wait on pool "gate" assigned to no node; it is then
 *              assigned to every node: time from that write to all bound.
 *   relist     the apiserver process is restarted: every agent's streams and the
 *              controller-manager's watches reconnect and relist at once. Time until every
 *              agent is reachable again, the apiserver's RSS meanwhile, and GET latency.
 * Leadership: the Lease's leaseTransitions and controller-manager restarts over the run.
 *
 * BENCH_PHASES (default all: nodes,idle,create,churn,storm,relist; nodes always runs) picks
 * phases; the heartbeat baseline is BENCH_PHASES=idle. Sizes: BENCH_NODES (1000), BENCH_VMS
 * (50000), BENCH_CREATE_RATE (200), BENCH_CHURN_S (300), BENCH_CHURN_RATE (100),
 * BENCH_STORM_VMS (10000), BENCH_IDLE_S (60), BENCH_JOIN_SPREAD_S (nodes / 10),
 * BENCH_NODE_IDENTITY (certificate, or bearer: see NODE_IDENTITY), BENCH_POOL_NODES (50: nodes
 * per dir pool — pools bench-0, bench-1, … each on its group of nodes, VMs spread over them;
 * one pool on 1,000 nodes makes every pool report an O(nodes) write, docs/scale.md),
 * BENCH_POOLS (1; 0: the pools are assigned to no node, for the idle phase without pool reports).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import type { Lease, Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { ensureTokenFile } from '../../../apiserver/auth/token-file.js';
import { HttpApiClient } from '../../../controllers/runtime/client.js';
import { Informer, listerWatcher } from '../../../controllers/runtime/informer.js';
import { BootstrapTokens, Leases, Nodes, StoragePools, VirtualMachines } from '../../../controllers/runtime/resources.js';
import { startEtcd } from '../../testenv/etcd.js';
import { startApiserverProcess, stopProcess } from '../apiserver-process.js';
import { runConcurrently } from '../stats.js';
import { hollowNodeNames, type HollowAgentsOptions, type HollowProgress } from './hollow-agents.js';
import { histogramQuantiles, httpsGet, largestRssBytes, latencySummary, mib, parsePrometheus, sumOf, VerbLatencies, type Sample } from './metrics.js';

const env = (name: string, fallback: number) => Number(process.env[name] ?? fallback);
const NODES = env('BENCH_NODES', 1000);
const VMS = env('BENCH_VMS', 50_000);
const CREATE_RATE = env('BENCH_CREATE_RATE', 200);
const CHURN_S = env('BENCH_CHURN_S', 300);
const CHURN_RATE = env('BENCH_CHURN_RATE', 100);
const STORM_VMS = env('BENCH_STORM_VMS', 10_000);
const IDLE_S = env('BENCH_IDLE_S', 60);
const JOIN_SPREAD_S = env('BENCH_JOIN_SPREAD_S', NODES / 10);
/** How long joining, and then becoming Ready, may each take before the run goes on with the nodes it has. */
const START_TIMEOUT_S = env('BENCH_START_TIMEOUT_S', 600);
/**
 * certificate: each hollow agent joins as a host does today (its own key, a certificate the
 * gateway signs, mutual TLS on a connection of its own). bearer: the agents make no
 * certificate request (the agent's requestCertificate: false), so each registers for a bearer
 * node credential; they then share one gRPC connection (one process, the
 * same TLS credentials), so the apiserver is started with room for their streams. Heartbeats
 * and reports, and so their etcd writes, are the same; joining costs no signing.
 */
const NODE_IDENTITY = process.env.BENCH_NODE_IDENTITY === 'bearer' ? 'bearer' : 'certificate';
const POOLS_ON = process.env.BENCH_POOLS !== '0';
const POOL_NODES = env('BENCH_POOL_NODES', 50);
const GROUPS = Math.max(1, Math.ceil(NODES / POOL_NODES));
/** Node group g: the nodes of pools bench-g and gate-g. */
const groupOf = (names: readonly string[], g: number) => names.slice(g * POOL_NODES, (g + 1) * POOL_NODES);
const benchPool = (i: number) => `bench-${i % GROUPS}`;
const PHASES = new Set((process.env.BENCH_PHASES ?? 'nodes,idle,create,churn,storm,relist').split(','));
const NAMESPACE = 'scale';
const GiB = 1024 ** 3;

const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench scale +${((performance.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const load = () => loadavg().map((l) => Math.round(l * 100) / 100);

function vm(name: string, pool: string): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: NAMESPACE },
    spec: { cpu: 1, memory: '256Mi', runStrategy: 'Always', disks: [{ name: 'root', storagePool: pool, size: '1Gi' }] },
  };
}

/** quantix-controller-manager with leader election at its production timings, restarted when it exits (it lost its lease). */
function superviseManager(kubeconfig: string): { restarts: number; stop(): Promise<void> } {
  const start = () =>
    spawn('node_modules/.bin/tsx', ['controllers/main.ts', '--kubeconfig', kubeconfig, '--leader-elect', '--identity', `bench-scale-${Date.now()}`], {
      stdio: ['ignore', 'ignore', 'inherit'],
      detached: true,
      env: { ...process.env, QUANTIX_LOG_LEVEL: 'error', QUANTIX_LOG_FORMAT: 'json' },
    });
  let stopping = false;
  let child = start();
  const state = {
    restarts: 0,
    async stop() {
      stopping = true;
      await stopProcess(child);
    },
  };
  const watch = (c: ChildProcess) =>
    c.once('exit', (code) => {
      if (stopping) return;
      state.restarts++;
      log(`controller-manager exited (${code}); restarting`);
      child = start();
      watch(child);
    });
  watch(child);
  return state;
}

/** The hollow agents in a child process; its status lines as they come. */
function startFleet(options: Omit<HollowAgentsOptions, 'onStarted'>): {
  child: ChildProcess;
  started: Promise<HollowProgress>;
  reachable: () => number;
  lastStatusAt: () => number;
} {
  const child = spawn(process.execPath, ['--import', 'tsx', 'hack/bench/scale/hollow-agents.ts'], {
    stdio: ['ignore', 'pipe', 'inherit'],
    detached: true,
    env: {
      ...process.env,
      HOLLOW_AGENTS: JSON.stringify(NODE_IDENTITY === 'bearer' ? { ...options, agent: { ...options.agent, requestCertificate: false } } : options),
    },
  });
  let reachable = 0;
  let statusAt = 0;
  let buffer = '';
  const started = new Promise<HollowProgress>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`hollow agents exited (${code})`)));
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const line = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        let p: HollowProgress;
        try {
          p = JSON.parse(line) as HollowProgress;
        } catch {
          continue;
        }
        if (p.type === 'progress') log(`hollow agents: ${p.started}/${p.total} started`);
        if (p.type === 'started') resolve(p);
        if (p.type === 'error') reject(new Error(`hollow agents: ${p.error}`));
        if (p.type === 'status') {
          reachable = p.reachable!;
          statusAt = performance.now();
        }
      }
    });
  });
  return { child, started, reachable: () => reachable, lastStatusAt: () => statusAt };
}

async function waitFor(what: string, timeoutMs: number, check: () => Promise<boolean> | boolean, everyMs = 1000): Promise<number> {
  const started = performance.now();
  for (;;) {
    if (await check()) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) throw new Error(`${what}: not after ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

/** What to stop, newest first: on the way out, and on SIGINT/SIGTERM (run.ts forwards them). */
const stoppers: (() => Promise<unknown> | void)[] = [];
async function stopEverything(): Promise<void> {
  while (stoppers.length > 0) await Promise.resolve(stoppers.pop()!()).catch(() => undefined);
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: stopping`);
    void stopEverything().finally(() => process.exit(1));
  });
}

async function main(): Promise<void> {
  const loadAtStart = load();
  log(`${NODES} nodes, ${VMS} VMs at ${CREATE_RATE}/s, churn ${CHURN_S} s at ${CHURN_RATE}/s, storm ${STORM_VMS}; phases ${[...PHASES].join(',')}`);
  const etcd = await startEtcd({ tls: true });
  stoppers.push(() => etcd.stop());
  const apiArgs = NODE_IDENTITY === 'bearer' ? ['--gateway-max-concurrent-streams', String(4 * NODES + 100)] : [];
  let api = await startApiserverProcess(etcd, 'quantix-bench-scale-', apiArgs);
  stoppers.push(() => rmSync(api.dataDir, { recursive: true, force: true }));
  stoppers.push(() => stopProcess(api.child));
  const raw = new Etcd3(etcd.etcd3Options());
  stoppers.push(() => raw.close());
  const etcdTls = { ca: etcd.tls!.caPem, cert: etcd.tls!.certPem, key: etcd.tls!.keyPem };
  const adminToken = ensureTokenFile(join(api.dataDir, 'tokens.csv')).admin;
  const caPem = readFileSync(join(api.dataDir, 'pki', 'ca.crt'), 'utf8');
  const etcdMetrics = async () => parsePrometheus(await httpsGet(`${etcd.clientUrl}/metrics`, etcdTls));
  const apiMetrics = async () => parsePrometheus(await httpsGet(`${api.url}/metrics`, { ca: caPem, token: adminToken }));
  const etcdWrites = (s: Sample[]) =>
    (sumOf(s, 'etcd_mvcc_put_total') ?? sumOf(s, 'etcd_debugging_mvcc_put_total') ?? 0) +
    (sumOf(s, 'etcd_mvcc_delete_total') ?? sumOf(s, 'etcd_debugging_mvcc_delete_total') ?? 0);
  const etcdTxns = (s: Sample[]) => sumOf(s, 'etcd_mvcc_txn_total') ?? sumOf(s, 'etcd_debugging_mvcc_txn_total') ?? 0;
  const dbSize = async () => {
    const status = await raw.maintenance.status();
    return { totalMiB: mib(Number(status.dbSize)), inUseMiB: mib(Number((status as { dbSizeInUse?: string }).dbSizeInUse ?? Number.NaN)) };
  };
  const memory = async () => {
    const s = await apiMetrics().catch(() => [] as Sample[]);
    return {
      apiserverRssMiB: mib(largestRssBytes(api.child.pid!)),
      apiserverHeapUsedMiB: mib(sumOf(s, 'nodejs_heap_size_used_bytes')),
      etcdRssMiB: mib(largestRssBytes(etcd.pid)),
    };
  };

  const client = await HttpApiClient.fromFile(api.kubeconfig, { userAgent: 'bench-scale', maxSockets: 64 });
  stoppers.push(() => client.close());
  let manager: ReturnType<typeof superviseManager> | undefined;
  let fleet: ReturnType<typeof startFleet> | undefined;
  const result: Record<string, unknown> = {};
  try {
    const names = hollowNodeNames(NODES);
    for (let g = 0; g < GROUPS; g++) {
      await client.create<StoragePool>(StoragePools, {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'StoragePool',
        metadata: { name: `bench-${g}` },
        spec: { type: 'dir', dir: { path: '/var/lib/quantix/bench' }, assignedNodes: POOLS_ON ? groupOf(names, g) : [] },
      });
    }
    const token = await client.create<{ metadata: { name?: string }; spec: object; status?: { token?: string } } & Node>(BootstrapTokens, {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'BootstrapToken',
      metadata: {},
      spec: { ttlSeconds: 24 * 3600, description: 'scale benchmark' },
    } as never);
    manager = superviseManager(api.kubeconfig);
    stoppers.push(() => manager?.stop());

    // --- nodes
    const memoryEmpty = await memory();
    const dbAtStart = await dbSize();
    log(`${NODES} hollow agents join over ~${JOIN_SPREAD_S} s`);
    fleet = startFleet({
      gateway: `127.0.0.1:${Number(new URL(api.url).port) + 1}`,
      caPem,
      joinToken: token.status!.token!,
      count: NODES,
      startSpreadMs: JOIN_SPREAD_S * 1000,
    });
    stoppers.push(() => stopProcess(fleet!.child));
    // A fleet that cannot all join in time (an overloaded control plane) is measured as far as it got.
    const fleetStarted = await Promise.race([fleet.started, sleep(START_TIMEOUT_S * 1000).then((): HollowProgress => ({ type: 'started', startMs: -1 }))]);
    let ready = 0;
    const readyMs = await waitFor(
      'every node Ready and its pool HEALTHY',
      START_TIMEOUT_S * 1000,
      async () => {
        const nodes = (await client.list<Node>(Nodes)).items;
        ready = nodes.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
        const pools = (await client.list<StoragePool>(StoragePools)).items.filter((p) => p.metadata.name!.startsWith('bench-'));
        const healthy = pools.reduce((n, pool) => n + Object.values(pool.status?.hosts ?? {}).filter((h) => h.health === 'HEALTHY').length, 0);
        log(`nodes Ready ${ready}/${NODES}, pools HEALTHY on ${healthy} nodes`);
        return ready === NODES && healthy === (POOLS_ON ? NODES : 0);
      },
      5000,
    ).catch((err: Error) => {
      log(`${err.message}: going on with ${ready} Ready nodes`);
      return -1;
    });
    result.nodes = {
      count: NODES,
      identity: NODE_IDENTITY,
      pools: POOLS_ON ? { count: GROUPS, nodesEach: POOL_NODES } : 'none assigned',
      joinSpreadSeconds: JOIN_SPREAD_S,
      allAgentsStartedMs: fleetStarted.startMs,
      agentStartMs: fleetStarted.agentStartMs,
      allReadyAfterStartMs: readyMs,
      readyNodes: ready,
      memory: await memory(),
    };

    // --- idle: what heartbeats cost
    if (PHASES.has('idle')) {
      await sleep(15_000); // first full syncs (start-up jitter) and their writes settle
      log(`idle ${IDLE_S} s: etcd writes by heartbeats`);
      const byResource = new Map<string, number>();
      const watcher = await raw.watch().prefix('/').create();
      watcher.on('data', (res) => {
        for (const ev of res.events) {
          const parts = ev.kv.key.toString('utf8').split('/');
          // /registry/<group>/<resource>/[<namespace>/]<name>: leases by namespace, the rest by resource.
          const key =
            parts[1] !== 'registry' ? parts.slice(1, 3).join('/') : parts[3] === 'leases' ? `${parts[2]}/leases/${parts[4]}` : parts.slice(2, 4).join('/');
          byResource.set(key, (byResource.get(key) ?? 0) + 1);
        }
      });
      const e0 = await etcdMetrics();
      const a0 = await apiMetrics();
      const started = performance.now();
      await sleep(IDLE_S * 1000);
      const e1 = await etcdMetrics();
      const a1 = await apiMetrics();
      const seconds = (performance.now() - started) / 1000;
      await watcher.cancel();
      const perSecond = (n: number) => Math.round((n / seconds) * 10) / 10;
      const gateway = (s: Sample[]) => sumOf(s, 'quantix_gateway_heartbeat_etcd_writes_total');
      const managerLeaseWrites = [...byResource].filter(([k]) => k.startsWith('coordination.k8s.io/leases/quantix-system')).reduce((a, [, n]) => a + n, 0);
      const allWrites = etcdWrites(e1) - etcdWrites(e0);
      result.idle = {
        seconds: Math.round(seconds),
        heartbeatIntervalSeconds: 10,
        etcdWritesPerSecond: perSecond(allWrites),
        etcdTxnsPerSecond: perSecond(etcdTxns(e1) - etcdTxns(e0)),
        // Everything but the controller-manager's own leader Lease: with no user, what the agents cause.
        heartbeatWritesPerSecond: perSecond(allWrites - managerLeaseWrites),
        readyNodes: ready,
        heartbeatWritesPerNodeHeartbeat: Math.round(((allWrites - managerLeaseWrites) / seconds / (ready / 10)) * 100) / 100,
        writesPerSecondByObject: Object.fromEntries([...byResource].sort((a, b) => b[1] - a[1]).map(([k, n]) => [k, perSecond(n)])),
        gatewayHeartbeatEtcdWritesPerSecond:
          gateway(a1) === undefined ? 'no quantix_gateway_heartbeat_etcd_writes_total on this apiserver' : perSecond(gateway(a1)! - (gateway(a0) ?? 0)),
        memory: await memory(),
      };
      log(`idle: ${JSON.stringify(result.idle)}`);

      // Raw etcd: puts straight from an etcd3 client, 64 in flight, 5 s.
      let puts = 0;
      const rawStart = performance.now();
      await runConcurrently(64, 64, async (w) => {
        while (performance.now() - rawStart < 5000) {
          await raw.put(`/bench-raw/${w}`).value('x'.repeat(1024));
          puts++;
        }
      });
      await raw.delete().prefix('/bench-raw/');
      result.rawEtcdBaseline = { putsPerSecond64InFlight: Math.round(puts / ((performance.now() - rawStart) / 1000)), valueBytes: 1024 };
    }

    const phasesLeft = ['create', 'churn', 'storm', 'relist'].some((p) => PHASES.has(p));
    if (phasesLeft) await runPhases();

    async function runPhases(): Promise<void> {
      // Every VM's node as seen on a watch (an informer: it relists if the stream breaks).
      const boundAt = new Map<string, number>();
      const informer = new Informer<VirtualMachine>(listerWatcher(client, VirtualMachines), {
        name: 'bench-vms',
        freeze: false,
        initialBackoffMs: 100,
        maxBackoffMs: 2000,
      });
      const observe = (v: VirtualMachine) => {
        if (v.spec?.nodeName && !boundAt.has(v.metadata.name!)) boundAt.set(v.metadata.name!, performance.now());
      };
      informer.on({ add: observe, update: (_o, v) => observe(v) });
      informer.start();
      await informer.waitForSync();
      const unbound = (keys: readonly string[]) => keys.filter((k) => !boundAt.has(k)).length;

      // --- create
      const live: string[] = [];
      if (PHASES.has('create')) {
        log(`create: ${VMS} VMs at ${CREATE_RATE}/s`);
        const latencies = new VerbLatencies();
        const sentAt = new Map<string, number>();
        const memoryAt: Record<string, unknown> = {};
        const started = performance.now();
        const creates: Promise<unknown>[] = [];
        for (let i = 0; i < VMS; i++) {
          const wait = started + (i * 1000) / CREATE_RATE - performance.now();
          if (wait > 0) await sleep(wait);
          const name = `vm-${i}`;
          sentAt.set(name, performance.now());
          live.push(name);
          creates.push(latencies.time('create', () => client.create(VirtualMachines, vm(name, benchPool(i)))).catch(() => undefined));
          if ((i + 1) % 10_000 === 0) {
            log(`created ${i + 1}`);
            if (i + 1 === 10_000) memoryAt['10000'] = await memory();
          }
        }
        await Promise.all(creates);
        const createSeconds = (performance.now() - started) / 1000;
        const boundError = await waitFor(
          `${VMS} VMs bound`,
          env('BENCH_BIND_TIMEOUT_S', 900) * 1000,
          () => {
            const n = unbound(live);
            if (n > 0) log(`create: ${n} not bound yet`);
            return n === 0;
          },
          5000,
        ).then(
          () => undefined,
          (err: Error) => `${err.message} (${unbound(live)} unbound)`,
        );
        await sleep(10_000);
        memoryAt[String(VMS)] = await memory();
        const m10k = memoryAt['10000'] as Awaited<ReturnType<typeof memory>> | undefined;
        const mEnd = memoryAt[String(VMS)] as Awaited<ReturnType<typeof memory>>;
        const perVm = (a: number | undefined, b: number | undefined, n: number) =>
          a === undefined || b === undefined ? undefined : Math.round(((b - a) * 1024 * 1024) / n);
        result.create = {
          vms: VMS,
          targetRatePerSecond: CREATE_RATE,
          achievedRatePerSecond: Math.round((VMS / createSeconds) * 10) / 10,
          notAllBound: boundError,
          lastCreateToAllBoundMs: boundError
            ? undefined
            : Math.round(live.reduce((m, k) => Math.max(m, boundAt.get(k)!), 0) - [...sentAt.values()].reduce((m, t) => Math.max(m, t), 0)),
          createToBoundMs: latencySummary(live.filter((k) => boundAt.has(k)).map((k) => boundAt.get(k)! - sentAt.get(k)!)),
          clientLatencyMs: latencies.summary(),
          errors: latencies.errors,
          memory: memoryAt,
          apiserverBytesPerVm: {
            rssFromEmpty: perVm(memoryEmpty.apiserverRssMiB, mEnd.apiserverRssMiB, VMS),
            heapFromEmpty: perVm(memoryEmpty.apiserverHeapUsedMiB, mEnd.apiserverHeapUsedMiB, VMS),
            ...(m10k
              ? {
                  rssFrom10k: perVm(m10k.apiserverRssMiB, mEnd.apiserverRssMiB, VMS - 10_000),
                  heapFrom10k: perVm(m10k.apiserverHeapUsedMiB, mEnd.apiserverHeapUsedMiB, VMS - 10_000),
                }
              : {}),
          },
        };
        log(`create: ${JSON.stringify(result.create)}`);
      }

      // --- churn
      if (PHASES.has('churn') && live.length > 0) {
        log(`churn: ${CHURN_S} s at ${CHURN_RATE}/s`);
        const latencies = new VerbLatencies();
        const db0 = await dbSize();
        const a0 = await apiMetrics();
        const halted = new Set<string>();
        let created = 0;
        const started = performance.now();
        const ops: Promise<unknown>[] = [];
        const pick = () => live[Math.floor(Math.random() * live.length)]!;
        for (let i = 0; performance.now() - started < CHURN_S * 1000; i++) {
          const wait = started + (i * 1000) / CHURN_RATE - performance.now();
          if (wait > 0) await sleep(wait);
          const kind = i % 4;
          let op: Promise<unknown>;
          if (kind === 0) {
            const name = pick();
            halted.add(name);
            op = latencies.time('patch', () => client.patch(VirtualMachines, NAMESPACE, name, { spec: { runStrategy: 'Halted' } }));
          } else if (kind === 1) {
            const name = halted.values().next().value as string | undefined;
            if (name) halted.delete(name);
            op = latencies.time('patch', () => client.patch(VirtualMachines, NAMESPACE, name ?? pick(), { spec: { runStrategy: 'Always' } }));
          } else if (kind === 2) {
            const index = Math.floor(Math.random() * live.length);
            const gone = live[index]!;
            const name = `churn-${created++}`;
            live[index] = name;
            halted.delete(gone);
            op = latencies
              .time('delete', () => client.delete(VirtualMachines, NAMESPACE, gone))
              .then(() => latencies.time('create', () => client.create(VirtualMachines, vm(name, benchPool(index)))));
          } else {
            op = latencies.time('get', () => client.get(VirtualMachines, NAMESPACE, pick()));
          }
          ops.push(op.catch(() => undefined));
          if (ops.length > 5000) await Promise.all(ops.splice(0));
        }
        await Promise.all(ops);
        const seconds = (performance.now() - started) / 1000;
        const a1 = await apiMetrics();
        result.churn = {
          seconds: Math.round(seconds),
          targetRatePerSecond: CHURN_RATE,
          clientLatencyMs: latencies.summary(),
          errors: latencies.errors,
          apiserverHistogram: histogramQuantiles(a0, a1, 'apiserver_request_duration_seconds', 'verb', [0.5, 0.99]),
          etcdDb: { atStart: db0, atEnd: await dbSize() },
          memory: await memory(),
        };
        log(`churn: ${JSON.stringify(result.churn)}`);
      }

      // --- storm
      if (PHASES.has('storm')) {
        log(`storm: ${STORM_VMS} VMs wait on pools gate-* (assigned to no node)`);
        for (let g = 0; g < GROUPS; g++) {
          await client.create<StoragePool>(StoragePools, {
            apiVersion: 'quantix.io/v1alpha1',
            kind: 'StoragePool',
            metadata: { name: `gate-${g}` },
            spec: { type: 'dir', dir: { path: '/var/lib/quantix/gate' }, assignedNodes: [] },
          });
        }
        const keys = Array.from({ length: STORM_VMS }, (_, i) => `storm-${i}`);
        await runConcurrently(STORM_VMS, 32, (i) => client.create(VirtualMachines, vm(keys[i]!, `gate-${i % GROUPS}`)));
        await waitFor(
          'storm VMs found unschedulable',
          600_000,
          () => keys.every((k) => informer.store.get(`${NAMESPACE}/${k}`)?.status?.conditions?.some((c) => c.type === 'Scheduled' && c.status === 'False')),
          5000,
        );
        await sleep(5000);
        const opened = performance.now();
        const names = hollowNodeNames(NODES);
        await Promise.all(
          Array.from({ length: GROUPS }, (_, g) => client.patch(StoragePools, undefined, `gate-${g}`, { spec: { assignedNodes: groupOf(names, g) } })),
        );
        let allBoundMs: number | string;
        try {
          allBoundMs = await waitFor(`${STORM_VMS} storm VMs bound`, 600_000, () => unbound(keys) === 0, 200);
        } catch (err) {
          allBoundMs = `${(err as Error).message} (${unbound(keys)} unbound)`;
        }
        const binds = keys.map((k) => boundAt.get(k)).filter((t): t is number => t !== undefined);
        result.storm = {
          vms: STORM_VMS,
          unblockedBy: 'pools gate-* assigned to their node groups at once: each agent defines its pool and reports it HEALTHY',
          gateOpenToAllBoundMs: allBoundMs,
          gateOpenToFirstBindMs: binds.length ? Math.round(binds.reduce((m, t) => Math.min(m, t), Number.POSITIVE_INFINITY) - opened) : undefined,
          target: '≤ 30000 ms',
        };
        log(`storm: ${JSON.stringify(result.storm)}`);
      }

      // --- relist after an apiserver restart
      if (PHASES.has('relist')) {
        log('relist: restarting the apiserver process');
        const latencies = new VerbLatencies();
        let peakRss = 0;
        const stoppedAt = performance.now();
        await stopProcess(api.child);
        api = await startApiserverProcess(etcd, '', apiArgs, api);
        const upMs = Math.round(performance.now() - stoppedAt);
        let probing = true;
        const probe = (async () => {
          while (probing) {
            peakRss = Math.max(peakRss, largestRssBytes(api.child.pid!));
            await latencies.time('get', () => client.get(StoragePools, undefined, 'bench-0')).catch(() => undefined);
            await sleep(250);
          }
        })();
        // Agents notice within a heartbeat or a stream error; wait until some are down, then all back.
        let allBackMs: number | string;
        try {
          allBackMs = await waitFor(
            'every agent reachable again',
            300_000,
            () => fleet!.lastStatusAt() > stoppedAt + upMs && fleet!.reachable() === NODES,
            500,
          );
        } catch (err) {
          allBackMs = `${(err as Error).message} (${fleet!.reachable()} reachable)`;
        }
        await sleep(10_000);
        probing = false;
        await probe;
        result.relist = {
          apiserverDownToReadyMs: upMs,
          readyToAllAgentsReachableMs: allBackMs,
          apiserverPeakRssMiB: mib(peakRss),
          getLatencyDuringMs: latencies.summary().get ?? latencySummary([]),
          getErrors: latencies.errors,
          memory: await memory(),
        };
        log(`relist: ${JSON.stringify(result.relist)}`);
      }
      informer.stop();
    }

    const lease = await client.get<Lease>(Leases, 'quantix-system', 'quantix-controller-manager').catch(() => undefined);
    result.leadership = { leaseTransitions: lease?.spec?.leaseTransitions ?? 0, controllerManagerRestarts: manager.restarts };
    result.etcdDb = { atStart: dbAtStart, atEnd: await dbSize() };
  } finally {
    await stopEverything();
  }
  const doc = {
    benchmark: 'scale',
    setup: {
      nodes: NODES,
      vms: VMS,
      createRatePerSecond: CREATE_RATE,
      churnSeconds: CHURN_S,
      churnRatePerSecond: CHURN_RATE,
      stormVms: STORM_VMS,
      phases: [...PHASES],
      processes: 'etcd (TLS), quantix-apiserver (with gateway), quantix-controller-manager (leader election), hollow agents (one process), bench driver',
      cpus: cpus().length,
      memoryGiB: Math.round(totalmem() / GiB),
      loadAverage: { atStart: loadAtStart, atEnd: load() },
    },
    ...result,
  };
  process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench/scale failed: ${(err as Error)?.stack ?? String(err)}\n`);
    process.exit(1);
  },
);
