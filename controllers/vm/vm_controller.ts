/**
 * The vm controller: phase and conditions from intent and the agent's report, the
 * cleanup finalizer, RerunOnFailure restarts, and Events on transitions (see
 * vm_reconcile.ts for the sub-reconcilers) and when a Failed VM's cause changes.
 *
 * Watches VMs and Nodes. A node change (deleted, readiness) enqueues the VMs bound to it:
 * a forced cleanup waits on the node being gone or not Ready.
 */
import type { Node, VirtualMachine } from '../../api-types/generated/types.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done, requeueAfter } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, Nodes, VirtualMachines } from '../runtime/resources.js';
import { BY_NODE, indexVmsByNode } from './vm_index.js';
import { planVm } from './vm_reconcile.js';
import { failureCauseEvent } from './vm_reconcile_status.js';

export interface VmControllerOptions {
  workers?: number;
  resyncPeriodMs?: number;
  /**
   * How long a new, unbound VM waits before its first reconcile (default 2 s): the
   * scheduler usually binds it (with the finalizer) well within that, and the vm
   * controller then writes its status once (Scheduled) instead of twice (Pending, then
   * Scheduled). Any later change — the bind, or the scheduler's Unschedulable — wakes it at once.
   */
  schedulerHeadStartMs?: number;
}

export const VM_CONTROLLER = 'vm';

export function vmController(options: VmControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(VM_CONTROLLER);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    const nodes = ctx.informers.informerFor<Node>(Nodes);
    indexVmsByNode(vms);
    const events = ctx.events.forComponent('quantix-vm-controller');

    const controller = new Controller({
      name: VM_CONTROLLER,
      workers: options.workers ?? 8,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => vms.store.keys(),
      correlationIdOf: correlationIdFromStore(vms.store),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        const vm = vms.store.get(key);
        if (!vm) return done();
        const nodeName = vm.spec?.nodeName ?? vm.status?.nodeName;
        const node = nodeName ? nodes.store.get(nodeName) : undefined;
        const plan = planVm({ vm, node, nowMs: Date.now() });

        let current: VirtualMachine = vm;
        if (plan.finalizers) {
          try {
            // Guarded by resourceVersion: the list is replaced whole.
            current = await client.patch<VirtualMachine>(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, {
              metadata: { resourceVersion: vm.metadata.resourceVersion, finalizers: plan.finalizers },
            });
          } catch (err) {
            if (isNotFound(err)) return done();
            throw err;
          }
          // Released: the object is gone (or going); report and stop.
          if (vm.metadata.deletionTimestamp) {
            for (const e of plan.events) events.record(vm, e);
            return done();
          }
        }
        // The status was computed from `vm`; the finalizer write only moved metadata, so
        // it is still right for `current` (whose resourceVersion guards the patch).
        await commitStatus(client, VirtualMachines, { ...current, status: vm.status }, plan.status);
        for (const e of plan.events) events.record(vm, e);
        return plan.requeueAfterMs ? requeueAfter(plan.requeueAfterMs) : done();
      },
    });

    const headStart = options.schedulerHeadStartMs ?? 2000;
    vms.on({
      add: (vm) => {
        const fresh = !vm.spec?.nodeName && !vm.status && !vm.metadata.deletionTimestamp;
        if (fresh && headStart > 0) controller.enqueueAfter(keyOf(vm), headStart);
        else controller.enqueue(keyOf(vm));
      },
      update: (old, vm) => {
        const cause = failureCauseEvent(old, vm);
        if (cause) events.record(vm, cause);
        controller.enqueue(keyOf(vm));
      },
    });
    const enqueueNodeVms = (n: Node) => {
      for (const vm of vms.store.byIndex(BY_NODE, n.metadata.name!)) controller.enqueue(keyOf(vm));
    };
    nodes.on({
      update: (old, n) => {
        const was = old.status?.conditions?.find((c) => c.type === 'Ready')?.status;
        const is = n.status?.conditions?.find((c) => c.type === 'Ready')?.status;
        if (was !== is) enqueueNodeVms(n);
      },
      delete: enqueueNodeVms,
    });
    return controller;
  };
}
