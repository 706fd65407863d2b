/**
 * Disk snapshot requests: the snapshot controller writes status.snapshotRequest on the VM
 * (Snapshot, Revert or Delete, for a VirtualMachineSnapshot or VirtualMachineRestore uid);
 * the VM's agent runs it on the driver and answers in status.snapshotOperation.
 *
 * Why through the VM: the agent already receives every change of the VMs bound to its node
 * (WatchDesiredState) and already reports their status (NotifyVMChange), and a snapshot is
 * about one VM's disks on that node. Carrying snapshots and restores as their own kinds on
 * the stream would need a new watch, resume point and report call in the gateway for an
 * operation that is one request and one answer. The agent still writes only status; the
 * objects users create (VirtualMachineSnapshot/Restore) are driven by the controller.
 * One request at a time per VM: the controller queues the rest.
 */
import type { VirtualMachine, VirtualMachineSnapshotOperation, VirtualMachineSnapshotRequest } from '../../api-types/generated/types.js';
import type { DiskSnapshotOutcome, DiskSnapshotTarget, HypervisorDriver } from '../hypervisor/driver.js';
import { isHypervisorError } from '../hypervisor/errors.js';

/** The request the agent still has to run, if any (an answer for the same id and action is in memory or in the stored status). */
export function pendingSnapshotRequest(vm: VirtualMachine, answered: VirtualMachineSnapshotOperation | undefined): VirtualMachineSnapshotRequest | undefined {
  const req = vm.status?.snapshotRequest;
  if (!req?.id || !req.action || !req.snapshotName || vm.metadata.deletionTimestamp) return undefined;
  const same = (op: VirtualMachineSnapshotOperation | undefined) => op?.id === req.id && op?.action === req.action && op?.snapshotName === req.snapshotName;
  if (same(answered) || same(vm.status?.snapshotOperation)) return undefined;
  return req;
}

function isoSeconds(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

/** Runs one request; never throws: a failure is an answer (phase Failed, reason, message). */
export async function runSnapshotRequest(
  driver: HypervisorDriver,
  vm: VirtualMachine,
  req: VirtualMachineSnapshotRequest,
  disks: readonly DiskSnapshotTarget[],
  nowMs: () => number,
): Promise<VirtualMachineSnapshotOperation> {
  const uuid = vm.status?.domainUUID ?? vm.metadata.uid!;
  const name = req.snapshotName!;
  const base: VirtualMachineSnapshotOperation = { id: req.id, action: req.action, snapshotName: name };
  const failed = (reason: string, message: string): VirtualMachineSnapshotOperation => ({
    ...base,
    phase: 'Failed',
    reason,
    message,
    completedAt: isoSeconds(nowMs()),
  });
  if (disks.length === 0) return failed('NoDisks', 'the VM has no disk volumes on this node (was it ever started?)');
  try {
    switch (req.action) {
      case 'Snapshot': {
        let outcome: DiskSnapshotOutcome;
        try {
          outcome = await driver.snapshotDisks(uuid, name, disks);
        } catch (err) {
          // Taken before an agent restart lost the answer: the snapshot is there, its freeze unknown.
          if (!isHypervisorError(err, 'SnapshotExists')) throw err;
          return {
            ...base,
            phase: 'Succeeded',
            frozen: false,
            vmRunning: false,
            message: 'the disks already had this snapshot (taken before the agent restarted); counted as crash-consistent',
            disks: disks.map((d) => ({ disk: d.disk, path: d.path, snapshotName: name })),
            completedAt: isoSeconds(nowMs()),
          };
        }
        const op: VirtualMachineSnapshotOperation = {
          ...base,
          phase: 'Succeeded',
          frozen: outcome.frozen,
          vmRunning: outcome.running,
          disks: outcome.disks.map((d) => ({ disk: d.disk, path: d.path, snapshotName: name, sizeBytes: d.sizeBytes })),
          completedAt: isoSeconds(nowMs()),
        };
        if (outcome.running && !outcome.frozen)
          op.message = `file systems not frozen (crash-consistent): ${outcome.freezeMessage ?? 'the guest agent did not answer'}`;
        return op;
      }
      case 'Revert':
        await driver.revertDisks(uuid, name, disks);
        return { ...base, phase: 'Succeeded', completedAt: isoSeconds(nowMs()) };
      case 'Delete':
        await driver.deleteDiskSnapshots(uuid, name, disks);
        return { ...base, phase: 'Succeeded', completedAt: isoSeconds(nowMs()) };
      default:
        return failed('InvalidRequest', `unknown snapshot action ${String(req.action)}`);
    }
  } catch (err) {
    const reason = err instanceof Error && 'reason' in err && typeof err.reason === 'string' ? err.reason : 'OperationFailed';
    return failed(reason, err instanceof Error ? err.message : String(err));
  }
}
