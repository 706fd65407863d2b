/**
 * Fencing and recovery of VMs from failed nodes, as pure functions (docs/fencing.md). The
 * node-lifecycle controller calls them for every node whose heartbeat expired.
 *
 * A node is fenced — known not to run its VMs any more — when it is not heartbeating and
 *   - an admin said so (spec.fenced, `qxctl node fence`: the node is powered off or
 *     isolated; Kubernetes' out-of-service taint), or
 *   - its agent self-fences (status.selfFencing) and the agent's timeout plus a margin has
 *     passed since the last heartbeat this controller saw: the agent force-stopped its
 *     domains by then (it counts from the last heartbeat it *sent* that succeeded, which is
 *     no later than the one seen here).
 * A heartbeating node is never fenced, whatever spec.fenced says: its agent still runs VMs.
 *
 * On a fenced node, each managed VM with runStrategy Always whose disks are all on shared
 * storage (nfs pools, dir pools with spec.shared) is recovered in two writes:
 *   1. status: status.recovery (recoveredFrom, count, lastRecoveryTime), phase Pending, the
 *      domain's observations cleared (the domain of the new node is a new instance: the
 *      agent there must create it, not call it Lost), condition Recovery=True, an Event;
 *   2. spec.nodeName cleared (the apiserver allows that only after step 1: see the
 *      VirtualMachine update rule); the scheduler binds the VM to another node.
 * A crash between the two is finished at the next pass (step 2 alone). Every other VM of the
 * node stays Unknown, with condition Recovery=False saying why it is not recovered; that
 * condition is removed once the node heartbeats again (planRecoveryWithdrawn).
 */
import type { Condition, Node, NodeCondition, StoragePool, VirtualMachine, VirtualMachineStatus } from '../../api-types/generated/types.js';
import { getCondition, removeCondition, setCondition } from '../../lib/apimachinery/conditions.js';
import type { EventSpec } from '../runtime/events.js';
import { NotRecoverableReasons, notRecoverableReason } from '../../api-types/vm-recovery.js';

/** Added to an agent's self-fencing timeout before the control plane counts on it (clock rates, the destroy itself). */
export const DEFAULT_SELF_FENCE_MARGIN_MS = 10_000;

export const FenceReasons = {
  AdminFenced: 'AdminFenced',
  SelfFenceTimeoutElapsed: 'SelfFenceTimeoutElapsed',
  NotFenced: 'NotFenced',
} as const;

export const RecoveryReasons = {
  Recovered: 'RecoveredFromFencedNode',
  ...NotRecoverableReasons,
  WaitingForFencing: 'WaitingForFencing',
} as const;

export { notRecoverableReason };

export const RECOVERY_CONDITION = 'Recovery';
export const FENCED_CONDITION = 'Fenced';

export interface Fencing {
  fenced: boolean;
  reason: string;
  message: string;
  /** Not fenced yet, but self-fencing will count at this moment (ms since the epoch). */
  dueAtMs?: number;
}

/**
 * Whether a node that stopped heartbeating is fenced. `probeMs`: when this controller last
 * saw the node's heartbeat change (its own clock); `heartbeatExpired`: the grace period ran out.
 */
export function fencingOf(node: Node, probeMs: number, nowMs: number, heartbeatExpired: boolean, marginMs = DEFAULT_SELF_FENCE_MARGIN_MS): Fencing {
  const name = node.metadata.name!;
  if (!heartbeatExpired) return { fenced: false, reason: FenceReasons.NotFenced, message: `node ${name} is heartbeating` };
  if (node.spec?.fenced) return { fenced: true, reason: FenceReasons.AdminFenced, message: `an admin fenced node ${name} (spec.fenced)` };
  const self = node.status?.selfFencing;
  if (self?.enabled && self.timeoutSeconds && self.timeoutSeconds > 0) {
    const dueAtMs = probeMs + self.timeoutSeconds * 1000 + marginMs;
    const wait = `${self.timeoutSeconds}s self-fencing timeout + ${Math.round(marginMs / 1000)}s margin`;
    if (nowMs >= dueAtMs)
      return { fenced: true, reason: FenceReasons.SelfFenceTimeoutElapsed, message: `node ${name} self-fenced: no heartbeat for its ${wait}` };
    return { fenced: false, reason: FenceReasons.NotFenced, message: `node ${name} self-fences: waiting out its ${wait}`, dueAtMs };
  }
  return {
    fenced: false,
    reason: FenceReasons.NotFenced,
    message: `node ${name} is not fenced: it does not self-fence; an admin fences it with qxctl node fence ${name} once it is down`,
  };
}

/** The node's Fenced condition for this decision (set only while the heartbeat is expired). */
export function fencedCondition(fencing: Fencing): Omit<NodeCondition, 'lastTransitionTime'> {
  return { type: FENCED_CONDITION, status: fencing.fenced ? 'True' : 'False', reason: fencing.reason, message: fencing.message };
}

export interface RecoveryInput {
  node: Node;
  fencing: Fencing;
  /** VMs bound to the node. */
  vms: readonly VirtualMachine[];
  pools: ReadonlyMap<string, StoragePool>;
  nowMs: number;
}

export interface RecoveryPlan {
  /** Status writes (compare-and-swap on the VM's resourceVersion), each with its Event. */
  statuses: { vm: VirtualMachine; status: VirtualMachineStatus; event?: EventSpec }[];
  /** VMs whose recovery is recorded: clear spec.nodeName. */
  unbind: VirtualMachine[];
}

function isManaged(vm: VirtualMachine): boolean {
  return vm.status?.managed !== false && vm.status?.origin !== 'host-discovered';
}

/** A recovery from `node` is recorded and waits for the unbind. */
export function recoveryRecorded(vm: VirtualMachine, node: string): boolean {
  return vm.status?.recovery?.recoveredFrom === node && (vm.status.phase === 'Pending' || vm.status.phase === 'Scheduled');
}

function withCondition(vm: VirtualMachine, c: Omit<Condition, 'lastTransitionTime'>, now: string): VirtualMachineStatus | undefined {
  const old = getCondition(vm.status?.conditions, c.type);
  if (old && old.status === c.status && old.reason === c.reason && old.message === c.message) return undefined;
  return { ...structuredClone(vm.status ?? {}), conditions: setCondition(vm.status?.conditions, c, now) };
}

export function planRecovery(input: RecoveryInput): RecoveryPlan {
  const { node, fencing, pools, nowMs } = input;
  const name = node.metadata.name!;
  const now = new Date(nowMs).toISOString();
  const plan: RecoveryPlan = { statuses: [], unbind: [] };
  for (const vm of input.vms) {
    if (vm.spec?.nodeName !== name || vm.metadata.deletionTimestamp || !isManaged(vm)) continue;
    // Lost is known (the host reported the domain gone): it stays Lost until someone decides (docs/architecture.md).
    if (vm.status?.phase === 'Lost') continue;
    if (recoveryRecorded(vm, name)) {
      plan.unbind.push(vm);
      continue;
    }
    const why = notRecoverableReason(vm, pools);
    if (why) {
      const status = withCondition(vm, { type: RECOVERY_CONDITION, status: 'False', ...why, message: `not recovered from node ${name}: ${why.message}` }, now);
      if (status)
        plan.statuses.push({ vm, status, event: { type: 'Warning', reason: 'NotRecoverable', message: `node ${name} stopped heartbeating; ${why.message}` } });
      continue;
    }
    if (!fencing.fenced) {
      const message = `node ${name} stopped heartbeating; recovery on another node waits until it is fenced (${fencing.message})`;
      const status = withCondition(vm, { type: RECOVERY_CONDITION, status: 'False', reason: RecoveryReasons.WaitingForFencing, message }, now);
      if (status) plan.statuses.push({ vm, status });
      continue;
    }
    const count = (vm.status?.recovery?.count ?? 0) + 1;
    const message = `recovered from node ${name} (${fencing.message}); recovery ${count}: to be started on another node`;
    const status: VirtualMachineStatus = { ...structuredClone(vm.status ?? {}) };
    for (const k of ['domainUUID', 'domainName', 'nodeName', 'powerState', 'lostReason', 'lostAt', 'lastSeen', 'interfaces', 'usage', 'guestOSInfo'] as const)
      delete status[k];
    status.phase = 'Pending';
    status.recovery = { recoveredFrom: name, count, lastRecoveryTime: now };
    status.conditions = setCondition(status.conditions, { type: RECOVERY_CONDITION, status: 'True', reason: RecoveryReasons.Recovered, message }, now);
    plan.statuses.push({ vm, status, event: { type: 'Warning', reason: 'Recovering', message } });
    plan.unbind.push(vm);
  }
  return plan;
}

/**
 * The node heartbeats: its VMs' Recovery=False conditions (not recovered, or waiting for a
 * fence) no longer hold. Recovery=True stays: it records where the VM came from.
 */
export function planRecoveryWithdrawn(node: string, vms: readonly VirtualMachine[]): { vm: VirtualMachine; status: VirtualMachineStatus }[] {
  const out: { vm: VirtualMachine; status: VirtualMachineStatus }[] = [];
  for (const vm of vms) {
    if (vm.spec?.nodeName !== node || getCondition(vm.status?.conditions, RECOVERY_CONDITION)?.status !== 'False') continue;
    out.push({ vm, status: { ...structuredClone(vm.status ?? {}), conditions: removeCondition(vm.status?.conditions, RECOVERY_CONDITION) } });
  }
  return out;
}
