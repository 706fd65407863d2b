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
  /** Default virtio (sata for a cdrom: virtio cannot carry one). */
  bus?: DiskBus;
  /** Default qcow2. */
  format?: DiskFormat;
  /** Default 'disk'. */
  device?: 'disk' | 'cdrom';
  readonly?: boolean;
}

export type NicModel = 'virtio' | 'e1000' | 'rtl8139';

/** A host port forwarded into the guest by QEMU's user-mode networking (slirp `hostfwd`). */
export interface PortForward {
  protocol: 'tcp' | 'udp';
  /** IPv4 literal the host side listens on, e.g. 127.0.0.1 (QEMU 7.2's hostfwd takes IPv4 only). */
  hostAddress: string;
  /** 1..65535; unique per protocol within a domain. */
  hostPort: number;
  /** 1..65535; the port in the guest (at the NIC's DHCP address, 10.0.2.15). */
  guestPort: number;
}

interface NicCommon {
  /**
   * The interface's name in the VM spec (spec.networks[].name). Only used to name the NIC in
   * InvalidSpec messages; NICs are otherwise identified by position and MAC.
   */
  name?: string;
  /** Default virtio. */
  model?: NicModel;
  /**
   * Lower-case xx:xx:xx:xx:xx:xx. Default: derived from the domain UUID and the NIC's position
   * (`nicMac` in nics.ts), so the guest sees the same MAC after every redefine.
   */
  mac?: string;
}

export type NetworkSpec =
  | (NicCommon & {
      type: 'user';
      /**
       * Host ports forwarded into the guest. A user NIC with forwards is passed to QEMU through
       * libvirt's <qemu:commandline> (Debian's libvirt 9.0 has no passt backend, so no
       * <portForward>); libvirt then marks the domain "custom-argv" tainted, which is expected.
       */
      portForwards?: PortForward[];
    })
  | (NicCommon & { type: 'network'; network: string })
  | (NicCommon & { type: 'bridge'; bridge: string });

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
  /** Guest CPU: default is the hypervisor's default model (safe everywhere, also nested). Only applies to kvm. */
  cpuMode?: 'host-passthrough' | 'host-model';
  /**
   * Acceleration for this domain (a node setting: kvm where it boots Linux, qemu = TCG where
   * it cannot). Default: the driver's, `hostInfo().domainType`.
   */
  domainType?: DomainType;
  /**
   * Adds the virtio-serial channel `org.qemu.guest_agent.0` the QEMU guest agent talks on
   * (libvirt picks the host socket path). Default true.
   */
  guestAgent?: boolean;
}

/** What the QEMU guest agent inside a running domain reports (`guestInfo`). */
export interface GuestInfo {
  /** True when the guest agent answered. */
  connected: boolean;
  /** Why there is no answer (agent not installed or not started yet, domain not running, ...). */
  message?: string;
  hostname?: string;
  /** The guest's os-release, as the agent's guest-get-osinfo reports it. */
  os?: {
    id?: string;
    name?: string;
    prettyName?: string;
    version?: string;
    versionId?: string;
    kernelRelease?: string;
    machine?: string;
  };
  /** Every interface the guest has, loopback included, as guest-network-get-interfaces reports them. */
  interfaces?: GuestInterface[];
  /** e.g. "UTC", "CET". */
  timezone?: string;
}

export interface GuestInterface {
  /** The guest's name for it, e.g. "enp0s3", "lo". */
  name: string;
  mac?: string;
  addresses: { ip: string; prefix: number; family: 'ipv4' | 'ipv6' }[];
}

export type ShutdownMode = 'acpi' | 'agent';

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

/** IPv4 addressing of a libvirt-managed network: the host's address on its bridge, and DHCP. */
export interface NetworkIpv4 {
  /** The host's address on the network's bridge (the guests' gateway), e.g. 192.168.150.1. */
  address: string;
  /** 8..30 */
  prefix: number;
  /** Both or neither: the DHCP range libvirt's dnsmasq hands out, inside the subnet. */
  dhcpStart?: string;
  dhcpEnd?: string;
}

/** A libvirt-managed network (libvirt's <network>): nat (routed to the outside through the host) or isolated. */
export interface NetworkDefSpec {
  /** libvirt network name: [A-Za-z0-9_.+-], max 200 characters. */
  name: string;
  mode: 'nat' | 'isolated';
  /** Linux bridge name, at most 15 characters; default: libvirt picks virbrN. */
  bridgeName?: string;
  ipv4?: NetworkIpv4;
}

export interface NetworkInfo {
  name: string;
  uuid: string;
  active: boolean;
  persistent: boolean;
  autostart: boolean;
  /** The bridge libvirt created or will create (absent when libvirt has not picked one). */
  bridgeName?: string;
  /** libvirt's forward mode (nat, route, open, bridge, ...), or "isolated" when the network does not forward. */
  mode: string;
  ipv4?: NetworkIpv4;
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

/** Which console of a domain: the first serial port (pty) or the VNC display. */
export type ConsoleKind = 'serial' | 'vnc';

export interface ConsoleOpenOptions {
  /** Serial only: take the console over from a session that holds it (libvirt VIR_DOMAIN_CONSOLE_FORCE). */
  force?: boolean;
}

/** Why a console session ended. */
export type ConsoleEndReason =
  | 'closed' // our side called close()
  | 'taken' // another session forced the console away
  | 'stopped' // the domain stopped (or was destroyed/undefined)
  | 'error'; // the stream failed (libvirtd gone, socket error)

/** A byte stream to a domain's console. Raw bytes both ways (terminal bytes, or RFB for vnc). */
export interface ConsoleChannel {
  write(data: Buffer): void;
  /** Ends the session; idempotent; onClose listeners then get 'closed'. */
  close(): void;
  onData(listener: (data: Buffer) => void): void;
  /** Called once, when the session ends for any reason. */
  onClose(listener: (reason: ConsoleEndReason, message: string) => void): void;
}

export type ConnectionState = 'connected' | 'connecting' | 'disconnected' | 'closed';

/** One disk file of a domain a disk snapshot operation works on. */
export interface DiskSnapshotTarget {
  /** Disk name (spec.disks[].name). */
  disk: string;
  /** The qcow2 file on the host. */
  path: string;
}

/** What snapshotDisks did. */
export interface DiskSnapshotOutcome {
  /** Whether the domain was running (the snapshot was taken live). */
  running: boolean;
  /** Whether the guest file systems were frozen around it (true when the domain was not running). */
  frozen: boolean;
  /** Why they were not frozen (no guest agent…), for a running domain. */
  freezeMessage?: string;
  /** Per disk: the file's allocation when the snapshot was taken. */
  disks: { disk: string; path: string; sizeBytes: number }[];
}

/**
 * Counters and gauges of one running domain, from libvirt's bulk domain statistics
 * (virConnectGetAllDomainStats). Times are seconds, sizes bytes; counters grow while the
 * domain runs and start again from zero when it is started again. A group libvirt did not
 * report (no balloon driver, no guest agent) is absent, never zero.
 */
export interface DomainStats {
  uuid: string;
  name: string;
  state: PowerState;
  cpu?: { timeSeconds: number; userSeconds?: number; systemSeconds?: number };
  vcpus: { id: number; timeSeconds: number }[];
  memory?: {
    /** balloon.maximum: the domain's memory. */
    domainBytes?: number;
    /** balloon.current: what the balloon gives the guest now. */
    actualBytes?: number;
    /** balloon.rss: what QEMU holds on the host. */
    residentBytes?: number;
    /** From the guest (balloon driver): total, unused and usable memory. */
    availableBytes?: number;
    unusedBytes?: number;
    usableBytes?: number;
  };
  disks: {
    /** Target name, e.g. vda. */
    name: string;
    readBytes: number;
    readOps: number;
    writeBytes: number;
    writeOps: number;
    readSeconds: number;
    writeSeconds: number;
    flushOps: number;
  }[];
  nics: {
    /** Host-side interface name, e.g. vnet3. */
    name: string;
    rxBytes: number;
    rxPackets: number;
    rxErrors: number;
    rxDropped: number;
    txBytes: number;
    txPackets: number;
    txErrors: number;
    txDropped: number;
  }[];
}

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
  /**
   * Graceful: the ACPI power button (default), or `agent`: the guest agent's guest-shutdown,
   * which throws GuestAgentUnavailable when no agent answers (the caller may fall back to acpi).
   * Returns once requested; the Stopped event tells when done.
   */
  shutdownDomain(uuid: string, mode?: ShutdownMode): Promise<void>;
  /** Force off. */
  destroyDomain(uuid: string): Promise<void>;
  suspendDomain(uuid: string): Promise<void>;
  resumeDomain(uuid: string): Promise<void>;
  /** Removes the persistent definition with managed-save, snapshot/checkpoint metadata and NVRAM. */
  undefineDomain(uuid: string): Promise<void>;
  /** Statistics of every running domain (one bulk call; a domain busy with a job is skipped, not waited for). */
  domainStats(): Promise<DomainStats[]>;
  /** The domain's live XML (debugging, tests). */
  getDomainXml(uuid: string): Promise<string>;
  /**
   * Asks the guest agent for hostname, os-release, interfaces and timezone. No agent, an agent
   * not answering, or a domain not running give `{connected: false, message}`, never an error;
   * throws DomainNotFound and HypervisorUnavailable like every call.
   */
  guestInfo(uuid: string): Promise<GuestInfo>;
  /**
   * Opens a console of a running domain. Throws HypervisorError: DomainNotFound; InvalidState
   * (not running); ConsoleTaken (serial held by another session and no force);
   * ConsoleUnavailable (the domain has no such device, e.g. no VNC graphics).
   */
  openConsole(uuid: string, kind: ConsoleKind, options?: ConsoleOpenOptions): Promise<ConsoleChannel>;

  // ---- libvirt-managed networks
  listNetworks(): Promise<NetworkInfo[]>;
  /** Throws NetworkNotFound. */
  getNetwork(name: string): Promise<NetworkInfo>;
  /**
   * Defines the network persistently; idempotent for an identical definition. A different
   * definition of an inactive network replaces it; of an active one throws NetworkExists.
   */
  defineNetwork(spec: NetworkDefSpec): Promise<NetworkInfo>;
  /** Starts the network and sets autostart; idempotent. */
  startNetwork(name: string): Promise<NetworkInfo>;
  /** Stops the network and clears autostart; idempotent. Guests on it lose their link. */
  stopNetwork(name: string): Promise<void>;
  /** Removes the definition. The network must be stopped first (InvalidState). */
  undefineNetwork(name: string): Promise<void>;
  /** Whether a Linux bridge of that name exists on this host (for `bridge` NICs). */
  bridgeExists(name: string): Promise<boolean>;

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
  /**
   * A new volume `spec.name` holding a full, independent copy of volume `source` of the same
   * pool (libvirt's virStorageVolCreateXMLFrom: a backing chain is flattened), grown to
   * spec.capacityBytes. Throws VolumeNotFound (source), VolumeExists, PoolNotFound, PoolInactive.
   */
  cloneVolume(pool: string, source: string, spec: VolumeSpec): Promise<VolumeInfo>;
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

  // ---- disk snapshots (internal qcow2 snapshots, one per disk file, all named `name`)
  /**
   * Takes snapshot `name` of every disk. A running domain's guest file systems are frozen
   * through the guest agent first and always thawed after; without an answering agent the
   * snapshot is taken anyway (crash-consistent, frozen false). A domain that does not exist
   * counts as stopped. Throws SnapshotExists (a disk has it already), VolumeNotFound.
   */
  snapshotDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<DiskSnapshotOutcome>;
  /** Puts every disk back to snapshot `name`. Throws InvalidState (the domain is running), SnapshotNotFound. */
  revertDisks(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void>;
  /** Deletes snapshot `name` from every disk that has it (a disk without it is fine). */
  deleteDiskSnapshots(uuid: string, name: string, disks: readonly DiskSnapshotTarget[]): Promise<void>;
}
