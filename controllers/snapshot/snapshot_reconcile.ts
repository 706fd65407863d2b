/**
 * The snapshot controller's reconcile as pure functions: a VirtualMachineSnapshot or
 * VirtualMachineRestore and its VM → the object's new status, what to write into the VM's
 * status.snapshotRequest (the one slot through which the VM's agent takes requests), and
 * the finalizer / deletion steps.
 *
 * The slot: a request stays in the VM's status until its owner has read the agent's answer
 * (status.snapshotOperation with the same id and action) into its own status; then the owner
 * clears it and the next operation may claim it. A request whose owner no longer exists is
 * free to take. Claims are writes with the VM's resourceVersion, so two owners never both win.
 */
import { SNAPSHOT_CLEANUP_FINALIZER } from '../../api-types/finalizers.js';
import type {
  VirtualMachine,
  VirtualMachineRestore,
  VirtualMachineRestoreStatus,
  VirtualMachineSnapshot,
  VirtualMachineSnapshotOperation,
  VirtualMachineSnapshotRequest,
  VirtualMachineSnapshotStatus,
} from '../../api-types/generated/types.js';
import { vmIsStopped } from '../../api-types/snapshot-usage.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';

type Action = NonNullable<VirtualMachineSnapshotRequest['action']>;

/** What to do with the VM's request slot: claim it with a request, release it, or leave it. */
export type SlotChange = { claim: VirtualMachineSnapshotRequest } | { release: true } | undefined;

export interface SnapshotPlan {
  status: VirtualMachineSnapshotStatus;
  slot: SlotChange;
  /** Drop the cleanup finalizer (the snapshot may go). */
  releaseFinalizer: boolean;
  /** Delete the snapshot object (its VM is gone: so are the disks holding it). */
  deleteObject: boolean;
}

export interface RestorePlan {
  status: VirtualMachineRestoreStatus;
  slot: SlotChange;
}

/** The internal qcow2 snapshot name: readable, and unique per snapshot object (uid). */
export function internalSnapshotName(snap: VirtualMachineSnapshot): string {
  return `${snap.metadata.name}-${(snap.metadata.uid ?? '').slice(0, 8)}`;
}

/** The agent's answer to (id, action), if the VM's status has it. */
export function answerFor(vm: VirtualMachine, id: string, action: Action): VirtualMachineSnapshotOperation | undefined {
  const op = vm.status?.snapshotOperation;
  return op?.id === id && op.action === action && op.phase ? op : undefined;
}

function ownsSlot(vm: VirtualMachine, id: string, action: Action): boolean {
  const req = vm.status?.snapshotRequest;
  return req?.id === id && req.action === action;
}

/** Whether the slot can be claimed: empty, or held by an object that no longer exists. */
export function slotFree(vm: VirtualMachine, ownerExists: (id: string) => boolean): boolean {
  const req = vm.status?.snapshotRequest;
  return !req?.id || !ownerExists(req.id);
}

function describeHolder(vm: VirtualMachine): string {
  const req = vm.status?.snapshotRequest;
  return `waiting for the VM's current snapshot operation (${req?.action ?? ''} ${req?.snapshotName ?? ''}) to finish`;
}

function readyCondition(status: VirtualMachineSnapshotStatus, now: string): VirtualMachineSnapshotStatus {
  const ready = status.phase === 'Ready';
  status.conditions = setCondition(
    status.conditions,
    {
      type: 'Ready',
      status: ready ? 'True' : 'False',
      reason: status.phase ?? 'Pending',
      message: status.message ?? (ready ? 'the snapshot can be restored' : ''),
    },
    now,
  );
  return status;
}

/**
 * One snapshot against its VM (undefined: the VM does not exist). `ownerExists` tells whether
 * a request id in the VM's slot belongs to a live snapshot or restore.
 */
export function planSnapshot(snap: VirtualMachineSnapshot, vm: VirtualMachine | undefined, ownerExists: (id: string) => boolean, nowMs: number): SnapshotPlan {
  const now = isoSeconds(new Date(nowMs));
  const id = snap.metadata.uid!;
  const status: VirtualMachineSnapshotStatus = structuredClone(snap.status ?? {});
  const plan: SnapshotPlan = { status, slot: undefined, releaseFinalizer: false, deleteObject: false };
  const hasFinalizer = (snap.metadata.finalizers ?? []).includes(SNAPSHOT_CLEANUP_FINALIZER);
  const vmGone = !vm || vm.metadata.uid === undefined || Boolean(vm.metadata.deletionTimestamp);

  if (snap.metadata.deletionTimestamp) {
    if (!hasFinalizer) return plan;
    if (vmGone) {
      // The VM's volumes (and the snapshots inside them) go with the VM.
      plan.releaseFinalizer = true;
      if (vm && ownsSlot(vm, id, 'Delete')) plan.slot = { release: true };
      return plan;
    }
    const taking = ownsSlot(vm, id, 'Snapshot');
    const takeAnswer = answerFor(vm, id, 'Snapshot');
    if (taking && !takeAnswer) {
      status.message = 'deletion waits for the snapshot being taken to finish';
      return plan;
    }
    const taken = status.phase === 'Ready' || takeAnswer?.phase === 'Succeeded';
    if (!taken) {
      plan.releaseFinalizer = true;
      if (taking) plan.slot = { release: true };
      return plan;
    }
    const deleteAnswer = answerFor(vm, id, 'Delete');
    if (deleteAnswer) {
      plan.releaseFinalizer = true;
      if (ownsSlot(vm, id, 'Delete')) plan.slot = { release: true };
      return plan;
    }
    if (ownsSlot(vm, id, 'Delete')) {
      status.message = 'deleting the snapshot from the disks';
      return plan;
    }
    if (taking || slotFree(vm, ownerExists)) {
      plan.slot = { claim: { id, action: 'Delete', snapshotName: status.disks?.[0]?.snapshotName ?? internalSnapshotName(snap) } };
      status.message = 'deleting the snapshot from the disks';
    } else status.message = `deletion is ${describeHolder(vm)}`;
    return plan;
  }

  if (vmGone) {
    plan.deleteObject = true;
    return plan;
  }

  if (status.phase === 'Ready' || status.phase === 'Failed') {
    if (ownsSlot(vm, id, 'Snapshot')) plan.slot = { release: true };
    return plan;
  }

  const answer = answerFor(vm, id, 'Snapshot');
  if (answer) {
    status.nodeName = vm.status?.nodeName ?? vm.spec?.nodeName;
    if (answer.phase === 'Succeeded') {
      status.phase = 'Ready';
      status.disks = (answer.disks ?? []).map((d) => ({ disk: d.disk, path: d.path, snapshotName: d.snapshotName, sizeBytes: d.sizeBytes }));
      status.sizeBytes = (answer.disks ?? []).reduce((sum, d) => sum + (d.sizeBytes ?? 0), 0);
      status.creationTime = answer.completedAt ?? now;
      status.vmRunning = answer.vmRunning ?? false;
      status.frozen = answer.frozen ?? false;
      status.consistency = status.frozen ? 'FileSystemConsistent' : 'CrashConsistent';
      status.message = answer.message ?? (status.vmRunning ? 'taken with the guest file systems frozen (qemu-guest-agent)' : 'taken while the VM was stopped');
    } else {
      status.phase = 'Failed';
      status.message = `${answer.reason ? `${answer.reason}: ` : ''}${answer.message ?? 'the snapshot failed'}`;
    }
    if (ownsSlot(vm, id, 'Snapshot')) plan.slot = { release: true };
    readyCondition(status, now);
    return plan;
  }

  if (ownsSlot(vm, id, 'Snapshot')) {
    status.phase = 'InProgress';
    status.message = `the agent on node ${vm.status?.nodeName ?? vm.spec?.nodeName ?? ''} is taking the snapshot`;
  } else if (!vm.spec?.nodeName) {
    status.phase = 'Pending';
    status.message = 'waiting for the VM to be scheduled to a node (its disks are created there)';
  } else if (slotFree(vm, ownerExists)) {
    plan.slot = { claim: { id, action: 'Snapshot', snapshotName: internalSnapshotName(snap) } };
    status.phase = 'InProgress';
    status.message = `the agent on node ${vm.spec.nodeName} is taking the snapshot`;
  } else {
    status.phase = 'Pending';
    status.message = describeHolder(vm);
  }
  readyCondition(status, now);
  return plan;
}

/** One restore against its VM and snapshot (undefined: does not exist). */
export function planRestore(
  restore: VirtualMachineRestore,
  vm: VirtualMachine | undefined,
  snap: VirtualMachineSnapshot | undefined,
  ownerExists: (id: string) => boolean,
  nowMs: number,
): RestorePlan {
  const now = isoSeconds(new Date(nowMs));
  const id = restore.metadata.uid!;
  const status: VirtualMachineRestoreStatus = structuredClone(restore.status ?? {});
  const plan: RestorePlan = { status, slot: undefined };
  const fail = (message: string): RestorePlan => {
    status.phase = 'Failed';
    status.message = message;
    status.completionTime = now;
    status.conditions = setCondition(status.conditions, { type: 'Complete', status: 'True', reason: 'Failed', message }, now);
    return plan;
  };
  if (status.phase === 'Succeeded' || status.phase === 'Failed') {
    if (vm && ownsSlot(vm, id, 'Revert')) plan.slot = { release: true };
    return plan;
  }
  if (restore.metadata.deletionTimestamp) {
    if (vm && ownsSlot(vm, id, 'Revert')) plan.slot = { release: true };
    return plan;
  }
  const vmName = restore.spec?.virtualMachineName ?? '';
  if (!vm || vm.metadata.deletionTimestamp) return fail(`VirtualMachine "${vmName}" no longer exists`);

  const answer = answerFor(vm, id, 'Revert');
  if (answer) {
    if (ownsSlot(vm, id, 'Revert')) plan.slot = { release: true };
    if (answer.phase !== 'Succeeded') return fail(`${answer.reason ? `${answer.reason}: ` : ''}${answer.message ?? 'the restore failed'}`);
    status.phase = 'Succeeded';
    status.message = `the disks of VirtualMachine "${vmName}" are back to snapshot "${restore.spec?.snapshotName ?? ''}"; start the VM`;
    status.completionTime = answer.completedAt ?? now;
    status.conditions = setCondition(status.conditions, { type: 'Complete', status: 'True', reason: 'Succeeded', message: status.message }, now);
    return plan;
  }
  if (ownsSlot(vm, id, 'Revert')) {
    status.phase = 'InProgress';
    status.message = 'the agent is reverting the disks';
    return plan;
  }
  const snapName = restore.spec?.snapshotName ?? '';
  if (!snap || snap.metadata.deletionTimestamp) return fail(`VirtualMachineSnapshot "${snapName}" no longer exists`);
  if (snap.spec?.virtualMachineName !== vmName) return fail(`VirtualMachineSnapshot "${snapName}" is not a snapshot of VirtualMachine "${vmName}"`);
  if (snap.status?.phase !== 'Ready') return fail(`VirtualMachineSnapshot "${snapName}" is not Ready (phase ${snap.status?.phase ?? 'Pending'})`);
  if (!vmIsStopped(vm)) return fail(`VirtualMachine "${vmName}" must be stopped to be restored (it is ${vm.status?.phase ?? 'not yet started'})`);
  if (!slotFree(vm, ownerExists)) {
    status.phase = 'Pending';
    status.message = describeHolder(vm);
    return plan;
  }
  plan.slot = { claim: { id, action: 'Revert', snapshotName: snap.status.disks?.[0]?.snapshotName ?? internalSnapshotName(snap) } };
  status.phase = 'InProgress';
  status.message = 'the agent is reverting the disks';
  return plan;
}
