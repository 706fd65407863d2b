/**
 * The truthful-status chaos run (docs/chaos.md): a real stack — etcd, the apiserver with the
 * node gateway and the controller-manager (in this process, hack/testenv), the agent as its
 * own process group on the real libvirtd — and, for a set time, random out-of-band changes
 * to what the agent manages: destroy, start, suspend, resume, undefine, a domain defined by
 * hand (or a lost one defined again), a QEMU process killed, the pool directory removed (and
 * put back), libvirtd restarted (SIGTERM or SIGKILL), the agent killed (kill -9 of its
 * process group, in the middle of a sync or with a change made while it is away) and
 * restarted — and, at the same time, an intent through the API (spec.paused toggled).
 *
 * After each change it waits until the API matches libvirt (settled) and checks again just
 * before the next change; what still differs then is a wrong state, a lost object or a
 * duplicate domain (truth.ts). In the background, every libvirt lifecycle event of the run's
 * domains (`virsh event --loop --timestamp`) is matched with the API's watch: the time from
 * the event until the API showed libvirt's state is the event → API truth latency.
 *
 * Tiny domains: diskless, 64 MiB, nothing to boot (they sit in the BIOS). Every libvirt object
 * is named after the run (`qxtest-chaos-…`) and removed at the end, also after a failure.
 * The caller holds /tmp/qx-libvirt.lock (libvirtd is restarted).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import type { StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { storagePoolDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { startControllerManager } from '../../controllers/setup.js';
import { startTestControlPlane, type TestControlPlane } from '../testenv/agent.js';
import { agentLogPath, killAgentProcess, startAgentProcess } from '../testenv/agent-process.js';
import { eventually } from '../testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, LIBVIRT_URI, qxTestName, virsh, virshQuiet, waitForLibvirt } from '../testenv/libvirt.js';
import { VirshShell } from './virsh-shell.js';
import {
  apiPowerOfDiscovered,
  apiPowerOfManaged,
  compareSnapshot,
  eventLatency,
  isDiscoveredOn,
  latencySummary,
  parseEventLine,
  parseVirshList,
  powerFromDomstate,
  seededRandom,
  stateAfterEvent,
  type LifecycleEvent,
  type Power,
  type SnapshotFindings,
} from './truth.js';

const execFileP = promisify(execFile);
/** How often a settle looks at libvirt and the API (the settle figures' resolution). */
const SETTLE_POLL_MS = 200;
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;

export const CHANGE_KINDS = [
  'destroy',
  'start',
  'suspend',
  'resume',
  'undefine',
  'define',
  'kill-qemu',
  'pool-dir',
  'libvirtd-restart',
  'agent-restart',
  'api-pause',
] as const;
export type ChangeKind = (typeof CHANGE_KINDS)[number];

export interface ChaosOptions {
  durationMs: number;
  seed?: number;
  /** How long the API may take to match libvirt after a change (then what differs is wrong). */
  settleTimeoutMs?: number;
  /** Managed VMs (runStrategy Manual, and the first one Always). */
  vms?: number;
  log?: (message: string) => void;
}

export interface ChaosReport {
  seed: number;
  durationSeconds: number;
  node: string;
  changes: { total: number; byKind: Record<string, number> };
  /** Changes libvirt refused (the agent had changed the domain first): skipped. */
  changesRefused: number;
  libvirtEvents: number;
  /** Event → API truth while the agent runs (the figure the target is about). */
  eventToApiTruth: ReturnType<typeof latencySummary> & { targetP99Ms: number };
  /** Events of changes made while the agent was killed: until the restarted agent reported them. */
  eventToApiTruthWhileAgentDown: ReturnType<typeof latencySummary>;
  /** Events the API never caught up with (counted as wrong states too). */
  eventsNeverReflected: number;
  /** From the end of a change until the API matched libvirt, per kind. */
  settleMs: Record<string, ReturnType<typeof latencySummary>>;
  wrongStatesAfterSettling: number;
  lostObjects: number;
  duplicateDomains: number;
  /** The host's 1-minute load average at the start and the end of the changes (2 cores here, shared). */
  loadAverage: { start: number; end: number; cpus: number };
  /** The slowest events while the agent ran: where the time went. */
  slowestEvents: Array<{ domain: string; event: string; at: string; ms: number }>;
  /** The first findings (what differed, after which change). */
  findings: Array<{ afterChange: string; wrong: string[]; lost: string[]; duplicates: string[] }>;
}

interface Domains {
  managed: Map<string, string>; // domain name → VM name
  hand: Set<string>;
  handUuids: Map<string, string>;
  /** Inactive XML of managed domains undefined by hand, to define them again. */
  undefinedXml: Map<string, string>;
}

/** A minimal diskless domain (libvirt picks the emulator; the BIOS finds nothing to boot). */
function handDomainXml(name: string): string {
  return `<domain type='qemu'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64'>hvm</type></os><devices><serial type='pty'/></devices></domain>`;
}

export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const log = options.log ?? (() => undefined);
  const seed = options.seed ?? Math.floor(Math.random() * 2 ** 31);
  const random = seededRandom(seed);
  const pick = <T>(items: readonly T[]): T | undefined => (items.length === 0 ? undefined : items[Math.floor(random() * items.length)]);
  const settleTimeoutMs = options.settleTimeoutMs ?? 30_000;
  const vmCount = options.vms ?? 3;

  await ensureLibvirt();
  const run = qxTestName('chaos');
  const node = `${run}-node`;
  const pool = `${run}-pool`;
  const poolDir = path.join('/var/lib/libvirt/images', pool);
  const workDir = path.join('/tmp', `${run}-work`);
  const stateDir = path.join(workDir, 'state');
  const cleanup = new LibvirtCleanup();
  const domains: Domains = { managed: new Map(), hand: new Set(), handUuids: new Map(), undefinedXml: new Map() };
  const vmNames = Array.from({ length: vmCount }, (_, i) => `vm${i}`);
  for (const vm of vmNames) domains.managed.set(`${run}_${vm}`, vm);

  let cp: TestControlPlane | undefined;
  let controllers: Awaited<ReturnType<typeof startControllerManager>> | undefined;
  let agent: ChildProcess | undefined;
  let agentDown: { from: number; to?: number } | undefined;
  const agentDownWindows: Array<{ from: number; to: number }> = [];
  let listener: ChildProcess | undefined;
  let stopping = false;
  let watch: { stop(): void } | undefined;

  // ---- the two timelines: libvirt's (events) and the API's (watch), per domain name.
  const libvirtTimeline = new Map<string, Array<[number, Power | undefined]>>();
  const apiTimeline = new Map<string, Array<[number, Power | undefined]>>();
  const events: LifecycleEvent[] = [];
  const shell = new VirshShell(LIBVIRT_URI);
  /** Domains undefined while they ran (transient until they stop). */
  const transient = new Set<string>();
  const ours = (domain: string) => domain.startsWith(run);
  const append = (timelines: Map<string, Array<[number, Power | undefined]>>, domain: string, at: number, state: Power | undefined) => {
    const line = timelines.get(domain) ?? [];
    if (line.length === 0 || line.at(-1)![1] !== state) line.push([at, state]);
    timelines.set(domain, line);
  };
  const libvirtNow = (domain: string): Power => (libvirtTimeline.get(domain)?.at(-1)?.[1] as Power | undefined) ?? 'gone';

  async function listDomains(): Promise<Map<string, Power>> {
    const listed = await shell.run('list --all');
    // The table's header is always printed: without it, virsh did not answer (libvirtd restarting).
    if (!/^\s*Id\s+Name\s+State/m.test(listed)) {
      shell.close(true);
      throw new Error('virsh list answered nothing');
    }
    const mine = new Map([...parseVirshList(listed)].filter(([name]) => ours(name)));
    // Paused may be a start under way: the reason tells.
    for (const [name, power] of mine) {
      if (power !== 'paused') continue;
      const state = (await shell.run(`domstate --reason ${name}`)).trim();
      mine.set(name, state ? powerFromDomstate(state) : 'gone');
    }
    return mine;
  }

  /** Listens to lifecycle events; after libvirtd restarts, listens again and resyncs from `virsh list`. */
  async function listen(): Promise<void> {
    if (stopping) return;
    const child = spawn('virsh', ['-c', LIBVIRT_URI, 'event', '--all', '--loop', '--timestamp'], { stdio: ['ignore', 'pipe', 'ignore'] });
    listener = child;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const ev = parseEventLine(line);
      if (!ev || !ours(ev.domain)) return;
      events.push(ev);
      const next = stateAfterEvent({ power: libvirtNow(ev.domain), transient: transient.has(ev.domain) }, ev);
      if (next.transient) transient.add(ev.domain);
      else transient.delete(ev.domain);
      append(libvirtTimeline, ev.domain, ev.at, next.power);
    });
    child.once('exit', () => {
      if (stopping) return;
      void waitForLibvirt(120_000)
        .then(listen)
        .catch((err: unknown) => log(`event listener: ${String(err)}`));
    });
    // Events from now on: the starting state (or the state after the gap) comes from a list.
    await eventually(async () => {
      const now = Date.now();
      const listed = await listDomains();
      for (const name of new Set([...listed.keys(), ...libvirtTimeline.keys()])) append(libvirtTimeline, name, now, listed.get(name) ?? 'gone');
      return true;
    });
  }

  function recordApi(vm: VirtualMachine, deleted: boolean): void {
    const at = Date.now();
    if (vm.metadata.namespace === run) {
      append(apiTimeline, `${run}_${vm.metadata.name}`, at, deleted ? 'gone' : apiPowerOfManaged(vm));
    } else if (isDiscoveredOn(vm, node) && vm.status?.domainName && domains.hand.has(vm.status.domainName)) {
      append(apiTimeline, vm.status.domainName, at, deleted ? 'gone' : apiPowerOfDiscovered(vm));
    }
  }

  const store = (def: ResourceDefinition) => cp!.env.apiserver.context.stores.get(def);

  function openWatch(): void {
    if (stopping) return;
    watch = store(VM).watch(
      {},
      (ev) => {
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED' || ev.type === 'DELETED') recordApi(ev.object as VirtualMachine, ev.type === 'DELETED');
      },
      () => setTimeout(openWatch, 100),
    );
  }

  // ---- the API against libvirt.
  async function snapshot(): Promise<SnapshotFindings> {
    const [libvirt, vms] = await Promise.all([listDomains(), store(VM).list({})]);
    const items = vms.items as VirtualMachine[];
    const findings = compareSnapshot(
      { libvirt, managed: items.filter((vm) => vm.metadata.namespace === run), discovered: items.filter((vm) => isDiscoveredOn(vm, node)) },
      { managedDomain: (vm) => `${run}_${vm.metadata.name}`, expectedVms: vmNames, handDomains: domains.hand, handUuids: domains.handUuids },
    );
    const info = await shell.run(`pool-info ${pool}`);
    if (!/^Name:/m.test(info)) throw new Error(`virsh pool-info ${pool} answered nothing`);
    const poolRunning = /^State:\s+running/m.test(info);
    const truthHealthy = poolRunning && existsSync(poolDir);
    const health = ((await store(POOL).get(undefined, pool)) as StoragePool).status?.hosts?.[node]?.health;
    if ((health === 'HEALTHY') !== truthHealthy) {
      findings.wrong.push(
        `pool ${pool}: libvirt ${poolRunning ? 'running' : 'not running'}, directory ${existsSync(poolDir) ? 'present' : 'missing'}; API health ${health}`,
      );
    }
    return findings;
  }
  const clean = (f: SnapshotFindings) => f.wrong.length + f.lost.length + f.duplicates.length === 0;

  /**
   * Polls until the API matches libvirt; what still differs at the deadline. `untilStill`:
   * also until no domain is starting (after a change: settled means nothing moves).
   */
  async function settle(timeoutMs: number, untilStill = true): Promise<{ findings: SnapshotFindings; ms: number }> {
    const started = Date.now();
    let last: SnapshotFindings = { transitional: [], wrong: [], lost: [], duplicates: [] };
    for (;;) {
      try {
        last = await snapshot();
        if (clean(last) && (!untilStill || last.transitional.length === 0)) return { findings: last, ms: Date.now() - started };
      } catch (err) {
        last = { transitional: [], wrong: [`snapshot failed: ${String(err)}`], lost: [], duplicates: [] };
      }
      if (Date.now() - started > timeoutMs) return { findings: last, ms: Date.now() - started };
      // Each look costs libvirtd and this process some CPU: more often would take it from the agent on a small host.
      await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS));
    }
  }

  // ---- the agent process.
  const fullSyncs = () => {
    const file = agentLogPath(workDir);
    return existsSync(file) ? readFileSync(file, 'utf8').split('full state sync accepted').length - 1 : 0;
  };
  async function startTheAgent(): Promise<void> {
    const before = fullSyncs();
    // Its info records tell when it full-synced, whatever level this process logs at.
    agent = startAgentProcess({ cp: cp!, workDir, stateDir, hostname: node, env: { ...process.env, QUANTIX_LOG_LEVEL: 'info' } });
    await eventually(() => fullSyncs() > before, { timeoutMs: 120_000, intervalMs: 50, message: 'the agent (re)started and full-synced' });
  }

  // ---- the changes.
  const inAnyState = (...states: Power[]) => [...domains.managed.keys(), ...domains.hand].filter((d) => states.includes(libvirtNow(d)));
  let handCount = 0;

  /**
   * Performs one change; returns its label, or undefined when nothing is in a state for it.
   * `handOnly`: act on a domain defined by hand (the agent leaves those as they are: a
   * managed one it may resume or start again before the next change).
   */
  async function change(kind: ChangeKind, handOnly = false): Promise<string | undefined> {
    const inState = (...states: Power[]) => inAnyState(...states).filter((d) => !handOnly || domains.hand.has(d));
    switch (kind) {
      case 'destroy': {
        const d = pick(inState('running', 'paused'));
        if (!d) return undefined;
        await virsh('destroy', d);
        return `destroy ${d}`;
      }
      case 'start': {
        const d = pick(inState('shutoff', 'crashed'));
        if (!d) return undefined;
        await virsh('start', d);
        return `start ${d}`;
      }
      case 'suspend': {
        const d = pick(inState('running'));
        if (!d) return undefined;
        await virsh('suspend', d);
        return `suspend ${d}`;
      }
      case 'resume': {
        const d = pick(inState('paused'));
        if (!d) return undefined;
        await virsh('resume', d);
        return `resume ${d}`;
      }
      case 'undefine': {
        // Mostly a stopped domain (gone at once); sometimes a running one, which runs on as a
        // transient domain until it stops (then it is gone).
        // The last domain defined by hand stays: the set-up changes need one to act on.
        const handLeft = inAnyState('running', 'paused', 'shutoff', 'crashed').filter((x) => domains.hand.has(x) && !transient.has(x));
        const candidates = (...states: Power[]) => inState(...states).filter((x) => !transient.has(x) && (handLeft.length > 1 || !handLeft.includes(x)));
        const d = pick(candidates('shutoff', 'crashed')) ?? (handOnly || random() < 0.5 ? pick(candidates('running', 'paused')) : undefined);
        if (!d) return undefined;
        const running = libvirtNow(d) !== 'shutoff' && libvirtNow(d) !== 'crashed';
        if (domains.managed.has(d)) domains.undefinedXml.set(d, (await virsh('dumpxml', '--inactive', '--security-info', d)).stdout);
        await virsh('undefine', d, '--nvram');
        return running ? `undefine ${d} while it runs (transient now)` : `undefine ${d}`;
      }
      case 'define': {
        // A lost managed domain defined again from its XML, or a new one by hand.
        const lostOne = pick([...domains.undefinedXml.keys()].filter((d) => libvirtNow(d) === 'gone'));
        if (lostOne && random() < 0.5) {
          const file = path.join(workDir, 'redefine.xml');
          writeFileSync(file, domains.undefinedXml.get(lostOne)!);
          await virsh('define', file);
          domains.undefinedXml.delete(lostOne);
          return `define ${lostOne} again`;
        }
        if (inAnyState('running', 'paused', 'shutoff', 'crashed').filter((d) => domains.hand.has(d)).length >= 3) return undefined;
        const name = `${run}-hand${handCount++}`;
        const file = path.join(workDir, `${name}.xml`);
        writeFileSync(file, handDomainXml(name));
        cleanup.domain(name);
        // Known before the define: its events and its record count from the start.
        domains.hand.add(name);
        await virsh('define', file);
        domains.handUuids.set(name, (await virsh('domuuid', name)).stdout.trim());
        return `define ${name} by hand`;
      }
      case 'kill-qemu': {
        const d = pick(inState('running', 'paused'));
        if (!d) return undefined;
        const pid = Number(readFileSync(`/run/libvirt/qemu/${d}.pid`, 'utf8').trim());
        process.kill(pid, 'SIGKILL');
        return `kill -9 QEMU of ${d} (pid ${pid})`;
      }
      case 'pool-dir': {
        if (existsSync(poolDir)) {
          rmSync(poolDir, { recursive: true, force: true });
          return `remove the pool directory ${poolDir}`;
        }
        mkdirSync(poolDir, { recursive: true });
        return `put the pool directory ${poolDir} back`;
      }
      case 'libvirtd-restart': {
        const { stdout } = await execFileP('pgrep', ['-x', 'libvirtd']);
        const pid = Number(stdout.trim().split('\n')[0]);
        // Sometimes a guest dies while libvirtd is away: the restarted libvirtd finds it gone.
        const victim = random() < 0.5 ? pick(inState('running', 'paused')) : undefined;
        const victimPid = victim ? Number(readFileSync(`/run/libvirt/qemu/${victim}.pid`, 'utf8').trim()) : undefined;
        // SIGTERM (a restart) or SIGKILL (a crash; the restarted one reconnects to the QEMUs).
        const signal = random() < 0.5 ? 'SIGTERM' : 'SIGKILL';
        process.kill(pid, signal);
        await eventually(() => !existsSync(`/proc/${pid}`), { timeoutMs: 60_000, message: 'libvirtd exits' });
        if (victimPid) process.kill(victimPid, 'SIGKILL');
        await execFileP('libvirtd', ['-d']);
        await waitForLibvirt(60_000);
        return `${signal} to libvirtd, restart it${victim ? `, QEMU of ${victim} killed while it was down` : ''}`;
      }
      case 'agent-restart': {
        // A change while it is away (reflected when it returns), or one it is still working
        // on when it is killed (0–300 ms before: the kill lands in the middle of its sync).
        const meanwhile = pick(['destroy', 'start', 'suspend', 'undefine', 'define', 'pool-dir'] as const)!;
        const during = random() < 0.5;
        const make = () => change(meanwhile).catch((err: unknown) => `${meanwhile} refused (${String(err)})`);
        agentDown = { from: Date.now() };
        let done: string | undefined;
        if (during) {
          done = await make();
          await new Promise((resolve) => setTimeout(resolve, Math.floor(random() * 300)));
        }
        const child = agent;
        agent = undefined;
        await killAgentProcess(child);
        if (!during) done = await make();
        await startTheAgent();
        agentDownWindows.push({ from: agentDown.from, to: Date.now() });
        agentDown = undefined;
        return during ? `${done ?? 'no change'}, kill -9 the agent in its sync, restart it` : `kill -9 the agent, ${done ?? 'no change'} meanwhile, restart it`;
      }
      case 'api-pause': {
        // An intent through the API at the same time: spec.paused toggled (the agent suspends or resumes).
        const vm = pick([...domains.managed].filter(([d]) => libvirtNow(d) !== 'gone').map(([, name]) => name));
        if (!vm) return undefined;
        let paused = false;
        await store(VM).guaranteedUpdate(run, vm, (current) => {
          const cur = current as VirtualMachine;
          paused = cur.spec.paused !== true;
          return { ...cur, spec: { ...cur.spec, paused } };
        });
        return `spec.paused: ${paused} for ${vm} through the API`;
      }
    }
  }

  /** What has to happen first when nothing is in a state for `kind`. */
  const prerequisite: Partial<Record<ChangeKind, ChangeKind>> = {
    destroy: 'start',
    start: 'destroy',
    suspend: 'start',
    resume: 'suspend',
    undefine: 'define',
    'kill-qemu': 'start',
    define: 'undefine',
  };

  const report: ChaosReport = {
    seed,
    durationSeconds: 0,
    node,
    changes: { total: 0, byKind: {} },
    changesRefused: 0,
    libvirtEvents: 0,
    eventToApiTruth: { ...latencySummary([]), targetP99Ms: 300 },
    eventToApiTruthWhileAgentDown: latencySummary([]),
    eventsNeverReflected: 0,
    settleMs: {},
    wrongStatesAfterSettling: 0,
    lostObjects: 0,
    duplicateDomains: 0,
    loadAverage: { start: 0, end: 0, cpus: cpus().length },
    slowestEvents: [],
    findings: [],
  };
  const settleSamples = new Map<string, number[]>();
  let chaosStartedAt = Number.POSITIVE_INFINITY;
  const record = (label: string, f: SnapshotFindings) => {
    report.wrongStatesAfterSettling += f.wrong.length;
    report.lostObjects += f.lost.length;
    report.duplicateDomains += f.duplicates.length;
    if (!clean(f) && report.findings.length < 20) report.findings.push({ afterChange: label, wrong: f.wrong, lost: f.lost, duplicates: f.duplicates });
    if (!clean(f)) log(`after "${label}": ${JSON.stringify(f)}`);
    if (f.transitional.length > 0) log(`after "${label}": still moving: ${f.transitional.join('; ')}`);
  };

  try {
    mkdirSync(stateDir, { recursive: true });
    mkdirSync(poolDir, { recursive: true });
    cleanup.path(workDir);
    cleanup.path(poolDir);
    cleanup.pool(pool);
    cp = await startTestControlPlane();
    writeFileSync(path.join(workDir, 'ca.crt'), cp.env.caCertPem);
    writeFileSync(path.join(workDir, 'join-token'), cp.joinToken);
    controllers = await startControllerManager({ kubeconfig: cp.env.kubeconfig });
    await listen();
    openWatch();
    await startTheAgent();
    await store(POOL).create({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: pool },
      spec: { type: 'dir', dir: { path: poolDir }, assignedNodes: [node] },
    });
    for (const [i, name] of vmNames.entries()) {
      await store(VM).create({
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name, namespace: run },
        spec: { runStrategy: i === 0 ? 'Always' : 'Manual', cpu: 1, memory: '64Mi', nodeName: node },
      });
    }
    await eventually(
      async () => {
        const vms = (await store(VM).list({ namespace: run })).items as VirtualMachine[];
        return vms.length === vmCount && vms.every((vm) => vm.status?.phase === 'Running');
      },
      { timeoutMs: 120_000, intervalMs: 200, message: 'the VMs run' },
    );
    // One domain defined by hand from the start, running: the agent records it, never touches it.
    const hand = await change('define');
    if (hand === undefined) throw new Error('could not define the first domain by hand');
    await virsh('start', [...domains.hand][0]!);
    const initial = await settle(settleTimeoutMs);
    if (!clean(initial.findings)) throw new Error(`the API does not match libvirt before any change: ${JSON.stringify(initial.findings)}`);
    log(`stack up: node ${node}, ${vmCount} VMs and a domain defined by hand running, seed ${seed}`);

    // Every kind once first (in a random order), then random kinds until the time is up.
    const firstRound = [...CHANGE_KINDS].sort(() => random() - 0.5);
    const firstRoundTries = new Map<ChangeKind, number>();
    chaosStartedAt = Date.now();
    report.loadAverage.start = Math.round(loadavg()[0]! * 100) / 100;
    while (Date.now() - chaosStartedAt < options.durationMs) {
      const inFirstRound = firstRound.length > 0;
      const kind: ChangeKind = firstRound.shift() ?? pickWeighted(random);
      let label = await withPrerequisites(kind, false, 0);
      if (label === undefined) {
        // The first round makes every kind happen: a kind that found nothing to act on comes again later.
        const tries = (firstRoundTries.get(kind) ?? 0) + 1;
        firstRoundTries.set(kind, tries);
        if (inFirstRound && tries < 4) firstRound.push(kind);
        continue;
      }
      // Sometimes a second domain change right after the first, before anything settled.
      if (!inFirstRound && DOMAIN_CHANGES.has(kind) && random() < 0.25) {
        const second = pick([...DOMAIN_CHANGES])!;
        const secondLabel = await attempt(second);
        if (secondLabel !== undefined) {
          count(second);
          label = `${label}, then at once ${secondLabel}`;
        }
      }
      await afterChange(kind, label);
    }

    /**
     * A change; when nothing is in a state for it, what it needs first (on a domain defined
     * by hand, which the agent leaves as it is), two steps deep at most.
     */
    async function withPrerequisites(kind: ChangeKind, handOnly: boolean, depth: number): Promise<string | undefined> {
      const label = await attempt(kind, handOnly);
      const needed = prerequisite[kind];
      if (label !== undefined || !needed || depth >= 2) return label;
      const first = await withPrerequisites(needed, true, depth + 1);
      if (first === undefined) return undefined;
      await afterChange(needed, first);
      return attempt(kind, handOnly);
    }

    /** A change libvirt refuses (the agent changed the domain first) is logged and skipped. */
    async function attempt(kind: ChangeKind, handOnly = false): Promise<string | undefined> {
      try {
        return await change(kind, handOnly);
      } catch (err) {
        report.changesRefused++;
        log(`${kind} refused: ${err instanceof Error ? err.message : String(err)}`);
        return undefined;
      }
    }
    report.durationSeconds = Math.round((Date.now() - chaosStartedAt) / 1000);
    report.loadAverage.end = Math.round(loadavg()[0]! * 100) / 100;

    function count(kind: ChangeKind): void {
      report.changes.total++;
      report.changes.byKind[kind] = (report.changes.byKind[kind] ?? 0) + 1;
    }

    async function afterChange(kind: ChangeKind, label: string): Promise<void> {
      count(kind);
      const settled = await settle(settleTimeoutMs);
      if (clean(settled.findings)) settleSamples.set(kind, [...(settleSamples.get(kind) ?? []), settled.ms]);
      log(`${label}: ${clean(settled.findings) ? `settled in ${settled.ms} ms` : 'NOT settled'}`);
      record(label, settled.findings);
      if (!clean(settled.findings)) return;
      // A moment later, still true (a status that flips back after settling is wrong too).
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(random() * 400)));
      // (An Always VM the agent starts again meanwhile may be starting: skipped, not waited for.)
      const again = await settle(2_000, false);
      record(`${label} (checked again later)`, again.findings);
    }

    // ---- a last check once everything stopped moving; events after it are not counted.
    const last = await settle(settleTimeoutMs);
    record('the end of the run', last.findings);
    const endedAt = Date.now();
    const counted = events.filter((e) => e.at >= chaosStartedAt && e.at <= endedAt);
    const unreflected = () => counted.filter((ev) => eventLatency(ev.at, libvirtTimeline.get(ev.domain) ?? [], apiTimeline.get(ev.domain) ?? []) === undefined);
    // The check read the store; the watch delivers the same writes a moment later.
    await eventually(() => unreflected().length === 0, { timeoutMs: 5_000 }).catch(() => undefined);

    // ---- the latencies, from the two timelines.
    const live: number[] = [];
    const whileDown: number[] = [];
    const slowest: ChaosReport['slowestEvents'] = [];
    for (const ev of counted) {
      const latency = eventLatency(ev.at, libvirtTimeline.get(ev.domain) ?? [], apiTimeline.get(ev.domain) ?? []);
      if (latency === undefined) {
        report.eventsNeverReflected++;
        continue;
      }
      const down = agentDownWindows.some((w) => ev.at >= w.from && ev.at <= w.to);
      (down ? whileDown : live).push(latency);
      if (!down) slowest.push({ domain: ev.domain, event: `${ev.event} ${ev.detail}`.trim(), at: new Date(ev.at).toISOString(), ms: latency });
    }
    report.slowestEvents = slowest.sort((a, b) => b.ms - a.ms).slice(0, 5);
    report.libvirtEvents = counted.length;
    report.eventToApiTruth = { ...latencySummary(live), targetP99Ms: 300 };
    report.eventToApiTruthWhileAgentDown = latencySummary(whileDown);
    for (const [kind, samples] of settleSamples) report.settleMs[kind] = latencySummary(samples);
    return report;
  } finally {
    stopping = true;
    shell.close();
    watch?.stop();
    listener?.kill('SIGKILL');
    await killAgentProcess(agent);
    await controllers?.manager.stop().catch(() => undefined);
    controllers?.client.close();
    const { stdout } = await virsh('list', '--all', '--name').catch(() => ({ stdout: '' }));
    for (const name of stdout.split('\n').map((s) => s.trim())) if (ours(name)) cleanup.domain(name);
    await cleanup.run();
    await cp?.stop().catch(() => undefined);
    await virshQuiet('pool-destroy', pool);
  }
}

/** Changes of one domain, quick enough to make two at once. */
const DOMAIN_CHANGES: ReadonlySet<ChangeKind> = new Set(['destroy', 'start', 'suspend', 'resume', 'undefine', 'define', 'kill-qemu']);

/** Random kinds after the first round: domain changes often, the heavy ones rarely. */
function pickWeighted(random: () => number): ChangeKind {
  const weights: Record<ChangeKind, number> = {
    destroy: 4,
    start: 4,
    suspend: 3,
    resume: 2,
    undefine: 2,
    define: 2,
    'kill-qemu': 2,
    'pool-dir': 1,
    'libvirtd-restart': 0.5,
    'agent-restart': 0.5,
    'api-pause': 1,
  };
  const total = Object.values(weights).reduce((a, b) => a + b, 0);
  let r = random() * total;
  for (const kind of CHANGE_KINDS) {
    r -= weights[kind];
    if (r <= 0) return kind;
  }
  return 'destroy';
}
