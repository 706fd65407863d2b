/**
 * The scheduler: binds unscheduled VMs (spec.nodeName empty) to nodes, validates VMs
 * bound before the agent acts (pinned by an admin), and explains itself when nothing fits.
 *
 * Watches VMs, Nodes, StoragePools and Networks (shared informers). A VM is enqueued when it
 * needs attention (unbound, or bound and not started yet); every such VM is enqueued again
 * when a node, pool or network changes in a way that can change the answer (readiness,
 * cordon, labels, capacity, host bridges, pool assignment or health, network assignment or
 * per-host activity) — heartbeats alone do not.
 *
 * The bind is a JSON patch that tests the VM's uid and its whole spec before adding
 * spec.nodeName: it fails if anyone bound (or changed) the VM since the scheduler read it,
 * so two schedulers can never both bind a VM, whatever leader election says — while
 * status and metadata writes by other controllers do not get in its way.
 *
 * The same patch adds the `quantix.io/vm-cleanup` finalizer when it is missing, so no VM
 * is ever bound (and so given to an agent) without it, not even for the moment between
 * two writes; it also saves a write per VM. The vm controller still ensures the finalizer
 * on every live VM (pinned VMs, VMs that stay unschedulable) and alone removes it.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Network, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { ApiError, isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done, requeueAfter } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, Networks, Nodes, splitKey, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { agentHasActed, CLEANUP_FINALIZER } from '../vm/vm_status.js';
import { DEFAULT_SCHEDULER_CONFIG, type SchedulerConfig } from '../../lib/scheduling/predicates.js';
import { planScheduling } from './scheduler_reconcile.js';
import { UsageTracker } from './scheduler_usage.js';

export interface SchedulerOptions {
  config?: Partial<SchedulerConfig>;
  /** Concurrent binds (default 32). Decisions are synchronous; only the bind awaits. */
  workers?: number;
  resyncPeriodMs?: number;
}

export const SCHEDULER = 'scheduler';

function needsAttention(vm: VirtualMachine): boolean {
  return !vm.metadata.deletionTimestamp && (!vm.spec?.nodeName || !agentHasActed(vm));
}

function nodeSchedulingView(n: Node): unknown {
  return [
    n.status?.conditions?.find((c) => c.type === 'Ready')?.status,
    n.spec?.unschedulable,
    n.spec?.fenced,
    n.metadata.labels,
    n.status?.allocatable,
    n.status?.capacity,
    n.status?.bridges,
  ];
}

function poolSchedulingView(p: StoragePool): unknown {
  return [p.spec?.assignedNodes, Object.entries(p.status?.hosts ?? {}).map(([n, h]) => [n, h.health])];
}

function networkSchedulingView(n: Network): unknown {
  return [n.spec?.assignedNodes, Object.entries(n.status?.hosts ?? {}).map(([node, h]) => [node, h.active === true])];
}

export function schedulerController(options: SchedulerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(SCHEDULER);
    const config: SchedulerConfig = { ...DEFAULT_SCHEDULER_CONFIG, ...options.config };
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    const nodes = ctx.informers.informerFor<Node>(Nodes);
    const pools = ctx.informers.informerFor<StoragePool>(StoragePools);
    const networks = ctx.informers.informerFor<Network>(Networks);
    const usage = new UsageTracker();
    const events = ctx.events.forComponent('quantix-scheduler');

    const poolMap = (): Map<string, StoragePool> => new Map(pools.store.list().map((p) => [p.metadata.name!, p]));
    const networkMap = (): Map<string, Network> => new Map(networks.store.list().map((n) => [n.metadata.name!, n]));

    const controller = new Controller({
      name: SCHEDULER,
      workers: options.workers ?? 32,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => vms.store.list().filter(needsAttention).map(keyOf),
      correlationIdOf: correlationIdFromStore(vms.store),
      reconcile: async ({ key, log, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        let vm = vms.store.get(key);
        if (!vm) {
          usage.forget(key);
          return done();
        }
        // A bind of ours is in flight or not back through the watch yet: wait for it.
        if (!vm.spec?.nodeName && usage.assumedNode(key)) return done();

        for (let attempt = 0; ; attempt++) {
          const plan = planScheduling({
            vm,
            nodes: nodes.store.list(),
            pools: poolMap(),
            networks: networkMap(),
            usage: (n) => usage.usage(n, key),
            config,
            nodeByName: (n) => nodes.store.get(n),
            now: new Date().toISOString(),
          });
          if (plan.bind) {
            const nodeName = plan.bind;
            usage.assume(key, vm, nodeName); // synchronously, before any await: the next decision sees it
            try {
              await client.patch(VirtualMachines, vm.metadata.namespace, vm.metadata.name!, bindPatch(vm, nodeName), { type: 'json' });
            } catch (err) {
              usage.forget(key);
              if (isNotFound(err)) return done();
              if (!isStale(err) || attempt > 0) throw err;
              // Our copy was stale: read the VM fresh and decide again, once.
              const { namespace, name } = splitKey(key);
              try {
                vm = await client.get<VirtualMachine>(VirtualMachines, namespace, name);
              } catch (getErr) {
                if (isNotFound(getErr)) return done();
                throw getErr;
              }
              if (!needsAttention(vm)) return done();
              log.debug('bind raced with another write; retrying on fresh state', { error: (err as Error).message });
              continue;
            }
            for (const e of plan.events) events.record(vm, e);
            log.debug('bound', { nodeName });
            return done();
          }
          if (plan.status) await commitStatus(client, VirtualMachines, vm, plan.status);
          for (const e of plan.events) events.record(vm, e);
          return plan.requeueAfterMs ? requeueAfter(plan.requeueAfterMs) : done();
        }
      },
    });

    const enqueueWaiting = () => {
      for (const vm of vms.store.list()) if (needsAttention(vm)) controller.enqueue(keyOf(vm));
    };

    vms.on({
      add: (vm) => {
        usage.observeObject(vm);
        if (needsAttention(vm)) controller.enqueue(keyOf(vm));
      },
      update: (_old, vm) => {
        usage.observeObject(vm);
        if (needsAttention(vm)) controller.enqueue(keyOf(vm));
      },
      delete: (vm) => usage.observe(keyOf(vm), undefined),
    });
    nodes.on({
      add: enqueueWaiting,
      update: (old, n) => {
        if (!isDeepStrictEqual(nodeSchedulingView(old), nodeSchedulingView(n))) enqueueWaiting();
      },
      delete: enqueueWaiting,
    });
    pools.on({
      add: enqueueWaiting,
      update: (old, p) => {
        if (!isDeepStrictEqual(poolSchedulingView(old), poolSchedulingView(p))) enqueueWaiting();
      },
      delete: enqueueWaiting,
    });
    networks.on({
      add: enqueueWaiting,
      update: (old, n) => {
        if (!isDeepStrictEqual(networkSchedulingView(old), networkSchedulingView(n))) enqueueWaiting();
      },
      delete: enqueueWaiting,
    });
    return controller;
  };
}

/** The bind: test uid and spec, set spec.nodeName, and add the cleanup finalizer if missing. */
export function bindPatch(vm: VirtualMachine, nodeName: string): unknown[] {
  const ops: unknown[] = [
    { op: 'test', path: '/metadata/uid', value: vm.metadata.uid },
    { op: 'test', path: '/spec', value: vm.spec },
    { op: 'add', path: '/spec/nodeName', value: nodeName },
  ];
  const finalizers = vm.metadata.finalizers;
  if (!finalizers) ops.push({ op: 'add', path: '/metadata/finalizers', value: [CLEANUP_FINALIZER] });
  else if (!finalizers.includes(CLEANUP_FINALIZER)) {
    ops.push({ op: 'test', path: '/metadata/finalizers', value: finalizers }, { op: 'add', path: '/metadata/finalizers/-', value: CLEANUP_FINALIZER });
  }
  return ops;
}

/** The bind's `test` failed (422) or a conflict (409): our copy of the VM is out of date. */
function isStale(err: unknown): boolean {
  return err instanceof ApiError && (err.code === 409 || (err.code === 422 && /test failed/.test(err.message)));
}
