/**
 * HypervisorDriver: what the agent's reconcile loop needs from a hypervisor, and nothing
 * more. Two implementations: `libvirt/` (real, one persistent connection to libvirtd) and
 * `sim/` (in memory, for scale tests and unit tests of agent logic).
 *
 * Conventions, chosen for a level-triggered agent:
 * - Domains are addressed by UUID (for VMs Quantix creates, the VM's metadata.uid), lower-case
 *   canonical form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
 * - Every failure is a `HypervisorError` with a stable `reason` (see errors.ts).
 * - State-changing domain calls are idempotent with respect to their target state: starting a
 *   running domain, destroying a stopped one, suspending a paused one or resuming a running
 *   one succeeds without doing anything. Anything else invalid for the current state throws
 *   `InvalidState`.
 * - Events only wake the agent; they are not a log. After `connection` `restored` events the
 *   agent must re-list (events that happened while disconnected are lost).
 * - Sizes are bytes, times are milliseconds since the epoch.
 */

export type DomainType = 'kvm' | 'qemu';

export interface HostInfo {
  hostname: string;
  cpuCount: number;
  /** Human-readable CPU model ("Intel(R) Xeon(R) ..."), or libvirt's model name when unknown. */
  cpuModel: string;
  /** libvirt's host CPU architecture, e.g. x86_64. */
  cpuArch: string;
  cpuMhz: number;
  memoryBytes: number;
  /** libvirt driver name, e.g. "QEMU". */
  hypervisorType: string;
  /** e.g. "7.2.22" */
  hypervisorVersion: string;
  /** e.g. "9.0.0" */
  libvirtVersion: string;
  /** The domain type this driver defines domains with: kvm when /dev/kvm exists, else qemu. */
  domainType: DomainType;
}

/** virDomainState, named. */
export type PowerState = 'NoState' | 'Running' | 'Blocked' | 'Paused' | 'ShuttingDown' | 'Shutoff' | 'Crashed' | 'PMSuspended';

/** Who a domain belongs to in Quantix, read from the domain's metadata element. */
export interface DomainOwner {
  namespace: string;
  name: string;
  /** VM metadata.uid (equals the domain UUID for VMs Quantix defines). */
  uid?: string;
}

export interface DomainInfo {
  uuid: string;
  name: string;
  /** libvirt domain id while running, -1 otherwise. */
  id: number;
  state: PowerState;
  /** libvirt's state reason, e.g. "booted", "destroyed", "user", "shutdown", "crashed". */
  reason: string;
  /** False for transient domains (no persistent definition). */
  persistent: boolean;
  vcpus: number;
  memoryBytes: number;
  /** Quantix ownership marker from the domain metadata; null for domains Quantix did not define. */
  owner: DomainOwner | null;
}

export type DiskBus = 'virtio' | 'sata' | 'scsi' | 'ide';
export type DiskFormat = 'qcow2' | 'raw';

export interface DiskSpec {
  /** Absolute path of the volume (from `createVolume`/`volumePath`). */
  path: string;
  /** Default virtio. */
  bus?: DiskBus;
  /** Default qcow2. */
  format?: DiskFormat;
  /** Default 'disk'. */
  device?: 'disk' | 'cdrom';
  readonly?: boolean;
}

export type NicModel = 'virtio' | 'e1000' | 'rtl8139';

export type NetworkSpec =
  | { type: 'user'; model?: NicModel; mac?: string }
  | { type: 'network'; network: string; model?: NicModel; mac?: string }
  | { type: 'bridge'; bridge: string; model?: NicModel; mac?: string };

export interface DomainSpec {
  /** Domain UUID; for Quantix VMs the VM's metadata.uid. */
  uuid: string;
  /** libvirt domain name, unique on the host: [A-Za-z0-9_.+-], max 200 characters. */
  name: string;
  vcpus: number;
  memoryBytes: number;
  disks: DiskSpec[];
  networks: NetworkSpec[];
  /** Written into the domain metadata so that `owner` can tell managed from foreign domains. */
  owner: DomainOwner;
  /** Start the domain when libvirtd starts. Default false: the agent decides. */
  autostart?: boolean;
  /** Guest CPU: default is the hypervisor's default model (safe everywhere, also nested). */
  cpuMode?: 'host-passthrough' | 'host-model';
}

export type DomainEventType = 'Defined' | 'Undefined' | 'Started' | 'Suspended' | 'Resumed' | 'Stopped' | 'Shutdown' | 'PMSuspended' | 'Crashed';

export interface DomainLifecycleEvent {
  kind: 'domain';
  uuid: string;
  name: string;
  type: DomainEventType;
  /** libvirt's event detail, e.g. "booted", "destroyed", "paused", "removed". */
  detail: string;
  /** When the driver received the event (ms since epoch). */
  timestamp: number;
}

export type PoolEventType = 'Defined' | 'Undefined' | 'Started' | 'Stopped' | 'Created' | 'Deleted';

export interface PoolLifecycleEvent {
  kind: 'pool';
  name: string;
  type: PoolEventType;
  timestamp: number;
}

export interface ConnectionEvent {
  kind: 'connection';
  state: 'lost' | 'restored';
  /** Why the connection was lost, when known. */
  message?: string;
  timestamp: number;
}

export type HypervisorEvent = DomainLifecycleEvent | PoolLifecycleEvent | ConnectionEvent;
export type HypervisorEventListener = (event: HypervisorEvent) => void;
export type Unsubscribe = () => void;

export type PoolType = 'dir' | 'nfs';

export type PoolSpec =
  | { name: string; type: 'dir'; targetPath: string }
  | {
      name: string;
      type: 'nfs';
      /** Where the export is mounted on this host. */
      targetPath: string;
      source: { host: string; dir: string };
    };

/** virStoragePoolState, named. */
export type PoolState = 'Inactive' | 'Building' | 'Running' | 'Degraded' | 'Inaccessible';

export interface PoolInfo {
  name: string;
  uuid: string;
  /** The libvirt pool type: dir, netfs. */
  type: string;
  state: PoolState;
  capacityBytes: number;
  allocationBytes: number;
  availableBytes: number;
  targetPath: string;
  /** Number of volumes libvirt knows in the pool (0 while inactive). */
  volumeCount: number;
  autostart?: boolean;
  /** For nfs pools: the source. */
  source?: { host: string; dir: string };
}

export interface VolumeSpec {
  name: string;
  capacityBytes: number;
  /** Only qcow2 for now. */
  format?: 'qcow2';
  /** Absolute path of a base image: the volume is a qcow2 overlay on top of it. */
  backingPath?: string;
  /** Format of the base image; default qcow2. */
  backingFormat?: DiskFormat;
}

export interface VolumeInfo {
  pool: string;
  name: string;
  path: string;
  /** libvirt's volume key (for file volumes, the path). */
  key: string;
  type: string;
  capacityBytes: number;
  allocationBytes: number;
}

export type FileType = 'file' | 'dir' | 'symlink' | 'other';

export interface FileEntry {
  name: string;
  type: FileType;
  sizeBytes: number;
  /** ms since epoch */
  modifiedAt: number;
}

export interface ListFilesOptions {
  /** Stop after this many entries (default 10 000); `truncated` tells. */
  limit?: number;
}

export interface FileListing {
  /** The listed directory relative to the pool root, normalized ("" for the root). */
  path: string;
  entries: FileEntry[];
  truncated: boolean;
}

export type ConnectionState = 'connected' | 'connecting' | 'disconnected' | 'closed';

export interface HypervisorDriver {
  /** Driver name for logs and nodeInfo: "libvirt" or "sim". */
  readonly kind: string;

  /** Connects (or waits for the first connection). Throws HypervisorUnavailable on failure. */
  connect(): Promise<void>;
  /** Closes the connection for good; pending calls fail with HypervisorUnavailable. */
  close(): Promise<void>;
  connectionState(): ConnectionState;

  /** Events: domain lifecycle, pool lifecycle and connection lost/restored. */
  subscribe(listener: HypervisorEventListener): Unsubscribe;

  hostInfo(): Promise<HostInfo>;

  // ---- domains
  listDomains(): Promise<DomainInfo[]>;
  /** Throws DomainNotFound. */
  getDomain(uuid: string): Promise<DomainInfo>;
  /** Defines (or redefines, same UUID and name) a persistent domain. Throws DomainExists, InvalidSpec. */
  defineDomain(spec: DomainSpec): Promise<DomainInfo>;
  startDomain(uuid: string): Promise<void>;
  /** Graceful: ACPI power button. Returns once requested; the Stopped event tells when done. */
  shutdownDomain(uuid: string): Promise<void>;
  /** Force off. */
  destroyDomain(uuid: string): Promise<void>;
  suspendDomain(uuid: string): Promise<void>;
  resumeDomain(uuid: string): Promise<void>;
  /** Removes the persistent definition with managed-save, snapshot/checkpoint metadata and NVRAM. */
  undefineDomain(uuid: string): Promise<void>;
  /** The domain's live XML (debugging, tests). */
  getDomainXml(uuid: string): Promise<string>;

  // ---- storage pools
  listPools(): Promise<PoolInfo[]>;
  /** Throws PoolNotFound. */
  getPool(name: string): Promise<PoolInfo>;
  /** Defines the pool persistently (idempotent for an identical definition). Throws PoolExists, InvalidSpec. */
  definePool(spec: PoolSpec): Promise<PoolInfo>;
  /** Builds (creates the target directory) and starts; idempotent. Throws PoolMountFailed for nfs. */
  startPool(name: string): Promise<PoolInfo>;
  /** Stops (unmounts) without deleting data; idempotent. */
  stopPool(name: string): Promise<void>;
  /** Removes the definition, never the data. The pool must be stopped first (InvalidState). */
  undefinePool(name: string): Promise<void>;
  /** Rescans the pool's volumes and capacity. Throws PoolInactive. */
  refreshPool(name: string): Promise<PoolInfo>;

  // ---- volumes
  listVolumes(pool: string): Promise<VolumeInfo[]>;
  /** Throws VolumeExists, PoolNotFound, PoolInactive. */
  createVolume(pool: string, spec: VolumeSpec): Promise<VolumeInfo>;
  /** Throws VolumeNotFound. */
  deleteVolume(pool: string, name: string): Promise<void>;
  getVolume(pool: string, name: string): Promise<VolumeInfo>;
  /** The volume's absolute path, for DiskSpec.path. Throws VolumeNotFound. */
  volumePath(pool: string, name: string): Promise<string>;

  // ---- pool file browser
  /**
   * Lists the directory `relPath` below the pool root `poolTargetPath`. Refuses (PathEscape)
   * absolute paths, `..` segments and paths that resolve through a symlink outside the root.
   * Throws PathNotFound when the directory does not exist.
   */
  listFiles(poolTargetPath: string, relPath: string, options?: ListFilesOptions): Promise<FileListing>;
}
