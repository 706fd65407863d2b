/**
 * The node-lifecycle controller: heartbeat timeouts → node Ready=Unknown, its VMs phase
 * Unknown, its pool entries UNMOUNTED; Ready again when heartbeats return
 * (nodelifecycle_reconcile.ts).
 *
 * It records, on its own clock, when it last saw each node's lastHeartbeatTime change
 * (the "probe time"), and requeues each node for the moment its heartbeat would expire,
 * so a silent node is noticed at grace + a few ms, not at the next resync.
 */
import type { Node, PoolHostStatus, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { isConflict, isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
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

/** phase Unknown, only on the VM version the decision was made from (409 otherwise). */
export function unknownPhasePatch(vm: VirtualMachine): Record<string, unknown> {
  return { metadata: { resourceVersion: vm.metadata.resourceVersion }, status: { phase: 'Unknown' } };
}

/** The node's entry in status.hosts, only on the pool version the decision was made from. */
export function poolHostPatch(pool: StoragePool, node: string, host: PoolHostStatus): Record<string, unknown> {
  return { metadata: { resourceVersion: pool.metadata.resourceVersion }, status: { hosts: { [node]: host } } };
}

export function nodeLifecycleController(options: NodeLifecycleOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(NODELIFECYCLE_CONTROLLER);
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
      correlationIdOf: correlationIdFromStore(nodes.store),
      reconcile: async ({ key, log, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
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
            nodeName: name,
          });
        }
        // Each write is a compare-and-swap on the resourceVersion the decision was made
        // from: an agent report (a full sync after the node came back) landing in between
        // is never overwritten by a stale Unknown/UNMOUNTED; the 409 retries the reconcile
        // on fresh state. The other writes of the pass go ahead first.
        let conflict: unknown;
        const write = async (w: () => Promise<unknown>) => {
          try {
            await w();
          } catch (err) {
            if (isNotFound(err)) return;
            if (!isConflict(err)) throw err;
            conflict ??= err;
          }
        };
        for (const vm of plan.unknownVms) {
          await write(() => client.patch(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, unknownPhasePatch(vm), { subresource: 'status' }));
        }
        for (const { pool, host } of plan.poolHosts) {
          await write(() => client.patch(StoragePools, undefined, pool.metadata.name!, poolHostPatch(pool, name, host), { subresource: 'status' }));
        }
        if (conflict) throw conflict;
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
