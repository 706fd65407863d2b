/**
 * Node allocation: keeps `status.allocated` of every Node equal to what the VMs bound to it
 * take (nodeallocation_reconcile.ts). A display field — the scheduler counts from its own
 * cache and assumptions, never from this — so writes are batched: a node is reconciled at
 * most once per `batchMs` (default 10 s) however many VMs land on it meanwhile.
 */
import type { Node, VirtualMachine } from '../../api-types/generated/types.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { Nodes, VirtualMachines } from '../runtime/resources.js';
import { BY_NODE, indexVmsByNode } from '../vm/vm_index.js';
import { allocatedFor } from './nodeallocation_reconcile.js';

export interface NodeAllocationOptions {
  batchMs?: number;
  resyncPeriodMs?: number;
}

export const NODEALLOCATION_CONTROLLER = 'nodeallocation';

export function nodeAllocationController(options: NodeAllocationOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(NODEALLOCATION_CONTROLLER);
    const nodes = ctx.informers.informerFor<Node>(Nodes);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    indexVmsByNode(vms);
    const batch = options.batchMs ?? 10_000;
    const controller = new Controller({
      name: NODEALLOCATION_CONTROLLER,
      workers: 2,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => nodes.store.keys(),
      correlationIdOf: correlationIdFromStore(nodes.store),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        const node = nodes.store.get(key);
        if (!node) return done();
        const allocated = allocatedFor(key, vms.store.byIndex(BY_NODE, key));
        try {
          await commitStatus(client, Nodes, node, { ...(node.status ?? {}), allocated });
        } catch (err) {
          if (!isNotFound(err)) throw err;
        }
        return done();
      },
    });
    // addAfter keeps the earliest pending time: the first change opens a batch window.
    const touch = (nodeName: string | undefined) => nodeName && controller.enqueueAfter(nodeName, batch);
    vms.on({
      add: (vm) => touch(vm.spec?.nodeName),
      update: (old, vm) => {
        if (old.spec?.nodeName !== vm.spec?.nodeName) touch(old.spec?.nodeName);
        if (
          old.spec?.nodeName !== vm.spec?.nodeName ||
          old.spec?.cpu !== vm.spec?.cpu ||
          old.spec?.memory !== vm.spec?.memory ||
          (old.status?.phase === 'Terminated') !== (vm.status?.phase === 'Terminated')
        ) {
          touch(vm.spec?.nodeName);
        }
      },
      delete: (vm) => touch(vm.spec?.nodeName),
    });
    nodes.on({ add: (n) => controller.enqueue(n.metadata.name!) });
    return controller;
  };
}
