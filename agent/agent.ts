/**
 * quantix-agent: makes the hypervisor match the VMs and pools assigned to this node and
 * reports what is true, through the node gateway. Wiring only; the logic lives in
 *   vm/decide.ts, vm/status.ts   pure VM decisions and status     (unit-tested on sim)
 *   vm/sync.ts                   executes VM decisions
 *   pools/decide.ts, pools/sync.ts  storage pools on this host
 *   domain-cache.ts              state watcher (events + safety poll + re-reads)
 *   desired-state.ts             desired state stream from the gateway
 *   reporter.ts, state-hash.ts   status reports and the state hash
 *   tunnel.ts                    requests from the control plane (pool file browser)
 *
 * One work queue carries three kinds of keys — `vm:<ns>/<name>`, `dom:<uuid>` (domains no
 * managed VM owns) and `pool:<name>` — fed by the desired state stream, libvirt events and
 * periodic resyncs; a key is processed by one worker at a time and retried with backoff.
 */
import { readFileSync } from 'node:fs';
import { cpus, release, totalmem } from 'node:os';
import type { HostInfo, HypervisorDriver } from './hypervisor/driver.js';
import { GatewayError } from '../api-types/proto/errors.js';
import type { NodeInfo, Resources, VMReport } from '../api-types/proto/types.js';
import { ItemExponentialFailureRateLimiter } from '../lib/workqueue/ratelimiter.js';
import { WorkQueue } from '../lib/workqueue/workqueue.js';
import { createLogger, newCorrelationId, withCorrelation, type Logger } from '../lib/logging/logger.js';
import { DesiredState, type DesiredChange } from './desired-state.js';
import { DomainCache, isTrackedUuid, type DomainChange } from './domain-cache.js';
import { defaultServerName } from './flags.js';
import { GatewayClient } from './gateway-client.js';
import { defaultAddresses, defaultHostname, StateDir } from './identity.js';
import { PoolSyncer } from './pools/sync.js';
import { domainReport, Reporter, vmReport } from './reporter.js';
import { TunnelClient } from './tunnel.js';
import { isUnmanaged } from './vm/decide.js';
import { VmSyncer } from './vm/sync.js';

export const AGENT_VERSION = '0.1.0';

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
  stateDir: string;
  driver: HypervisorDriver;
  /** Node name source; default the host's name. */
  hostname?: string;
  /** Management addresses; default the host's non-loopback IPs. Empty: the gateway uses the connection's. */
  addresses?: string[];
  heartbeatIntervalMs?: number;
  /** Random delay (0..this) before the first full sync, so a fleet restart does not stampede. */
  startupJitterMs?: number;
  safetyPollIntervalMs?: number;
  /** Graceful shutdown before force off. */
  shutdownTimeoutMs?: number;
  workers?: number;
  /** Where nfs pools are mounted: <root>/<pool>. */
  poolMountRoot?: string;
  agentVersion?: string;
  log?: Logger;
}

export const AGENT_DEFAULTS = {
  heartbeatIntervalMs: 10_000,
  startupJitterMs: 5_000,
  safetyPollIntervalMs: 10_000,
  shutdownTimeoutMs: 60_000,
  workers: 4,
  poolMountRoot: '/var/lib/quantix/pools',
};

/** Errors registration cannot get past by retrying. */
const FATAL_REGISTRATION_REASONS = new Set(['AlreadyExists', 'Invalid', 'BadRequest', 'Forbidden']);

function osImage(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(text)?.[1] ?? '';
  } catch {
    return '';
  }
}

export class Agent {
  readonly options: Required<Omit<AgentOptions, 'serverName' | 'server' | 'joinToken' | 'hostname' | 'addresses' | 'log'>> & AgentOptions;
  readonly log: Logger;
  readonly client: GatewayClient;
  readonly stateDir: StateDir;
  readonly desired: DesiredState;
  readonly domains: DomainCache;
  readonly reporter: Reporter;
  readonly vms: VmSyncer;
  readonly pools: PoolSyncer;
  readonly queue = new WorkQueue<string>({ rateLimiter: new ItemExponentialFailureRateLimiter<string>(500, 60_000) });
  readonly #tunnel: TunnelClient;
  readonly #eventTimes = new Map<string, number>();
  readonly #uidOfKey = new Map<string, string>();
  #nodeName = '';
  #nodeUid = '';
  #machineId = '';
  #host: HostInfo | undefined;
  #running = false;
  #workers: Promise<void>[] = [];
  #timers = new Set<NodeJS.Timeout>();
  #heartbeatTimer: NodeJS.Timeout | undefined;
  #initialFullSync = false;
  #initialFullSyncWaiters: (() => void)[] = [];
  #fullSyncRunning: Promise<void> | undefined;
  #fullSyncAgain = false;
  #controlPlaneReachable = true;
  #registering: Promise<void> | undefined;

  constructor(options: AgentOptions) {
    this.options = { ...AGENT_DEFAULTS, agentVersion: AGENT_VERSION, ...options } as Agent['options'];
    this.log = options.log ?? createLogger('agent');
    this.client = new GatewayClient({ address: options.gateway, caPem: options.caPem, serverName: options.serverName ?? defaultServerName(options.gateway) });
    this.stateDir = new StateDir(options.stateDir);
    this.reporter = new Reporter(this.client);
    const now = () => Date.now();
    this.domains = new DomainCache(
      options.driver,
      (c) => this.#onDomainChange(c),
      (name) => this.queue.add(`pool:${name}`),
      (up) => this.#onHypervisorConnection(up),
      this.log,
      this.options.safetyPollIntervalMs,
    );
    this.desired = new DesiredState(this.client, (c) => this.#onDesiredChange(c), this.log, (connected) => this.#onStreamConnection(connected));
    this.vms = new VmSyncer({
      driver: options.driver,
      restarts: this.stateDir.restartRecords(),
      domains: this.domains,
      reporter: this.reporter,
      nodeName: () => this.#nodeName,
      shutdownTimeoutMs: this.options.shutdownTimeoutMs,
      now,
      log: this.log,
    });
    this.pools = new PoolSyncer({
      driver: options.driver,
      reporter: this.reporter,
      stateDir: this.stateDir,
      nodeName: () => this.#nodeName,
      mountRoot: this.options.poolMountRoot,
      now,
      log: this.log,
      onPoolReady: (name) => this.#enqueueVmsUsingPool(name),
    });
    this.#tunnel = new TunnelClient(this.client, options.driver, (name) => this.#poolAssigned(name), this.log);
  }

  get nodeName(): string {
    return this.#nodeName;
  }

  get nodeUid(): string {
    return this.#nodeUid;
  }

  get machineId(): string {
    return this.#machineId;
  }

  /**
   * Registers, opens the desired state stream and starts the loops. Resolves once the
   * first desired state list arrived; the first full sync follows after the start-up
   * jitter (`whenFullySynced`). Rejects when registration is refused for good (e.g. the
   * hostname belongs to another machine).
   */
  async start(): Promise<void> {
    this.#running = true;
    this.#machineId = this.stateDir.machineId();
    this.domains.start();
    try {
      await this.options.driver.connect();
    } catch (err) {
      this.log.warn('hypervisor not reachable yet; continuing (domains are reported once it is)', { error: (err as Error).message });
    }
    if (this.options.driver.connectionState() === 'connected') {
      await this.domains.relist().catch((err: Error) => this.log.warn('listing domains failed', { error: err.message }));
    }
    await this.#registerWithRetry();
    this.desired.start();
    this.#tunnel.start();
    for (let i = 0; i < this.options.workers; i++) this.#workers.push(this.#worker());
    this.#scheduleHeartbeat(0);
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
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.desired.stop();
    this.#tunnel.stop();
    this.domains.stop();
    this.queue.shutDown();
    await Promise.all(this.#workers);
    this.#workers = [];
    this.client.close();
  }

  /** Resolves after the first full state sync was accepted. */
  whenFullySynced(): Promise<void> {
    if (this.#initialFullSync) return Promise.resolve();
    return new Promise((resolve) => this.#initialFullSyncWaiters.push(resolve));
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      if (this.#running) fn();
    }, ms);
    this.#timers.add(t);
  }

  // ------------------------------------------------------------------ registration

  async #hostInfo(): Promise<HostInfo | undefined> {
    if (this.#host) return this.#host;
    if (this.options.driver.connectionState() !== 'connected') return undefined;
    try {
      this.#host = await this.options.driver.hostInfo();
    } catch {
      return undefined;
    }
    return this.#host;
  }

  async #nodeFacts(): Promise<{ nodeInfo: NodeInfo; capacity: Resources }> {
    const host = await this.#hostInfo();
    return {
      nodeInfo: {
        hypervisor: this.options.driver.kind === 'sim' ? 'sim' : (host?.domainType ?? ''),
        hypervisorVersion: host?.hypervisorVersion ?? '',
        libvirtVersion: this.options.driver.kind === 'sim' ? '' : (host?.libvirtVersion ?? ''),
        agentVersion: this.options.agentVersion,
        cpuModel: host?.cpuModel ?? cpus()[0]?.model ?? '',
        kernelVersion: release(),
        osImage: osImage(),
        machineId: this.#machineId,
      },
      capacity: { cpu: host?.cpuCount ?? cpus().length, memoryBytes: host?.memoryBytes ?? totalmem() },
    };
  }

  async #register(): Promise<void> {
    const facts = await this.#nodeFacts();
    const hostname = this.options.hostname ?? this.#host?.hostname ?? defaultHostname();
    const req = {
      hostname,
      machineId: this.#machineId,
      addresses: this.options.addresses ?? defaultAddresses(),
      nodeInfo: facts.nodeInfo,
      capacity: facts.capacity,
      allocatable: facts.capacity,
    };
    const saved = this.stateDir.credential();
    let res;
    if (saved) {
      try {
        res = await this.client.registerNode(req, saved);
      } catch (err) {
        if (!(err instanceof GatewayError) || err.reason !== 'Unauthorized') throw err;
        this.log.warn('stored node credential refused; registering with the join token');
      }
    }
    if (!res) {
      if (!this.options.joinToken) throw new GatewayError('Unauthorized', 'no valid node credential in the state dir and no join token given (--join-token-file)', 16);
      res = await this.client.registerNode(req, this.options.joinToken);
    }
    this.stateDir.saveCredential(res.credential);
    if (this.options.server) this.stateDir.saveKubeconfig(this.options.server, this.options.caPem, res.nodeName, res.credential);
    this.client.setToken(res.credential);
    this.#nodeName = res.nodeName;
    this.#nodeUid = res.nodeUid;
    this.log.info(res.reregistered ? 're-registered' : 'registered', { node: res.nodeName, uid: res.nodeUid, assignedPools: res.assignedPools });
  }

  async #registerWithRetry(): Promise<void> {
    let delay = 500;
    for (;;) {
      try {
        await this.#register();
        return;
      } catch (err) {
        const e = err instanceof GatewayError ? err : undefined;
        if (e && (FATAL_REGISTRATION_REASONS.has(e.reason) || (e.reason === 'Unauthorized' && !this.stateDir.credential()))) {
          this.log.error('registration refused', { reason: e.reason, error: e.message });
          throw e;
        }
        if (!this.#running) throw err;
        this.log.warn('registration failed; retrying', { error: (err as Error).message, inMs: delay });
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 30_000);
      }
    }
  }

  /** Registers again (credential refused, or the Node was deleted), then resyncs. */
  #reregister(): Promise<void> {
    this.#registering ??= (async () => {
      try {
        await this.#registerWithRetry();
        this.desired.reconnect();
        this.#tunnel.reconnect();
        void this.fullSync();
      } catch (err) {
        this.log.error('re-registration failed', { error: (err as Error).message });
      } finally {
        this.#registering = undefined;
      }
    })();
    return this.#registering;
  }

  // ------------------------------------------------------------------ events → keys

  #onDesiredChange(change: DesiredChange): void {
    if (change.kind === 'pool') {
      this.queue.add(`pool:${change.name}`);
      return;
    }
    if (change.uid) this.#uidOfKey.set(change.key, change.uid);
    this.queue.add(`vm:${change.key}`);
  }

  #onDomainChange(change: DomainChange): void {
    const domain = change.current ?? change.previous;
    if (change.eventTime) this.#eventTimes.set(change.uuid, change.eventTime);
    const ownerUid = domain?.owner?.uid;
    const key = ownerUid ? this.desired.keyForUid(ownerUid) : undefined;
    if (key) this.queue.add(`vm:${key}`);
    else this.queue.add(`dom:${change.uuid}`);
  }

  #onHypervisorConnection(up: boolean): void {
    if (!up) return;
    // Events that happened while disconnected are gone: look at everything again.
    this.#enqueueAll();
    void this.fullSync();
  }

  #onStreamConnection(connected: boolean): void {
    if (!connected) {
      this.#controlPlaneReachable = false;
      return;
    }
    if (!this.#controlPlaneReachable) {
      this.#controlPlaneReachable = true;
      this.log.info('control plane reachable again: resyncing');
      this.#enqueueAll();
      if (this.#initialFullSync) void this.fullSync();
    } else {
      this.#enqueueAll();
    }
  }

  #enqueueAll(): void {
    for (const key of this.desired.vms.keys()) this.queue.add(`vm:${key}`);
    for (const name of this.desired.pools.keys()) this.queue.add(`pool:${name}`);
    for (const name of this.pools.managedPools()) this.queue.add(`pool:${name}`);
    for (const d of this.domains.all()) if (!d.owner?.uid || !this.desired.keyForUid(d.owner.uid)) this.queue.add(`dom:${d.uuid}`);
  }

  #enqueueVmsUsingPool(pool: string): void {
    for (const [key, vm] of this.desired.vms) if ((vm.spec.disks ?? []).some((d) => d.storagePool === pool)) this.queue.add(`vm:${key}`);
  }

  #poolAssigned(name: string): boolean {
    const pool = this.desired.pools.get(name);
    return Boolean(pool && (pool.spec.assignedNodes ?? []).includes(this.#nodeName));
  }

  #scheduleResync(): void {
    // Level-triggered safety net: every key is looked at again each poll period.
    this.#later(this.options.safetyPollIntervalMs, () => {
      this.#enqueueAll();
      this.#scheduleResync();
    });
  }

  // ------------------------------------------------------------------ workers

  async #worker(): Promise<void> {
    for (;;) {
      const item = await this.queue.get();
      if (item.shutdown) return;
      const key = item.key;
      try {
        const requeue = await withCorrelation(newCorrelationId(), () => this.#process(key), { key });
        this.queue.forget(key);
        if (requeue !== undefined) this.queue.addAfter(key, requeue);
      } catch (err) {
        this.log.debug('sync failed; retrying with backoff', { key, error: (err as Error).message });
        if (this.#running) this.queue.addRateLimited(key);
      } finally {
        this.queue.done(key);
      }
    }
  }

  /** Processes one key; returns a delay to look again, or throws to retry with backoff. */
  async #process(key: string): Promise<number | undefined> {
    const colon = key.indexOf(':');
    const kind = key.slice(0, colon);
    const id = key.slice(colon + 1);
    // Until libvirt has been listed once, a missing domain proves nothing.
    if (!this.domains.listed) return this.domains.hypervisorUp ? 200 : 1_000;
    switch (kind) {
      case 'vm':
        return this.#processVm(id);
      case 'dom':
        return this.#processDomain(id);
      case 'pool':
        return this.#processPool(id);
      default:
        return undefined;
    }
  }

  async #processVm(key: string): Promise<number | undefined> {
    const vm = this.desired.vms.get(key);
    if (!vm) {
      // Deleted or moved off this node: its domain, if any, is reported as not owned by a VM.
      const uid = this.#uidOfKey.get(key);
      this.#uidOfKey.delete(key);
      if (uid) {
        this.vms.forget(uid);
        if (this.domains.get(uid)) this.queue.add(`dom:${uid}`);
      }
      return undefined;
    }
    if (isUnmanaged(vm)) return undefined;
    const uid = vm.metadata.uid!;
    const eventTime = this.#eventTimes.get(uid);
    this.#eventTimes.delete(uid);
    const result = await this.vms.sync(vm, eventTime);
    if (result.error) throw result.error;
    return result.requeueAfterMs;
  }

  async #processDomain(uuid: string): Promise<number | undefined> {
    const domain = this.domains.get(uuid);
    const ownerUid = domain?.owner?.uid;
    const ownerKey = ownerUid ? this.desired.keyForUid(ownerUid) : undefined;
    if (ownerKey && !isUnmanaged(this.desired.vms.get(ownerKey)!)) {
      this.queue.add(`vm:${ownerKey}`);
      return undefined;
    }
    // Orphans can only be told from VMs not listed yet once the desired state is complete.
    if (!this.desired.synced) return 500;
    if (domain && !domain.persistent && !domain.owner) return undefined; // transient host domains are not recorded
    if (!isTrackedUuid(uuid)) return undefined;
    const eventTime = this.#eventTimes.get(uuid);
    this.#eventTimes.delete(uuid);
    await this.reporter.reportDomain(uuid, domain, eventTime);
    return undefined;
  }

  async #processPool(name: string): Promise<number | undefined> {
    if (!this.domains.hypervisorUp) return 1_000;
    const res = await this.pools.sync(name, this.desired.pools.get(name));
    return res.requeueAfterMs;
  }

  // ------------------------------------------------------------------ full sync and heartbeat

  /** Sends everything the agent observes (SyncFullState). Concurrent calls coalesce. */
  fullSync(): Promise<void> {
    if (this.#fullSyncRunning) {
      this.#fullSyncAgain = true;
      return this.#fullSyncRunning;
    }
    this.#fullSyncRunning = (async () => {
      try {
        do {
          this.#fullSyncAgain = false;
          await this.#fullSyncOnce();
        } while (this.#fullSyncAgain && this.#running);
      } catch (err) {
        this.log.warn('full sync failed; retrying at the next heartbeat', { error: (err as Error).message });
        this.reporter.needsFullSync = true;
      } finally {
        this.#fullSyncRunning = undefined;
      }
    })();
    return this.#fullSyncRunning;
  }

  async #fullSyncOnce(): Promise<void> {
    if (!this.#running || !this.desired.synced) return;
    const observedAtMs = Date.now();
    await this.domains.relist();
    const reports: VMReport[] = [];
    const reportedUids = new Set<string>();
    for (const domain of this.domains.all()) {
      const ownerUid = domain.owner?.uid;
      const vm = ownerUid ? this.desired.vmByUid(ownerUid) : undefined;
      if (vm && !isUnmanaged(vm)) {
        const { status } = this.vms.statusNow(vm);
        this.reporter.noteVm(vm.metadata.uid!, status, vm.status?.phase);
        reports.push(vmReport(vm, domain, status));
        reportedUids.add(vm.metadata.uid!);
        continue;
      }
      if (!domain.persistent && !domain.owner) continue;
      reports.push(domainReport(domain));
      this.reporter.noteDomainSynced(domain);
    }
    for (const vm of [...this.desired.vms.values()]) {
      if (isUnmanaged(vm) || reportedUids.has(vm.metadata.uid!) || !vm.status?.domainUUID) continue;
      // "Missing" makes the VM Lost: make sure with a fresh read (it may have been defined since the list).
      await this.domains.refresh(vm.metadata.uid!);
      const fresh = this.domains.get(vm.metadata.uid!);
      const { status } = this.vms.statusNow(vm);
      if (fresh) {
        reports.push(vmReport(vm, fresh, status));
        continue;
      }
      this.reporter.noteVm(vm.metadata.uid!, status, vm.status?.phase);
      reports.push(vmReport(vm, undefined, status));
    }
    const pools = [...this.reporter.pools.values()];
    const res = await this.client.syncFullState({ vms: reports, pools, stateHash: this.reporter.hash.digest(), observedAtMs });
    this.reporter.needsFullSync = false;
    this.log.info('full state sync accepted', { domains: reports.length, pools: pools.length, ...res });
    if (!this.#initialFullSync) {
      this.#initialFullSync = true;
      for (const w of this.#initialFullSyncWaiters.splice(0)) w();
    }
  }

  #scheduleHeartbeat(delayMs: number): void {
    if (this.#heartbeatTimer) clearTimeout(this.#heartbeatTimer);
    this.#heartbeatTimer = setTimeout(() => {
      void this.heartbeat().finally(() => {
        if (this.#running) this.#scheduleHeartbeat(this.options.heartbeatIntervalMs);
      });
    }, delayMs);
  }

  /** One heartbeat (also run by the timer); exposed for tests. */
  async heartbeat(): Promise<void> {
    if (!this.#running) return;
    try {
      const facts = await this.#nodeFacts();
      const res = await this.client.heartbeat({
        stateHash: this.reporter.hash.digest(),
        pools: [...this.reporter.pools.values()],
        capacity: facts.capacity,
        allocatable: facts.capacity,
        nodeInfo: facts.nodeInfo,
        hypervisorReady: this.domains.hypervisorUp,
        hypervisorMessage: this.domains.hypervisorUp ? '' : 'libvirtd is not reachable',
        addresses: this.options.addresses ?? defaultAddresses(),
      });
      const wasDown = !this.#controlPlaneReachable;
      this.#controlPlaneReachable = true;
      if (this.#initialFullSync && (res.requestFullSync || this.reporter.needsFullSync || wasDown)) {
        this.log.info('full sync requested', { reason: res.fullSyncReason || (wasDown ? 'control plane reachable again' : 'a report was not delivered') });
        void this.fullSync();
      }
    } catch (err) {
      const e = err instanceof GatewayError ? err : undefined;
      if (e && (e.reason === 'Unauthorized' || e.reason === 'NotFound')) {
        this.log.warn('heartbeat refused: registering again', { reason: e.reason, error: e.message });
        await this.#reregister();
        return;
      }
      if (this.#controlPlaneReachable) this.log.warn('heartbeat failed: control plane unreachable; domains are left as they are', { error: (err as Error).message });
      this.#controlPlaneReachable = false;
    }
  }
}
