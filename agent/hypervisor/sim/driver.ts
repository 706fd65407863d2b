/**
 * SimDriver: an in-memory HypervisorDriver for fast unit tests of agent logic and for scale
 * tests with hundreds of hollow agents. It follows libvirt's observable behaviour closely
 * enough for agent logic to be exercised truthfully:
 * - the same validation and typed errors as the libvirt driver;
 * - lifecycle events in the order libvirt/QEMU emits them (a start emits Resumed+Started,
 *   a destroy emits Shutdown(host)+Stopped(destroyed), a crash Crashed+Stopped(crashed));
 * - undefining a running domain makes it transient, destroying a transient one removes it;
 * - a domain cannot start when a disk path is not a volume of a running pool (or a file
 *   registered with `addHostFile`).
 * It never claims to be libvirt: `kind` is "sim".
 *
 * Failure knobs (`inject*`, `crashDomain`, `hypervisorDown`, ...) let tests provoke what
 * real hosts do. Nothing here uses timers unless asked for (latency, ACPI delay), so
 * hundreds of instances cost next to nothing.
 */
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import type {
  ConnectionState,
  DiskSpec,
  DomainEventType,
  DomainInfo,
  DomainOwner,
  DomainSpec,
  DomainType,
  FileEntry,
  FileListing,
  FileType,
  HostInfo,
  HypervisorDriver,
  HypervisorEvent,
  HypervisorEventListener,
  ListFilesOptions,
  PoolEventType,
  PoolInfo,
  PoolSpec,
  PoolState,
  PowerState,
  Unsubscribe,
  VolumeInfo,
  VolumeSpec,
} from '../driver.js';
import { HypervisorError, type HypervisorErrorReason } from '../errors.js';
import { DEFAULT_LIST_LIMIT } from '../files.js';
import { isWithin, normalizeUuid, poolRelativeSegments, validateDomainSpec, validateName, validatePoolSpec, validateVolumeSpec } from '../validate.js';

export interface SimDriverOptions {
  hostname?: string;
  cpuCount?: number;
  cpuModel?: string;
  memoryBytes?: number;
  domainType?: DomainType;
  /** Capacity reported for every running pool (default 1 TiB). */
  poolCapacityBytes?: number;
  /** Added latency per call, ms (default 0: calls resolve on the microtask queue). */
  latencyMs?: number;
  /**
   * How long a guest takes to power off after an ACPI shutdown request, ms (default 0).
   * null: the guest ignores ACPI (like a domain sitting in its BIOS).
   */
  acpiShutdownDelayMs?: number | null;
  /** Refuse to start domains whose disks are not known volumes/files (default true). */
  strictDiskPaths?: boolean;
  /** Time source, ms since epoch (default Date.now). */
  now?: () => number;
}

interface DomainConfig {
  name: string;
  vcpus: number;
  memoryBytes: number;
  disks: DiskSpec[];
  owner: DomainOwner | null;
}

interface SimDomain {
  uuid: string;
  config: DomainConfig;
  /** The running configuration; null when not running. */
  live: DomainConfig | null;
  state: PowerState;
  reason: string;
  id: number;
  persistent: boolean;
  autostart: boolean;
  shutdownTimer: NodeJS.Timeout | null;
}

type FileNode =
  | { type: 'dir'; children: Map<string, FileNode>; modifiedAt: number }
  | { type: 'file'; sizeBytes: number; modifiedAt: number }
  | { type: 'symlink'; target: string; modifiedAt: number };

interface SimVolume {
  name: string;
  capacityBytes: number;
  allocationBytes: number;
  backingPath?: string;
}

interface SimPool {
  spec: PoolSpec;
  uuid: string;
  active: boolean;
  /** Injected health problem while active: Degraded or Inaccessible. */
  fault: { state: 'Degraded' | 'Inaccessible'; message: string } | null;
  /** Injected mount failure for startPool. */
  mountFailure: string | null;
  volumes: Map<string, SimVolume>;
  root: Extract<FileNode, { type: 'dir' }>;
  autostart: boolean;
}

interface InjectedFailure {
  reason: HypervisorErrorReason;
  message: string;
  remaining: number;
}

const VOLUME_ALLOCATION_BYTES = 196_608; // what an empty qcow2 occupies

export class SimDriver implements HypervisorDriver {
  readonly kind = 'sim';

  private readonly opts: Required<Omit<SimDriverOptions, 'acpiShutdownDelayMs'>> & { acpiShutdownDelayMs: number | null };
  private state: ConnectionState = 'disconnected';
  private readonly listeners = new Set<HypervisorEventListener>();
  private readonly domains = new Map<string, SimDomain>();
  private readonly pools = new Map<string, SimPool>();
  private readonly hostFiles = new Set<string>();
  private readonly failures = new Map<string, InjectedFailure>();
  private nextId = 1;
  private downMessage: string | null = null;
  /** Every call made, by operation name (scale tests count them). */
  readonly callCounts = new Map<string, number>();

  constructor(options: SimDriverOptions = {}) {
    this.opts = {
      hostname: options.hostname ?? 'sim-host',
      cpuCount: options.cpuCount ?? 16,
      cpuModel: options.cpuModel ?? 'Simulated CPU',
      memoryBytes: options.memoryBytes ?? 64 * 1024 ** 3,
      domainType: options.domainType ?? 'kvm',
      poolCapacityBytes: options.poolCapacityBytes ?? 1024 ** 4,
      latencyMs: options.latencyMs ?? 0,
      acpiShutdownDelayMs: options.acpiShutdownDelayMs === undefined ? 0 : options.acpiShutdownDelayMs,
      strictDiskPaths: options.strictDiskPaths ?? true,
      now: options.now ?? Date.now,
    };
  }

  // ---- connection ----------------------------------------------------------------------------

  connectionState(): ConnectionState {
    return this.state;
  }

  async connect(): Promise<void> {
    if (this.state === 'closed') throw new HypervisorError('HypervisorUnavailable', 'driver is closed');
    if (this.downMessage !== null) {
      this.state = 'connecting';
      throw new HypervisorError('HypervisorUnavailable', `cannot connect to the simulated hypervisor: ${this.downMessage}`, { operation: 'connect' });
    }
    this.state = 'connected';
  }

  async close(): Promise<void> {
    this.state = 'closed';
    for (const d of this.domains.values()) this.clearShutdownTimer(d);
  }

  subscribe(listener: HypervisorEventListener): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private emit(ev: HypervisorEvent): void {
    // Delivered asynchronously, like events read off a socket.
    const listeners = [...this.listeners];
    setImmediate(() => {
      for (const l of listeners) {
        try {
          l(ev);
        } catch {
          // a listener's failure is its own
        }
      }
    });
  }

  private domainEvent(d: SimDomain, type: DomainEventType, detail: string): void {
    this.emit({ kind: 'domain', uuid: d.uuid, name: d.config.name, type, detail, timestamp: this.opts.now() });
  }

  private poolEvent(name: string, type: PoolEventType): void {
    this.emit({ kind: 'pool', name, type, timestamp: this.opts.now() });
  }

  /** Common entry of every call: counts, latency, availability, injected failures. */
  private async enter(operation: string, target?: string): Promise<void> {
    this.callCounts.set(operation, (this.callCounts.get(operation) ?? 0) + 1);
    if (this.opts.latencyMs > 0) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (this.state !== 'connected') {
      throw new HypervisorError('HypervisorUnavailable', `not connected to the simulated hypervisor (${this.state})`, {
        operation,
        ...(target !== undefined ? { target } : {}),
      });
    }
    const f = this.failures.get(operation);
    if (f) {
      f.remaining -= 1;
      if (f.remaining <= 0) this.failures.delete(operation);
      throw new HypervisorError(f.reason, f.message, { operation, ...(target !== undefined ? { target } : {}) });
    }
  }

  // ---- failure knobs -----------------------------------------------------------------------

  /**
   * The next `times` calls of `operation` (a HypervisorDriver method name, e.g. "defineDomain")
   * fail with the given reason. Infinity for "until cleared".
   */
  injectFailure(operation: keyof HypervisorDriver, reason: HypervisorErrorReason = 'OperationFailed', message = `injected ${reason}`, times = 1): void {
    this.failures.set(operation, { reason, message, remaining: times });
  }

  clearFailures(): void {
    this.failures.clear();
  }

  /** The hypervisor goes away: `connection lost`, every call fails with HypervisorUnavailable. */
  hypervisorDown(message = 'simulated libvirtd is down'): void {
    if (this.downMessage !== null) return;
    this.downMessage = message;
    if (this.state === 'connected') {
      this.state = 'connecting';
      this.emit({ kind: 'connection', state: 'lost', message, timestamp: this.opts.now() });
    }
  }

  /** The hypervisor is back: `connection restored` (domains kept running, like a libvirtd restart). */
  hypervisorUp(): void {
    if (this.downMessage === null) return;
    this.downMessage = null;
    if (this.state === 'connecting') {
      this.state = 'connected';
      this.emit({ kind: 'connection', state: 'restored', timestamp: this.opts.now() });
    }
  }

  /** The guest panics: Crashed(panicked), then Stopped(crashed) (on_crash=destroy). */
  crashDomain(uuid: string): void {
    const d = this.mustDomain(normalizeUuid(uuid), 'crashDomain');
    if (d.state !== 'Running' && d.state !== 'Paused') throw new HypervisorError('InvalidState', 'domain is not running', { target: d.uuid });
    this.domainEvent(d, 'Crashed', 'panicked');
    this.powerOff(d, 'crashed', 'crashed');
  }

  /** The guest powers itself off (e.g. `poweroff` inside the VM). */
  guestPowerOff(uuid: string): void {
    const d = this.mustDomain(normalizeUuid(uuid), 'guestPowerOff');
    if (d.state !== 'Running') throw new HypervisorError('InvalidState', 'domain is not running', { target: d.uuid });
    this.domainEvent(d, 'Shutdown', 'guest');
    this.powerOff(d, 'shutdown', 'shutdown');
  }

  /** Makes startPool of this pool fail like an unreachable NFS server; null clears. */
  setPoolMountFailure(name: string, message: string | null): void {
    this.mustPool(name, 'setPoolMountFailure').mountFailure = message;
  }

  /** A running pool becomes Degraded/Inaccessible (e.g. the NFS server went away); null heals. */
  setPoolFault(name: string, fault: { state: 'Degraded' | 'Inaccessible'; message: string } | null): void {
    this.mustPool(name, 'setPoolFault').fault = fault;
  }

  /** Sets how guests react to ACPI shutdown (null: ignore it). */
  setAcpiShutdownDelay(ms: number | null): void {
    this.opts.acpiShutdownDelayMs = ms;
  }

  /** A host file usable as a disk (ISO, base image outside pools). */
  addHostFile(absPath: string): void {
    this.hostFiles.add(absPath);
  }

  /** Adds a file, directory or symlink inside a pool's file tree (intermediate dirs are created). */
  addPoolFile(poolName: string, relPath: string, node: { type: 'file'; sizeBytes?: number } | { type: 'dir' } | { type: 'symlink'; target: string }): void {
    const pool = this.mustPool(poolName, 'addPoolFile');
    const segments = poolRelativeSegments(relPath);
    if (segments.length === 0) throw new HypervisorError('InvalidSpec', 'path must name an entry below the pool root');
    let dir = pool.root;
    const now = this.opts.now();
    for (const seg of segments.slice(0, -1)) {
      let next = dir.children.get(seg);
      if (!next) {
        next = { type: 'dir', children: new Map(), modifiedAt: now };
        dir.children.set(seg, next);
      }
      if (next.type !== 'dir') throw new HypervisorError('InvalidSpec', `${seg} is not a directory`);
      dir = next;
    }
    const leaf = segments[segments.length - 1]!;
    if (node.type === 'file') dir.children.set(leaf, { type: 'file', sizeBytes: node.sizeBytes ?? 0, modifiedAt: now });
    else if (node.type === 'dir') dir.children.set(leaf, { type: 'dir', children: new Map(), modifiedAt: now });
    else dir.children.set(leaf, { type: 'symlink', target: node.target, modifiedAt: now });
  }

  /**
   * A domain defined behind Quantix's back (like `virsh define`): no owner metadata.
   * Emits Defined(added).
   */
  defineForeignDomain(spec: Omit<DomainSpec, 'owner'> & { owner?: DomainOwner | null }): DomainInfo {
    const uuid = normalizeUuid(spec.uuid);
    this.assertUnique(uuid, spec.name, 'defineForeignDomain');
    const d: SimDomain = {
      uuid,
      config: { name: spec.name, vcpus: spec.vcpus, memoryBytes: spec.memoryBytes, disks: spec.disks, owner: spec.owner ?? null },
      live: null,
      state: 'Shutoff',
      reason: 'unknown',
      id: -1,
      persistent: true,
      autostart: false,
      shutdownTimer: null,
    };
    this.domains.set(uuid, d);
    this.domainEvent(d, 'Defined', 'added');
    return this.info(d);
  }

  /** Number of domains (scale tests). */
  get domainCount(): number {
    return this.domains.size;
  }

  // ---- host ------------------------------------------------------------------------------

  async hostInfo(): Promise<HostInfo> {
    await this.enter('hostInfo');
    return {
      hostname: this.opts.hostname,
      cpuCount: this.opts.cpuCount,
      cpuModel: this.opts.cpuModel,
      cpuArch: 'x86_64',
      cpuMhz: 2000,
      memoryBytes: this.opts.memoryBytes,
      hypervisorType: 'QEMU',
      hypervisorVersion: '7.2.0',
      libvirtVersion: '9.0.0',
      domainType: this.opts.domainType,
    };
  }

  // ---- domains -----------------------------------------------------------------------------

  private mustDomain(uuid: string, operation: string): SimDomain {
    const d = this.domains.get(uuid);
    if (!d) throw new HypervisorError('DomainNotFound', `Domain not found: no domain with matching uuid '${uuid}'`, { operation, target: uuid });
    return d;
  }

  private info(d: SimDomain): DomainInfo {
    const c = d.live ?? d.config;
    return {
      uuid: d.uuid,
      name: d.config.name,
      id: d.id,
      state: d.state,
      reason: d.reason,
      persistent: d.persistent,
      vcpus: c.vcpus,
      memoryBytes: c.memoryBytes,
      owner: c.owner ? { ...c.owner } : null,
    };
  }

  private assertUnique(uuid: string, name: string, operation: string): void {
    const byUuid = this.domains.get(uuid);
    if (byUuid && byUuid.config.name !== name) {
      throw new HypervisorError('DomainExists', `operation failed: domain '${byUuid.config.name}' already exists with uuid ${uuid}`, { operation, target: uuid });
    }
    for (const d of this.domains.values()) {
      if (d.config.name === name && d.uuid !== uuid) {
        throw new HypervisorError('DomainExists', `operation failed: domain '${name}' already exists with uuid ${d.uuid}`, { operation, target: uuid });
      }
    }
  }

  async listDomains(): Promise<DomainInfo[]> {
    await this.enter('listDomains');
    return [...this.domains.values()].map((d) => this.info(d));
  }

  async getDomain(uuid: string): Promise<DomainInfo> {
    const u = normalizeUuid(uuid);
    await this.enter('getDomain', u);
    return this.info(this.mustDomain(u, 'getDomain'));
  }

  async getDomainXml(uuid: string): Promise<string> {
    const u = normalizeUuid(uuid);
    await this.enter('getDomainXml', u);
    const d = this.mustDomain(u, 'getDomainXml');
    return `<domain type="${this.opts.domainType}"><name>${d.config.name}</name><uuid>${d.uuid}</uuid><!-- simulated --></domain>\n`;
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const uuid = normalizeUuid(spec.uuid);
    await this.enter('defineDomain', uuid);
    this.assertUnique(uuid, spec.name, 'defineDomain');
    const config: DomainConfig = {
      name: spec.name,
      vcpus: spec.vcpus,
      memoryBytes: spec.memoryBytes,
      disks: spec.disks.map((d) => ({ ...d })),
      owner: { ...spec.owner },
    };
    const existing = this.domains.get(uuid);
    if (existing) {
      existing.config = config;
      existing.persistent = true;
      if (spec.autostart !== undefined) existing.autostart = spec.autostart;
      this.domainEvent(existing, 'Defined', 'updated');
      return this.info(existing);
    }
    const d: SimDomain = {
      uuid,
      config,
      live: null,
      state: 'Shutoff',
      reason: 'unknown',
      id: -1,
      persistent: true,
      autostart: spec.autostart ?? false,
      shutdownTimer: null,
    };
    this.domains.set(uuid, d);
    this.domainEvent(d, 'Defined', 'added');
    return this.info(d);
  }

  private diskAvailable(p: string): boolean {
    if (this.hostFiles.has(p)) return true;
    for (const pool of this.pools.values()) {
      if (!pool.active || pool.fault?.state === 'Inaccessible') continue;
      const dir = path.dirname(p);
      if (dir === pool.spec.targetPath && pool.volumes.has(path.basename(p))) return true;
    }
    return false;
  }

  async startDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.enter('startDomain', u);
    const d = this.mustDomain(u, 'startDomain');
    if (d.state !== 'Shutoff') return; // already active: idempotent
    if (this.opts.strictDiskPaths) {
      for (const disk of d.config.disks) {
        if (!this.diskAvailable(disk.path)) {
          throw new HypervisorError('OperationFailed', `Cannot access storage file '${disk.path}': No such file or directory`, {
            operation: 'startDomain',
            target: u,
          });
        }
      }
    }
    d.live = { ...d.config };
    d.id = this.nextId++;
    d.state = 'Running';
    d.reason = 'booted';
    this.domainEvent(d, 'Resumed', 'unpaused');
    this.domainEvent(d, 'Started', 'booted');
  }

  private clearShutdownTimer(d: SimDomain): void {
    if (d.shutdownTimer) clearTimeout(d.shutdownTimer);
    d.shutdownTimer = null;
  }

  /** Running/Paused → Shutoff; a transient domain disappears. */
  private powerOff(d: SimDomain, reason: string, stoppedDetail: string): void {
    this.clearShutdownTimer(d);
    d.state = 'Shutoff';
    d.reason = reason;
    d.id = -1;
    d.live = null;
    this.domainEvent(d, 'Stopped', stoppedDetail);
    if (!d.persistent) this.domains.delete(d.uuid);
  }

  async shutdownDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.enter('shutdownDomain', u);
    const d = this.mustDomain(u, 'shutdownDomain');
    if (d.state === 'Shutoff') return;
    if (d.state !== 'Running') throw new HypervisorError('InvalidState', `Requested operation is not valid: domain is ${d.state.toLowerCase()}`, { operation: 'shutdownDomain', target: u });
    const delay = this.opts.acpiShutdownDelayMs;
    if (delay === null || d.shutdownTimer) return; // ignored, or already shutting down
    d.shutdownTimer = setTimeout(() => {
      d.shutdownTimer = null;
      if (this.domains.get(d.uuid) !== d || d.state !== 'Running') return;
      this.domainEvent(d, 'Shutdown', 'guest');
      this.powerOff(d, 'shutdown', 'shutdown');
    }, delay);
    d.shutdownTimer.unref?.();
  }

  async destroyDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.enter('destroyDomain', u);
    const d = this.mustDomain(u, 'destroyDomain');
    if (d.state === 'Shutoff') return;
    this.domainEvent(d, 'Shutdown', 'host');
    this.powerOff(d, 'destroyed', 'destroyed');
  }

  async suspendDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.enter('suspendDomain', u);
    const d = this.mustDomain(u, 'suspendDomain');
    if (d.state === 'Paused') return;
    if (d.state !== 'Running') throw new HypervisorError('InvalidState', 'Requested operation is not valid: domain is not running', { operation: 'suspendDomain', target: u });
    d.state = 'Paused';
    d.reason = 'user';
    this.domainEvent(d, 'Suspended', 'paused');
  }

  async resumeDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.enter('resumeDomain', u);
    const d = this.mustDomain(u, 'resumeDomain');
    if (d.state === 'Running') return;
    if (d.state !== 'Paused') throw new HypervisorError('InvalidState', 'Requested operation is not valid: domain is not running', { operation: 'resumeDomain', target: u });
    d.state = 'Running';
    d.reason = 'unpaused';
    this.domainEvent(d, 'Resumed', 'unpaused');
  }

  async undefineDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.enter('undefineDomain', u);
    const d = this.mustDomain(u, 'undefineDomain');
    if (!d.persistent) throw new HypervisorError('InvalidState', 'Requested operation is not valid: cannot undefine transient domain', { operation: 'undefineDomain', target: u });
    this.domainEvent(d, 'Undefined', 'removed');
    if (d.state === 'Shutoff') this.domains.delete(u);
    else d.persistent = false;
  }

  // ---- pools -------------------------------------------------------------------------------

  private mustPool(name: string, operation: string): SimPool {
    const p = this.pools.get(name);
    if (!p) throw new HypervisorError('PoolNotFound', `Storage pool not found: no storage pool with matching name '${name}'`, { operation, target: name });
    return p;
  }

  private poolState(p: SimPool): PoolState {
    if (!p.active) return 'Inactive';
    return p.fault?.state ?? 'Running';
  }

  private poolInfo(p: SimPool): PoolInfo {
    const state = this.poolState(p);
    const up = state === 'Running' || state === 'Degraded';
    let allocation = 0;
    if (up) {
      for (const v of p.volumes.values()) allocation += v.allocationBytes;
      allocation += fileBytes(p.root);
    }
    const capacity = up ? this.opts.poolCapacityBytes : 0;
    const out: PoolInfo = {
      name: p.spec.name,
      uuid: p.uuid,
      type: p.spec.type === 'nfs' ? 'netfs' : 'dir',
      state,
      capacityBytes: capacity,
      allocationBytes: allocation,
      availableBytes: up ? Math.max(0, capacity - allocation) : 0,
      targetPath: p.spec.targetPath,
      volumeCount: up ? p.volumes.size : 0,
      autostart: p.autostart,
    };
    if (p.spec.type === 'nfs') out.source = { ...p.spec.source };
    return out;
  }

  async listPools(): Promise<PoolInfo[]> {
    await this.enter('listPools');
    return [...this.pools.values()].map((p) => this.poolInfo(p));
  }

  async getPool(name: string): Promise<PoolInfo> {
    validateName('pool', name);
    await this.enter('getPool', name);
    return this.poolInfo(this.mustPool(name, 'getPool'));
  }

  async definePool(spec: PoolSpec): Promise<PoolInfo> {
    validatePoolSpec(spec);
    await this.enter('definePool', spec.name);
    const existing = this.pools.get(spec.name);
    if (existing) {
      if (samePoolSpec(existing.spec, spec)) return this.poolInfo(existing);
      if (existing.active) {
        throw new HypervisorError('PoolExists', `pool ${spec.name} is running with a different definition; stop it before changing it`, {
          operation: 'definePool',
          target: spec.name,
        });
      }
      existing.spec = spec;
      this.poolEvent(spec.name, 'Defined');
      return this.poolInfo(existing);
    }
    for (const p of this.pools.values()) {
      if (p.spec.targetPath === spec.targetPath) {
        throw new HypervisorError('PoolExists', `operation failed: Storage source conflict with pool: '${p.spec.name}'`, { operation: 'definePool', target: spec.name });
      }
    }
    const p: SimPool = {
      spec,
      uuid: randomUUID(),
      active: false,
      fault: null,
      mountFailure: null,
      volumes: new Map(),
      root: { type: 'dir', children: new Map(), modifiedAt: this.opts.now() },
      autostart: false,
    };
    this.pools.set(spec.name, p);
    this.poolEvent(spec.name, 'Defined');
    return this.poolInfo(p);
  }

  async startPool(name: string): Promise<PoolInfo> {
    validateName('pool', name);
    await this.enter('startPool', name);
    const p = this.mustPool(name, 'startPool');
    if (!p.active) {
      this.poolEvent(name, 'Created');
      if (p.mountFailure !== null) {
        const src = p.spec.type === 'nfs' ? `${p.spec.source.host}:${p.spec.source.dir}` : p.spec.targetPath;
        throw new HypervisorError('PoolMountFailed', `cannot mount ${src} on ${p.spec.targetPath}: ${p.mountFailure}`, { operation: 'startPool', target: name });
      }
      p.active = true;
      this.poolEvent(name, 'Started');
    }
    return this.poolInfo(p);
  }

  async stopPool(name: string): Promise<void> {
    validateName('pool', name);
    await this.enter('stopPool', name);
    const p = this.mustPool(name, 'stopPool');
    if (!p.active) return;
    p.active = false;
    p.fault = null;
    this.poolEvent(name, 'Stopped');
  }

  async undefinePool(name: string): Promise<void> {
    validateName('pool', name);
    await this.enter('undefinePool', name);
    const p = this.mustPool(name, 'undefinePool');
    if (p.active) throw new HypervisorError('InvalidState', `pool ${name} is running; stop it before undefining it`, { operation: 'undefinePool', target: name });
    this.pools.delete(name);
    this.poolEvent(name, 'Undefined');
  }

  async refreshPool(name: string): Promise<PoolInfo> {
    validateName('pool', name);
    await this.enter('refreshPool', name);
    const p = this.mustPool(name, 'refreshPool');
    this.assertUsable(p, 'refreshPool');
    return this.poolInfo(p);
  }

  private assertUsable(p: SimPool, operation: string): void {
    if (!p.active) throw new HypervisorError('PoolInactive', `pool ${p.spec.name} is not running: storage pool '${p.spec.name}' is not active`, { operation, target: p.spec.name });
    if (p.fault?.state === 'Inaccessible') {
      throw new HypervisorError('OperationFailed', `pool ${p.spec.name} is inaccessible: ${p.fault.message}`, { operation, target: p.spec.name });
    }
  }

  // ---- volumes -----------------------------------------------------------------------------

  private volumeInfo(p: SimPool, v: SimVolume): VolumeInfo {
    const volPath = path.join(p.spec.targetPath, v.name);
    return { pool: p.spec.name, name: v.name, path: volPath, key: volPath, type: 'file', capacityBytes: v.capacityBytes, allocationBytes: v.allocationBytes };
  }

  async listVolumes(poolName: string): Promise<VolumeInfo[]> {
    validateName('pool', poolName);
    await this.enter('listVolumes', poolName);
    const p = this.mustPool(poolName, 'listVolumes');
    this.assertUsable(p, 'listVolumes');
    return [...p.volumes.values()].map((v) => this.volumeInfo(p, v)).sort((a, b) => a.name.localeCompare(b.name));
  }

  async createVolume(poolName: string, spec: VolumeSpec): Promise<VolumeInfo> {
    validateName('pool', poolName);
    validateVolumeSpec(spec);
    await this.enter('createVolume', `${poolName}/${spec.name}`);
    const p = this.mustPool(poolName, 'createVolume');
    this.assertUsable(p, 'createVolume');
    if (p.volumes.has(spec.name) || p.root.children.has(spec.name)) {
      throw new HypervisorError('VolumeExists', `storage volume '${spec.name}' exists already`, { operation: 'createVolume', target: `${poolName}/${spec.name}` });
    }
    if (spec.backingPath !== undefined && !this.diskAvailable(spec.backingPath)) {
      throw new HypervisorError('OperationFailed', `Cannot access backing file '${spec.backingPath}'`, { operation: 'createVolume', target: `${poolName}/${spec.name}` });
    }
    const v: SimVolume = { name: spec.name, capacityBytes: spec.capacityBytes, allocationBytes: VOLUME_ALLOCATION_BYTES };
    if (spec.backingPath !== undefined) v.backingPath = spec.backingPath;
    p.volumes.set(spec.name, v);
    p.root.children.set(spec.name, { type: 'file', sizeBytes: VOLUME_ALLOCATION_BYTES, modifiedAt: this.opts.now() });
    return this.volumeInfo(p, v);
  }

  private mustVolume(poolName: string, name: string, operation: string): { p: SimPool; v: SimVolume } {
    validateName('pool', poolName);
    validateName('volume', name);
    const p = this.mustPool(poolName, operation);
    this.assertUsable(p, operation);
    const v = p.volumes.get(name);
    if (!v) throw new HypervisorError('VolumeNotFound', `Storage volume not found: no storage vol with matching name '${name}'`, { operation, target: `${poolName}/${name}` });
    return { p, v };
  }

  async deleteVolume(poolName: string, name: string): Promise<void> {
    await this.enter('deleteVolume', `${poolName}/${name}`);
    const { p } = this.mustVolume(poolName, name, 'deleteVolume');
    p.volumes.delete(name);
    p.root.children.delete(name);
  }

  async getVolume(poolName: string, name: string): Promise<VolumeInfo> {
    await this.enter('getVolume', `${poolName}/${name}`);
    const { p, v } = this.mustVolume(poolName, name, 'getVolume');
    return this.volumeInfo(p, v);
  }

  async volumePath(poolName: string, name: string): Promise<string> {
    await this.enter('volumePath', `${poolName}/${name}`);
    const { p, v } = this.mustVolume(poolName, name, 'volumePath');
    return this.volumeInfo(p, v).path;
  }

  // ---- files -------------------------------------------------------------------------------

  async listFiles(poolTargetPath: string, relPath: string, options: ListFilesOptions = {}): Promise<FileListing> {
    const segments = poolRelativeSegments(relPath);
    await this.enter('listFiles', relPath);
    const pool = [...this.pools.values()].find((p) => p.spec.targetPath === poolTargetPath);
    if (!pool) throw new HypervisorError('PathNotFound', `pool root ${poolTargetPath} is not accessible`, { operation: 'listFiles', target: poolTargetPath });
    // An unmounted nfs pool shows its empty mount point.
    const empty: Extract<FileNode, { type: 'dir' }> = { type: 'dir', children: new Map(), modifiedAt: 0 };
    const root = pool.spec.type === 'nfs' && (!pool.active || pool.fault?.state === 'Inaccessible') ? empty : pool.root;
    const dir = resolveDir(root, segments, relPath, poolTargetPath);
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const names = [...dir.children.keys()].sort();
    const entries: FileEntry[] = [];
    for (const name of names.slice(0, limit)) {
      const n = dir.children.get(name)!;
      const type: FileType = n.type;
      entries.push({ name, type, sizeBytes: n.type === 'file' ? n.sizeBytes : n.type === 'symlink' ? n.target.length : 4096, modifiedAt: n.modifiedAt });
    }
    return { path: segments.join('/'), entries, truncated: names.length > limit };
  }
}

function samePoolSpec(a: PoolSpec, b: PoolSpec): boolean {
  if (a.type !== b.type || a.targetPath !== b.targetPath) return false;
  if (a.type === 'nfs' && b.type === 'nfs') return a.source.host === b.source.host && a.source.dir === b.source.dir;
  return true;
}

function fileBytes(node: FileNode): number {
  if (node.type === 'file') return node.sizeBytes;
  if (node.type === 'symlink') return 0;
  let sum = 0;
  for (const c of node.children.values()) sum += fileBytes(c);
  return sum;
}

/**
 * Walks `segments` from the pool root, following symlinks like realpath would; a link whose
 * target leaves the root is a PathEscape.
 */
function resolveDir(root: Extract<FileNode, { type: 'dir' }>, segments: string[], relPath: string, rootPath: string): Extract<FileNode, { type: 'dir' }> {
  const pending = [...segments];
  const resolved: string[] = [];
  let hops = 0;
  const notFound = (): HypervisorError =>
    new HypervisorError('PathNotFound', `"${segments.join('/')}" does not exist in the pool`, { operation: 'listFiles', target: relPath });
  const lookup = (segs: string[]): FileNode | undefined => {
    let n: FileNode = root;
    for (const s of segs) {
      if (n.type !== 'dir') return undefined;
      const next = n.children.get(s);
      if (!next) return undefined;
      n = next;
    }
    return n;
  };
  while (pending.length > 0) {
    const seg = pending.shift()!;
    const node = lookup([...resolved, seg]);
    if (!node) throw notFound();
    if (node.type === 'symlink') {
      if (++hops > 40) throw new HypervisorError('PathNotFound', 'too many levels of symbolic links', { operation: 'listFiles', target: relPath });
      const targetAbs = path.posix.isAbsolute(node.target) ? path.posix.normalize(node.target) : path.posix.join(rootPath, ...resolved, node.target);
      if (!isWithin(rootPath, targetAbs)) {
        throw new HypervisorError('PathEscape', `"${segments.join('/')}" resolves outside the pool root`, { operation: 'listFiles', target: relPath });
      }
      const rel = path.posix.relative(rootPath, targetAbs);
      resolved.length = 0;
      pending.unshift(...(rel === '' ? [] : rel.split('/')));
      continue;
    }
    resolved.push(seg);
  }
  const dir = lookup(resolved);
  if (!dir) throw notFound();
  if (dir.type !== 'dir') throw new HypervisorError('PathNotFound', `"${segments.join('/')}" is not a directory`, { operation: 'listFiles', target: relPath });
  return dir;
}
