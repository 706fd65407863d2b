/**
 * quantix-agent: makes the hypervisor match the VMs and pools assigned to this node and
 * reports what is true, through the node gateway. Wiring only; the logic lives in
 *   session.ts                   registration, node credential, re-registration, node facts
 *   desired-state.ts             desired state stream from the gateway
 *   domain-cache.ts              state watcher (events + safety poll + re-reads)
 *   workers.ts                   the work queue: events → keys, one worker per key
 *   vm/decide.ts, vm/status.ts   pure VM decisions and status     (unit-tested on sim)
 *   vm/sync.ts                   executes VM decisions
 *   pools/decide.ts, pools/sync.ts  storage pools on this host
 *   networks/decide.ts, networks/sync.ts  libvirt networks for the Networks assigned here;
 *                                networks/bridges.ts the host's Linux bridges
 *   images/cache.ts, images/import.ts  the node's image cache: imports, progress, removal
 *   cloudinit/                   the per-VM cloud-init seed ISOs
 *   reporter.ts, state-hash.ts   status reports (sent only when changed) and the state hash
 *   full-sync.ts, heartbeat.ts   SyncFullState and the heartbeat
 *   tunnel.ts                    requests from the control plane (pool file browser, consoles)
 *   console-sessions.ts          console sessions: the driver's console on a stream of its own
 *   self-fence.ts, stale-copies.ts  self-fencing; removing copies of VMs recovered elsewhere
 */
import type { DomainType, HypervisorDriver, PowerState } from './hypervisor/driver.js';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { ImageCache } from './images/cache.js';
import { SeedStore } from './vm/seeds.js';
import path from 'node:path';
import type { WorkQueue } from '../lib/workqueue/workqueue.js';
import { createLogger, type Logger } from '../lib/logging/logger.js';
import { DesiredState, vmKey } from './desired-state.js';
import { DomainCache } from './domain-cache.js';
import { defaultServerName } from './flags.js';
import { FullSync } from './full-sync.js';
import { GatewayClient } from './gateway-client.js';
import { Heartbeat } from './heartbeat.js';
import { defaultHostname, StateDir } from './identity.js';
import { hostBridges } from './networks/bridges.js';
import { NetworkSyncer } from './networks/sync.js';
import { PoolSyncer } from './pools/sync.js';
import { Reporter } from './reporter.js';
import { NodeSession } from './session.js';
import { certificateTimes, nodeNameOfHostname, RENEW_AT, renewalTime } from './node-certificate.js';
import { TunnelClient } from './tunnel.js';
import { ConsoleSessions } from './console-sessions.js';
import { VmSyncer } from './vm/sync.js';
import { KeyWorkers } from './workers.js';
import type { AgentMetrics } from './metrics.js';
import { TelemetrySampler, VmTelemetrySampler } from './telemetry.js';
import { domainsToStop, SelfFence } from './self-fence.js';
import { StaleCopies } from './stale-copies.js';

export const AGENT_VERSION = '0.1.0';

/** Domain states in which QEMU runs, so its NICs are on their networks' bridges. */
const ATTACHED_STATES: ReadonlySet<PowerState> = new Set(['Running', 'Blocked', 'Paused', 'ShuttingDown', 'PMSuspended']);

export interface AgentOptions {
  /** Gateway address, host:port. */
  gateway: string;
  /** CA that signed the apiserver's (and gateway's) serving certificate. */
  caPem: string;
  /** TLS name to verify when the gateway address is not in the certificate. */
  serverName?: string;
  /** The apiserver URL: written with the node credential into <state-dir>/kubeconfig. */
  server?: string;
  /** Join token for the first registration (group quantix:bootstrappers). */
  joinToken?: string;
  /**
   * False: register for a bearer node credential instead of asking for a client certificate, as
   * with a control plane that signs none (the scale benchmark's bearer identity). Default true.
   */
  requestCertificate?: boolean;
  stateDir: string;
  driver: HypervisorDriver;
  /** Node name source; default the host's name. */
  hostname?: string;
  /** Management addresses; default the host's non-loopback IPs. Empty: the gateway uses the connection's. */
  addresses?: string[];
  heartbeatIntervalMs?: number;
  /**
   * Self-fencing (self-fence.ts, docs/fencing.md): with no heartbeat renewed for this long,
   * force-stop the domains of VMs that may be recovered elsewhere. 0 (default): off — domains
   * are left as they are.
   */
  selfFenceTimeoutMs?: number;
  /** Random delay (0..this) before the first full sync, so a fleet restart does not stampede. */
  startupJitterMs?: number;
  safetyPollIntervalMs?: number;
  /** Graceful shutdown before force off. */
  shutdownTimeoutMs?: number;
  workers?: number;
  /** Where nfs pools are mounted: <root>/<pool>. */
  poolMountRoot?: string;
  /**
   * The host's Linux bridges for Node.status.bridges. Default: /sys/class/net, each interface
   * asked of the driver's bridgeExists (the sim driver's own bridges need a lister of their own).
   */
  listBridges?: () => Promise<string[]>;
  agentVersion?: string;
  /** When to renew the node certificate, as a share of its lifetime (default node-certificate.ts RENEW_AT). */
  certificateRenewAt?: number;
  /** The shortest wait before a renewal (default 60 s), so a short-lived certificate cannot make a renewal storm. */
  certificateMinRenewalDelayMs?: number;
  /** How this node runs guests, and why (flag or probe); reported in Node status. */
  acceleration?: { type: DomainType; source: string };
  /** The directory this agent's log files are in (--log-dir): GET /logs reads them through the tunnel. */
  logDir?: string;
  /** Reads domain states, imports and per-VM statistics from this agent when scraped (metrics.ts). */
  metrics?: AgentMetrics;
  log?: Logger;
}

export const AGENT_DEFAULTS = {
  heartbeatIntervalMs: 10_000,
  selfFenceTimeoutMs: 0,
  startupJitterMs: 5_000,
  safetyPollIntervalMs: 10_000,
  shutdownTimeoutMs: 60_000,
  workers: 4,
  poolMountRoot: '/var/lib/quantix/pools',
};

export class Agent {
  readonly options: Required<
    Omit<
      AgentOptions,
      | 'serverName'
      | 'server'
      | 'joinToken'
      | 'hostname'
      | 'addresses'
      | 'log'
      | 'listBridges'
      | 'certificateRenewAt'
      | 'certificateMinRenewalDelayMs'
      | 'logDir'
      | 'metrics'
    >
  > &
    AgentOptions;
  #renewal: NodeJS.Timeout | undefined;
  readonly log: Logger;
  readonly client: GatewayClient;
  readonly stateDir: StateDir;
  readonly session: NodeSession;
  readonly desired: DesiredState;
  readonly domains: DomainCache;
  readonly reporter: Reporter;
  readonly vms: VmSyncer;
  readonly pools: PoolSyncer;
  readonly networks: NetworkSyncer;
  readonly images: ImageCache;
  readonly workers: KeyWorkers;
  readonly queue: WorkQueue<string>;
  readonly #fullSync: FullSync;
  readonly #heartbeat: Heartbeat;
  readonly #tunnel: TunnelClient;
  readonly selfFence: SelfFence;
  readonly staleCopies: StaleCopies;
  /** Open console sessions (console-sessions.ts). */
  readonly consoles: ConsoleSessions;
  #running = false;
  #timers = new Set<NodeJS.Timeout>();

  constructor(options: AgentOptions) {
    this.options = { ...AGENT_DEFAULTS, agentVersion: AGENT_VERSION, ...options } as Agent['options'];
    // Every record names this Node (several agents share a process in tests and benchmarks).
    this.log = (options.log ?? createLogger('agent')).child({ node: nodeNameOfHostname(options.hostname ?? defaultHostname()) });
    const log = this.log;
    const running = () => this.#running;
    this.client = new GatewayClient({ address: options.gateway, caPem: options.caPem, serverName: options.serverName ?? defaultServerName(options.gateway) });
    this.stateDir = new StateDir(options.stateDir);
    this.session = new NodeSession({
      client: this.client,
      stateDir: this.stateDir,
      driver: options.driver,
      log,
      caPem: options.caPem,
      agentVersion: this.options.agentVersion,
      server: options.server,
      joinToken: options.joinToken,
      requestCertificate: options.requestCertificate ?? true,
      hostname: options.hostname,
      addresses: options.addresses,
      running,
      onReregistered: () => {
        this.desired.reconnect();
        this.#tunnel.reconnect();
        void this.fullSync();
      },
      onCertificate: (certPem) => this.#scheduleRenewal(certPem),
    });
    this.reporter = new Reporter(this.client);
    const now = () => Date.now();
    const nodeName = () => this.session.nodeName;
    this.domains = new DomainCache(
      options.driver,
      (c) => this.workers.onDomainChange(c),
      (name) => this.workers.enqueuePool(name),
      (up) => this.#onHypervisorConnection(up),
      log,
      this.options.safetyPollIntervalMs,
    );
    this.desired = new DesiredState(
      this.client,
      (c) => this.workers.onDesiredChange(c),
      log,
      (connected) => this.#onStreamConnection(connected),
    );
    this.images = new ImageCache({
      driver: options.driver,
      desired: this.desired,
      report: (req) => this.client.reportImages(req),
      nodeName,
      requeue: (name, delayMs) => (delayMs ? this.queue.addAfter(`img:${name}`, delayMs) : this.workers.enqueueImage(name)),
      onSettled: (name) => this.workers.enqueueVmsUsing('image', name),
      now,
      log,
    });
    this.vms = new VmSyncer({
      driver: options.driver,
      images: { availability: (name) => this.images.availability(name), request: (name) => this.workers.enqueueImage(name) },
      seeds: new SeedStore(path.join(this.stateDir.dir, 'cloud-init')),
      domainType: () => options.acceleration?.type,
      restarts: this.stateDir.restartRecords(),
      domains: this.domains,
      reporter: this.reporter,
      nodeName,
      shutdownTimeoutMs: this.options.shutdownTimeoutMs,
      now,
      log,
    });
    this.pools = new PoolSyncer({
      driver: options.driver,
      reporter: this.reporter,
      stateDir: this.stateDir,
      nodeName,
      mountRoot: this.options.poolMountRoot,
      now,
      log,
      onPoolReady: (name) => this.workers.enqueueVmsUsingPool(name),
    });
    this.networks = new NetworkSyncer({
      driver: options.driver,
      networks: this.desired.networks,
      stateDir: this.stateDir,
      nodeName,
      usedBy: (name) => this.#vmsAttachedTo(name),
      now,
      log,
      onNetworkReady: (name) => this.workers.enqueueVmsUsing('network', name),
      onReportChanged: () => this.#heartbeat.soon(),
    });
    this.selfFence = new SelfFence({
      timeoutMs: this.options.selfFenceTimeoutMs,
      stopManagedDomains: () => this.#stopManagedDomains(),
      relistDesiredState: () => this.desired.relist(),
      onLifted: () => this.workers.enqueueAll(),
      log,
    });
    this.staleCopies = new StaleCopies({
      driver: options.driver,
      domain: (uuid) => this.domains.get(uuid),
      forget: (uuid) => this.reporter.forgetDomain(uuid),
      refresh: (uuid) => this.domains.refresh(uuid),
      nodeName,
      log,
    });
    this.workers = new KeyWorkers({
      fenced: () => this.selfFence.fenced,
      removeStaleCopy: (uuid, boundNode) => this.staleCopies.remove(uuid, boundNode),
      desired: this.desired,
      domains: this.domains,
      reporter: this.reporter,
      vms: this.vms,
      pools: this.pools,
      networks: this.networks,
      images: this.images,
      log,
      running,
    });
    this.queue = this.workers.queue;
    this.#fullSync = new FullSync({
      client: this.client,
      desired: this.desired,
      domains: this.domains,
      reporter: this.reporter,
      vms: this.vms,
      log,
      running,
      onMoved: (uuid, boundNode) => this.staleCopies.remove(uuid, boundNode),
      onChangedSince: (uuid, previous, current) => this.workers.onDomainChange({ uuid, previous, current }),
    });
    this.#heartbeat = new Heartbeat({
      client: this.client,
      session: this.session,
      reporter: this.reporter,
      domains: this.domains,
      fullSync: this.#fullSync,
      networks: this.networks,
      bridges: options.listBridges ?? (() => hostBridges(options.driver)),
      intervalMs: this.options.heartbeatIntervalMs,
      log,
      running,
      acceleration: options.acceleration,
      selfFence: this.selfFence,
      telemetry: (() => {
        const sampler = new TelemetrySampler(options.stateDir);
        return () => sampler.sample();
      })(),
      vmTelemetry: (() => {
        const sampler = new VmTelemetrySampler(options.driver, () => this.domains.all());
        return () => sampler.sample();
      })(),
    });
    this.consoles = new ConsoleSessions(
      this.client,
      options.driver,
      (namespace, name) => this.#boundVm(namespace, name),
      () => this.session.nodeName,
      log,
    );
    this.#tunnel = new TunnelClient(this.client, options.driver, (name) => this.#poolAssigned(name), log, this.consoles, {
      dir: options.logDir,
      nodeName: () => this.session.nodeName,
    });
    if (options.metrics) {
      this.reporter.onEventReported = options.metrics.observeEventReported;
      options.metrics.attach({ driver: options.driver, domains: () => this.domains.all(), imports: () => this.images.imports(), nodeName });
    }
  }

  get nodeName(): string {
    return this.session.nodeName;
  }

  get nodeUid(): string {
    return this.session.nodeUid;
  }

  get machineId(): string {
    return this.session.machineId;
  }

  /**
   * Registers, opens the desired state stream and starts the loops. Resolves once the
   * first desired state list arrived; the first full sync follows after the start-up
   * jitter (`whenFullySynced`). Rejects when registration is refused for good (e.g. the
   * hostname belongs to another machine).
   */
  async start(): Promise<void> {
    this.#running = true;
    this.session.loadMachineId();
    this.domains.start();
    try {
      await this.options.driver.connect();
    } catch (err) {
      this.log.warn('hypervisor not reachable yet; continuing (domains are reported once it is)', { error: (err as Error).message });
    }
    if (this.options.driver.connectionState() === 'connected') {
      await this.domains.relist().catch((err: Error) => this.log.warn('listing domains failed', { error: err.message }));
    }
    await this.session.registerWithRetry();
    this.desired.start();
    this.#tunnel.start();
    this.workers.start(this.options.workers);
    this.#heartbeat.schedule(0);
    this.selfFence.start();
    this.#scheduleResync();
    await this.desired.whenSynced();
    const jitter = Math.random() * this.options.startupJitterMs;
    this.#later(jitter, () => void this.fullSync());
  }

  /** Stops the agent. Domains are left exactly as they are. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#heartbeat.stop();
    this.selfFence.stop();
    this.desired.stop();
    this.#tunnel.stop();
    this.consoles.closeAll();
    this.domains.stop();
    await this.workers.stop();
    this.client.close();
  }

  /** Resolves after the first full state sync was accepted. */
  whenFullySynced(): Promise<void> {
    return this.#fullSync.whenInitialDone();
  }

  /** Sends everything the agent observes (SyncFullState). Concurrent calls coalesce. */
  fullSync(): Promise<void> {
    return this.#fullSync.run();
  }

  /** One heartbeat (also run by the timer); exposed for tests. */
  heartbeat(): Promise<void> {
    return this.#heartbeat.beat();
  }

  /** Renews the node certificate (registering again with it and a new request) before it expires. */
  #scheduleRenewal(certPem: string): void {
    if (this.#renewal) this.#timers.delete(this.#renewal);
    clearTimeout(this.#renewal);
    const at = renewalTime(certificateTimes(certPem), this.options.certificateRenewAt ?? RENEW_AT);
    const delay = Math.min(Math.max(at - Date.now(), this.options.certificateMinRenewalDelayMs ?? 60_000), 2 ** 31 - 1);
    this.log.info('node certificate renewal scheduled', { at: new Date(Date.now() + delay).toISOString() });
    this.#renewal = setTimeout(() => {
      this.#timers.delete(this.#renewal!);
      if (this.#running) void this.session.reregister();
    }, delay);
    this.#timers.add(this.#renewal);
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (this.#running) fn();
    }, ms);
    this.#timers.add(t);
  }

  #scheduleResync(): void {
    // Level-triggered safety net: every key is looked at again each poll period.
    this.#later(this.options.safetyPollIntervalMs, () => {
      this.workers.enqueueAll();
      this.#scheduleResync();
    });
  }

  #onHypervisorConnection(up: boolean): void {
    if (!up) return;
    // Events that happened while disconnected are gone: look at everything again.
    this.workers.enqueueAll();
    void this.fullSync();
  }

  #onStreamConnection(connected: boolean): void {
    if (!connected) {
      this.session.controlPlaneReachable = false;
      return;
    }
    if (!this.session.controlPlaneReachable) {
      this.session.controlPlaneReachable = true;
      this.log.info('control plane reachable again: resyncing');
      this.workers.enqueueAll();
      if (this.#fullSync.initialDone) void this.fullSync();
    } else {
      this.workers.enqueueAll();
    }
  }

  /** Self-fencing: force-stops the running domains whose VMs may be recovered elsewhere (self-fence.ts); returns how many. */
  async #stopManagedDomains(): Promise<number> {
    let stopped = 0;
    for (const uuid of domainsToStop(this.domains.all(), (uid) => this.desired.vmByUid(uid), this.desired.pools)) {
      try {
        await this.options.driver.destroyDomain(uuid);
        stopped++;
      } catch (err) {
        this.log.error('self-fencing: force-stopping a domain failed', { domain: uuid, error: (err as Error).message });
      }
      await this.domains.refresh(uuid).catch(() => undefined);
    }
    return stopped;
  }

  /** VMs bound here (namespace/name) with a NIC on the Network `name` whose domain is up (its tap is on the bridge). */
  #vmsAttachedTo(name: string): string[] {
    const out: string[] = [];
    for (const [key, vm] of this.desired.vms) {
      if (!(vm.spec.networks ?? []).some((n) => n.type === 'network' && n.source === name)) continue;
      const domain = this.domains.get(vm.metadata.uid!);
      if (domain && ATTACHED_STATES.has(domain.state)) out.push(key);
    }
    return out.sort();
  }

  /** A VM of the desired state (those bound to this node), for consoles. */
  #boundVm(namespace: string, name: string): VirtualMachine | undefined {
    const vm = this.desired.vms.get(vmKey(namespace, name));
    return vm && vm.spec.nodeName === this.session.nodeName ? vm : undefined;
  }

  #poolAssigned(name: string): boolean {
    const pool = this.desired.pools.get(name);
    return Boolean(pool && (pool.spec.assignedNodes ?? []).includes(this.session.nodeName));
  }
}
