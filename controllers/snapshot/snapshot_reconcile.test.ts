import { SNAPSHOT_CLEANUP_FINALIZER } from '../../api-types/finalizers.js';
import type {
  VirtualMachine,
  VirtualMachineRestore,
  VirtualMachineSnapshot,
  VirtualMachineSnapshotOperation,
  VirtualMachineSnapshotRequest,
} from '../../api-types/generated/types.js';
import { internalSnapshotName, planRestore, planSnapshot, slotFree } from './snapshot_reconcile.js';

const NOW = Date.parse('2026-12-07T05:00:00Z');
const SNAP_UID = 'aaaaaaaa-0000-4000-8000-000000000001';
const RESTORE_UID = 'bbbbbbbb-0000-4000-8000-000000000002';
const OTHER_UID = 'cccccccc-0000-4000-8000-000000000003';

function vm(status: VirtualMachine['status'] = {}, extra: Partial<VirtualMachine['metadata']> = {}): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'web', namespace: 'default', uid: 'vm-uid', resourceVersion: '10', ...extra },
    spec: { nodeName: 'node-1', disks: [{ name: 'root', size: '1Gi', storagePool: 'local' }] },
    status: { phase: 'Running', nodeName: 'node-1', ...status },
  } as VirtualMachine;
}

function snap(status: VirtualMachineSnapshot['status'] = {}, extra: Partial<VirtualMachineSnapshot['metadata']> = {}): VirtualMachineSnapshot {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachineSnapshot',
    metadata: { name: 'before-upgrade', namespace: 'default', uid: SNAP_UID, finalizers: [SNAPSHOT_CLEANUP_FINALIZER], ...extra },
    spec: { virtualMachineName: 'web' },
    status,
  };
}

function restore(status: VirtualMachineRestore['status'] = {}, extra: Partial<VirtualMachineRestore['metadata']> = {}): VirtualMachineRestore {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachineRestore',
    metadata: { name: 'undo', namespace: 'default', uid: RESTORE_UID, ...extra },
    spec: { virtualMachineName: 'web', snapshotName: 'before-upgrade' },
    status,
  };
}

const exists = (ids: string[]) => (id: string) => ids.includes(id);
const NAME = internalSnapshotName(snap());
const req = (id: string, action: VirtualMachineSnapshotRequest['action'], snapshotName = NAME): VirtualMachineSnapshotRequest => ({ id, action, snapshotName });
const answer = (id: string, action: string, extra: Partial<VirtualMachineSnapshotOperation> = {}): VirtualMachineSnapshotOperation => ({
  id,
  action,
  snapshotName: NAME,
  phase: 'Succeeded',
  completedAt: '2026-12-07T05:00:00Z',
  ...extra,
});

describe('internalSnapshotName', () => {
  it('is the object name and the start of its uid', () => {
    expect(NAME).toBe('before-upgrade-aaaaaaaa');
  });
});

describe('slotFree', () => {
  it('is free when empty, or held by an object that is gone; taken otherwise', () => {
    expect(slotFree(vm(), exists([]))).toBe(true);
    expect(slotFree(vm({ snapshotRequest: req(OTHER_UID, 'Snapshot') }), exists([]))).toBe(true);
    expect(slotFree(vm({ snapshotRequest: req(OTHER_UID, 'Snapshot') }), exists([OTHER_UID]))).toBe(false);
  });
});

describe('planSnapshot', () => {
  it('claims the free slot with a Snapshot request and goes InProgress', () => {
    const plan = planSnapshot(snap(), vm(), exists([SNAP_UID]), NOW);
    expect(plan.slot).toEqual({ claim: req(SNAP_UID, 'Snapshot') });
    expect(plan.status.phase).toBe('InProgress');
    expect(plan.status.message).toBe('the agent on node node-1 is taking the snapshot');
    expect(plan.status.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'False', reason: 'InProgress' });
  });

  it('waits (Pending) while another operation holds the slot, naming it', () => {
    const plan = planSnapshot(snap(), vm({ snapshotRequest: req(OTHER_UID, 'Revert', 'old-1') }), exists([SNAP_UID, OTHER_UID]), NOW);
    expect(plan.slot).toBeUndefined();
    expect(plan.status).toMatchObject({ phase: 'Pending', message: "waiting for the VM's current snapshot operation (Revert old-1) to finish" });
  });

  it('waits for a VM that is not on a node yet', () => {
    const unbound = vm();
    delete unbound.spec.nodeName;
    const plan = planSnapshot(snap(), unbound, exists([SNAP_UID]), NOW);
    expect(plan.slot).toBeUndefined();
    expect(plan.status.phase).toBe('Pending');
  });

  it('a frozen answer: Ready, FileSystemConsistent, disks and size, and the slot released', () => {
    const done = answer(SNAP_UID, 'Snapshot', {
      frozen: true,
      vmRunning: true,
      disks: [
        { disk: 'root', path: '/p/root.qcow2', snapshotName: NAME, sizeBytes: 100 },
        { disk: 'data', path: '/p/data.qcow2', snapshotName: NAME, sizeBytes: 20 },
      ],
    });
    const plan = planSnapshot(
      snap({ phase: 'InProgress' }),
      vm({ snapshotRequest: req(SNAP_UID, 'Snapshot'), snapshotOperation: done }),
      exists([SNAP_UID]),
      NOW,
    );
    expect(plan.slot).toEqual({ release: true });
    expect(plan.status).toMatchObject({
      phase: 'Ready',
      frozen: true,
      vmRunning: true,
      consistency: 'FileSystemConsistent',
      sizeBytes: 120,
      nodeName: 'node-1',
      creationTime: '2026-12-07T05:00:00Z',
      disks: [
        { disk: 'root', path: '/p/root.qcow2', snapshotName: NAME, sizeBytes: 100 },
        { disk: 'data', path: '/p/data.qcow2', snapshotName: NAME, sizeBytes: 20 },
      ],
    });
    expect(plan.status.conditions?.[0]).toMatchObject({ type: 'Ready', status: 'True' });
  });

  it('an answer without freeze on a running VM: CrashConsistent with the agent message', () => {
    const done = answer(SNAP_UID, 'Snapshot', { frozen: false, vmRunning: true, message: 'file systems not frozen (crash-consistent): no agent' });
    const plan = planSnapshot(
      snap({ phase: 'InProgress' }),
      vm({ snapshotRequest: req(SNAP_UID, 'Snapshot'), snapshotOperation: done }),
      exists([SNAP_UID]),
      NOW,
    );
    expect(plan.status).toMatchObject({
      phase: 'Ready',
      frozen: false,
      consistency: 'CrashConsistent',
      message: 'file systems not frozen (crash-consistent): no agent',
    });
  });

  it('a failed answer: Failed with reason and message', () => {
    const done = answer(SNAP_UID, 'Snapshot', { phase: 'Failed', reason: 'OperationFailed', message: 'qemu-img snapshot: No space left' });
    const plan = planSnapshot(
      snap({ phase: 'InProgress' }),
      vm({ snapshotRequest: req(SNAP_UID, 'Snapshot'), snapshotOperation: done }),
      exists([SNAP_UID]),
      NOW,
    );
    expect(plan.status).toMatchObject({ phase: 'Failed', message: 'OperationFailed: qemu-img snapshot: No space left' });
    expect(plan.slot).toEqual({ release: true });
  });

  it('the VM is gone or being deleted: the snapshot object is deleted', () => {
    expect(planSnapshot(snap({ phase: 'Ready' }), undefined, exists([]), NOW).deleteObject).toBe(true);
    expect(planSnapshot(snap({ phase: 'Ready' }), vm({}, { deletionTimestamp: '2026-12-07T04:00:00Z' }), exists([]), NOW).deleteObject).toBe(true);
  });

  describe('deletion', () => {
    const deleting = { deletionTimestamp: '2026-12-07T04:59:00Z' };
    it('of a Ready snapshot: asks the agent to delete it from the disks, then releases the finalizer', () => {
      const first = planSnapshot(snap({ phase: 'Ready', disks: [{ disk: 'root', snapshotName: NAME }] }, deleting), vm(), exists([SNAP_UID]), NOW);
      expect(first.slot).toEqual({ claim: req(SNAP_UID, 'Delete') });
      expect(first.releaseFinalizer).toBe(false);
      const waiting = planSnapshot(snap({ phase: 'Ready' }, deleting), vm({ snapshotRequest: req(SNAP_UID, 'Delete') }), exists([SNAP_UID]), NOW);
      expect(waiting.releaseFinalizer).toBe(false);
      const answered = planSnapshot(
        snap({ phase: 'Ready' }, deleting),
        vm({ snapshotRequest: req(SNAP_UID, 'Delete'), snapshotOperation: answer(SNAP_UID, 'Delete') }),
        exists([SNAP_UID]),
        NOW,
      );
      expect(answered.releaseFinalizer).toBe(true);
      expect(answered.slot).toEqual({ release: true });
    });

    it('of a snapshot never taken (Pending or Failed): the finalizer goes at once', () => {
      expect(planSnapshot(snap({ phase: 'Pending' }, deleting), vm(), exists([SNAP_UID]), NOW).releaseFinalizer).toBe(true);
      expect(planSnapshot(snap({ phase: 'Failed' }, deleting), vm(), exists([SNAP_UID]), NOW).releaseFinalizer).toBe(true);
    });

    it('while it is being taken: waits for the answer', () => {
      const plan = planSnapshot(snap({ phase: 'InProgress' }, deleting), vm({ snapshotRequest: req(SNAP_UID, 'Snapshot') }), exists([SNAP_UID]), NOW);
      expect(plan.releaseFinalizer).toBe(false);
      expect(plan.slot).toBeUndefined();
    });

    it('when the VM is gone: the finalizer goes (the disks went with it)', () => {
      expect(planSnapshot(snap({ phase: 'Ready' }, deleting), undefined, exists([SNAP_UID]), NOW).releaseFinalizer).toBe(true);
    });
  });
});

describe('planRestore', () => {
  const ready = snap({ phase: 'Ready', disks: [{ disk: 'root', snapshotName: NAME }] });
  const stopped = (status: VirtualMachine['status'] = {}) => vm({ phase: 'Stopped', powerState: 'shutoff', ...status });

  it('claims the slot of a stopped VM with a Revert of the snapshot', () => {
    const plan = planRestore(restore(), stopped(), ready, exists([RESTORE_UID]), NOW);
    expect(plan.slot).toEqual({ claim: req(RESTORE_UID, 'Revert') });
    expect(plan.status.phase).toBe('InProgress');
  });

  it('Succeeded from the answer, slot released, completion time set', () => {
    const plan = planRestore(
      restore({ phase: 'InProgress' }),
      stopped({ snapshotRequest: req(RESTORE_UID, 'Revert'), snapshotOperation: answer(RESTORE_UID, 'Revert') }),
      ready,
      exists([RESTORE_UID]),
      NOW,
    );
    expect(plan.status).toMatchObject({ phase: 'Succeeded', completionTime: '2026-12-07T05:00:00Z' });
    expect(plan.slot).toEqual({ release: true });
  });

  it('Failed from a failed answer', () => {
    const plan = planRestore(
      restore({ phase: 'InProgress' }),
      stopped({
        snapshotRequest: req(RESTORE_UID, 'Revert'),
        snapshotOperation: answer(RESTORE_UID, 'Revert', { phase: 'Failed', reason: 'InvalidState', message: 'running' }),
      }),
      ready,
      exists([RESTORE_UID]),
      NOW,
    );
    expect(plan.status).toMatchObject({ phase: 'Failed', message: 'InvalidState: running' });
  });

  it.each([
    ['the VM is running', vm(), ready, 'VirtualMachine "web" must be stopped to be restored (it is Running)'],
    ['the VM is gone', undefined, ready, 'VirtualMachine "web" no longer exists'],
    ['the snapshot is gone', stopped(), undefined, 'VirtualMachineSnapshot "before-upgrade" no longer exists'],
    ['the snapshot is not Ready', stopped(), snap({ phase: 'InProgress' }), 'VirtualMachineSnapshot "before-upgrade" is not Ready (phase InProgress)'],
  ] as const)('fails when %s', (_n, theVm, theSnap, message) => {
    const plan = planRestore(restore(), theVm, theSnap, exists([RESTORE_UID]), NOW);
    expect(plan.status).toMatchObject({ phase: 'Failed', message });
    expect(plan.slot).toBeUndefined();
  });

  it('fails for a snapshot of another VM', () => {
    const other = snap({ phase: 'Ready' });
    other.spec = { virtualMachineName: 'db' };
    expect(planRestore(restore(), stopped(), other, exists([RESTORE_UID]), NOW).status.message).toBe(
      'VirtualMachineSnapshot "before-upgrade" is not a snapshot of VirtualMachine "web"',
    );
  });

  it('waits while the slot is taken', () => {
    const plan = planRestore(restore(), stopped({ snapshotRequest: req(OTHER_UID, 'Snapshot') }), ready, exists([RESTORE_UID, OTHER_UID]), NOW);
    expect(plan.status.phase).toBe('Pending');
    expect(plan.slot).toBeUndefined();
  });

  it('a finished restore releases a slot it still holds', () => {
    const plan = planRestore(restore({ phase: 'Succeeded' }), stopped({ snapshotRequest: req(RESTORE_UID, 'Revert') }), ready, exists([RESTORE_UID]), NOW);
    expect(plan.slot).toEqual({ release: true });
  });
});
