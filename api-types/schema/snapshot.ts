/**
 * VirtualMachineSnapshot and VirtualMachineRestore (quantix.io/v1alpha1, namespaced): a
 * point-in-time copy of a VM's disks, and putting a VM's disks back to one.
 *
 * Snapshots are internal qcow2 snapshots of each disk file (on the VM's node): the snapshot
 * controller asks the VM's agent through the VM's status.snapshotRequest and the agent
 * answers in status.snapshotOperation (agent/vm/snapshots.ts says why this path).
 */
import { fieldError, type FieldError } from '../field-errors.js';
import { SNAPSHOT_CLEANUP_FINALIZER, withFinalizer } from '../finalizers.js';
import type { VirtualMachineRestore, VirtualMachineSnapshot } from '../generated/types.js';
import { formatBytesHuman } from '../quantity.js';
import { bool, conditions, DNS1123_LABEL_PATTERN, int, resourceSchema, str, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const SNAPSHOT_PHASES = ['Pending', 'InProgress', 'Ready', 'Failed'] as const;
export const RESTORE_PHASES = ['Pending', 'InProgress', 'Succeeded', 'Failed'] as const;

const SnapshotSpec = named('VirtualMachineSnapshotSpec', {
  type: 'object',
  description: 'Which VM to snapshot (immutable).',
  required: ['virtualMachineName'],
  properties: {
    virtualMachineName: str('The VirtualMachine (same namespace) whose disks are snapshotted.', { pattern: DNS1123_LABEL_PATTERN }),
  },
} satisfies JSONSchema);

const SnapshotPhase = named(
  'VirtualMachineSnapshotPhase',
  { type: 'string', enum: [...SNAPSHOT_PHASES], description: 'Where the snapshot stands (set by the snapshot controller).' } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'Accepted; waits for the VM (e.g. another snapshot operation of it runs).',
      InProgress: "The VM's agent is taking the snapshot.",
      Ready: 'Every disk has the snapshot; the VM can be restored from it.',
      Failed: 'The snapshot could not be taken; see message. Delete it and take a new one.',
    },
  },
);

const DiskSnapshot = named('VirtualMachineDiskSnapshot', {
  type: 'object',
  description: 'The snapshot of one disk.',
  properties: {
    disk: str('Disk name (spec.disks[].name of the VM).'),
    path: str('The disk file on the node.'),
    snapshotName: str('Name of the internal qcow2 snapshot in the disk file (qemu-img snapshot -l).'),
    sizeBytes: int('Guest data the snapshot holds (qcow2 VM state size is 0 for disk-only snapshots: this is the disk allocation when taken).', {
      minimum: 0,
    }),
  },
} satisfies JSONSchema);

const SnapshotStatus = named('VirtualMachineSnapshotStatus', {
  type: 'object',
  description: 'The observed snapshot.',
  properties: {
    phase: SnapshotPhase,
    nodeName: str('Node holding the disks (and so the snapshot).'),
    disks: { type: 'array', description: 'Per-disk snapshot names.', items: DiskSnapshot },
    sizeBytes: int('Sum over the disks of their allocation when the snapshot was taken.', { minimum: 0 }),
    creationTime: time('When the snapshot was taken (on the node).'),
    vmRunning: bool('Whether the VM was running when the snapshot was taken.'),
    frozen: bool('Whether the guest file systems were frozen (qemu-guest-agent fsfreeze) around the snapshot; a stopped VM counts as frozen.'),
    consistency: str('FileSystemConsistent (VM stopped, or file systems frozen) or CrashConsistent (running VM without a guest agent answering).'),
    message: str('Details, e.g. why the snapshot failed.'),
    conditions: conditions('Current conditions: Ready.'),
  },
} satisfies JSONSchema);

const RestoreSpec = named('VirtualMachineRestoreSpec', {
  type: 'object',
  description: 'Which VM to put back to which snapshot (immutable).',
  required: ['virtualMachineName', 'snapshotName'],
  properties: {
    virtualMachineName: str('The VirtualMachine (same namespace) to restore; it must be stopped.', { pattern: DNS1123_LABEL_PATTERN }),
    snapshotName: str('The VirtualMachineSnapshot (same namespace, of the same VM, Ready) to restore from.', { pattern: DNS1123_LABEL_PATTERN }),
  },
} satisfies JSONSchema);

const RestorePhase = named(
  'VirtualMachineRestorePhase',
  { type: 'string', enum: [...RESTORE_PHASES], description: 'Where the restore stands (set by the snapshot controller).' } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'Accepted; waits for the VM (another snapshot operation of it runs).',
      InProgress: "The VM's agent is reverting the disks.",
      Succeeded: 'Every disk is back to the snapshot; start the VM.',
      Failed: 'The restore failed; see message.',
    },
  },
);

const RestoreStatus = named('VirtualMachineRestoreStatus', {
  type: 'object',
  description: 'The observed restore.',
  properties: {
    phase: RestorePhase,
    message: str('Details, e.g. why the restore failed.'),
    completionTime: time('When the restore finished (Succeeded or Failed).'),
    conditions: conditions('Current conditions.'),
  },
} satisfies JSONSchema);

/** The VM and snapshot a snapshot or restore names may not change: the operation is about them. */
function immutableSpec<T extends { spec?: unknown }>(fields: readonly string[]): (obj: T, old: T) => FieldError[] {
  return (obj, old) => {
    const now = (obj.spec ?? {}) as Record<string, unknown>;
    const before = (old.spec ?? {}) as Record<string, unknown>;
    return fields.filter((f) => now[f] !== before[f]).map((f) => fieldError.invalid(`spec.${f}`, now[f] ?? '', 'is immutable: create a new object instead'));
  };
}

export const virtualMachineSnapshotDefinition: ResourceDefinition<VirtualMachineSnapshot> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'VirtualMachineSnapshot',
  plural: 'virtualmachinesnapshots',
  singular: 'virtualmachinesnapshot',
  listKind: 'VirtualMachineSnapshotList',
  shortNames: ['vmsnap', 'vmsnaps'],
  categories: ['quantix'],
  namespaced: true,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Label',
  schema: resourceSchema(
    "A point-in-time snapshot of a VM's disks (internal qcow2 snapshots), frozen through qemu-guest-agent when it answers.",
    { spec: SnapshotSpec, status: SnapshotStatus },
    ['spec'],
  ),
  printerColumns: [
    { name: 'VM', type: 'string', priority: 0, jsonPath: '.spec.virtualMachineName', description: 'The VM.', cell: (s) => text(s.spec?.virtualMachineName) },
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Snapshot phase.', cell: (s) => text(s.status?.phase) },
    {
      name: 'Consistency',
      type: 'string',
      priority: 0,
      jsonPath: '.status.consistency',
      description: 'FileSystemConsistent or CrashConsistent.',
      cell: (s) => text(s.status?.consistency),
    },
    {
      name: 'Size',
      type: 'string',
      priority: 0,
      jsonPath: '.status.sizeBytes',
      description: 'Disk allocation when taken.',
      cell: (s) => (s.status?.sizeBytes === undefined ? '' : formatBytesHuman(s.status.sizeBytes)),
    },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (s, now) => since(s.metadata.creationTimestamp, now),
    },
    { name: 'Message', type: 'string', priority: 1, jsonPath: '.status.message', description: 'Details.', cell: (s) => text(s.status?.message) },
  ],
  selectableFields: [
    { path: 'spec.virtualMachineName', get: (o) => text((o as VirtualMachineSnapshot).spec?.virtualMachineName) },
    { path: 'status.phase', get: (o) => text((o as VirtualMachineSnapshot).status?.phase) },
  ],
  validateUpdate: immutableSpec(['virtualMachineName']),
  // On create, so that no snapshot ever exists without it (the disks may hold it already).
  prepareWrite: (obj, old) => (old ? obj : withFinalizer(obj, SNAPSHOT_CLEANUP_FINALIZER)),
};

export const virtualMachineRestoreDefinition: ResourceDefinition<VirtualMachineRestore> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'VirtualMachineRestore',
  plural: 'virtualmachinerestores',
  singular: 'virtualmachinerestore',
  listKind: 'VirtualMachineRestoreList',
  shortNames: ['vmrestore', 'vmrestores'],
  categories: ['quantix'],
  namespaced: true,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Label',
  schema: resourceSchema("Puts a stopped VM's disks back to a VirtualMachineSnapshot of it.", { spec: RestoreSpec, status: RestoreStatus }, ['spec']),
  printerColumns: [
    { name: 'VM', type: 'string', priority: 0, jsonPath: '.spec.virtualMachineName', description: 'The VM.', cell: (r) => text(r.spec?.virtualMachineName) },
    { name: 'Snapshot', type: 'string', priority: 0, jsonPath: '.spec.snapshotName', description: 'The snapshot.', cell: (r) => text(r.spec?.snapshotName) },
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Restore phase.', cell: (r) => text(r.status?.phase) },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (r, now) => since(r.metadata.creationTimestamp, now),
    },
    { name: 'Message', type: 'string', priority: 1, jsonPath: '.status.message', description: 'Details.', cell: (r) => text(r.status?.message) },
  ],
  selectableFields: [
    { path: 'spec.virtualMachineName', get: (o) => text((o as VirtualMachineRestore).spec?.virtualMachineName) },
    { path: 'status.phase', get: (o) => text((o as VirtualMachineRestore).status?.phase) },
  ],
  validateUpdate: immutableSpec(['virtualMachineName', 'snapshotName']),
};
