/**
 * The snapshot controller: drives VirtualMachineSnapshots and VirtualMachineRestores through
 * their phases (snapshot_reconcile.ts) by writing the VM's status.snapshotRequest, which the
 * VM's agent runs and answers in status.snapshotOperation (agent/vm/snapshots.ts). Also:
 * points each snapshot at its VM (ownerReference), deletes the snapshots of a deleted VM,
 * and releases the snapshot-cleanup finalizer once the disks no longer hold the snapshot.
 */
import { SNAPSHOT_CLEANUP_FINALIZER } from '../../api-types/finalizers.js';
import type { VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot } from '../../api-types/generated/types.js';
import { isConflict, isNotFound } from '../../lib/apimachinery/status-error.js';
import type { ApiClient } from '../runtime/client.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdOf } from '../runtime/correlation.js';
import { Controller, done } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, VirtualMachineRestores, VirtualMachines, VirtualMachineSnapshots } from '../runtime/resources.js';
import { planRestore, planSnapshot, type SlotChange } from './snapshot_reconcile.js';

export interface SnapshotControllerOptions {
  workers?: number;
  resyncPeriodMs?: number;
}

export const SNAPSHOT_CONTROLLER = 'snapshot';

/** Queue keys: `snap:<ns>/<name>` and `restore:<ns>/<name>` (one queue, two kinds). */
const SNAP = 'snap:';
const RESTORE = 'restore:';

/** Index of snapshots and restores by their VM (`ns/vm`). */
const BY_VM = 'vm';
const vmKeyOf = (o: { metadata: { namespace?: string }; spec?: { virtualMachineName?: string } }) =>
  o.spec?.virtualMachineName ? [`${o.metadata.namespace ?? 'default'}/${o.spec.virtualMachineName}`] : [];

async function writeSlot(client: ApiClient, vm: VirtualMachine, change: SlotChange): Promise<void> {
  if (!change) return;
  // The VM's resourceVersion makes a claim lose cleanly to a concurrent one (409, requeued).
  const snapshotRequest = 'claim' in change ? change.claim : null;
  await client.patch<VirtualMachine>(
    VirtualMachines,
    vm.metadata.namespace,
    vm.metadata.name!,
    { metadata: { resourceVersion: vm.metadata.resourceVersion }, status: { snapshotRequest } },
    { subresource: 'status' },
  );
}

export function snapshotController(options: SnapshotControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(SNAPSHOT_CONTROLLER);
    const snaps = ctx.informers.informerFor<VirtualMachineSnapshot>(VirtualMachineSnapshots);
    const restores = ctx.informers.informerFor<VirtualMachineRestore>(VirtualMachineRestores);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    if (!snaps.store.hasIndex(BY_VM)) snaps.store.addIndex(BY_VM, vmKeyOf);
    if (!restores.store.hasIndex(BY_VM)) restores.store.addIndex(BY_VM, vmKeyOf);
    const events = ctx.events.forComponent('quantix-snapshot-controller');

    const ownerExists = (id: string) => snaps.store.list().some((s) => s.metadata.uid === id) || restores.store.list().some((r) => r.metadata.uid === id);
    const vmOf = (o: { metadata: { namespace?: string }; spec?: { virtualMachineName?: string } }) => {
      const [key] = vmKeyOf(o);
      return key ? vms.store.get(key) : undefined;
    };

    const reconcileSnapshot = async (key: string, client: ApiClient) => {
      const snap = snaps.store.get(key);
      if (!snap) return done();
      const vm = vmOf(snap);
      const plan = planSnapshot(snap, vm, ownerExists, Date.now());
      if (plan.deleteObject) {
        await client
          .delete(VirtualMachineSnapshots, snap.metadata.namespace, snap.metadata.name!, { preconditions: { uid: snap.metadata.uid } })
          .catch((err) => {
            if (!isNotFound(err) && !isConflict(err)) throw err;
          });
        events.record(snap, {
          type: 'Normal',
          reason: 'Deleted',
          message: `VirtualMachine "${snap.spec?.virtualMachineName ?? ''}" was deleted, and its disks with this snapshot`,
        });
        return done();
      }
      let current = snap;
      if (vm?.metadata.uid && !snap.metadata.deletionTimestamp && !(snap.metadata.ownerReferences ?? []).some((o) => o.uid === vm.metadata.uid)) {
        current = await client.patch<VirtualMachineSnapshot>(VirtualMachineSnapshots, snap.metadata.namespace, snap.metadata.name!, {
          metadata: {
            resourceVersion: snap.metadata.resourceVersion,
            ownerReferences: [
              ...(snap.metadata.ownerReferences ?? []),
              { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', name: vm.metadata.name!, uid: vm.metadata.uid, blockOwnerDeletion: false },
            ],
          },
        });
      }
      if (vm) await writeSlot(client, vm, plan.slot);
      if (!snap.metadata.deletionTimestamp) {
        await commitStatus(client, VirtualMachineSnapshots, { ...current, status: snap.status }, plan.status);
        const before = snap.status?.phase;
        if (plan.status.phase !== before && (plan.status.phase === 'Ready' || plan.status.phase === 'Failed')) {
          events.record(snap, {
            type: plan.status.phase === 'Ready' ? 'Normal' : 'Warning',
            reason: plan.status.phase === 'Ready' ? 'SnapshotReady' : 'SnapshotFailed',
            message: plan.status.message ?? '',
          });
        }
      }
      if (plan.releaseFinalizer) {
        const finalizers = (current.metadata.finalizers ?? []).filter((f) => f !== SNAPSHOT_CLEANUP_FINALIZER);
        await client
          .patch(VirtualMachineSnapshots, snap.metadata.namespace, snap.metadata.name!, {
            metadata: { resourceVersion: current.metadata.resourceVersion, finalizers: finalizers.length ? finalizers : null },
          })
          .catch((err) => {
            if (!isNotFound(err)) throw err;
          });
      }
      return done();
    };

    const reconcileRestore = async (key: string, client: ApiClient) => {
      const restore = restores.store.get(key);
      if (!restore) return done();
      const vm = vmOf(restore);
      const snap = restore.spec?.snapshotName ? snaps.store.get(`${restore.metadata.namespace ?? 'default'}/${restore.spec.snapshotName}`) : undefined;
      const plan = planRestore(restore, vm, snap, ownerExists, Date.now());
      if (vm) await writeSlot(client, vm, plan.slot);
      if (restore.metadata.deletionTimestamp) return done();
      await commitStatus(client, VirtualMachineRestores, restore, plan.status);
      if (plan.status.phase !== restore.status?.phase && (plan.status.phase === 'Succeeded' || plan.status.phase === 'Failed')) {
        events.record(restore, {
          type: plan.status.phase === 'Succeeded' ? 'Normal' : 'Warning',
          reason: plan.status.phase === 'Succeeded' ? 'Restored' : 'RestoreFailed',
          message: plan.status.message ?? '',
        });
      }
      return done();
    };

    const controller = new Controller({
      name: SNAPSHOT_CONTROLLER,
      workers: options.workers ?? 2,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => [...snaps.store.keys().map((k) => SNAP + k), ...restores.store.keys().map((k) => RESTORE + k)],
      // A snapshot's or restore's writes (the VM's snapshot slot included) carry its own id.
      correlationIdOf: (key) => correlationIdOf(key.startsWith(SNAP) ? snaps.store.get(key.slice(SNAP.length)) : restores.store.get(key.slice(RESTORE.length))),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        try {
          return key.startsWith(SNAP) ? await reconcileSnapshot(key.slice(SNAP.length), client) : await reconcileRestore(key.slice(RESTORE.length), client);
        } catch (err) {
          if (isNotFound(err)) return done();
          throw err;
        }
      },
    });
    snaps.on({ add: (s) => controller.enqueue(SNAP + keyOf(s)), update: (_o, s) => controller.enqueue(SNAP + keyOf(s)), delete: (s) => touchVm(s) });
    restores.on({ add: (r) => controller.enqueue(RESTORE + keyOf(r)), update: (_o, r) => controller.enqueue(RESTORE + keyOf(r)), delete: (r) => touchVm(r) });
    // A freed slot or an answer on the VM moves the operations waiting on it.
    function touchVm(o: { metadata: { namespace?: string }; spec?: { virtualMachineName?: string } }): void {
      for (const k of vmKeyOf(o)) enqueueForVm(k);
    }
    function enqueueForVm(vmKey: string): void {
      for (const s of snaps.store.byIndex(BY_VM, vmKey)) controller.enqueue(SNAP + keyOf(s));
      for (const r of restores.store.byIndex(BY_VM, vmKey)) controller.enqueue(RESTORE + keyOf(r));
    }
    vms.on({
      add: (vm) => enqueueForVm(keyOf(vm)),
      update: (old, vm) => {
        const s = (v: VirtualMachine) =>
          JSON.stringify([v.status?.snapshotRequest, v.status?.snapshotOperation, v.status?.phase, v.metadata.deletionTimestamp, v.spec?.nodeName]);
        if (s(old) !== s(vm)) enqueueForVm(keyOf(vm));
      },
      delete: (vm) => enqueueForVm(keyOf(vm)),
    });
    return controller;
  };
}
