/**
 * The node-lifecycle controller: heartbeat timeouts → node Ready=Unknown, its VMs phase
 * Unknown, its pool entries UNMOUNTED; Ready again when heartbeats return
 * (nodelifecycle_reconcile.ts). A node that stopped heartbeating and is fenced (an admin's
 * spec.fenced, or its self-fencing timeout waited out) has its runStrategy Always VMs on
 * shared storage recovered: recorded in their status, then unbound for the scheduler
 * (recovery_reconcile.ts, docs/fencing.md).
 *
 * It records, on its own clock, when it last saw each node's liveness change (the "probe
 * time": its node Lease, the gateway replica Lease vouching for it, status.lastHeartbeatTime;
 * liveness.ts), and requeues each node for the moment its heartbeat would expire, so a
 * silent node is noticed at grace + a few ms, not at the next resync. A replica Lease's
 * renewal enqueues nothing (it vouches for many nodes): the expiry requeue reads it then.
 */
import type { Lease, Node, PoolHostStatus, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { GATEWAY_LEASE_NAMESPACE, NODE_LEASE_NAMESPACE } from '../../api-types/node-lease.js';
import { ChangeClock, lastHeartbeatStated, nodeLivenessToken, probeTime, vouchingLeaseName } from './liveness.js';
import { isConflict, isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done, requeueAfter } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, Leases, Nodes, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { BY_NODE, indexVmsByNode } from '../vm/vm_index.js';
import { DEFAULT_GRACE_PERIOD_MS, planNode } from './nodelifecycle_reconcile.js';
import { DEFAULT_SELF_FENCE_MARGIN_MS, fencingOf, planRecovery, planRecoveryWithdrawn } from './recovery_reconcile.js';
import { statusPatch } from '../runtime/committer.js';

export interface NodeLifecycleOptions {
  /** Heartbeat grace period (default 40 s). */
  gracePeriodMs?: number;
  workers?: number;
  resyncPeriodMs?: number;
  /** Added to a node's self-fencing timeout before its VMs are recovered (default 10 s). */
  selfFenceMarginMs?: number;
  /** Clock (tests). */
  now?: () => number;
}

export const NODELIFECYCLE_CONTROLLER = 'nodelifecycle';

/** phase Unknown, only on the VM version the decision was made from (409 otherwise). */
export function unknownPhasePatch(vm: VirtualMachine): Record<string, unknown> {
  return { metadata: { resourceVersion: vm.metadata.resourceVersion }, status: { phase: 'Unknown' } };
}

/** A recovery's status, only on the VM version the decision was made from. */
export function recoveryStatusPatch(vm: VirtualMachine, status: VirtualMachine['status']): Record<string, unknown> | undefined {
  const patch = statusPatch(vm, vm.status, status);
  return patch && { ...patch, metadata: { resourceVersion: vm.metadata.resourceVersion } };
}

/** Clears spec.nodeName, only if the VM is still the one bound to `node` (the apiserver checks the recovery is recorded). */
export function recoveryUnbindPatch(vm: VirtualMachine, node: string): unknown[] {
  return [
    { op: 'test', path: '/metadata/uid', value: vm.metadata.uid },
    { op: 'test', path: '/spec/nodeName', value: node },
    { op: 'remove', path: '/spec/nodeName' },
  ];
}

/** The node's entry in status.hosts, only on the pool version the decision was made from. */
export function poolHostPatch(pool: StoragePool, node: string, host: PoolHostStatus): Record<string, unknown> {
  return { metadata: { resourceVersion: pool.metadata.resourceVersion }, status: { hosts: { [node]: host } } };
}

export function nodeLifecycleController(options: NodeLifecycleOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(NODELIFECYCLE_CONTROLLER);
    const grace = options.gracePeriodMs ?? DEFAULT_GRACE_PERIOD_MS;
    const margin = options.selfFenceMarginMs ?? DEFAULT_SELF_FENCE_MARGIN_MS;
    const now = options.now ?? Date.now;
    const nodes = ctx.informers.informerFor<Node>(Nodes);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    const pools = ctx.informers.informerFor<StoragePool>(StoragePools);
    indexVmsByNode(vms);
    const events = ctx.events.forComponent('quantix-node-lifecycle-controller');
    const nodeLeases = ctx.informers.informerFor<Lease>(Leases, { namespace: NODE_LEASE_NAMESPACE });
    const replicaLeases = ctx.informers.informerFor<Lease>(Leases, { namespace: GATEWAY_LEASE_NAMESPACE });
    /** node → when its token last changed; `replica:<lease>` → when that replica Lease was last renewed (local clock). */
    const changes = new ChangeClock();
    const replicaKey = (leaseName: string) => `replica:${leaseName}`;
    const observeReplica = (l: Lease) => changes.observe(replicaKey(l.metadata.name!), l.spec?.renewTime ?? '', now());

    /** The node's probe time and the latest heartbeat time its sources state. */
    const probe = (n: Node): { probeMs: number; lastHeartbeat?: string } => {
      const name = n.metadata.name!;
      const lease = nodeLeases.store.get(`${NODE_LEASE_NAMESPACE}/${name}`);
      const nodeChangedAt = changes.observe(name, nodeLivenessToken(n, lease), now());
      const vouchName = vouchingLeaseName(lease);
      const vouching = vouchName ? replicaLeases.store.get(`${GATEWAY_LEASE_NAMESPACE}/${vouchName}`) : undefined;
      const vouchChangedAt = vouching ? (changes.changedAt(replicaKey(vouchName!)) ?? observeReplica(vouching)) : undefined;
      return { probeMs: probeTime(nodeChangedAt, vouchChangedAt), lastHeartbeat: lastHeartbeatStated(n, lease, vouching) };
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
          changes.forget(key);
          // Kubernetes' garbage collector deletes a node Lease with its Node (ownerReference);
          // Quantix has no garbage collector, so the Node's absence removes it here. The
          // preconditions leave a Lease alone that a re-joined node of the same name renewed
          // since (the conflict retries the reconcile, which then finds the new Node).
          const lease = nodeLeases.store.get(`${NODE_LEASE_NAMESPACE}/${key}`);
          if (lease) {
            try {
              await client.delete(Leases, NODE_LEASE_NAMESPACE, key, {
                preconditions: { uid: lease.metadata.uid, resourceVersion: lease.metadata.resourceVersion },
              });
              log.info('deleted the node Lease of a deleted Node', { nodeName: key });
            } catch (err) {
              if (!isNotFound(err)) throw err;
            }
          }
          return done();
        }
        const name = node.metadata.name!;
        const { probeMs, lastHeartbeat } = probe(node);
        const nowMs = now();
        const expired = nowMs >= probeMs + grace;
        const fencing = expired ? fencingOf(node, probeMs, nowMs, true, margin) : undefined;
        const bound = vms.store.byIndex(BY_NODE, name);
        const plan = planNode({
          node,
          probeMs,
          nowMs,
          gracePeriodMs: grace,
          vms: bound,
          pools: pools.store.list().filter((p) => p.status?.hosts?.[name]),
          fencing,
          lastHeartbeat,
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
        if (fencing) {
          const recovery = planRecovery({
            node,
            fencing,
            vms: bound,
            pools: new Map(pools.store.list().map((p) => [p.metadata.name!, p])),
            nowMs,
          });
          const written = new Set<string>();
          for (const { vm, status, event } of recovery.statuses) {
            const patch = recoveryStatusPatch(vm, status);
            if (!patch) continue;
            await write(async () => {
              await client.patch(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, patch, { subresource: 'status' });
              written.add(vm.metadata.uid!);
              if (event) events.record(vm, event);
            });
          }
          const recorded = new Set(recovery.statuses.map((s) => s.vm.metadata.uid!));
          for (const vm of recovery.unbind) {
            // Unbind only once the recovery is in the stored status (written now, or by an earlier pass).
            if (recorded.has(vm.metadata.uid!) && !written.has(vm.metadata.uid!)) continue;
            await write(async () => {
              await client.patch(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, recoveryUnbindPatch(vm, name), { type: 'json' });
              log.info('VM unbound from a fenced node for recovery', {
                vm: `${vm.metadata.namespace}/${vm.metadata.name}`,
                nodeName: name,
                fence: fencing.reason,
              });
            });
          }
        } else {
          for (const { vm, status } of planRecoveryWithdrawn(name, bound)) {
            const patch = recoveryStatusPatch(vm, status);
            if (patch) await write(() => client.patch(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, patch, { subresource: 'status' }));
          }
        }
        if (conflict) throw conflict;
        return plan.requeueAfterMs !== undefined ? requeueAfter(plan.requeueAfterMs) : done();
      },
    });

    nodes.on({
      add: (n) => controller.enqueue(keyOf(n)),
      update: (old, n) => {
        if (
          old.status?.lastHeartbeatTime !== n.status?.lastHeartbeatTime ||
          old.status?.conditions !== n.status?.conditions ||
          old.spec?.fenced !== n.spec?.fenced ||
          old.status?.selfFencing?.timeoutSeconds !== n.status?.selfFencing?.timeoutSeconds
        )
          controller.enqueue(keyOf(n));
      },
      delete: (n) => controller.enqueue(keyOf(n)),
    });
    // A node Lease taken, refreshed or released: its node (named alike).
    nodeLeases.on({
      add: (l) => controller.enqueue(l.metadata.name!),
      update: (old, l) => {
        if (old.spec?.renewTime !== l.spec?.renewTime || old.spec?.holderIdentity !== l.spec?.holderIdentity) controller.enqueue(l.metadata.name!);
      },
      delete: (l) => controller.enqueue(l.metadata.name!),
    });
    // Replica Leases: only when each was last renewed (read by the reconciles above).
    replicaLeases.on({
      add: (l) => void observeReplica(l),
      update: (_old, l) => void observeReplica(l),
      delete: (l) => changes.forget(replicaKey(l.metadata.name!)),
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
