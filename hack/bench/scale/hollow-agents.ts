/**
 * Hollow agents: many real agents (agent/agent.ts) in one process, each on its own
 * simulated hypervisor (agent/hypervisor/sim/), as Kubernetes' hollow kubelets are. Each
 * one is a whole host as far as the control plane can tell:
 *   - it joins as a new host does: a bootstrap token, a key of its own and a certificate
 *     request (openssl), which the gateway signs — then mutual TLS on a gRPC connection of
 *     its own (a distinct client certificate is a distinct connection in grpc-js);
 *   - it heartbeats (default every 10 s, as the seeds' agents), reports its pools, VMs and
 *     networks, and watches its desired state, exactly as `quantix-agent` does;
 *   - its first full sync waits a random start-up jitter (default AGENT_DEFAULTS, 5 s).
 * Only the hypervisor is simulated. Joins run a bounded number at a time and are spread over
 * `startSpreadMs`, as a fleet booting is: a thousand joins at once would be a thousand
 * openssl signings at once on the apiserver.
 *
 *   const fleet = await startHollowAgents({ gateway, caPem, joinToken, count: 1000 });
 *   fleet.connected() … await fleet.stop();
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Agent, AGENT_DEFAULTS, type AgentOptions } from '../../../agent/agent.js';
import { SimDriver, type SimDriverOptions } from '../../../agent/hypervisor/sim/driver.js';
import { percentile, runConcurrently } from '../stats.js';

export interface HollowAgentsOptions {
  /** The gateway's host:port. */
  gateway: string;
  /** The cluster CA (signs the gateway's serving certificate). */
  caPem: string;
  /** A reusable bootstrap token. */
  joinToken: string;
  count: number;
  /** Node names: `${prefix}${index, zero-padded}` (default `hollow-`). */
  namePrefix?: string;
  /** Default AGENT_DEFAULTS (10 s). */
  heartbeatIntervalMs?: number;
  /** Random wait before each agent's first full sync (default AGENT_DEFAULTS, 5 s). */
  startupJitterMs?: number;
  /** Agent starts (joins) spread evenly over this window (default 0: as fast as `joinConcurrency` allows). */
  startSpreadMs?: number;
  /** Agent starts in flight at once (default 16). */
  joinConcurrency?: number;
  /** Each simulated host's hardware (default 64 CPUs, 256 GiB). */
  sim?: SimDriverOptions;
  /** Further agent options (timings). */
  agent?: Partial<Omit<AgentOptions, 'driver' | 'gateway' | 'caPem' | 'joinToken' | 'hostname' | 'stateDir'>>;
  /** Called after each agent started (progress). */
  onStarted?: (started: number) => void;
}

export interface HollowAgents {
  agents: Agent[];
  drivers: SimDriver[];
  names: string[];
  /** Milliseconds from the first start to the last agent having its desired state. */
  startMs: number;
  /** One agent's start (join, certificate, desired state): p50 and p99 ms. */
  agentStartMs: { p50: number; p99: number };
  /** Agents whose control plane is reachable right now (last heartbeat and stream fine). */
  reachable(): number;
  stop(): Promise<void>;
}

const GiB = 1024 ** 3;
const SLOT_TIMEOUT_MS = 20_000;

export function hollowNodeNames(count: number, prefix = 'hollow-'): string[] {
  const width = String(Math.max(count - 1, 0)).length;
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(width, '0')}`);
}

export async function startHollowAgents(options: HollowAgentsOptions): Promise<HollowAgents> {
  const names = hollowNodeNames(options.count, options.namePrefix);
  const root = mkdtempSync(join(tmpdir(), 'quantix-hollow-'));
  const drivers = names.map((hostname) => new SimDriver({ hostname, cpuCount: 64, memoryBytes: 256 * GiB, ...options.sim }));
  const agents = names.map(
    (hostname, i) =>
      new Agent({
        gateway: options.gateway,
        caPem: options.caPem,
        joinToken: options.joinToken,
        hostname,
        stateDir: join(root, hostname),
        driver: drivers[i]!,
        heartbeatIntervalMs: options.heartbeatIntervalMs ?? AGENT_DEFAULTS.heartbeatIntervalMs,
        startupJitterMs: options.startupJitterMs ?? AGENT_DEFAULTS.startupJitterMs,
        addresses: ['127.0.0.1'],
        // The sim host's bridges (none unless its networks make some), not this machine's.
        listBridges: async () => [],
        ...options.agent,
      }),
  );
  const started = performance.now();
  const spacingMs = (options.startSpreadMs ?? 0) / Math.max(options.count, 1);
  let done = 0;
  const startTimes: number[] = [];
  try {
    const starts: Promise<void>[] = [];
    await runConcurrently(agents.length, options.joinConcurrency ?? 16, async (i) => {
      const due = started + i * spacingMs;
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      const t = performance.now();
      const start = agents[i]!.start().then(() => {
        startTimes.push(performance.now() - t);
        options.onStarted?.(++done);
      });
      starts.push(start);
      // A start slower than this gives up its slot (and goes on): a few slow ones must not hold up the fleet.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([start, new Promise((r) => (timer = setTimeout(r, SLOT_TIMEOUT_MS)))]);
      clearTimeout(timer);
    });
    await Promise.all(starts);
  } catch (err) {
    await stopAll(agents, drivers, root);
    throw err;
  }
  return {
    agents,
    drivers,
    names,
    startMs: Math.round(performance.now() - started),
    agentStartMs: { p50: Math.round(percentile(startTimes, 50)), p99: Math.round(percentile(startTimes, 99)) },
    reachable: () => agents.filter((a) => a.session.controlPlaneReachable).length,
    stop: () => stopAll(agents, drivers, root),
  };
}

async function stopAll(agents: Agent[], drivers: SimDriver[], root: string): Promise<void> {
  await Promise.all(agents.map((a) => a.stop()));
  await Promise.all(drivers.map((d) => d.close()));
  rmSync(root, { recursive: true, force: true });
}

/** What a fleet in a child process (`runHollowAgentsProcess`) prints, one JSON line each. */
export interface HollowProgress {
  type: 'progress' | 'started' | 'status' | 'error';
  started?: number;
  reachable?: number;
  total?: number;
  startMs?: number;
  agentStartMs?: { p50: number; p99: number };
  error?: string;
}

/**
 * As a script (a child process of the scale benchmark, so the fleet has an event loop of
 * its own): the options as JSON in $HOLLOW_AGENTS, progress and then the fleet's status every
 * second as JSON lines on stdout; SIGTERM stops every agent.
 */
async function runAsScript(): Promise<void> {
  const { setLogLevel } = await import('../../../lib/logging/logger.js');
  setLogLevel(process.env.HOLLOW_LOG_LEVEL ?? 'error');
  const options = JSON.parse(process.env.HOLLOW_AGENTS ?? '{}') as HollowAgentsOptions;
  const say = (p: HollowProgress) => process.stdout.write(`${JSON.stringify(p)}\n`);
  let fleet: HollowAgents | undefined;
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await fleet?.stop();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop());
  process.on('SIGINT', () => void stop());
  try {
    fleet = await startHollowAgents({ ...options, onStarted: (n) => n % 50 === 0 && say({ type: 'progress', started: n, total: options.count }) });
  } catch (err) {
    say({ type: 'error', error: (err as Error).message });
    process.exit(1);
  }
  say({ type: 'started', started: fleet.agents.length, total: options.count, startMs: fleet.startMs, agentStartMs: fleet.agentStartMs });
  setInterval(() => say({ type: 'status', reachable: fleet!.reachable(), total: options.count }), 1000);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) void runAsScript();
