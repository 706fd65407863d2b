/**
 * Scheduling as a pure function: a VM, the nodes, the pools, the Networks and what each node
 * already carries → a node to bind to, or why none fits.
 *
 * Filters: lib/scheduling/predicates.ts (shared with the UI's placement hint).
 * Score: least allocated (mean free CPU and memory fraction after placement), then
 * fewer VMs (spread), then name (deterministic).
 */
import { isDeepStrictEqual } from 'node:util';
import type { Condition, Network, Node, StoragePool, VirtualMachine, VirtualMachineStatus } from '../../api-types/generated/types.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { allocatable, filterNode, requestOf, type Fit, type NodeUsage, type ResourceRequest, type SchedulerConfig } from '../../lib/scheduling/predicates.js';
import type { EventSpec } from '../runtime/events.js';
import { agentHasActed, boundCondition, ConditionType, Reason, scheduledCondition } from '../vm/vm_status.js';

/** Least allocated after placement: 0 (full) … 100 (empty). */
export function scoreNode(req: ResourceRequest, node: Node, usage: NodeUsage, config: SchedulerConfig): number {
  const alloc = allocatable(node, config);
  const cpuFree = alloc.cpu > 0 ? 1 - (usage.cpu + req.cpu) / alloc.cpu : 0;
  const memFree = alloc.memoryBytes > 0 ? 1 - (usage.memoryBytes + req.memoryBytes) / alloc.memoryBytes : 0;
  return ((cpuFree + memFree) / 2) * 100;
}

export type Decision =
  /** `evaluated`: how many nodes were looked at, when the search stopped before the last (feasibleNodesToFind). */
  | { kind: 'bind'; nodeName: string; evaluated?: number }
  | { kind: 'unschedulable'; message: string; reasons: Record<string, number>; nodesByReason: Record<string, string[]> };

export interface ScheduleInput {
  vm: VirtualMachine;
  nodes: readonly Node[];
  pools: ReadonlyMap<string, StoragePool>;
  networks: ReadonlyMap<string, Network>;
  /** What each node carries already (without this VM). */
  usage: (nodeName: string) => NodeUsage;
  config: SchedulerConfig;
  /** Where in `nodes` the search starts (where the previous one stopped); default 0. */
  startIndex?: number;
}

/**
 * How many feasible nodes to look for before choosing (kube-scheduler's
 * percentageOfNodesToScore, adaptive): every node up to 100, then a share that shrinks from
 * 50 % as the cluster grows (42 % of 1,000 nodes), never under 100. The search starts where
 * the previous one stopped (`startIndex`), so every node gets its turn.
 */
export const MIN_FEASIBLE_NODES_TO_FIND = 100;
export function feasibleNodesToFind(total: number): number {
  if (total <= MIN_FEASIBLE_NODES_TO_FIND) return total;
  const percentage = Math.max(5, 50 - Math.floor(total / 125));
  return Math.max(MIN_FEASIBLE_NODES_TO_FIND, Math.floor((total * percentage) / 100));
}

export function schedule(input: ScheduleInput): Decision {
  const { vm, nodes, pools, networks, usage, config } = input;
  const req = requestOf(vm);
  const reasons: Record<string, number> = {};
  const nodesByReason: Record<string, string[]> = {};
  let best: { name: string; score: number; vms: number } | undefined;
  const total = nodes.length;
  const wanted = feasibleNodesToFind(total);
  const start = total > 0 ? (input.startIndex ?? 0) % total : 0;
  let feasible = 0;
  let evaluated = 0;
  for (; evaluated < total && feasible < wanted; evaluated++) {
    const node = nodes[(start + evaluated) % total]!;
    const name = node.metadata.name!;
    const u = usage(name);
    const fit = filterNode(req, vm, node, pools, u, config, networks);
    if (!fit.fits) {
      reasons[fit.reason] = (reasons[fit.reason] ?? 0) + 1;
      if (fit.namesNode) (nodesByReason[fit.reason] ??= []).push(name);
      continue;
    }
    feasible++;
    const score = scoreNode(req, node, u, config);
    if (!best || score > best.score || (score === best.score && (u.vmCount < best.vms || (u.vmCount === best.vms && name < best.name)))) {
      best = { name, score, vms: u.vmCount };
    }
  }
  if (best) return evaluated < total ? { kind: 'bind', nodeName: best.name, evaluated } : { kind: 'bind', nodeName: best.name };
  return { kind: 'unschedulable', message: unschedulableMessage(nodes.length, reasons, nodesByReason), reasons, nodesByReason };
}

/** At most this many node names per reason in a message (then `+N more`). */
export const NODES_NAMED_PER_REASON = 5;

/**
 * `0/3 nodes available: 2 pool "fast" not assigned, 1 insufficient memory`; a reason about
 * the nodes' own set-up lists them: `1 bridge "br0" does not exist (node-b)`.
 */
export function unschedulableMessage(total: number, reasons: Record<string, number>, nodesByReason: Record<string, string[]> = {}): string {
  if (total === 0) return '0/0 nodes available: no nodes registered';
  const parts = Object.entries(reasons)
    .sort(([a, x], [b, y]) => y - x || (a < b ? -1 : a > b ? 1 : 0))
    .map(([reason, n]) => `${n} ${reason}${namedNodes(nodesByReason[reason])}`);
  return `0/${total} nodes available: ${parts.join(', ')}`;
}

function namedNodes(names: string[] | undefined): string {
  if (!names || names.length === 0) return '';
  const sorted = [...names].sort();
  const shown = sorted.slice(0, NODES_NAMED_PER_REASON);
  const more = sorted.length - shown.length;
  return ` (${shown.join(', ')}${more > 0 ? `, +${more} more` : ''})`;
}

/** Whether a VM bound to `nodeName` (pinned by an admin, or bound earlier) can run there. */
export function checkBoundNode(input: Omit<ScheduleInput, 'nodes'> & { nodeName: string; node: Node | undefined }): Fit {
  if (!input.node) return { fits: false, reason: `node "${input.nodeName}" not found` };
  const fit = filterNode(requestOf(input.vm), input.vm, input.node, input.pools, input.usage(input.nodeName), input.config, input.networks);
  return fit.fits ? fit : { fits: false, reason: `node "${input.nodeName}" cannot run the VM: ${fit.reason}` };
}

export interface SchedulerPlan {
  /** Bind the VM to this node (spec.nodeName). */
  bind?: string;
  /** The desired status, when the scheduler's conditions change. */
  status?: VirtualMachineStatus;
  /** Events to record (after a successful bind, for `bind`). */
  events: EventSpec[];
  /** How many nodes the search looked at (to start the next one after them). */
  evaluated?: number;
  /**
   * No node can run the VM: it waits (scheduling_queue.ts) for a cluster event that can
   * change that; `reasons` are why nodes refused it.
   */
  unschedulable?: { reasons: string[] };
}

/** One scheduler reconcile of a VM: what to write. */
export function planScheduling(input: ScheduleInput & { nodeByName: (name: string) => Node | undefined; now: string }): SchedulerPlan {
  const { vm, now } = input;
  if (vm.metadata.deletionTimestamp) return { events: [] };
  const nodeName = vm.spec?.nodeName;
  const ref = `${vm.metadata.namespace}/${vm.metadata.name}`;
  if (!nodeName) {
    const d = schedule(input);
    if (d.kind === 'bind') {
      // The node's acceleration, when its agent reported one: a VM landing on a tcg node runs
      // several times slower, and the Event says so where the placement is explained.
      const acceleration = input.nodeByName(d.nodeName)?.status?.acceleration;
      const message = `Successfully assigned ${ref} to ${d.nodeName}${acceleration ? ` (${acceleration})` : ''}`;
      return { bind: d.nodeName, evaluated: d.evaluated ?? input.nodes.length, events: [{ type: 'Normal', reason: 'Scheduled', message, action: 'Binding' }] };
    }
    const conditions = setCondition(
      vm.status?.conditions,
      { type: ConditionType.Scheduled, status: 'False', reason: Reason.Unschedulable, message: d.message },
      now,
    );
    return {
      status: changedStatus(vm, conditions),
      events: [{ type: 'Warning', reason: 'FailedScheduling', message: d.message, action: 'Scheduling' }],
      evaluated: input.nodes.length,
      unschedulable: { reasons: Object.keys(d.reasons) },
    };
  }
  if (agentHasActed(vm)) return { events: [] };
  const fit = checkBoundNode({ ...input, nodeName, node: input.nodeByName(nodeName) });
  if (!fit.fits) {
    const conditions = setCondition(
      vm.status?.conditions,
      { type: ConditionType.Scheduled, status: 'False', reason: Reason.NodeNotSuitable, message: fit.reason },
      now,
    );
    const status = changedStatus(vm, conditions);
    return {
      status,
      events: status ? [{ type: 'Warning', reason: 'FailedScheduling', message: fit.reason, action: 'Scheduling' }] : [],
      unschedulable: { reasons: [fit.reason] },
    };
  }
  if (scheduledCondition(vm)?.status === 'False') {
    return { status: changedStatus(vm, setCondition(vm.status?.conditions, boundCondition(nodeName), now)), events: [] };
  }
  return { events: [] };
}

function changedStatus(vm: VirtualMachine, conditions: Condition[]): VirtualMachineStatus | undefined {
  if (isDeepStrictEqual(conditions, vm.status?.conditions ?? [])) return undefined;
  return { ...(vm.status ?? {}), conditions };
}
