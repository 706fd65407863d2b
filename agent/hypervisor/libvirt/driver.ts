/**
 * The libvirt HypervisorDriver: one persistent connection to libvirtd speaking its remote
 * RPC protocol (connection.ts over rpc.ts and protocol.ts), lifecycle events pushed by
 * libvirtd (events.ts), and the operations by concern — host.ts, domains.ts, guest.ts,
 * console.ts, networks.ts, pools.ts, volumes.ts; the pool file browser reads the real filesystem
 * (../files.ts). This class only composes them.
 */
import { existsSync } from 'node:fs';
import type {
  ConnectionState,
  ConsoleChannel,
  ConsoleKind,
  ConsoleOpenOptions,
  DiskSnapshotOutcome,
  DiskSnapshotTarget,
  DomainInfo,
  DomainSpec,
  DomainStats,
  DomainType,
  FileListing,
  GuestInfo,
  HostInfo,
  HypervisorDriver,
  HypervisorEventListener,
  ListFilesOptions,
  NetworkDefSpec,
  NetworkInfo,
  PoolInfo,
  PoolSpec,
  ShutdownMode,
  Unsubscribe,
  VolumeInfo,
  VolumeSpec,
} from '../driver.js';
import { listPoolFiles } from '../files.js';
import { LibvirtConnection, type LibvirtConnectionOptions } from './connection.js';
import { LibvirtConsoles } from './console.js';
import { LibvirtDomains } from './domains.js';
import { guestInfo } from './guest.js';
import { hostInfo } from './host.js';
import { LibvirtNetworks } from './networks.js';
import { LibvirtPools } from './pools.js';
import { LibvirtSnapshots } from './snapshots.js';
import { domainStats } from './stats.js';
import { LibvirtVolumes } from './volumes.js';

export interface LibvirtDriverOptions extends LibvirtConnectionOptions {
  /**
   * The node's default acceleration (a DomainSpec's domainType overrides it per domain).
   * Default 'auto': kvm when /dev/kvm exists, else qemu.
   */
  domainType?: DomainType | 'auto';
  /** Timeout of pool start/build (nfs mounts can hang), ms (default 180 s). */
  poolStartTimeoutMs?: number;
  /** How long guestInfo waits for the guest agent before answering connected: false, ms (default 3 s: it runs in a VM worker, and a hung guest must not hold one long). */
  guestAgentTimeoutMs?: number;
  /** Where bridgeExists looks for NAME/bridge (default /sys/class/net; tests point it elsewhere). */
  sysClassNetPath?: string;
}

export class LibvirtDriver implements HypervisorDriver {
  readonly kind = 'libvirt';

  private readonly domainType: DomainType;
  private readonly conn: LibvirtConnection;
  private readonly domains: LibvirtDomains;
  private readonly pools: LibvirtPools;
  private readonly volumes: LibvirtVolumes;
  private readonly networks: LibvirtNetworks;
  private readonly consoles: LibvirtConsoles;
  private readonly snapshots: LibvirtSnapshots;
  private readonly guestAgentTimeoutMs: number;

  constructor(options: LibvirtDriverOptions = {}) {
    const dt = options.domainType ?? 'auto';
    this.domainType = dt === 'auto' ? (existsSync('/dev/kvm') ? 'kvm' : 'qemu') : dt;
    this.conn = new LibvirtConnection(options);
    this.domains = new LibvirtDomains(this.conn, this.domainType);
    this.pools = new LibvirtPools(this.conn, options.poolStartTimeoutMs ?? 180_000);
    this.volumes = new LibvirtVolumes(this.conn, this.pools);
    this.networks = new LibvirtNetworks(this.conn, options.sysClassNetPath ?? '/sys/class/net');
    this.consoles = new LibvirtConsoles(this.conn);
    this.guestAgentTimeoutMs = options.guestAgentTimeoutMs ?? 3_000;
    this.snapshots = new LibvirtSnapshots({ conn: this.conn });
  }

  // ---- connection (connection.ts, events.ts) ----------------------------------------------------

  connectionState(): ConnectionState {
    return this.conn.connectionState();
  }

  connect(): Promise<void> {
    return this.conn.connect();
  }

  close(): Promise<void> {
    this.consoles.closeAll('the hypervisor driver closed');
    return this.conn.close();
  }

  subscribe(listener: HypervisorEventListener): Unsubscribe {
    return this.conn.subscribe(listener);
  }

  hostInfo(): Promise<HostInfo> {
    return hostInfo(this.conn, this.domainType);
  }

  // ---- domains (domains.ts) ----------------------------------------------------------------------

  listDomains(): Promise<DomainInfo[]> {
    return this.domains.listDomains();
  }

  getDomain(uuid: string): Promise<DomainInfo> {
    return this.domains.getDomain(uuid);
  }

  getDomainXml(uuid: string): Promise<string> {
    return this.domains.getDomainXml(uuid);
  }

  domainStats(): Promise<DomainStats[]> {
    return domainStats(this.conn);
  }

  defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    return this.domains.defineDomain(spec);
  }

  startDomain(uuid: string): Promise<void> {
    return this.domains.startDomain(uuid);
  }

  shutdownDomain(uuid: string, mode?: ShutdownMode): Promise<void> {
    return this.domains.shutdownDomain(uuid, mode);
  }

  destroyDomain(uuid: string): Promise<void> {
    return this.domains.destroyDomain(uuid);
  }

  suspendDomain(uuid: string): Promise<void> {
    return this.domains.suspendDomain(uuid);
  }

  resumeDomain(uuid: string): Promise<void> {
    return this.domains.resumeDomain(uuid);
  }

  undefineDomain(uuid: string): Promise<void> {
    return this.domains.undefineDomain(uuid);
  }

  // ---- guest agent (guest.ts) --------------------------------------------------------------------

  guestInfo(uuid: string): Promise<GuestInfo> {
    return guestInfo(this.conn, uuid, this.guestAgentTimeoutMs);
  }

  // ---- consoles (console.ts) --------------------------------------------------------------------

  openConsole(uuid: string, kind: ConsoleKind, options?: ConsoleOpenOptions): Promise<ConsoleChannel> {
    return this.consoles.openConsole(uuid, kind, options);
  }

  /** Console sessions still open (tests: nothing leaks). */
  get openConsoleSessions(): number {
    return this.consoles.openSessions;
  }

  // ---- networks (networks.ts) --------------------------------------------------------------------

  listNetworks(): Promise<NetworkInfo[]> {
    return this.networks.listNetworks();
  }

  getNetwork(name: string): Promise<NetworkInfo> {
    return this.networks.getNetwork(name);
  }

  defineNetwork(spec: NetworkDefSpec): Promise<NetworkInfo> {
    return this.networks.defineNetwork(spec);
  }

  startNetwork(name: string): Promise<NetworkInfo> {
    return this.networks.startNetwork(name);
  }

  stopNetwork(name: string): Promise<void> {
    return this.networks.stopNetwork(name);
  }

  undefineNetwork(name: string): Promise<void> {
    return this.networks.undefineNetwork(name);
  }

  bridgeExists(name: string): Promise<boolean> {
    return this.networks.bridgeExists(name);
  }

  // ---- storage pools (pools.ts) ------------------------------------------------------------------

  listPools(): Promise<PoolInfo[]> {
    return this.pools.listPools();
  }

  getPool(name: string): Promise<PoolInfo> {
    return this.pools.getPool(name);
  }

  definePool(spec: PoolSpec): Promise<PoolInfo> {
    return this.pools.definePool(spec);
  }

  startPool(name: string): Promise<PoolInfo> {
    return this.pools.startPool(name);
  }

  stopPool(name: string): Promise<void> {
    return this.pools.stopPool(name);
  }

  undefinePool(name: string): Promise<void> {
    return this.pools.undefinePool(name);
  }

  refreshPool(name: string): Promise<PoolInfo> {
    return this.pools.refreshPool(name);
  }

  // ---- volumes (volumes.ts) ----------------------------------------------------------------------

  listVolumes(pool: string): Promise<VolumeInfo[]> {
    return this.volumes.listVolumes(pool);
  }

  createVolume(pool: string, spec: VolumeSpec): Promise<VolumeInfo> {
    return this.volumes.createVolume(pool, spec);
  }

  cloneVolume(pool: string, source: string, spec: VolumeSpec): Promise<VolumeInfo> {
    return this.volumes.cloneVolume(pool, source, spec);
  }

  deleteVolume(pool: string, name: string): Promise<void> {
    return this.volumes.deleteVolume(pool, name);
  }

  getVolume(pool: string, name: string): Promise<VolumeInfo> {
    return this.volumes.getVolume(pool, name);
  }

  volumePath(pool: string, name: string): Promise<string> {
    return this.volumes.volumePath(pool, name);
  }

  // ---- files (../files.ts: the real filesystem) -------------------------------------------------

  listFiles(poolTargetPath: string, relPath: string, options?: ListFilesOptions): Promise<FileListing> {
    return listPoolFiles(poolTargetPath, relPath, options);
  }

  // ---- disk snapshots (snapshots.ts) -------------------------------------------------------------

  snapshotDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<DiskSnapshotOutcome> {
    return this.snapshots.snapshotDisks(uuid, name, disks);
  }

  revertDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    return this.snapshots.revertDisks(uuid, name, disks);
  }

  deleteDiskSnapshots(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    return this.snapshots.deleteDiskSnapshots(uuid, name, disks);
  }
}
