/**
 * The simulated host's state — domains, pools, host files, the connection — and what every
 * call goes through first (`enter`: call counts, latency, availability, injected failures).
 * domains.ts, pools.ts, volumes.ts and files.ts operate on it; driver.ts composes them.
 */
import path from 'node:path';
import type {
  ConnectionState,
  DiskSpec,
  DomainOwner,
  DomainType,
  HostInfo,
  HypervisorDriver,
  NetworkDefSpec,
  NetworkSpec,
  PoolSpec,
  PowerState,
} from '../driver.js';
import { HypervisorError, type HypervisorErrorReason } from '../errors.js';
import { SimConsoles } from './consoles.js';
import { SimEvents } from './events.js';

export interface DomainConfig {
  name: string;
  vcpus: number;
  memoryBytes: number;
  disks: DiskSpec[];
  networks: NetworkSpec[];
  owner: DomainOwner | null;
  /** The spec's domainType, else the host's. */
  domainType: DomainType;
  /** Whether the domain has the guest agent channel. */
  guestAgent: boolean;
}

export interface SimDomain {
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
  /** Whether the guest agent inside answers (when the domain has the channel and runs). Knob: setGuestAgentResponding. */
  agentResponding: boolean;
}

export interface SimNetwork {
  spec: NetworkDefSpec;
  uuid: string;
  active: boolean;
  autostart: boolean;
  /** The spec's bridge name, or virbrN picked at define like libvirt does. */
  bridgeName: string;
}

export type FileNode =
  | { type: 'dir'; children: Map<string, FileNode>; modifiedAt: number }
  | { type: 'file'; sizeBytes: number; modifiedAt: number }
  | { type: 'symlink'; target: string; modifiedAt: number };

export interface SimVolume {
  name: string;
  capacityBytes: number;
  allocationBytes: number;
  backingPath?: string;
}

export interface SimPool {
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

/**
 * Storage several simulated hosts see alike (a cluster file system, one NFS export): dir pools
 * with the same target path on hosts given the same SimSharedStorage share their volumes and
 * files, as shared StoragePools do on real hosts (docs/fencing.md).
 */
export class SimSharedStorage {
  readonly #dirs = new Map<string, Pick<SimPool, 'volumes' | 'root'>>();

  /** The volumes and file tree at `targetPath`, created empty the first time. */
  at(targetPath: string, now: number): Pick<SimPool, 'volumes' | 'root'> {
    let dir = this.#dirs.get(targetPath);
    if (!dir) {
      dir = { volumes: new Map(), root: { type: 'dir', children: new Map(), modifiedAt: now } };
      this.#dirs.set(targetPath, dir);
    }
    return dir;
  }
}

export interface SimDriverOptions {
  hostname?: string;
  /** Dir pools' storage shared with other simulated hosts (default: each host its own). */
  sharedStorage?: SimSharedStorage;
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
  /**
   * Refuse to start domains whose `network` NIC names no active sim network, or whose `bridge`
   * NIC names no bridge (like libvirt). Default false, so agent tests need not set up networks.
   */
  strictNetworks?: boolean;
  /** Host bridges that exist besides those of active sim networks (bridgeExists; knob: setBridge). */
  bridges?: string[];
  /** Time source, ms since epoch (default Date.now). */
  now?: () => number;
}

export class SimHost {
  readonly opts: Required<Omit<SimDriverOptions, 'acpiShutdownDelayMs' | 'bridges' | 'sharedStorage'>> & { acpiShutdownDelayMs: number | null };
  readonly sharedStorage: SimSharedStorage | undefined;
  state: ConnectionState = 'disconnected';
  readonly events: SimEvents;
  readonly domains = new Map<string, SimDomain>();
  readonly pools = new Map<string, SimPool>();
  readonly networks = new Map<string, SimNetwork>();
  /** Bridges that exist on the host besides the active networks' (setBridge). */
  readonly bridges: Set<string>;
  readonly hostFiles = new Set<string>();
  /** Open console sessions (consoles.ts). */
  readonly consoles = new SimConsoles();
  private readonly failures = new Map<string, InjectedFailure>();
  nextId = 1;
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
      strictNetworks: options.strictNetworks ?? false,
      now: options.now ?? Date.now,
    };
    this.bridges = new Set(options.bridges ?? []);
    this.sharedStorage = options.sharedStorage;
    this.events = new SimEvents(this.opts.now);
  }

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
    this.consoles.endEverything('error', 'the connection to the simulated hypervisor was closed');
    for (const d of this.domains.values()) {
      if (d.shutdownTimer) clearTimeout(d.shutdownTimer);
      d.shutdownTimer = null;
    }
  }

  /** Common entry of every call: counts, latency, availability, injected failures. */
  async enter(operation: string, target?: string): Promise<void> {
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
    this.consoles.endEverything('error', `the console stream failed: ${message}`);
    if (this.state === 'connected') {
      this.state = 'connecting';
      this.events.emit({ kind: 'connection', state: 'lost', message, timestamp: this.opts.now() });
    }
  }

  /** The hypervisor is back: `connection restored` (domains kept running, like a libvirtd restart). */
  hypervisorUp(): void {
    if (this.downMessage === null) return;
    this.downMessage = null;
    if (this.state === 'connecting') {
      this.state = 'connected';
      this.events.emit({ kind: 'connection', state: 'restored', timestamp: this.opts.now() });
    }
  }

  /** Whether a bridge exists: one set with setBridge/options.bridges, or the bridge of an active network. */
  bridgeExists(name: string): boolean {
    if (this.bridges.has(name)) return true;
    for (const n of this.networks.values()) if (n.active && n.bridgeName === name) return true;
    return false;
  }

  /** Whether a disk path can be opened: a host file, or a volume of a usable pool. */
  diskAvailable(p: string): boolean {
    if (this.hostFiles.has(p)) return true;
    for (const pool of this.pools.values()) {
      if (!pool.active || pool.fault?.state === 'Inaccessible') continue;
      const dir = path.dirname(p);
      if (dir === pool.spec.targetPath && pool.volumes.has(path.basename(p))) return true;
    }
    return false;
  }

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
}

/** Bytes a file tree holds (symlinks count nothing), as a pool's allocation. */
export function fileBytes(node: FileNode): number {
  if (node.type === 'file') return node.sizeBytes;
  if (node.type === 'symlink') return 0;
  let sum = 0;
  for (const c of node.children.values()) sum += fileBytes(c);
  return sum;
}
