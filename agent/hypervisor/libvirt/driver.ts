/**
 * The libvirt HypervisorDriver: one persistent connection to libvirtd speaking its remote
 * RPC protocol (see rpc.ts, protocol.ts), lifecycle events pushed by libvirtd, and a
 * reconnect loop with capped exponential backoff that re-registers the event callbacks and
 * announces `connection lost` / `restored` so the agent knows to resync.
 */
import { existsSync, promises as fs } from 'node:fs';
import type {
  ConnectionState,
  DomainInfo,
  DomainOwner,
  DomainSpec,
  DomainType,
  FileListing,
  HostInfo,
  HypervisorDriver,
  HypervisorEvent,
  HypervisorEventListener,
  ListFilesOptions,
  PoolInfo,
  PoolSpec,
  PowerState,
  Unsubscribe,
  VolumeInfo,
  VolumeSpec,
  DomainEventType,
  PoolEventType,
} from '../driver.js';
import { HypervisorError, type HypervisorErrorReason } from '../errors.js';
import { listPoolFiles } from '../files.js';
import { bytesToUuid, normalizeUuid, uuidToBytes, validateDomainSpec, validateName, validatePoolSpec, validateVolumeSpec } from '../validate.js';
import {
  decodeDomainLifecycleMsg,
  decodePoolLifecycleMsg,
  DomainEventDetails,
  DomainEventNames,
  DomainStateNames,
  DomainStateReasons,
  PoolEventNames,
  PoolStateNames,
  PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE,
  PROC_STORAGE_POOL_EVENT_LIFECYCLE,
  Procs,
  VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
  VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
  VIR_DOMAIN_DEFINE_VALIDATE,
  VIR_DOMAIN_EVENT_ID_LIFECYCLE,
  VIR_DOMAIN_METADATA_ELEMENT,
  VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
  VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
  VIR_DOMAIN_UNDEFINE_NVRAM,
  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
  VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE,
  VirErr,
  VolTypeNames,
  type ProcDef,
  type RemoteDomain,
  type RemotePool,
  type RemoteVol,
} from './protocol.js';
import { RpcClient, RpcError } from './rpc.js';
import { buildDomainXml, buildPoolXml, buildVolumeXml, hostCpuModelFromCapabilities, parseOwner, parsePoolXml, QUANTIX_METADATA_NS } from './xml.js';
import type { XdrReader } from './xdr.js';

export interface LibvirtDriverOptions {
  /** Default qemu:///system. */
  uri?: string;
  /** Default /var/run/libvirt/libvirt-sock. */
  socketPath?: string;
  /** Default 'auto': kvm when /dev/kvm exists, else qemu. */
  domainType?: DomainType | 'auto';
  /** Default per-call timeout, ms (default 60 s). */
  callTimeoutMs?: number;
  /** Timeout of pool start/build (nfs mounts can hang), ms (default 180 s). */
  poolStartTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap, ms (defaults 100 and 5000). */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** How long connect() waits for the first connection before throwing (default 10 s). */
  connectTimeoutMs?: number;
  /** Diagnostics. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
}

interface Session {
  domainCallbackId: number;
  poolCallbackId: number;
}

const UNDEFINE_FLAGS =
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;

function versionString(v: number): string {
  const major = Math.floor(v / 1_000_000);
  const minor = Math.floor((v % 1_000_000) / 1000);
  const micro = v % 1000;
  return `${major}.${minor}.${micro}`;
}

function powerState(state: number): PowerState {
  return DomainStateNames[state] ?? 'NoState';
}

function stateReason(state: number, reason: number): string {
  return DomainStateReasons[state]?.[reason] ?? 'unknown';
}

export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt';

  private readonly uri: string;
  private readonly socketPath: string;
  private readonly domainType: DomainType;
  private readonly opts: Required<Pick<LibvirtDriverOptions, 'callTimeoutMs' | 'poolStartTimeoutMs' | 'reconnectInitialDelayMs' | 'reconnectMaxDelayMs' | 'connectTimeoutMs'>>;
  private readonly log: NonNullable<LibvirtDriverOptions['log']>;

  private client: RpcClient | null = null;
  private state: ConnectionState = 'disconnected';
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private announcedLost = false;
  private readonly listeners = new Set<HypervisorEventListener>();
  private readonly stateWaiters = new Set<() => void>();
  /** Ownership metadata per domain UUID; invalidated by Defined/Undefined events and reconnects. */
  private readonly ownerCache = new Map<string, DomainOwner | null>();

  constructor(options: LibvirtDriverOptions = {}) {
    this.uri = options.uri ?? 'qemu:///system';
    this.socketPath = options.socketPath ?? '/var/run/libvirt/libvirt-sock';
    const dt = options.domainType ?? 'auto';
    this.domainType = dt === 'auto' ? (existsSync('/dev/kvm') ? 'kvm' : 'qemu') : dt;
    this.opts = {
      callTimeoutMs: options.callTimeoutMs ?? 60_000,
      poolStartTimeoutMs: options.poolStartTimeoutMs ?? 180_000,
      reconnectInitialDelayMs: options.reconnectInitialDelayMs ?? 100,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    };
    this.log = options.log ?? (() => {});
  }

  // ---- connection management ---------------------------------------------------------------

  connectionState(): ConnectionState {
    return this.state;
  }

  async connect(): Promise<void> {
    if (this.connectionState() === 'closed') throw new HypervisorError('HypervisorUnavailable', 'driver is closed');
    if (this.connectionState() === 'connected') return;
    if (this.connectionState() === 'disconnected') {
      this.setState('connecting');
      void this.tryConnect();
    }
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    while (this.connectionState() !== 'connected') {
      const left = deadline - Date.now();
      if (left <= 0 || this.connectionState() === 'closed') {
        throw new HypervisorError('HypervisorUnavailable', `cannot connect to libvirtd at ${this.socketPath} (${this.uri}); still retrying in the background`, {
          operation: 'connect',
        });
      }
      await this.waitForStateChange(left);
    }
  }

  async close(): Promise<void> {
    if (this.connectionState() === 'closed') return;
    this.setState('closed');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const c = this.client;
    this.client = null;
    if (c && !c.closed) {
      try {
        await c.call(Procs.connectClose, undefined, { timeoutMs: 2_000 });
      } catch {
        // closing anyway
      }
      c.close();
    }
  }

  subscribe(listener: HypervisorEventListener): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private setState(s: ConnectionState): void {
    this.state = s;
    for (const w of [...this.stateWaiters]) w();
  }

  private waitForStateChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.stateWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.stateWaiters.add(done);
    });
  }

  private emit(ev: HypervisorEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch (err) {
        this.log('error', `event listener threw: ${(err as Error).message}`);
      }
    }
  }

  private async tryConnect(): Promise<void> {
    if (this.connectionState() === 'closed') return;
    let client: RpcClient | null = null;
    // Callback ids of this connection; events may arrive before the registration replies.
    const session: Session = { domainCallbackId: -1, poolCallbackId: -1 };
    try {
      client = await RpcClient.connect(this.socketPath, {
        callTimeoutMs: this.opts.callTimeoutMs,
        onMessage: (proc, body) => this.onMessage(session, proc, body),
        onClose: (reason) => this.onClientClosed(client, reason),
      });
      const auth = await client.call(Procs.authList, undefined, { timeoutMs: 10_000 });
      if (auth.length > 0 && !auth.includes(0)) {
        if (!auth.includes(2)) throw new Error(`libvirtd requires an unsupported authentication method (${auth.join(',')})`);
        await client.call(Procs.authPolkit, undefined, { timeoutMs: 10_000 });
      }
      await client.call(Procs.connectOpen, { name: this.uri, flags: 0 }, { timeoutMs: 10_000 });
      session.domainCallbackId = await client.call(
        Procs.connectDomainEventCallbackRegisterAny,
        { eventID: VIR_DOMAIN_EVENT_ID_LIFECYCLE, dom: null },
        { timeoutMs: 10_000 },
      );
      try {
        session.poolCallbackId = await client.call(Procs.connectStoragePoolEventRegisterAny, { eventID: VIR_STORAGE_POOL_EVENT_ID_LIFECYCLE, pool: null }, { timeoutMs: 10_000 });
      } catch (err) {
        this.log('warn', `storage pool events unavailable: ${(err as Error).message}`);
      }
      if (this.connectionState() === 'closed' || client.closed) {
        client.close();
        if (this.connectionState() !== 'closed') this.scheduleReconnect('connection closed during setup');
        return;
      }
      this.client = client;
      this.ownerCache.clear();
      this.attempt = 0;
      const wasLost = this.announcedLost;
      this.announcedLost = false;
      this.setState('connected');
      this.log('info', `connected to libvirtd (${this.uri})`);
      if (wasLost) this.emit({ kind: 'connection', state: 'restored', timestamp: Date.now() });
    } catch (err) {
      client?.close();
      if (this.connectionState() === 'closed') return;
      this.scheduleReconnect((err as Error).message);
    }
  }

  private onClientClosed(client: RpcClient | null, reason: string): void {
    if (client !== this.client) return; // a client that never became current
    this.client = null;
    if (this.connectionState() === 'closed') return;
    this.log('warn', `libvirtd connection lost: ${reason}`);
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    if (this.connectionState() === 'closed') return;
    this.setState('connecting');
    if (!this.announcedLost) {
      this.announcedLost = true;
      this.emit({ kind: 'connection', state: 'lost', message: reason, timestamp: Date.now() });
    }
    const base = Math.min(this.opts.reconnectMaxDelayMs, this.opts.reconnectInitialDelayMs * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt = Math.min(this.attempt + 1, 30);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.tryConnect();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  private onMessage(session: Session, proc: number, body: XdrReader): void {
    if (this.connectionState() === 'closed') return;
    const timestamp = Date.now();
    try {
      if (proc === PROC_DOMAIN_EVENT_CALLBACK_LIFECYCLE) {
        const m = decodeDomainLifecycleMsg(body);
        if (session.domainCallbackId !== -1 && m.callbackID !== session.domainCallbackId) return;
        const uuid = bytesToUuid(m.dom.uuid);
        const type = (DomainEventNames[m.event] ?? 'Defined') as DomainEventType;
        if (type === 'Defined' || type === 'Undefined') this.ownerCache.delete(uuid);
        this.emit({ kind: 'domain', uuid, name: m.dom.name, type, detail: DomainEventDetails[m.event]?.[m.detail] ?? 'unknown', timestamp });
      } else if (proc === PROC_STORAGE_POOL_EVENT_LIFECYCLE) {
        const m = decodePoolLifecycleMsg(body);
        if (session.poolCallbackId !== -1 && m.callbackID !== session.poolCallbackId) return;
        const type = PoolEventNames[m.event] as PoolEventType | undefined;
        if (type) this.emit({ kind: 'pool', name: m.pool.name, type, timestamp });
      }
    } catch (err) {
      this.log('warn', `cannot decode event ${proc}: ${(err as Error).message}`);
    }
  }

  // ---- calls and error mapping -----------------------------------------------------------------

  private async call<A, R>(def: ProcDef<A, R>, args: A, ctx: { operation: string; target?: string; timeoutMs?: number }): Promise<R> {
    const c = this.client;
    if (!c || this.connectionState() !== 'connected') {
      throw new HypervisorError('HypervisorUnavailable', `not connected to libvirtd (${this.state})`, { operation: ctx.operation, ...(ctx.target ? { target: ctx.target } : {}) });
    }
    try {
      return await c.call(def, args, ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {});
    } catch (err) {
      throw this.mapError(err, ctx.operation, ctx.target);
    }
  }

  private mapError(err: unknown, operation: string, target?: string): HypervisorError {
    if (err instanceof HypervisorError) return err;
    const base = { operation, ...(target !== undefined ? { target } : {}) };
    if (!(err instanceof RpcError)) return new HypervisorError('OperationFailed', (err as Error)?.message ?? String(err), base);
    if (err.kind === 'closed') return new HypervisorError('HypervisorUnavailable', `libvirtd connection lost: ${err.message}`, base);
    if (err.kind === 'timeout') return new HypervisorError('Timeout', err.message, base);
    if (err.kind === 'protocol' || !err.remote) return new HypervisorError('OperationFailed', err.message, base);
    const code = err.remote.code;
    const details = { ...base, libvirtCode: code, libvirtDomain: err.remote.domain };
    const msg = err.remote.message ?? err.message;
    let reason: HypervisorErrorReason = 'OperationFailed';
    switch (code) {
      case VirErr.NO_DOMAIN:
        reason = 'DomainNotFound';
        break;
      case VirErr.NO_STORAGE_POOL:
        reason = 'PoolNotFound';
        break;
      case VirErr.NO_STORAGE_VOL:
        reason = 'VolumeNotFound';
        break;
      case VirErr.STORAGE_VOL_EXIST:
        reason = 'VolumeExists';
        break;
      case VirErr.DOM_EXIST:
        reason = 'DomainExists';
        break;
      case VirErr.OPERATION_INVALID:
        reason = 'InvalidState';
        break;
      case VirErr.XML_ERROR:
      case VirErr.CONFIG_UNSUPPORTED:
      case VirErr.INVALID_ARG:
        reason = 'InvalidSpec';
        break;
      case VirErr.NO_SUPPORT:
      case VirErr.OPERATION_UNSUPPORTED:
        reason = 'Unsupported';
        break;
      case VirErr.OPERATION_TIMEOUT:
        reason = 'Timeout';
        break;
      default:
        if (/already (exists|defined)/i.test(msg)) reason = operation.includes('Pool') ? 'PoolExists' : operation.includes('Volume') ? 'VolumeExists' : 'DomainExists';
    }
    return new HypervisorError(reason, msg, details);
  }

  // ---- host ------------------------------------------------------------------------------------

  async hostInfo(): Promise<HostInfo> {
    const ctx = { operation: 'hostInfo' };
    const [hostname, node, type, hvVer, libVer, caps, cpuName] = await Promise.all([
      this.call(Procs.connectGetHostname, undefined, ctx),
      this.call(Procs.nodeGetInfo, undefined, ctx),
      this.call(Procs.connectGetType, undefined, ctx),
      this.call(Procs.connectGetVersion, undefined, ctx),
      this.call(Procs.connectGetLibVersion, undefined, ctx),
      this.call(Procs.connectGetCapabilities, undefined, ctx),
      cpuModelName(),
    ]);
    return {
      hostname,
      cpuCount: node.cpus,
      cpuModel: cpuName ?? hostCpuModelFromCapabilities(caps) ?? node.model,
      cpuArch: node.model,
      cpuMhz: node.mhz,
      memoryBytes: node.memoryKiB * 1024,
      hypervisorType: type,
      hypervisorVersion: versionString(hvVer),
      libvirtVersion: versionString(libVer),
      domainType: this.domainType,
    };
  }

  // ---- domains ---------------------------------------------------------------------------------

  private async lookupDomain(uuid: string, operation: string): Promise<RemoteDomain> {
    const u = normalizeUuid(uuid);
    return this.call(Procs.domainLookupByUuid, { uuid: uuidToBytes(u) }, { operation, target: u });
  }

  private async owner(dom: RemoteDomain, uuid: string, operation: string): Promise<DomainOwner | null> {
    if (this.ownerCache.has(uuid)) return this.ownerCache.get(uuid) ?? null;
    let owner: DomainOwner | null = null;
    try {
      const xml = await this.call(
        Procs.domainGetMetadata,
        { dom, type: VIR_DOMAIN_METADATA_ELEMENT, uri: QUANTIX_METADATA_NS, flags: 0 },
        { operation, target: uuid },
      );
      owner = parseOwner(xml);
    } catch (err) {
      if (!(err instanceof HypervisorError && err.details.libvirtCode === VirErr.NO_DOMAIN_METADATA)) throw err;
    }
    this.ownerCache.set(uuid, owner);
    return owner;
  }

  private async describe(dom: RemoteDomain, persistent: boolean | undefined, operation: string): Promise<DomainInfo> {
    const uuid = bytesToUuid(dom.uuid);
    const ctx = { operation, target: uuid };
    const [st, info, owner, isPersistent] = await Promise.all([
      this.call(Procs.domainGetState, { dom, flags: 0 }, ctx),
      this.call(Procs.domainGetInfo, { dom }, ctx),
      this.owner(dom, uuid, operation),
      persistent !== undefined ? Promise.resolve(persistent) : this.isPersistent(uuid),
    ]);
    return {
      uuid,
      name: dom.name,
      id: dom.id,
      state: powerState(st.state),
      reason: stateReason(st.state, st.reason),
      persistent: isPersistent,
      vcpus: info.nrVirtCpu,
      memoryBytes: info.maxMemKiB * 1024,
      owner,
    };
  }

  private async isPersistent(uuid: string): Promise<boolean> {
    const transient = await this.call(Procs.connectListAllDomains, { flags: VIR_CONNECT_LIST_DOMAINS_TRANSIENT }, { operation: 'getDomain', target: uuid });
    return !transient.some((d) => bytesToUuid(d.uuid) === uuid);
  }

  async listDomains(): Promise<DomainInfo[]> {
    const ctx = { operation: 'listDomains' };
    const [persistent, transient] = await Promise.all([
      this.call(Procs.connectListAllDomains, { flags: VIR_CONNECT_LIST_DOMAINS_PERSISTENT }, ctx),
      this.call(Procs.connectListAllDomains, { flags: VIR_CONNECT_LIST_DOMAINS_TRANSIENT }, ctx),
    ]);
    const all = [...persistent.map((d) => [d, true] as const), ...transient.map((d) => [d, false] as const)];
    const described = await Promise.all(
      all.map(async ([d, p]) => {
        try {
          return await this.describe(d, p, 'listDomains');
        } catch (err) {
          // Gone between the list and the detail calls.
          if (err instanceof HypervisorError && err.reason === 'DomainNotFound') return null;
          throw err;
        }
      }),
    );
    return described.filter((d): d is DomainInfo => d !== null);
  }

  async getDomain(uuid: string): Promise<DomainInfo> {
    const dom = await this.lookupDomain(uuid, 'getDomain');
    return this.describe(dom, undefined, 'getDomain');
  }

  async getDomainXml(uuid: string): Promise<string> {
    const dom = await this.lookupDomain(uuid, 'getDomainXml');
    return this.call(Procs.domainGetXmlDesc, { dom, flags: 0 }, { operation: 'getDomainXml', target: uuid });
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const uuid = normalizeUuid(spec.uuid);
    const xml = buildDomainXml({ ...spec, uuid }, this.domainType);
    this.ownerCache.delete(uuid);
    const dom = await this.call(Procs.domainDefineXmlFlags, { xml, flags: VIR_DOMAIN_DEFINE_VALIDATE }, { operation: 'defineDomain', target: uuid });
    if (spec.autostart !== undefined) {
      await this.call(Procs.domainSetAutostart, { dom, autostart: spec.autostart }, { operation: 'defineDomain', target: uuid });
    }
    return this.describe(dom, true, 'defineDomain');
  }

  /**
   * Runs a state-changing call; an OPERATION_INVALID answer is success when the domain is
   * already in one of `done` states (idempotence), InvalidState otherwise.
   */
  private async transition(
    uuid: string,
    operation: string,
    done: PowerState[],
    run: (dom: RemoteDomain) => Promise<unknown>,
  ): Promise<void> {
    const dom = await this.lookupDomain(uuid, operation);
    try {
      await run(dom);
    } catch (err) {
      if (!(err instanceof HypervisorError) || err.reason !== 'InvalidState') throw err;
      const st = await this.call(Procs.domainGetState, { dom, flags: 0 }, { operation, target: uuid });
      if (done.includes(powerState(st.state))) return;
      throw err;
    }
  }

  async startDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'startDomain', ['Running', 'Paused', 'Blocked'], (dom) =>
      this.call(Procs.domainCreateWithFlags, { dom, flags: 0 }, { operation: 'startDomain', target: uuid }),
    );
  }

  async shutdownDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'shutdownDomain', ['Shutoff'], (dom) =>
      this.call(Procs.domainShutdownFlags, { dom, flags: VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN }, { operation: 'shutdownDomain', target: uuid }),
    );
  }

  async destroyDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'destroyDomain', ['Shutoff'], (dom) =>
      this.call(Procs.domainDestroy, { dom }, { operation: 'destroyDomain', target: uuid }),
    );
  }

  async suspendDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'suspendDomain', ['Paused'], (dom) =>
      this.call(Procs.domainSuspend, { dom }, { operation: 'suspendDomain', target: uuid }),
    );
  }

  async resumeDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'resumeDomain', ['Running'], (dom) =>
      this.call(Procs.domainResume, { dom }, { operation: 'resumeDomain', target: uuid }),
    );
  }

  async undefineDomain(uuid: string): Promise<void> {
    const dom = await this.lookupDomain(uuid, 'undefineDomain');
    await this.call(Procs.domainUndefineFlags, { dom, flags: UNDEFINE_FLAGS }, { operation: 'undefineDomain', target: uuid });
    this.ownerCache.delete(normalizeUuid(uuid));
  }

  // ---- storage pools ------------------------------------------------------------------------

  private async lookupPool(name: string, operation: string): Promise<RemotePool> {
    validateName('pool', name);
    return this.call(Procs.storagePoolLookupByName, { name }, { operation, target: name });
  }

  private async describePool(pool: RemotePool, operation: string): Promise<PoolInfo> {
    const ctx = { operation, target: pool.name };
    const [info, xml, autostart] = await Promise.all([
      this.call(Procs.storagePoolGetInfo, { pool }, ctx),
      this.call(Procs.storagePoolGetXmlDesc, { pool, flags: 0 }, ctx),
      this.call(Procs.storagePoolGetAutostart, { pool }, ctx),
    ]);
    const parsed = parsePoolXml(xml);
    const state = PoolStateNames[info.state] ?? 'Inaccessible';
    let volumeCount = 0;
    if (state === 'Running' || state === 'Degraded') {
      try {
        volumeCount = await this.call(Procs.storagePoolNumOfVolumes, { pool }, ctx);
      } catch (err) {
        if (!(err instanceof HypervisorError && err.reason === 'InvalidState')) throw err;
      }
    }
    const out: PoolInfo = {
      name: pool.name,
      uuid: bytesToUuid(pool.uuid),
      type: parsed.type,
      state,
      capacityBytes: info.capacity,
      allocationBytes: info.allocation,
      availableBytes: info.available,
      targetPath: parsed.targetPath,
      volumeCount,
      autostart,
    };
    if (parsed.source) out.source = parsed.source;
    return out;
  }

  async listPools(): Promise<PoolInfo[]> {
    const pools = await this.call(Procs.connectListAllStoragePools, { flags: 0 }, { operation: 'listPools' });
    const out = await Promise.all(
      pools.map(async (p) => {
        try {
          return await this.describePool(p, 'listPools');
        } catch (err) {
          if (err instanceof HypervisorError && err.reason === 'PoolNotFound') return null;
          throw err;
        }
      }),
    );
    return out.filter((p): p is PoolInfo => p !== null);
  }

  async getPool(name: string): Promise<PoolInfo> {
    const pool = await this.lookupPool(name, 'getPool');
    return this.describePool(pool, 'getPool');
  }

  async definePool(spec: PoolSpec): Promise<PoolInfo> {
    validatePoolSpec(spec);
    const operation = 'definePool';
    let existing: RemotePool | null = null;
    try {
      existing = await this.lookupPool(spec.name, operation);
    } catch (err) {
      if (!(err instanceof HypervisorError && err.reason === 'PoolNotFound')) throw err;
    }
    if (existing) {
      const current = parsePoolXml(await this.call(Procs.storagePoolGetXmlDesc, { pool: existing, flags: 0 }, { operation, target: spec.name }));
      const wantType = spec.type === 'nfs' ? 'netfs' : 'dir';
      const same =
        current.type === wantType &&
        current.targetPath === spec.targetPath &&
        (spec.type !== 'nfs' || (current.source?.host === spec.source.host && current.source?.dir === spec.source.dir));
      if (same) return this.describePool(existing, operation);
      const active = await this.call(Procs.storagePoolIsActive, { pool: existing }, { operation, target: spec.name });
      if (active) {
        throw new HypervisorError('PoolExists', `pool ${spec.name} is running with a different definition; stop it before changing it`, {
          operation,
          target: spec.name,
        });
      }
      const pool = await this.call(
        Procs.storagePoolDefineXml,
        { xml: buildPoolXml(spec, bytesToUuid(existing.uuid)), flags: 0 },
        { operation, target: spec.name },
      );
      return this.describePool(pool, operation);
    }
    const pool = await this.call(Procs.storagePoolDefineXml, { xml: buildPoolXml(spec), flags: 0 }, { operation, target: spec.name });
    return this.describePool(pool, operation);
  }

  async startPool(name: string): Promise<PoolInfo> {
    const operation = 'startPool';
    const pool = await this.lookupPool(name, operation);
    const ctx = { operation, target: name, timeoutMs: this.opts.poolStartTimeoutMs };
    const active = await this.call(Procs.storagePoolIsActive, { pool }, ctx);
    if (!active) {
      const parsed = parsePoolXml(await this.call(Procs.storagePoolGetXmlDesc, { pool, flags: 0 }, ctx));
      // dir and netfs builds only create the target directory; nothing is formatted.
      if (parsed.type === 'dir' || parsed.type === 'netfs') await this.call(Procs.storagePoolBuild, { pool, flags: 0 }, ctx);
      try {
        await this.call(Procs.storagePoolCreate, { pool, flags: 0 }, ctx);
      } catch (err) {
        if (err instanceof HypervisorError && parsed.type === 'netfs' && err.reason !== 'HypervisorUnavailable' && err.reason !== 'InvalidState') {
          const src = parsed.source ? `${parsed.source.host}:${parsed.source.dir}` : 'nfs source';
          throw new HypervisorError('PoolMountFailed', `cannot mount ${src} on ${parsed.targetPath}: ${err.message}`, err.details);
        }
        if (err instanceof HypervisorError && err.reason === 'InvalidState') {
          // Started concurrently by someone else: fine.
          const nowActive = await this.call(Procs.storagePoolIsActive, { pool }, ctx);
          if (!nowActive) throw err;
        } else {
          throw err;
        }
      }
    }
    return this.describePool(pool, operation);
  }

  async stopPool(name: string): Promise<void> {
    const operation = 'stopPool';
    const pool = await this.lookupPool(name, operation);
    const active = await this.call(Procs.storagePoolIsActive, { pool }, { operation, target: name });
    if (!active) return;
    try {
      await this.call(Procs.storagePoolDestroy, { pool }, { operation, target: name, timeoutMs: this.opts.poolStartTimeoutMs });
    } catch (err) {
      if (err instanceof HypervisorError && err.reason === 'InvalidState') {
        const still = await this.call(Procs.storagePoolIsActive, { pool }, { operation, target: name });
        if (!still) return;
      }
      throw err;
    }
  }

  async undefinePool(name: string): Promise<void> {
    const operation = 'undefinePool';
    const pool = await this.lookupPool(name, operation);
    const active = await this.call(Procs.storagePoolIsActive, { pool }, { operation, target: name });
    if (active) throw new HypervisorError('InvalidState', `pool ${name} is running; stop it before undefining it`, { operation, target: name });
    await this.call(Procs.storagePoolUndefine, { pool }, { operation, target: name });
  }

  async refreshPool(name: string): Promise<PoolInfo> {
    const operation = 'refreshPool';
    const pool = await this.lookupPool(name, operation);
    try {
      await this.call(Procs.storagePoolRefresh, { pool, flags: 0 }, { operation, target: name });
    } catch (err) {
      if (err instanceof HypervisorError && err.reason === 'InvalidState') {
        throw new HypervisorError('PoolInactive', `pool ${name} is not running: ${err.message}`, err.details);
      }
      throw err;
    }
    return this.describePool(pool, operation);
  }

  // ---- volumes -----------------------------------------------------------------------------

  private async describeVolume(vol: RemoteVol, operation: string): Promise<VolumeInfo> {
    const ctx = { operation, target: `${vol.pool}/${vol.name}` };
    const [path, info] = await Promise.all([
      this.call(Procs.storageVolGetPath, { vol }, ctx),
      this.call(Procs.storageVolGetInfo, { vol }, ctx),
    ]);
    return {
      pool: vol.pool,
      name: vol.name,
      path,
      key: vol.key,
      type: VolTypeNames[info.type] ?? 'unknown',
      capacityBytes: info.capacity,
      allocationBytes: info.allocation,
    };
  }

  private inactivePool(err: unknown, pool: string): unknown {
    if (err instanceof HypervisorError && err.reason === 'InvalidState') {
      return new HypervisorError('PoolInactive', `pool ${pool} is not running: ${err.message}`, err.details);
    }
    return err;
  }

  async listVolumes(poolName: string): Promise<VolumeInfo[]> {
    const operation = 'listVolumes';
    const pool = await this.lookupPool(poolName, operation);
    let vols: RemoteVol[];
    try {
      vols = await this.call(Procs.storagePoolListAllVolumes, { pool, flags: 0 }, { operation, target: poolName });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
    const out = await Promise.all(
      vols.map(async (v) => {
        try {
          return await this.describeVolume(v, operation);
        } catch (err) {
          if (err instanceof HypervisorError && err.reason === 'VolumeNotFound') return null;
          throw err;
        }
      }),
    );
    return out.filter((v): v is VolumeInfo => v !== null).sort((a, b) => a.name.localeCompare(b.name));
  }

  async createVolume(poolName: string, spec: VolumeSpec): Promise<VolumeInfo> {
    validateVolumeSpec(spec);
    const operation = 'createVolume';
    const pool = await this.lookupPool(poolName, operation);
    let vol: RemoteVol;
    try {
      vol = await this.call(Procs.storageVolCreateXml, { pool, xml: buildVolumeXml(spec), flags: 0 }, { operation, target: `${poolName}/${spec.name}` });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
    return this.describeVolume(vol, operation);
  }

  private async lookupVolume(poolName: string, name: string, operation: string): Promise<RemoteVol> {
    validateName('volume', name);
    const pool = await this.lookupPool(poolName, operation);
    try {
      return await this.call(Procs.storageVolLookupByName, { pool, name }, { operation, target: `${poolName}/${name}` });
    } catch (err) {
      throw this.inactivePool(err, poolName);
    }
  }

  async deleteVolume(poolName: string, name: string): Promise<void> {
    const vol = await this.lookupVolume(poolName, name, 'deleteVolume');
    await this.call(Procs.storageVolDelete, { vol, flags: 0 }, { operation: 'deleteVolume', target: `${poolName}/${name}` });
  }

  async getVolume(poolName: string, name: string): Promise<VolumeInfo> {
    const vol = await this.lookupVolume(poolName, name, 'getVolume');
    return this.describeVolume(vol, 'getVolume');
  }

  async volumePath(poolName: string, name: string): Promise<string> {
    const vol = await this.lookupVolume(poolName, name, 'volumePath');
    return this.call(Procs.storageVolGetPath, { vol }, { operation: 'volumePath', target: `${poolName}/${name}` });
  }

  // ---- files ---------------------------------------------------------------------------------

  listFiles(poolTargetPath: string, relPath: string, options?: ListFilesOptions): Promise<FileListing> {
    return listPoolFiles(poolTargetPath, relPath, options);
  }
}

let cachedCpuName: string | null | undefined;
async function cpuModelName(): Promise<string | undefined> {
  if (cachedCpuName !== undefined) return cachedCpuName ?? undefined;
  try {
    const text = await fs.readFile('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    cachedCpuName = m ? m[1]!.trim() : null;
  } catch {
    cachedCpuName = null;
  }
  return cachedCpuName ?? undefined;
}
