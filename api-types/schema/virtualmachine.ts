/** VirtualMachine (quantix.io/v1alpha1): one KVM/libvirt domain, declared. */
import { fieldError, validateLabels, type FieldError } from '../field-errors.js';
import { isIPAddress } from '../names.js';
import { CLEANUP_FINALIZER, withFinalizer } from '../finalizers.js';
import type { VirtualMachine } from '../generated/types.js';
import { humanQuantity, tryParseBytes } from '../quantity.js';
import {
  bool,
  Condition,
  conditions,
  DNS1123_LABEL_PATTERN,
  DNS1123_SUBDOMAIN_PATTERN,
  int,
  MAC_PATTERN,
  quantity,
  resourceSchema,
  str,
  stringMap,
  time,
  UUID_PATTERN,
} from './common.js';
import { conditionStatus, since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const MIN_VM_MEMORY_BYTES = 16 * 1024 * 1024;
export const MIN_DISK_BYTES = 1024 * 1024;

const RunStrategy = named(
  'RunStrategy',
  {
    type: 'string',
    enum: ['Always', 'Halted', 'Manual', 'RerunOnFailure'],
    default: 'Always',
    description:
      'When the VM should run. Always: keep it running (restart when it stops). Halted: keep it stopped. ' +
      'Manual: start/stop only on explicit request. RerunOnFailure: restart only after a failure, not after a clean guest shutdown.',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      Always: 'Keep the VM running; the agent restarts it whenever it stops.',
      Halted: 'Keep the VM stopped.',
      Manual: 'Start and stop only on explicit request; the agent never restarts it by itself.',
      RerunOnFailure: 'Restart the VM after a crash, not after a clean guest shutdown.',
    },
  },
);

const DiskBus = named('DiskBus', {
  type: 'string',
  enum: ['virtio', 'sata', 'scsi'],
  description: 'Bus a disk is attached to.',
} satisfies JSONSchema);

/*
 * Defaults live outside list items on purpose: `kubectl apply` (client-side) replaces a
 * whole list in its JSON merge patch whenever the stored list differs from the manifest,
 * so a default written into each disk or network would make every re-apply "configured".
 * The VM-wide `spec.diskBus` is defaulted instead; absent per-item values mean the
 * documented default and are resolved by the agent.
 */

const NetworkType = named('NetworkType', {
  type: 'string',
  enum: ['user', 'network', 'bridge'],
  description:
    'Default user. user: QEMU user-mode networking (no source; portForwards reach the guest). network: the Quantix Network named by source. bridge: an existing host bridge named by source.',
} satisfies JSONSchema);

const ImageClone = named(
  'DiskImageClone',
  { type: 'string', enum: ['Overlay', 'Copy'], description: 'How a disk volume is made from its image.' } satisfies JSONSchema,
  {
    enumDescriptions: {
      Overlay: "A qcow2 overlay whose backing file is the node's cached image: instant and small; the cached image stays while the disk exists.",
      Copy: 'A full, independent copy of the image: takes time and space, survives the image being deleted.',
    },
  },
);

const PortForward = named('PortForward', {
  type: 'object',
  description: 'A host port forwarded to a guest port (user networks only).',
  required: ['guestPort', 'hostPort'],
  properties: {
    guestPort: int('Port inside the guest.', { minimum: 1, maximum: 65535 }),
    hostPort: int('Port on the host.', { minimum: 1, maximum: 65535 }),
    protocol: named('PortForwardProtocol', { type: 'string', enum: ['TCP', 'UDP'], description: 'TCP when omitted.' } satisfies JSONSchema),
    hostAddress: str('Host address the port listens on; 127.0.0.1 when omitted (reachable from the host only).'),
  },
} satisfies JSONSchema);

const CloudInit = named('CloudInit', {
  type: 'object',
  description:
    'cloud-init NoCloud seed, attached to the VM as a CD-ROM labelled cidata and rebuilt when this changes. ' +
    'Anyone who may read the VM (viewers included) can read it: put no secrets here.',
  properties: {
    userData: str('User data (#cloud-config YAML, or a script). Never logged.'),
    networkData: str('Network configuration (version 2 YAML), written as network-config.'),
    sshAuthorizedKeys: { type: 'array', description: "SSH public keys for the image's default user.", items: { type: 'string' } },
    hostname: str("The guest's host name; the VM's name when omitted.", { pattern: DNS1123_LABEL_PATTERN }),
  },
} satisfies JSONSchema);

const Disk = named('VirtualMachineDisk', {
  type: 'object',
  description: 'A disk: a volume of `size` created in `storagePool`, optionally cloned from `sourceImage`.',
  required: ['name', 'storagePool', 'size'],
  properties: {
    name: str('Disk name, unique within the VM (a DNS-1123 label).', { pattern: DNS1123_LABEL_PATTERN }),
    storagePool: str('Name of the StoragePool the volume lives in.', { pattern: DNS1123_SUBDOMAIN_PATTERN }),
    size: quantity('Volume size, e.g. 10Gi (at least 1Mi).'),
    bus: { ...DiskBus, description: 'Bus the disk is attached to; spec.diskBus when omitted.' },
    sourceImage: str('Path of a base image inside the pool to clone the volume from (relative to the pool root). Prefer image.'),
    image: str("Name of the Image the disk starts from: the volume is created from the node's cached copy and grown to size.", {
      pattern: DNS1123_SUBDOMAIN_PATTERN,
    }),
    imageClone: { ...ImageClone, description: 'How the volume is made from the image; Overlay when omitted.' },
    bootOrder: int('Boot order (1 boots first); disks without one are not in the boot list.', { minimum: 1 }),
    cloneFrom: named('DiskCloneSource', {
      type: 'object',
      description:
        'Set by the clone subresource (virtualmachines/NAME/clone): the volume starts as a full copy of this disk of another VM ' +
        "on the same node and pool, taken by the agent while that VM's domain is shut off.",
      required: ['virtualMachine', 'uid', 'disk'],
      properties: {
        virtualMachine: str('Name of the source VM (same namespace).', { pattern: DNS1123_LABEL_PATTERN }),
        uid: str("The source VM's metadata.uid (names its volumes; a re-created VM of the same name is not a source).", { pattern: UUID_PATTERN }),
        disk: str("Name of the source VM's disk.", { pattern: DNS1123_LABEL_PATTERN }),
      },
    } satisfies JSONSchema),
  },
} satisfies JSONSchema);

const Network = named('VirtualMachineNetwork', {
  type: 'object',
  description: 'A network interface.',
  required: ['name'],
  properties: {
    name: str('Interface name, unique within the VM (a DNS-1123 label).', { pattern: DNS1123_LABEL_PATTERN }),
    type: NetworkType,
    source: str('The Network (type network) or host bridge (type bridge).'),
    portForwards: {
      type: 'array',
      description: 'Host ports forwarded to the guest (type user only).',
      items: PortForward,
    },
    model: str('NIC model presented to the guest (virtio when omitted).'),
    macAddress: str('Fixed MAC address; generated when omitted.', { pattern: MAC_PATTERN }),
  },
} satisfies JSONSchema);

const Spec = named('VirtualMachineSpec', {
  type: 'object',
  description: 'The desired state of the VM.',
  required: ['memory'],
  properties: {
    runStrategy: RunStrategy,
    cpu: int('Number of virtual CPU cores.', { minimum: 1, maximum: 1024, default: 1 }),
    memory: quantity('Guest memory, e.g. 512Mi or 2Gi (at least 16Mi).'),
    paused: bool('Intent to pause (true) or resume (false) a running VM.', { default: false }),
    diskBus: { ...DiskBus, default: 'virtio', description: 'Bus for every disk that does not name its own.' },
    disks: {
      type: 'array',
      description: 'Disks, in attach order.',
      items: Disk,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    networks: {
      type: 'array',
      description: 'Network interfaces, in attach order.',
      items: Network,
      'x-kubernetes-list-type': 'map',
      'x-kubernetes-list-map-keys': ['name'],
    },
    nodeName: str('The Node the VM runs on: set by the scheduler, or by an admin to pin the VM. Immutable once set.', {
      pattern: DNS1123_SUBDOMAIN_PATTERN,
    }),
    nodeSelector: stringMap('Labels a Node must carry for the VM to be scheduled on it.'),
    cloudInit: CloudInit,
    terminationGracePeriodSeconds: int('How long a graceful stop waits for the guest (ACPI, then the guest agent) before powering off; 60 when omitted.', {
      minimum: 0,
      maximum: 3600,
    }),
  },
} satisfies JSONSchema);

const Phase = named(
  'VirtualMachinePhase',
  {
    type: 'string',
    enum: ['Pending', 'Scheduled', 'Starting', 'Running', 'Stopping', 'Stopped', 'Paused', 'Failed', 'Unknown', 'Lost', 'Terminated'],
    description:
      'Lifecycle phase. Pending/Scheduled: vm controller. Starting/Running/Stopping/Stopped/Paused/Failed: agent (from libvirt). ' +
      'Unknown: node-lifecycle controller (node stopped heartbeating). Lost/Terminated: node gateway (full state sync).',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'Accepted, not bound to a node yet. Set by the vm controller (also when the scheduler finds no node).',
      Scheduled: 'Bound to a node (spec.nodeName), the agent has not acted yet. Set by the vm controller after the scheduler binds.',
      Starting: 'The agent defined the domain and asked libvirt to start it. Set by the agent.',
      Running: 'libvirt reports the domain running. Set by the agent.',
      Stopping: 'The agent asked the guest to shut down and waits for it. Set by the agent.',
      Stopped: 'The domain is shut off as intended (Halted, or a guest shutdown under Manual). Set by the agent.',
      Paused: 'libvirt reports the domain paused (spec.paused or an I/O error). Set by the agent.',
      Failed: 'The domain crashed or could not be defined/started; see conditions. Set by the agent.',
      Unknown:
        'The node stopped heartbeating: the VM state cannot be known. Set by the node-lifecycle controller; never deleted or restarted elsewhere for it.',
      Lost: 'The host reports a managed domain missing (removed outside Quantix). Set by the node gateway on full sync; kept until an explicit decision.',
      Terminated: 'An unmanaged (host-discovered) domain disappeared from its host. Set by the node gateway.',
    },
  },
);

const PowerState = named('PowerState', {
  type: 'string',
  enum: ['running', 'paused', 'shutoff', 'crashed', 'pmsuspended', 'blocked', 'shutdown', 'nostate'],
  description: 'The domain state as reported by libvirt (virDomainState).',
} satisfies JSONSchema);

const Origin = named(
  'VirtualMachineOrigin',
  {
    type: 'string',
    enum: ['control-plane', 'host-discovered', 'imported'],
    description: 'Where the VM came from.',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      'control-plane': 'Created through the Quantix API.',
      'host-discovered': 'Found running on a host by the agent, not created by Quantix.',
      imported: 'A host-discovered VM an admin adopted into management.',
    },
  },
);

const DiskSnapshotResult = named('VirtualMachineDiskSnapshotResult', {
  type: 'object',
  description: 'One disk of a snapshot operation.',
  properties: {
    disk: str('Disk name (spec.disks[].name).'),
    path: str('The disk file on the node.'),
    snapshotName: str('The internal qcow2 snapshot name.'),
    sizeBytes: int('Disk file allocation when the snapshot was taken.', { minimum: 0 }),
  },
} satisfies JSONSchema);

const Status = named('VirtualMachineStatus', {
  type: 'object',
  description: 'The observed state of the VM.',
  properties: {
    phase: Phase,
    powerState: PowerState,
    nodeName: str('The node the domain was last observed on.'),
    origin: Origin,
    managed: bool('Whether Quantix manages the domain (never destroys or undefines it otherwise).'),
    domainUUID: str('libvirt domain UUID (= metadata.uid for VMs Quantix creates).', { pattern: UUID_PATTERN }),
    domainName: str('libvirt domain name.'),
    lastSeen: time('When the agent last reported the domain.'),
    lostReason: str('Why the VM is Lost.'),
    lostAt: time('When the VM became Lost.'),
    usage: named('VirtualMachineUsage', {
      type: 'object',
      description:
        "Current use of the running VM, from libvirt's domain statistics, sampled by its node's agent with the heartbeat and written only when it changed meaningfully (or grew stale). Absent while the VM does not run.",
      properties: {
        sampleTime: time('When the agent took this sample.'),
        cpuPercent: int("CPU use over the sampling interval, in whole percent of the VM's vCPUs (0-100).", { minimum: 0, maximum: 100 }),
        memoryResidentBytes: int('Memory the VM holds on the host (QEMU resident set), bytes.', { minimum: 0 }),
        memoryBytes: int('Memory the VM is running with (balloon), bytes.', { minimum: 0 }),
      },
    } satisfies JSONSchema),
    terminatedAt: time('When the VM became Terminated.'),
    conditions: conditions('Current conditions: Ready, Scheduled, Synced…', Condition),
    observedGeneration: int('The metadata.generation this status reflects.', { minimum: 0 }),
    interfaces: {
      type: 'array',
      description: 'Network interfaces as seen on the host.',
      items: named('VirtualMachineInterfaceStatus', {
        type: 'object',
        properties: {
          name: str('Interface name (spec.networks[].name).'),
          macAddress: str('MAC address (stable: derived from the VM uid unless spec.networks[].macAddress is set).'),
          ipAddress: str('First guest IPv4 address, when the guest agent reports one.'),
          ipAddresses: { type: 'array', description: 'Every address the guest agent reports (CIDR notation).', items: { type: 'string' } },
          interfaceName: str('Interface name inside the guest, from the guest agent.'),
        },
      } satisfies JSONSchema),
    },
    volumes: {
      type: 'array',
      description: 'Volumes backing the disks.',
      items: named('VirtualMachineVolumeStatus', {
        type: 'object',
        properties: {
          name: str('Disk name (spec.disks[].name).'),
          pool: str('StoragePool name.'),
          path: str('Volume path on the host.'),
          capacityBytes: int('Volume capacity in bytes.', { minimum: 0 }),
        },
      } satisfies JSONSchema),
    },
    restartCount: int('How many times the agent restarted the domain.', { minimum: 0 }),
    recovery: named('VirtualMachineRecovery', {
      type: 'object',
      description:
        'Recoveries of the VM from failed nodes (written by the node-lifecycle controller): a runStrategy Always VM on shared storage is moved to another node once its node is fenced (docs/fencing.md).',
      properties: {
        recoveredFrom: str('The fenced node the VM was last recovered from.'),
        count: int('How many times the VM was recovered from a fenced node.', { minimum: 0 }),
        lastRecoveryTime: time('When the VM was last unbound from a fenced node for recovery.'),
      },
    } satisfies JSONSchema),
    guestOSInfo: named('GuestOSInfo', {
      type: 'object',
      description: 'What runs inside the guest, from qemu-guest-agent (observation, written by the agent).',
      properties: {
        id: str('OS id, e.g. debian.'),
        name: str('OS name, e.g. Debian GNU/Linux.'),
        prettyName: str('e.g. Debian GNU/Linux 12 (bookworm).'),
        version: str('e.g. 12 (bookworm).'),
        versionId: str('e.g. 12.'),
        kernelRelease: str('Kernel release.'),
        machine: str('Machine architecture, e.g. x86_64.'),
        hostname: str("The guest's host name."),
        timezone: str('Guest time zone.'),
      },
    } satisfies JSONSchema),
    acceleration: str('kvm or tcg: how the node runs this VM.'),
    snapshotRequest: named('VirtualMachineSnapshotRequest', {
      type: 'object',
      description: "A disk snapshot operation the snapshot controller asks the VM's agent to run (written by the snapshot controller; one at a time).",
      properties: {
        id: str('metadata.uid of the VirtualMachineSnapshot or VirtualMachineRestore the operation is for.'),
        action: str('Snapshot (take), Revert (restore; the VM must be stopped) or Delete.', { enum: ['Snapshot', 'Revert', 'Delete'] }),
        snapshotName: str('Name of the internal qcow2 snapshot in each disk file.'),
      },
    } satisfies JSONSchema),
    snapshotOperation: named('VirtualMachineSnapshotOperation', {
      type: 'object',
      description: 'The result of the last snapshot request (written by the agent).',
      properties: {
        id: str('status.snapshotRequest.id it answers.'),
        action: str('Snapshot, Revert or Delete.'),
        snapshotName: str('The internal qcow2 snapshot name.'),
        phase: str('Succeeded or Failed.', { enum: ['Succeeded', 'Failed'] }),
        message: str('Why it failed, or details (e.g. why the file systems were not frozen).'),
        reason: str('Machine-readable reason of a failure, e.g. InvalidState, SnapshotNotFound, OperationFailed.'),
        frozen: bool('Snapshot: whether the guest file systems were frozen around it (true for a stopped VM).'),
        vmRunning: bool('Snapshot: whether the domain was running.'),
        disks: { type: 'array', description: 'Snapshot: the disks and their snapshot.', items: DiskSnapshotResult },
        completedAt: time('When the agent finished it.'),
      },
    } satisfies JSONSchema),
  },
} satisfies JSONSchema);

function validateSpec(vm: VirtualMachine): FieldError[] {
  const errs: FieldError[] = [];
  const spec = vm.spec as unknown;
  if (!spec || typeof spec !== 'object') return errs;
  const s = spec as Record<string, unknown>;
  if (typeof s.memory === 'string') {
    const r = tryParseBytes(s.memory);
    if ('bytes' in r && r.bytes < MIN_VM_MEMORY_BYTES) errs.push(fieldError.invalid('spec.memory', s.memory, 'must be at least 16Mi'));
    else if ('error' in r && r.error !== 'must be a quantity like 2Gi') errs.push(fieldError.invalid('spec.memory', s.memory, r.error));
  }
  if (Array.isArray(s.disks)) {
    s.disks.forEach((d: unknown, i) => {
      if (!d || typeof d !== 'object' || typeof (d as { size?: unknown }).size !== 'string') return;
      const size = (d as { size: string }).size;
      const r = tryParseBytes(size);
      if ('bytes' in r && r.bytes < MIN_DISK_BYTES) errs.push(fieldError.invalid(`spec.disks[${i}].size`, size, 'must be at least 1Mi'));
      else if ('error' in r && r.error !== 'must be a quantity like 2Gi') errs.push(fieldError.invalid(`spec.disks[${i}].size`, size, r.error));
    });
    s.disks.forEach((d: unknown, i) => {
      if (!d || typeof d !== 'object') return;
      const disk = d as { image?: unknown; sourceImage?: unknown; imageClone?: unknown };
      if (disk.image !== undefined && disk.sourceImage !== undefined) {
        errs.push(fieldError.forbidden(`spec.disks[${i}].sourceImage`, 'may not be set together with image'));
      }
      if (disk.imageClone !== undefined && disk.image === undefined) {
        errs.push(fieldError.forbidden(`spec.disks[${i}].imageClone`, 'may only be set when image is set'));
      }
      if ((d as { cloneFrom?: unknown }).cloneFrom !== undefined && (disk.image !== undefined || disk.sourceImage !== undefined)) {
        errs.push(fieldError.forbidden(`spec.disks[${i}].cloneFrom`, 'may not be set together with image or sourceImage'));
      }
    });
  }
  if (Array.isArray(s.networks)) {
    s.networks.forEach((n: unknown, i) => {
      if (!n || typeof n !== 'object') return;
      const net = n as { type?: unknown; source?: unknown };
      const type = net.type ?? 'user';
      if ((type === 'network' || type === 'bridge') && (typeof net.source !== 'string' || net.source === '')) {
        errs.push(
          fieldError.required(
            `spec.networks[${i}].source`,
            `Required value: type ${type} needs the name of a ${type === 'network' ? 'libvirt network' : 'host bridge'}`,
          ),
        );
      }
      if (type === 'user' && net.source !== undefined) {
        errs.push(fieldError.forbidden(`spec.networks[${i}].source`, 'may not be set when type is user'));
      }
    });
    errs.push(...portForwardErrors(s.networks));
  }
  if (typeof s.nodeName === 'string' && s.nodeName.length > 253) {
    errs.push(fieldError.invalid('spec.nodeName', s.nodeName, 'must be no more than 253 characters'));
  }
  errs.push(...validateLabels(s.nodeSelector, 'spec.nodeSelector'));
  return errs;
}

function portForwardErrors(networks: unknown[]): FieldError[] {
  const errs: FieldError[] = [];
  const taken = new Map<string, string>();
  networks.forEach((n: unknown, i) => {
    if (!n || typeof n !== 'object') return;
    const net = n as { type?: unknown; portForwards?: unknown };
    if (!Array.isArray(net.portForwards) || net.portForwards.length === 0) return;
    if ((net.type ?? 'user') !== 'user') {
      errs.push(fieldError.forbidden(`spec.networks[${i}].portForwards`, `may only be set when type is user (QEMU user networking), not ${String(net.type)}`));
      return;
    }
    net.portForwards.forEach((pf: unknown, j) => {
      if (!pf || typeof pf !== 'object') return;
      const f = pf as { hostPort?: unknown; hostAddress?: unknown; protocol?: unknown };
      const field = `spec.networks[${i}].portForwards[${j}]`;
      if (typeof f.hostAddress === 'string' && isIPAddress(f.hostAddress).length > 0) {
        errs.push(fieldError.invalid(`${field}.hostAddress`, f.hostAddress, 'must be an IP address, e.g. 127.0.0.1'));
      }
      if (typeof f.hostPort !== 'number') return;
      const key = `${String(f.protocol ?? 'TCP')}/${String(f.hostAddress ?? '127.0.0.1')}:${f.hostPort}`;
      const first = taken.get(key);
      if (first)
        errs.push({ ...fieldError.duplicate(`${field}.hostPort`, f.hostPort), message: `Duplicate value: ${f.hostPort}: already forwarded by ${first}` });
      else taken.set(key, field);
    });
  });
  return errs;
}

function boundNode(vm: VirtualMachine | undefined): string | undefined {
  const name = (vm?.spec as { nodeName?: unknown } | undefined)?.nodeName;
  return typeof name === 'string' && name !== '' ? name : undefined;
}

/** The stored VM records a recovery from `node` not carried out yet: clearing spec.nodeName is that recovery. */
function isRecoveryUnbind(old: VirtualMachine, node: string): boolean {
  // Pending as recorded, or Scheduled: the vm controller may have seen the still-bound VM in between.
  const waiting = old.status?.phase === 'Pending' || old.status?.phase === 'Scheduled';
  return old.status?.recovery?.recoveredFrom === node && waiting && !old.metadata.deletionTimestamp;
}

export const NODE_NAME_IMMUTABLE = 'spec.nodeName is immutable once set; moving a VM is an explicit operation';

/**
 * spec.nodeName is immutable once set (Kubernetes' rule for pod.spec.nodeName): the agent of
 * that node owns the domain and its volumes, and a second node taking over would both run it.
 * Setting it when empty (the scheduler's bind, an admin's pin) stays allowed, except on a VM
 * being deleted (nothing must start there; its cleanup finalizer could not be added).
 * The one move: a recovery from a fenced node (docs/fencing.md) clears it, after the
 * node-lifecycle controller recorded the recovery in the status (status.recovery names the
 * bound node, and the VM waits in phase Pending or Scheduled); the scheduler then binds it again.
 */
function validateUpdate(vm: VirtualMachine, old: VirtualMachine): FieldError[] {
  const before = boundNode(old);
  const after = boundNode(vm);
  if (before !== undefined && after === undefined && isRecoveryUnbind(old, before)) return [];
  if (before !== undefined && after !== before) {
    return [fieldError.invalid('spec.nodeName', after ?? '', `${NODE_NAME_IMMUTABLE} (bound to "${before}")`)];
  }
  if (before === undefined && after !== undefined && old.metadata.deletionTimestamp) {
    return [fieldError.forbidden('spec.nodeName', 'may not be set on a VM being deleted')];
  }
  return [];
}

/**
 * The cleanup finalizer on every write that leaves the VM bound to a node (a pinned create, an
 * admin's pin, the scheduler's bind, or a later update that dropped it), so no agent ever sees a
 * bound VM without it. Not added to a VM being deleted (Kubernetes forbids new finalizers then).
 */
function prepareWrite(vm: VirtualMachine, old: VirtualMachine | undefined): VirtualMachine {
  if (boundNode(vm) === undefined || old?.metadata.deletionTimestamp || vm.metadata.deletionTimestamp) return vm;
  return withFinalizer(vm, CLEANUP_FINALIZER);
}

export const virtualMachineDefinition: ResourceDefinition<VirtualMachine> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'VirtualMachine',
  plural: 'virtualmachines',
  singular: 'virtualmachine',
  listKind: 'VirtualMachineList',
  shortNames: ['vm', 'vms'],
  categories: ['quantix', 'all'],
  namespaced: true,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Label',
  schema: resourceSchema(
    'A KVM/libvirt virtual machine: spec is the intent, status what the agent observes.',
    {
      spec: Spec,
      status: Status,
    },
    ['spec'],
  ),
  printerColumns: [
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Lifecycle phase.', cell: (vm) => text(vm.status?.phase) },
    {
      name: 'Node',
      type: 'string',
      priority: 0,
      jsonPath: '.status.nodeName',
      description: 'Node the VM runs on.',
      cell: (vm) => text(vm.status?.nodeName ?? vm.spec?.nodeName),
    },
    {
      name: 'IP',
      type: 'string',
      priority: 0,
      jsonPath: '.status.interfaces[0].ipAddress',
      description: 'First guest IP address, from the guest agent.',
      cell: (vm) => text(vm.status?.interfaces?.find((i) => i.ipAddress)?.ipAddress),
    },
    { name: 'CPU', type: 'integer', priority: 0, jsonPath: '.spec.cpu', description: 'Virtual CPU cores.', cell: (vm) => vm.spec?.cpu ?? 1 },
    { name: 'Memory', type: 'string', priority: 0, jsonPath: '.spec.memory', description: 'Guest memory.', cell: (vm) => humanQuantity(vm.spec?.memory) },
    {
      name: 'Ready',
      type: 'string',
      priority: 0,
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Ready condition.',
      cell: (vm) => conditionStatus(vm.status?.conditions, 'Ready'),
    },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (vm, now) => since(vm.metadata.creationTimestamp, now),
    },
    {
      name: 'Power',
      type: 'string',
      priority: 1,
      jsonPath: '.status.powerState',
      description: 'Domain state reported by libvirt.',
      cell: (vm) => text(vm.status?.powerState),
    },
    {
      name: 'Run-Strategy',
      type: 'string',
      priority: 1,
      jsonPath: '.spec.runStrategy',
      description: 'When the VM should run.',
      cell: (vm) => text(vm.spec?.runStrategy ?? 'Always'),
    },
    { name: 'Origin', type: 'string', priority: 1, jsonPath: '.status.origin', description: 'Where the VM came from.', cell: (vm) => text(vm.status?.origin) },
    {
      name: 'Managed',
      type: 'boolean',
      priority: 1,
      jsonPath: '.status.managed',
      description: 'Whether Quantix manages the domain.',
      cell: (vm) => vm.status?.managed ?? null,
    },
  ],
  selectableFields: [
    { path: 'spec.nodeName', get: (o) => text((o as VirtualMachine).spec?.nodeName) },
    { path: 'status.phase', get: (o) => text((o as VirtualMachine).status?.phase) },
    { path: 'status.nodeName', get: (o) => text((o as VirtualMachine).status?.nodeName) },
    { path: 'status.origin', get: (o) => text((o as VirtualMachine).status?.origin) },
  ],
  validateSpec,
  validateUpdate,
  prepareWrite,
};
