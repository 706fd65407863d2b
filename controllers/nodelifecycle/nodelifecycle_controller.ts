/**
 * The node-lifecycle controller: heartbeat timeouts → node Ready=Unknown, its VMs phase
 * Unknown, its pool entries UNMOUNTED; Ready again when heartbeats return
 * (nodelifecycle_reconcile.ts).
 *
 * It records, on its own clock, when it last saw each node's lastHeartbeatTime change
 * (the "probe time"), and requeues each node for the moment its heartbeat would expire,
 * so a silent node is noticed at grace + a few ms, not at the next resync.
 */
import type { Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { Controller, done, requeueAfter } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, Nodes, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { BY_NODE, indexVmsByNode } from '../vm/vm_index.js';
import { DEFAULT_GRACE_PERIOD_MS, planNode } from './nodelifecycle_reconcile.js';

export interface NodeLifecycleOptions {
  /** Heartbeat grace period (default 40 s). */
  gracePeriodMs?: number;
  workers?: number;
  resyncPeriodMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export const NODELIFECYCLE_CONTROLLER = 'nodelifecycle';

export function nodeLifecycleController(options: NodeLifecycleOptions = {}): ControllerSetup {
  return (ctx) => {
    const client = ctx.clientFor(NODELIFECYCLE_CONTROLLER);
    const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    const now = options.now ?? Date.now;
    const nodes = ctx.informers.informerFor<Node>(Nodes);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    const pools = ctx.informers.informerFor<StoragePool>(StoragePools);
    indexVmsByNode(vms);
    const events = ctx.events.forComponent('quantix-node-lifecycle-controller');
    /** node → the heartbeat last seen and when (local clock). */
    const probes = new Map<string, { heartbeat: string; atMs: number }>();

    const probe = (n: Node): number => {
      const name = n.metadata.name!;
      const heartbeat = n.status?.lastHeartbeatTime ?? '';
      const seen = probes.get(name);
      if (!seen || seen.heartbeat !== heartbeat) {
        const entry = { heartbeat, atMs: now() };
        probes.set(name, entry);
        return entry.atMs;
      }
      return seen.atMs;
    };

    const controller = new Controller({
      name: NODELIFECYCLE_CONTROLLER,
      workers: options.workers ?? 4,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 60_000,
      listKeys: () => nodes.store.keys(),
      reconcile: async ({ key, log }) => {
        const node = nodes.store.get(key);
        if (!node) {
          probes.delete(key);
          return done();
        }
        const name = node.metadata.name!;
        const plan = planNode({
          node,
          probeMs: probe(node),
          nowMs: now(),
          gracePeriodMs: grace,
          vms: vms.store.byIndex(BY_NODE, name),
          pools: pools.store.list().filter((p) => p.status?.hosts?.[name]),
        });
        if (plan.status) {
          await commitStatus(client, Nodes, node, plan.status);
          for (const e of plan.events) events.record(node, e);
          log.info(plan.status.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown' ? 'node stopped heartbeating' : 'node heartbeating again', {
            node: name,
          });
        }
        for (const vm of plan.unknownVms) {
          try {
            // Only the phase: a scalar, no array replaced, no resourceVersion guard needed.
            await client.patch(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, { status: { phase: 'Unknown' } }, { subresource: 'status' });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        for (const { pool, host } of plan.poolHosts) {
          try {
            await client.patch(StoragePools, undefined, pool.metadata.name!, { status: { hosts: { [name]: host } } }, { subresource: 'status' });
          } catch (err) {
            if (!isNotFound(err)) throw err;
          }
        }
        return plan.requeueAfterMs !== undefined ? requeueAfter(plan.requeueAfterMs) : done();
      },
    });

    nodes.on({
      add: (n) => controller.enqueue(keyOf(n)),
      update: (old, n) => {
        if (old.status?.lastHeartbeatTime !== n.status?.lastHeartbeatTime || old.status?.conditions !== n.status?.conditions) controller.enqueue(keyOf(n));
      },
      delete: (n) => controller.enqueue(keyOf(n)),
    });
    // A VM bound to a node already Unknown must become Unknown too.
    vms.on({
      update: (old, vm) => {
        const n = vm.spec?.nodeName;
        if (n && (old.spec?.nodeName !== n || old.status?.phase !== vm.status?.phase) && vm.status?.phase !== 'Unknown') {
          const node = nodes.store.get(n);
          if (node?.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'Unknown') controller.enqueue(n);
        }
      },
    });
    return controller;
  };
}
