/**
 * The scheduler: binds unscheduled VMs (spec.nodeName empty) to nodes, validates VMs
 * bound before the agent acts (pinned by an admin), and explains itself when nothing fits.
 *
 * Watches VMs, Nodes, StoragePools and Networks (shared informers). A VM is enqueued when it
 * needs attention (unbound, or bound and not started yet). A VM that fits no node waits in
 * the unschedulable set (scheduling_queue.ts: kube-scheduler's unschedulable queue) until a
 * cluster event that can change the answer moves it back — a node added or becoming
 * schedulable, a pool HEALTHY or a Network active on a node, capacity freed — no sooner than
 * its own backoff (1 s doubling to 10 s); its own status writes do not wake it, heartbeats
 * do not either. A bound VM the agent has not acted on yet is validated again when its
 * node, pools or Networks change.
 *
 * Each decision looks at a share of the nodes when there are many (kube-scheduler's
 * percentageOfNodesToScore: 420 of 1,000), starting where the previous one stopped.
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
import { capacityFreed, type ClusterEvent, networkEvent, nodeEvent, poolEvent, UnschedulableVms, waitingVm } from './scheduling_queue.js';

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
    const waiting = new UnschedulableVms();
    const events = ctx.events.forComponent('quantix-scheduler');
    /** Bound VMs the agent has not acted on yet: re-validated when their node, pools or Networks change. */
    const boundPending = new Map<string, { node: string; pools: readonly string[]; networks: readonly string[] }>();
    /** Where the next search over the nodes starts (schedule's startIndex). */
    let nextStartIndex = 0;

    // The lists every decision reads, rebuilt only after a change (not once per VM).
    let nodeList: Node[] | undefined;
    let poolsByName: Map<string, StoragePool> | undefined;
    let networksByName: Map<string, Network> | undefined;
    const nodesNow = () => (nodeList ??= nodes.store.list());
    const poolMap = () => (poolsByName ??= new Map(pools.store.list().map((p) => [p.metadata.name!, p])));
    const networkMap = () => (networksByName ??= new Map(networks.store.list().map((n) => [n.metadata.name!, n])));

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
        if (!vm || !needsAttention(vm)) {
          if (!vm) usage.forget(key);
          waiting.forget(key);
          return done();
        }
        // A bind of ours is in flight or not back through the watch yet: wait for it.
        if (!vm.spec?.nodeName && usage.assumedNode(key)) return done();
        // Events from here on mean: do not park this VM, try it again (scheduling_queue.ts).
        const cycle = waiting.cycle();

        for (let attempt = 0; ; attempt++) {
          const nodeList = nodesNow();
          const plan = planScheduling({
            vm,
            nodes: nodeList,
            pools: poolMap(),
            networks: networkMap(),
            usage: (n) => usage.usage(n, key),
            config,
            nodeByName: (n) => nodes.store.get(n),
            now: new Date().toISOString(),
            startIndex: nextStartIndex,
          });
          if (plan.evaluated) nextStartIndex = (nextStartIndex + plan.evaluated) % Math.max(1, nodeList.length);
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
            waiting.forget(key);
            for (const e of plan.events) events.record(vm, e);
            log.debug('bound', { nodeName });
            return done();
          }
          if (plan.status) await commitStatus(client, VirtualMachines, vm, plan.status);
          for (const e of plan.events) events.record(vm, e);
          if (!plan.unschedulable) {
            waiting.forget(key);
            return done();
          }
          // Wait for a cluster event that can change the answer, not for a timer.
          const parked = waiting.park(key, waitingVm(vm, plan.unschedulable.reasons), Date.now(), cycle);
          return parked.parked ? done() : requeueAfter(parked.retryAfterMs);
        }
      },
    });

    const moveWaiting = (event: ClusterEvent | undefined) => {
      if (!event) return;
      for (const { key, delayMs } of waiting.move(event, Date.now())) {
        if (delayMs > 0) controller.enqueueAfter(key, delayMs);
        else controller.enqueue(key);
      }
    };
    const trackBound = (vm: VirtualMachine) => {
      const key = keyOf(vm);
      if (vm.spec?.nodeName && needsAttention(vm)) {
        const w = waitingVm(vm, []);
        boundPending.set(key, { node: vm.spec.nodeName, pools: w.pools, networks: w.networks });
      } else boundPending.delete(key);
    };
    const revalidateBound = (match: (b: { node: string; pools: readonly string[]; networks: readonly string[] }) => boolean) => {
      for (const [key, b] of boundPending) if (match(b)) controller.enqueue(key);
    };

    vms.on({
      add: (vm) => {
        usage.observeObject(vm);
        trackBound(vm);
        if (needsAttention(vm)) controller.enqueue(keyOf(vm));
      },
      update: (old, vm) => {
        usage.observeObject(vm);
        trackBound(vm);
        const key = keyOf(vm);
        moveWaiting(capacityFreed(old, vm));
        if (!needsAttention(vm)) {
          waiting.forget(key);
          return;
        }
        // An unbound VM's answer depends on its spec and the cluster, not on its status: a status
        // write (ours, the vm controller's) is no reason to decide again.
        const sameSpec = isDeepStrictEqual(old.spec, vm.spec) && !old.metadata.deletionTimestamp === !vm.metadata.deletionTimestamp;
        if (!vm.spec?.nodeName && sameSpec) return;
        // A parked VM waits for the cluster to change, or itself (its spec): status writes
        // (ours included) do not wake it.
        if (waiting.isParked(key)) {
          if (isDeepStrictEqual(old.spec, vm.spec)) return;
          waiting.unpark(key);
        }
        controller.enqueue(key);
      },
      delete: (vm) => {
        const key = keyOf(vm);
        usage.observe(key, undefined);
        boundPending.delete(key);
        waiting.forget(key);
        moveWaiting(capacityFreed(vm, undefined));
      },
    });
    nodes.on({
      add: (n) => {
        nodeList = undefined;
        moveWaiting(nodeEvent(undefined, n));
      },
      update: (old, n) => {
        nodeList = undefined;
        if (isDeepStrictEqual(nodeSchedulingView(old), nodeSchedulingView(n))) return; // a heartbeat
        const name = n.metadata.name!;
        revalidateBound((b) => b.node === name);
        moveWaiting(nodeEvent(old, n));
      },
      delete: (n) => {
        nodeList = undefined;
        const name = n.metadata.name!;
        revalidateBound((b) => b.node === name);
      },
    });
    pools.on({
      add: (p) => {
        poolsByName = undefined;
        moveWaiting(poolEvent(undefined, p));
      },
      update: (old, p) => {
        poolsByName = undefined;
        if (isDeepStrictEqual(poolSchedulingView(old), poolSchedulingView(p))) return;
        const name = p.metadata.name!;
        revalidateBound((b) => b.pools.includes(name));
        moveWaiting(poolEvent(old, p));
      },
      delete: (p) => {
        poolsByName = undefined;
        const name = p.metadata.name!;
        revalidateBound((b) => b.pools.includes(name));
      },
    });
    networks.on({
      add: (n) => {
        networksByName = undefined;
        moveWaiting(networkEvent(undefined, n));
      },
      update: (old, n) => {
        networksByName = undefined;
        if (isDeepStrictEqual(networkSchedulingView(old), networkSchedulingView(n))) return;
        const name = n.metadata.name!;
        revalidateBound((b) => b.networks.includes(name));
        moveWaiting(networkEvent(old, n));
      },
      delete: (n) => {
        networksByName = undefined;
        const name = n.metadata.name!;
        revalidateBound((b) => b.networks.includes(name));
      },
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
