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
 * The host's state and call plumbing are in host.ts and events.ts; the operations by
 * concern in domains.ts (with the guest agent's answers in guest.ts), networks.ts, pools.ts,
 * volumes.ts and files.ts. This class composes them.
 *
 * Failure knobs (`inject*`, `crashDomain`, `hypervisorDown`, ...) let tests provoke what
 * real hosts do. Nothing here uses timers unless asked for (latency, ACPI delay), so
 * hundreds of instances cost next to nothing.
 */
import type {
  ConnectionState,
  ConsoleChannel,
  ConsoleKind,
  ConsoleOpenOptions,
  DiskSnapshotOutcome,
  DiskSnapshotTarget,
  DomainInfo,
  DomainOwner,
  DomainSpec,
  DomainStats,
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
import type { HypervisorErrorReason } from '../errors.js';
import { SimDomains } from './domains.js';
import { SimFiles } from './files.js';
import { SimHost, type SimDriverOptions } from './host.js';
import { SimNetworks } from './networks.js';
import { SimPools } from './pools.js';
import { SimSnapshots } from './snapshots.js';
import { SimVolumes } from './volumes.js';

export type { SimDriverOptions } from './host.js';
export { SimSharedStorage } from './host.js';

export class SimDriver implements HypervisorDriver {
  readonly kind = 'sim';

  private readonly host: SimHost;
  private readonly domains: SimDomains;
  private readonly pools: SimPools;
  private readonly volumes: SimVolumes;
  private readonly files: SimFiles;
  private readonly networks: SimNetworks;
  private readonly snapshots: SimSnapshots;

  constructor(options: SimDriverOptions = {}) {
    this.host = new SimHost(options);
    this.domains = new SimDomains(this.host);
    this.networks = new SimNetworks(this.host);
    this.pools = new SimPools(this.host);
    this.volumes = new SimVolumes(this.host, this.pools);
    this.files = new SimFiles(this.host, this.pools);
    this.snapshots = new SimSnapshots(this.host);
  }

  /** Every call made, by operation name (scale tests count them). */
  get callCounts(): Map<string, number> {
    return this.host.callCounts;
  }

  /** Number of domains (scale tests). */
  get domainCount(): number {
    return this.host.domains.size;
  }

  // ---- connection (host.ts, events.ts) ------------------------------------------------------

  connectionState(): ConnectionState {
    return this.host.connectionState();
  }

  connect(): Promise<void> {
    return this.host.connect();
  }

  close(): Promise<void> {
    return this.host.close();
  }

  subscribe(listener: HypervisorEventListener): Unsubscribe {
    return this.host.events.subscribe(listener);
  }

  hostInfo(): Promise<HostInfo> {
    return this.host.hostInfo();
  }

  // ---- failure knobs and test helpers ---------------------------------------------------------

  /**
   * The next `times` calls of `operation` (a HypervisorDriver method name, e.g. "defineDomain")
   * fail with the given reason. Infinity for "until cleared".
   */
  injectFailure(operation: keyof HypervisorDriver, reason: HypervisorErrorReason = 'OperationFailed', message = `injected ${reason}`, times = 1): void {
    this.host.injectFailure(operation, reason, message, times);
  }

  clearFailures(): void {
    this.host.clearFailures();
  }

  /** The hypervisor goes away: `connection lost`, every call fails with HypervisorUnavailable. */
  hypervisorDown(message?: string): void {
    this.host.hypervisorDown(message);
  }

  /** The hypervisor is back: `connection restored` (domains kept running, like a libvirtd restart). */
  hypervisorUp(): void {
    this.host.hypervisorUp();
  }

  /** The guest panics: Crashed(panicked), then Stopped(crashed) (on_crash=destroy). */
  crashDomain(uuid: string): void {
    this.domains.crashDomain(uuid);
  }

  /** The guest powers itself off (e.g. `poweroff` inside the VM). */
  guestPowerOff(uuid: string): void {
    this.domains.guestPowerOff(uuid);
  }

  /** Sets how guests react to ACPI shutdown (null: ignore it). */
  setAcpiShutdownDelay(ms: number | null): void {
    this.domains.setAcpiShutdownDelay(ms);
  }

  /** Whether the guest agent inside the domain answers (default true; e.g. false while the guest boots). */
  setGuestAgentResponding(uuid: string, responding: boolean): void {
    this.domains.setGuestAgentResponding(uuid, responding);
  }

  /** A host bridge appears (true) or goes away (false), for bridgeExists and bridge NICs. */
  setBridge(name: string, exists: boolean): void {
    this.networks.setBridge(name, exists);
  }

  /** A domain defined behind Quantix's back (like `virsh define`): no owner metadata. Emits Defined(added). */
  defineForeignDomain(spec: Omit<DomainSpec, 'owner'> & { owner?: DomainOwner | null }): DomainInfo {
    return this.domains.defineForeignDomain(spec);
  }

  /** Makes startPool of this pool fail like an unreachable NFS server; null clears. */
  setPoolMountFailure(name: string, message: string | null): void {
    this.pools.setPoolMountFailure(name, message);
  }

  /** A running pool becomes Degraded/Inaccessible (e.g. the NFS server went away); null heals. */
  setPoolFault(name: string, fault: { state: 'Degraded' | 'Inaccessible'; message: string } | null): void {
    this.pools.setPoolFault(name, fault);
  }

  /** A host file usable as a disk (ISO, base image outside pools). */
  addHostFile(absPath: string): void {
    this.host.hostFiles.add(absPath);
  }

  /** Adds a file, directory or symlink inside a pool's file tree (intermediate dirs are created). */
  addPoolFile(poolName: string, relPath: string, node: { type: 'file'; sizeBytes?: number } | { type: 'dir' } | { type: 'symlink'; target: string }): void {
    this.files.addPoolFile(poolName, relPath, node);
  }

  // ---- domains (domains.ts) -------------------------------------------------------------------

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
    return this.domains.domainStats();
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

  guestInfo(uuid: string): Promise<GuestInfo> {
    return this.domains.guestInfo(uuid);
  }

  // ---- networks (networks.ts) -----------------------------------------------------------------

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

  // ---- pools (pools.ts) -----------------------------------------------------------------------

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

  // ---- volumes (volumes.ts) -------------------------------------------------------------------

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

  // ---- files (files.ts) -----------------------------------------------------------------------

  listFiles(poolTargetPath: string, relPath: string, options?: ListFilesOptions): Promise<FileListing> {
    return this.files.listFiles(poolTargetPath, relPath, options);
  }

  // ---- consoles (consoles.ts) -----------------------------------------------------------------

  openConsole(uuid: string, kind: ConsoleKind, options?: ConsoleOpenOptions): Promise<ConsoleChannel> {
    return this.domains.openConsole(uuid, kind, options);
  }

  /** Open console sessions of all domains (tests: a closed session leaves nothing behind). */
  get openConsoleCount(): number {
    return this.host.consoles.openCount;
  }

  // ---- disk snapshots (snapshots.ts) -----------------------------------------------------

  snapshotDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<DiskSnapshotOutcome> {
    return this.snapshots.snapshotDisks(uuid, name, disks);
  }

  revertDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    return this.snapshots.revertDisks(uuid, name, disks);
  }

  deleteDiskSnapshots(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void> {
    return this.snapshots.deleteDiskSnapshots(uuid, name, disks);
  }

  /** The snapshot names a disk file holds (tests). */
  diskSnapshotNames(path: string): string[] {
    return this.snapshots.namesOf(path);
  }
}
