/**
 * Benchmark of quantix-controller-manager (`make bench`; `tsx hack/bench/run.ts controllers`).
 *
 * Real processes, as in production: etcd, quantix-apiserver and quantix-controller-manager
 * (all four controllers, leader election on) each run as their own process; this one plays
 * 100 hollow nodes (Node heartbeats every 10 s, a pool HEALTHY on every node) and the users.
 *
 * 1. create → bound: 1,000 VMs created open-loop at 50/s (after 100 warm-up VMs at the
 *    same rate); latency from sending the create to seeing spec.nodeName set on a watch (so
 *    it includes watch delivery), p50/p99.
 * 2. scheduler throughput, VMs bound per second from the first bind to the last:
 *    a. warm leader (all controllers): 1,000 VMs wait on a pool that no node has mounted;
 *       one status write reports it HEALTHY everywhere and the running manager binds them;
 *    b. cold start (scheduler only): the manager is stopped, 1,000 VMs created, a fresh
 *       manager starts (start-up, list and sync are in managerStartToAllBoundMs).
 *    Next to it, the apiserver's own ceiling measured in the same run: the same JSON
 *    patches sent straight from this process, as many in flight as the scheduler's workers.
 * The manager's own view comes from its /metrics (scraped every second): event-loop delay
 * (worst 10-s window's p99 and max), lease renewals, Event writes and drops; leadership
 * changes are the supervisor's restarts and the Lease's spec.leaseTransitions. Phase 2a is
 * the storm: its time from the gate opening to the last bind is checked against 30 s.
 * The load average is part of the output: the numbers mean little on a busy machine.
 * BENCH_NODES, BENCH_VMS, BENCH_CREATE_RATE, BENCH_CONTROLLERS (phase 1),
 * BENCH_CPU_PROFILE_DIR (node --cpu-prof for the managers), BENCH_LEASE (the manager's lease
 * timings, default the product's 15s,10s,2s) adjust a run.
 * Every VM must end up on a node exactly once and no node over its capacity.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { planScheduling } from '../../../controllers/scheduler/scheduler_reconcile.js';
import { DEFAULT_SCHEDULER_CONFIG } from '../../../lib/scheduling/predicates.js';
import { UsageTracker } from '../../../controllers/scheduler/scheduler_usage.js';
import { cpus, loadavg } from 'node:os';
import { HttpApiClient } from '../../../controllers/runtime/client.js';
import { Informer, listerWatcher } from '../../../controllers/runtime/informer.js';
import { Nodes, StoragePools, VirtualMachines } from '../../../controllers/runtime/resources.js';
import { startEtcd } from '../../testenv/etcd.js';
import { freePort, startApiserverProcess, stopProcess } from '../apiserver-process.js';
import { readFileSync } from 'node:fs';
import { request } from 'node:https';
import type { Lease } from '../../../api-types/generated/types.js';
import { ensureMetricsServingCertificate } from '../../../apiserver/pki/certificates.js';
import { Leases } from '../../../controllers/runtime/resources.js';
import { percentile, runConcurrently } from '../stats.js';

const NODES = Number(process.env.BENCH_NODES ?? 100);
const VMS = Number(process.env.BENCH_VMS ?? 1000);
const CREATE_RATE = Number(process.env.BENCH_CREATE_RATE ?? 50);
const HEARTBEAT_S = 10;
/**
 * The manager's leader election: the product's defaults (main.ts: 15 s / 10 s / 2 s), so the
 * bench measures whether the product as shipped keeps its lease. BENCH_LEASE=4s,3s,500ms
 * (duration, renew deadline, retry period) for a stricter run.
 */
const [leaseDuration = '15s', leaseRenewDeadline = '10s', leaseRetryPeriod = '2s'] = (process.env.BENCH_LEASE ?? '').split(',').filter(Boolean);
const LEASE = { duration: leaseDuration, renewDeadline: leaseRenewDeadline, retryPeriod: leaseRetryPeriod };
const GiB = 1024 ** 3;

const log = (msg: string) => process.stderr.write(`[bench/controllers] ${msg}\n`);

/** What a failed run had measured (written to stderr with the error, so a failure still says why). */
const partial: { restarts?: () => number; watch?: ManagerWatch; results: Record<string, unknown> } = { results: {} };

interface MetricsAccess {
  certFile: string;
  keyFile: string;
  token: string;
  caPem: string;
}

function startManager(
  kubeconfig: string,
  identity: string,
  metrics: MetricsAccess,
  metricsPort: number,
  controllers = process.env.BENCH_CONTROLLERS,
): ChildProcess {
  const prof = process.env.BENCH_CPU_PROFILE_DIR; // node --cpu-prof for the manager
  return spawn(
    prof ? process.execPath : 'node_modules/.bin/tsx',
    [
      ...(prof ? ['--import', 'tsx', '--cpu-prof', '--cpu-prof-dir', prof] : []),
      'controllers/main.ts',
      '--kubeconfig',
      kubeconfig,
      ...(controllers ? ['--controllers', controllers] : []),
      '--leader-elect',
      '--lease-namespace',
      'quantix-system',
      '--identity',
      identity,
      '--lease-duration',
      LEASE.duration,
      '--renew-deadline',
      LEASE.renewDeadline,
      '--retry-period',
      LEASE.retryPeriod,
      '--metrics-listen',
      `127.0.0.1:${metricsPort}`,
      '--metrics-tls-cert-file',
      metrics.certFile,
      '--metrics-tls-key-file',
      metrics.keyFile,
    ],
    { stdio: ['ignore', 'ignore', 'inherit'], detached: true, env: { ...process.env, QUANTIX_LOG_LEVEL: 'warn', QUANTIX_LOG_FORMAT: 'json' } },
  );
}

/** The samples of the manager's /metrics we report (undefined while it is not up). */
interface ManagerSample {
  loopP99: number;
  loopMax: number;
  eventWrites: number;
  eventsDropped: number;
  renewals: number;
  renewalsFailed: number;
  /** Renewal attempts that took over 1 s (histogram bucket le=1). */
  renewalsOver1s: number;
}

function scrape(port: number, access: MetricsAccess): Promise<ManagerSample | undefined> {
  return new Promise((resolve) => {
    const req = request(
      // A connection per scrape (agent: false): a kept-alive one would hold the manager's metrics server open when it exits.
      { host: '127.0.0.1', port, path: '/metrics', ca: access.caPem, headers: { Authorization: `Bearer ${access.token}` }, timeout: 5000, agent: false },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => {
          if (res.statusCode !== 200) return resolve(undefined);
          const value = (name: string, labels = '') => {
            let total = 0;
            for (const line of body.split('\n')) {
              if (!line.startsWith(name)) continue;
              const m = /^([a-z_]+)(\{[^}]*\})? (\S+)$/.exec(line);
              if (m && m[1] === name && (m[2] ?? '').includes(labels)) total += Number(m[3]);
            }
            return total;
          };
          const renewals = value('quantix_leader_election_renew_duration_seconds_count');
          resolve({
            loopP99: value('quantix_controller_event_loop_delay_seconds', 'quantile="0.99"'),
            loopMax: value('quantix_controller_event_loop_delay_seconds', 'quantile="1"'),
            eventWrites: value('quantix_controller_event_writes_total'),
            eventsDropped: value('quantix_controller_events_dropped_total'),
            renewals,
            renewalsFailed: value('quantix_leader_election_renew_duration_seconds_count', 'result="failed"'),
            renewalsOver1s: renewals - value('quantix_leader_election_renew_duration_seconds_bucket', 'le="1"'),
          });
        });
      },
    );
    req.on('error', () => resolve(undefined));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

/**
 * Scrapes a supervised manager every second and keeps, per phase, the worst event-loop
 * delay seen and the counters at the phase's start and end (per process: a restart starts
 * them over, and restarts are reported apart).
 */
class ManagerWatch {
  #timer?: NodeJS.Timeout;
  #phase = '';
  last?: ManagerSample;
  readonly phases: Record<string, { loopP99Ms: number; loopMaxMs: number; start?: ManagerSample; end?: ManagerSample }> = {};
  constructor(
    readonly manager: Supervised,
    readonly access: MetricsAccess,
  ) {}
  start(): void {
    this.#timer = setInterval(() => void this.tick(), 1000);
  }
  async tick(): Promise<void> {
    const s = await scrape(this.manager.metricsPort, this.access);
    if (!s) return;
    this.last = s;
    const p = this.phases[this.#phase];
    if (!p) return;
    p.start ??= s;
    p.end = s;
    p.loopP99Ms = Math.max(p.loopP99Ms, Math.round(s.loopP99 * 1000));
    p.loopMaxMs = Math.max(p.loopMaxMs, Math.round(s.loopMax * 1000));
  }
  async phase(name: string): Promise<void> {
    await this.tick();
    this.#phase = name;
    this.phases[name] = { loopP99Ms: 0, loopMaxMs: 0 };
    await this.tick();
  }
  /** The phase's figures (counters as increases within the phase). */
  async report(name: string) {
    await this.tick();
    const p = this.phases[name]!;
    const d = (k: keyof ManagerSample) => (p.start && p.end ? Math.max(0, p.end[k] - p.start[k]) : undefined);
    return {
      eventLoopDelayWorst10sWindow: { p99Ms: p.loopP99Ms, maxMs: p.loopMaxMs },
      eventWrites: d('eventWrites'),
      eventsDropped: d('eventsDropped'),
      leaseRenewals: { attempts: d('renewals'), failed: d('renewalsFailed'), over1s: d('renewalsOver1s') },
    };
  }
  stop(): void {
    clearInterval(this.#timer);
  }
}

/**
 * A manager under a supervisor, as in production (systemd, a Deployment): restarted when
 * it exits on its own (e.g. it lost its lease on an overloaded machine). Restarts are reported.
 */
interface Supervised {
  stop(): Promise<void>;
  restarts: number;
  /** Where the running manager serves /metrics. */
  metricsPort: number;
}

async function supervise(start: (metricsPort: number) => ChildProcess): Promise<Supervised> {
  let stopping = false;
  const state: Supervised = {
    restarts: 0,
    metricsPort: await freePort(),
    async stop() {
      stopping = true;
      await stopProcess(child);
    },
  };
  let child = start(state.metricsPort);
  const watch = (c: ChildProcess) =>
    c.once('exit', (code) => {
      if (stopping) return;
      state.restarts++;
      log(`controller-manager exited (${code}); restarting`);
      void freePort().then((port) => {
        state.metricsPort = port;
        child = start(port);
        watch(child);
      });
    });
  watch(child);
  return state;
}

function vm(name: string, namespace: string): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace },
    spec: { cpu: 1, memory: '512Mi', disks: [{ name: 'root', storagePool: 'bench', size: '10Gi' }] },
  };
}

/** The scheduler's own cost: decisions (filter + score over every node, then assume) per second, no API. */
function decisionsPerSecond(nodeCount: number, vmCount: number): number {
  const nodes: Node[] = Array.from({ length: nodeCount }, (_, i) => ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Node',
    metadata: { name: `n${i}` },
    spec: {},
    status: { conditions: [{ type: 'Ready', status: 'True' }], allocatable: { cpu: 64, memoryBytes: 256 * GiB } },
  }));
  const pool = {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name: 'bench' },
    spec: { type: 'dir', assignedNodes: nodes.map((n) => n.metadata.name!) },
    status: { hosts: Object.fromEntries(nodes.map((n) => [n.metadata.name!, { health: 'HEALTHY' }])) },
  } as StoragePool;
  const pools = new Map([['bench', pool]]);
  const usage = new UsageTracker();
  const start = performance.now();
  for (let i = 0; i < vmCount; i++) {
    const v = { ...vm(`vm-${i}`, 'decide'), metadata: { name: `vm-${i}`, namespace: 'decide', uid: `u${i}` } };
    const plan = planScheduling({
      vm: v,
      nodes,
      pools,
      networks: new Map(),
      usage: (n) => usage.usage(n),
      config: DEFAULT_SCHEDULER_CONFIG,
      nodeByName: () => undefined,
      now: '',
    });
    if (!plan.bind) throw new Error('decision benchmark: no node fits');
    usage.assume(`decide/vm-${i}`, v, plan.bind);
  }
  return Math.round(vmCount / ((performance.now() - start) / 1000));
}

async function main(): Promise<void> {
  const loadAtStart = Math.round(loadavg()[0]! * 10) / 10;
  const etcd = await startEtcd({ tls: true });
  const api = await startApiserverProcess(etcd, 'quantix-bench-cm-');
  const client = await HttpApiClient.fromFile(api.kubeconfig, { userAgent: 'bench', maxSockets: 64 });
  const children: ChildProcess[] = [api.child];
  const managers: Supervised[] = [];
  let heartbeats: NodeJS.Timeout | undefined;
  try {
    // Hollow nodes and a pool on all of them.
    const nodeNames = Array.from({ length: NODES }, (_, i) => `hollow-${String(i).padStart(3, '0')}`);
    await client.create(StoragePools, {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'bench' },
      spec: { type: 'dir', dir: { path: '/var/lib/quantix/bench' }, assignedNodes: nodeNames },
    });
    const heartbeat = (name: string) => {
      const now = new Date().toISOString();
      return client.patch(
        Nodes,
        undefined,
        name,
        {
          status: {
            lastHeartbeatTime: now,
            conditions: [{ type: 'Ready', status: 'True', reason: 'AgentReady', lastHeartbeatTime: now, lastTransitionTime: now }],
            capacity: { cpu: 64, memoryBytes: 256 * GiB },
            allocatable: { cpu: 64, memoryBytes: 256 * GiB },
          },
        },
        { subresource: 'status' },
      );
    };
    await runConcurrently(NODES, 16, async (i) => {
      const name = nodeNames[i]!;
      await client.create<Node>(Nodes, { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name }, spec: {} });
      await heartbeat(name);
    });
    // The pool HEALTHY on every node in one status write: 1,000 writes to one object, each a
    // read-modify-write of a growing map, time out at 30 s on this machine.
    const now = new Date().toISOString();
    await client.patch(
      StoragePools,
      undefined,
      'bench',
      {
        status: {
          hosts: Object.fromEntries(
            nodeNames.map((n) => [n, { health: 'HEALTHY', totalBytes: 1000 * GiB, usedBytes: 0, availableBytes: 1000 * GiB, lastReported: now }]),
          ),
        },
      },
      { subresource: 'status' },
    );
    // Heartbeats spread evenly: NODES / HEARTBEAT_S writes per second.
    let hb = 0;
    heartbeats = setInterval(() => void heartbeat(nodeNames[hb++ % NODES]!).catch(() => undefined), (HEARTBEAT_S * 1000) / NODES);
    log(`${NODES} hollow nodes registered`);

    // Watch every VM (an informer: it reconnects if the stream breaks under load): when
    // spec.nodeName first appears, and every node each VM ever had.
    const boundAt = new Map<string, number>();
    const bindings = new Map<string, string[]>();
    const observe = (v: VirtualMachine) => {
      const key = `${v.metadata.namespace}/${v.metadata.name}`;
      const node = v.spec?.nodeName;
      if (!node) return;
      if (!boundAt.has(key)) boundAt.set(key, performance.now());
      const seen = bindings.get(key) ?? [];
      if (seen[seen.length - 1] !== node) bindings.set(key, [...seen, node]);
    };
    const informer = new Informer<VirtualMachine>(listerWatcher(client, VirtualMachines), {
      name: 'bench-vms',
      freeze: false,
      initialBackoffMs: 50,
      maxBackoffMs: 1000,
    });
    informer.on({ add: observe, update: (_o, v) => observe(v) });
    informer.start();
    await informer.waitForSync();
    const watch = { abort: () => informer.stop() };

    const waitBound = async (keys: string[], timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (keys.some((k) => !boundAt.has(k))) {
        if (Date.now() > deadline) throw new Error(`${keys.filter((k) => !boundAt.has(k)).length} VMs not bound after ${timeoutMs} ms`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };

    // The manager's /metrics: a serving certificate from the cluster CA, the admin's token.
    const serving = ensureMetricsServingCertificate(api.dataDir);
    const token = /\btoken: (\S+)/.exec(readFileSync(api.kubeconfig, 'utf8'))?.[1];
    if (!token) throw new Error('no token in the admin kubeconfig');
    const access: MetricsAccess = { ...serving, token, caPem: readFileSync(`${api.dataDir}/pki/ca.crt`, 'utf8') };
    const leaseTransitions = async () =>
      (await client.get<Lease>(Leases, 'quantix-system', 'quantix-controller-manager').catch(() => undefined))?.spec?.leaseTransitions ?? 0;

    // 1. create → bound at CREATE_RATE.
    const manager = await supervise((port) => startManager(api.kubeconfig, 'bench-manager-1', access, port));
    managers.push(manager);
    const managerWatch = new ManagerWatch(manager, access);
    managerWatch.start();
    partial.watch = managerWatch;
    partial.restarts = () => manager.restarts;
    // Let it take the lease, sync, and warm up (JIT, connection pools, the startup writes of
    // every controller) on 100 VMs created at the same rate before the clock starts.
    const warmKeys = Array.from({ length: 100 }, (_, i) => `warmup/vm-${i}`);
    for (let i = 0; i < warmKeys.length; i++) {
      await client.create(VirtualMachines, vm(`vm-${i}`, 'warmup'));
      await new Promise((r) => setTimeout(r, 1000 / CREATE_RATE));
    }
    await waitBound(warmKeys, 120_000);
    await new Promise((r) => setTimeout(r, 3000)); // let the vm controller's status writes drain
    log('controller-manager up; phase 1: create → bound');
    const transitionsAtStart = await leaseTransitions();
    await managerWatch.phase('createToBound');
    const sentAt = new Map<string, number>();
    const keys1 = Array.from({ length: VMS }, (_, i) => `steady/vm-${i}`);
    const t0 = performance.now();
    const creates: Promise<unknown>[] = [];
    for (let i = 0; i < VMS; i++) {
      const due = t0 + (i * 1000) / CREATE_RATE;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      sentAt.set(keys1[i]!, performance.now());
      creates.push(client.create(VirtualMachines, vm(`vm-${i}`, 'steady')));
    }
    await Promise.all(creates);
    const createSeconds = (performance.now() - t0) / 1000;
    await waitBound(keys1, 120_000);
    const latencies = keys1.map((k) => boundAt.get(k)! - sentAt.get(k)!);
    // Per second of the run: the worst create → bound of VMs created in it (stderr), to see
    // whether a high p99 is steady queueing or one stall.
    const perSecond: number[] = [];
    latencies.forEach((latency, i) => {
      const s = Math.floor(i / CREATE_RATE);
      perSecond[s] = Math.max(perSecond[s] ?? 0, Math.round(latency));
    });
    log(`create → bound, worst per second of creates (ms): ${perSecond.join(' ')}`);
    const phase1Manager = await managerWatch.report('createToBound');
    partial.results.createToBound = { p50Ms: Math.round(percentile(latencies, 50)), p99Ms: Math.round(percentile(latencies, 99)), manager: phase1Manager };

    // The ceiling for binds right now: the same JSON patches straight from this process,
    // as many in flight as the scheduler has workers.
    const baselineStart = performance.now();
    await runConcurrently(VMS, 32, (i) =>
      client.patch(VirtualMachines, 'steady', `vm-${i}`, [{ op: 'add', path: '/metadata/annotations', value: { 'bench/baseline': 'x' } }], { type: 'json' }),
    );
    const apiserverJsonPatchesPerSecond = Math.round((VMS / ((performance.now() - baselineStart) / 1000)) * 10) / 10;

    // 2a. Warm leader: VMs wait on a pool no node has mounted; one status write reports it
    //     HEALTHY on all 100 nodes and the running manager binds them all.
    log(`phase 2a (warm leader, all controllers): ${VMS} VMs waiting on pool "gate"`);
    await client.create(StoragePools, {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'gate' },
      spec: { type: 'dir', dir: { path: '/var/lib/quantix/gate' }, assignedNodes: nodeNames },
    });
    const hosts = (health: string) => ({
      status: {
        hosts: Object.fromEntries(
          nodeNames.map((n) => [n, { health, totalBytes: 1000 * GiB, usedBytes: 0, availableBytes: 1000 * GiB, lastReported: new Date().toISOString() }]),
        ),
      },
    });
    await client.patch(StoragePools, undefined, 'gate', hosts('UNMOUNTED'), { subresource: 'status' });
    const gatedKeys = Array.from({ length: VMS }, (_, i) => `gated/vm-${i}`);
    await runConcurrently(VMS, 32, (i) =>
      client.create(VirtualMachines, {
        ...vm(`vm-${i}`, 'gated'),
        spec: { ...vm('x', 'gated').spec, disks: [{ name: 'root', storagePool: 'gate', size: '10Gi' }] },
      }),
    );
    // Wait until every one of them has been found unschedulable (and the writes that causes are done).
    for (;;) {
      const unschedulable = informer.store
        .list()
        .filter((v) => v.metadata.namespace === 'gated' && v.status?.conditions?.some((c) => c.type === 'Scheduled' && c.reason === 'Unschedulable')).length;
      if (unschedulable === VMS) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await new Promise((r) => setTimeout(r, 5000));
    const restartsBeforeStorm = manager.restarts;
    const transitionsBeforeStorm = await leaseTransitions();
    await managerWatch.phase('storm');
    const gateOpened = performance.now();
    await client.patch(StoragePools, undefined, 'gate', hosts('HEALTHY'), { subresource: 'status' });
    await waitBound(gatedKeys, 180_000);
    const stormManager = await managerWatch.report('storm');
    managerWatch.stop();
    const transitionsAfterStorm = await leaseTransitions();
    const gatedBinds = gatedKeys.map((k) => boundAt.get(k)!).sort((a, b) => a - b);
    const warm = {
      scenario: 'warm leader, all controllers: pool becomes HEALTHY on every node',
      vms: VMS,
      bindsPerSecond: Math.round(((VMS - 1) / ((gatedBinds[gatedBinds.length - 1]! - gatedBinds[0]!) / 1000)) * 10) / 10,
      firstToLastBindMs: Math.round(gatedBinds[gatedBinds.length - 1]! - gatedBinds[0]!),
      gateOpenToAllBoundMs: Math.round(gatedBinds[gatedBinds.length - 1]! - gateOpened),
      managerRestarts: manager.restarts - restartsBeforeStorm,
      leaseTransitions: transitionsAfterStorm - transitionsBeforeStorm,
      manager: stormManager,
    };

    // 2b. Cold start: the manager is stopped, VMs are created, a fresh scheduler-only
    //     manager starts (process start-up, list and sync included in managerStartToAllBoundMs).
    await manager.stop();
    const restartsPhase1 = manager.restarts;
    log(`phase 2b (cold start, scheduler only): ${VMS} unscheduled VMs for a fresh controller-manager`);
    const coldKeys = Array.from({ length: VMS }, (_, i) => `cold/vm-${i}`);
    await runConcurrently(VMS, 32, (i) => client.create(VirtualMachines, vm(`vm-${i}`, 'cold')));
    const started = performance.now();
    const cold = await supervise((port) => startManager(api.kubeconfig, 'bench-cold', access, port, 'scheduler'));
    managers.push(cold);
    await waitBound(coldKeys, 180_000);
    await cold.stop();
    const coldBinds = coldKeys.map((k) => boundAt.get(k)!).sort((a, b) => a - b);
    const coldResult = {
      scenario: 'cold start, scheduler only: fresh manager, VMs already waiting',
      vms: VMS,
      bindsPerSecond: Math.round(((VMS - 1) / ((coldBinds[coldBinds.length - 1]! - coldBinds[0]!) / 1000)) * 10) / 10,
      firstToLastBindMs: Math.round(coldBinds[coldBinds.length - 1]! - coldBinds[0]!),
      managerStartToAllBoundMs: Math.round(coldBinds[coldBinds.length - 1]! - started),
      managerRestarts: cold.restarts,
    };
    const keys2 = [...gatedKeys, ...coldKeys];

    // Checks: each VM bound once; no node over capacity.
    const all = [...keys1, ...keys2, ...warmKeys];
    const rebinds = all.filter((k) => (bindings.get(k) ?? []).length !== 1).length;
    const perNode = new Map<string, number>();
    for (const k of all) perNode.set(bindings.get(k)![0]!, (perNode.get(bindings.get(k)![0]!) ?? 0) + 1);
    const maxPerNode = Math.max(...perNode.values());
    const overCapacity = [...perNode.values()].filter((n) => n * 0.5 > 256 || n > 64 * 4).length;
    watch.abort();

    const result = {
      benchmark: 'controllers',
      setup: {
        nodes: NODES,
        vms: VMS,
        createRatePerSecond: CREATE_RATE,
        controllers: process.env.BENCH_CONTROLLERS ?? 'all',
        leaderElection: LEASE,
        processes: 'etcd, apiserver, controller-manager, bench driver',
        cpus: cpus().length,
        loadAverage1m: { atStart: loadAtStart, atEnd: Math.round(loadavg()[0]! * 10) / 10 },
      },
      createToBound: {
        count: latencies.length,
        achievedCreateRate: Math.round((VMS / createSeconds) * 10) / 10,
        p50Ms: Math.round(percentile(latencies, 50)),
        p90Ms: Math.round(percentile(latencies, 90)),
        p99Ms: Math.round(percentile(latencies, 99)),
        maxMs: Math.round(percentile(latencies, 100)),
        managerRestarts: restartsBeforeStorm,
        manager: phase1Manager,
      },
      leadership: {
        // Phase 1 and the storm, one manager: every restart is a lease lost; a takeover by
        // another identity would show as a transition of the Lease.
        managerRestarts: restartsPhase1,
        leaseTransitions: transitionsAfterStorm - transitionsAtStart,
      },
      schedulerThroughput: [warm, coldResult],
      apiserverBaseline: { jsonPatchesPerSecond32InFlight: apiserverJsonPatchesPerSecond },
      schedulerDecisionsPerSecondInProcess: decisionsPerSecond(NODES, VMS),
      checks: { rebinds, maxVmsPerNode: maxPerNode, nodesUsed: perNode.size, nodesOverCapacity: overCapacity },
      targets: { bindsPerSecond: 200, createToBoundP99Ms: 1000, stormToAllBoundMs: 30_000, leadershipLosses: 0 },
    };
    const pass =
      Math.max(...result.schedulerThroughput.map((r) => r.bindsPerSecond)) >= 200 &&
      result.createToBound.p99Ms < 1000 &&
      warm.gateOpenToAllBoundMs <= 30_000 &&
      restartsPhase1 === 0 &&
      result.leadership.leaseTransitions === 0 &&
      rebinds === 0 &&
      overCapacity === 0;
    process.stdout.write(`${JSON.stringify({ ...result, pass }, null, 2)}\n`);
  } finally {
    clearInterval(heartbeats);
    client.close();
    for (const m of managers) await m.stop();
    for (const c of children.reverse()) await stopProcess(c);
    await etcd.stop();
    rmSync(api.dataDir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench/controllers failed: ${(err as Error)?.stack ?? String(err)}\n`);
    const phases = Object.fromEntries(
      Object.entries(partial.watch?.phases ?? {}).map(([name, p]) => [
        name,
        { eventLoopDelayWorst10sWindow: { p99Ms: p.loopP99Ms, maxMs: p.loopMaxMs }, start: p.start, end: p.end },
      ]),
    );
    process.stderr.write(
      `[bench/controllers] measured before the failure: ${JSON.stringify({ managerRestarts: partial.restarts?.(), ...partial.results, managerPhases: phases, lastManagerSample: partial.watch?.last })}\n`,
    );
    process.exit(1);
  },
);
