/**
 * Status sub-reconciler: phase before the agent acts, the conditions the vm controller
 * owns, observedGeneration, and an Event for every Ready transition.
 */
import type { Condition, VirtualMachine, VirtualMachinePhase } from '../../api-types/generated/types.js';
import type { EventSpec } from '../runtime/events.js';
import { getCondition, setCondition } from '../../lib/apimachinery/conditions.js';
import type { VmInput, VmPlan } from './vm_reconcile_types.js';
import { agentHasActed, boundCondition, ConditionType, isNodeNotSuitable, Reason, scheduledCondition } from './vm_status.js';

type ReadyCondition = Omit<Condition, 'lastTransitionTime'>;

export function reconcileStatus(input: VmInput, plan: VmPlan): void {
  const { vm, nowMs } = input;
  const now = new Date(nowMs).toISOString();
  const status = plan.status;
  const nodeName = vm.spec?.nodeName;
  const acted = agentHasActed(vm);

  if (!acted) status.phase = !nodeName || isNodeNotSuitable(vm) ? 'Pending' : 'Scheduled';

  if (nodeName && !isNodeNotSuitable(vm)) status.conditions = setCondition(status.conditions, boundCondition(nodeName), now);

  // The agent may report Synced before it has a phase to report (a disk waiting for its
  // Image, a pool or a network not ready on the node): its word stands. Overwriting it made
  // the two writers take turns, and the VM said "waiting for the agent" most of the time.
  if (!acted && !agentSynced(vm)) {
    const synced = nodeName
      ? { type: ConditionType.Synced, status: 'False' as const, reason: Reason.WaitingForAgent, message: `waiting for the agent on node ${nodeName}` }
      : { type: ConditionType.Synced, status: 'False' as const, reason: Reason.NotScheduled, message: 'not bound to a node yet' };
    status.conditions = setCondition(status.conditions, synced, now);
  }

  const oldReady = getCondition(vm.status?.conditions, ConditionType.Ready);
  const ready = readyFor(
    status.phase,
    vm.spec?.nodeName ?? vm.status?.nodeName,
    scheduledCondition(vm),
    status.lostReason,
    getCondition(vm.status?.conditions, ConditionType.Synced),
  );
  status.conditions = setCondition(status.conditions, ready, now);
  status.observedGeneration = vm.metadata.generation ?? status.observedGeneration;

  if (oldReady?.reason !== ready.reason) {
    // A VM created through the API may be Running before this controller first writes
    // Ready (a fast agent): that is still its start. A host-discovered VM seen running
    // for the first time did not just start.
    const origin = vm.status?.origin;
    const ev = transitionEvent(ready, oldReady !== undefined || origin === undefined || origin === 'control-plane');
    if (ev) plan.events.push(ev);
  }
}

/** A Synced condition written by the agent (not one of the vm controller's reasons before it acts). */
function agentSynced(vm: VmInput['vm']): boolean {
  const c = getCondition(vm.status?.conditions, ConditionType.Synced);
  return Boolean(vm.spec?.nodeName) && c !== undefined && c.reason !== Reason.WaitingForAgent && c.reason !== Reason.NotScheduled;
}

export function readyFor(
  phase: VirtualMachinePhase | undefined,
  nodeName: string | undefined,
  scheduled: Condition | undefined,
  lostReason: string | undefined,
  synced: Condition | undefined,
): ReadyCondition {
  const r = (status: ReadyCondition['status'], reason: string, message: string): ReadyCondition => ({ type: ConditionType.Ready, status, reason, message });
  const on = nodeName ? ` on node ${nodeName}` : '';
  switch (phase) {
    case 'Running':
      return r('True', 'Running', `running${on}`);
    case 'Unknown':
      return r('Unknown', Reason.NodeUnreachable, `node ${nodeName ?? '?'} stopped heartbeating: the VM state is unknown`);
    case 'Scheduled':
      return r('False', 'Scheduled', `waiting for the agent${on} to start it`);
    case 'Starting':
      return r('False', 'Starting', `starting${on}`);
    case 'Stopping':
      return r('False', 'Stopping', `stopping${on}`);
    case 'Stopped':
      return r('False', 'Stopped', `stopped${on}`);
    case 'Paused':
      return r('False', 'Paused', `paused${on}`);
    case 'Failed':
      return r('False', 'Failed', synced?.status === 'False' && synced.message ? synced.message : `failed${on}`);
    case 'Lost':
      return r('False', 'Lost', lostReason ? `lost${on}: ${lostReason}` : `lost${on}`);
    case 'Terminated':
      return r('False', 'Terminated', `the domain disappeared from its host${on.replace(' on', '')}`);
    default: // Pending
      if (scheduled?.status === 'False' && scheduled.reason) return r('False', scheduled.reason, scheduled.message ?? '');
      return r('False', 'Pending', 'waiting for the scheduler');
  }
}

function transitionEvent(ready: ReadyCondition, hadReady: boolean): EventSpec | undefined {
  const message = ready.message ?? '';
  switch (ready.reason) {
    case 'Running':
      return hadReady ? { type: 'Normal', reason: 'Started', message: `VM ${message}` } : undefined;
    case 'Stopped':
      return hadReady ? { type: 'Normal', reason: 'Stopped', message: `VM ${message}` } : undefined;
    case 'Paused':
      return hadReady ? { type: 'Normal', reason: 'Paused', message: `VM ${message}` } : undefined;
    case 'Failed':
      return { type: 'Warning', reason: 'Failed', message };
    case 'Lost':
      return { type: 'Warning', reason: 'Lost', message };
    case Reason.NodeUnreachable:
      return { type: 'Warning', reason: 'Unknown', message };
    case 'Terminated':
      return { type: 'Normal', reason: 'Terminated', message };
    default:
      return undefined;
  }
}

/**
 * An Event when a Failed VM fails for another reason (the agent's Synced reason changed
 * between two versions of the VM, e.g. its Image did not exist, and now is larger than the
 * disk). Ready stays Failed through such a change, so the transition Events above miss it
 * and `kubectl describe` would show only the first cause. Keyed on the reason, not the
 * message, so a message that only moves (a percentage while waiting) makes no Event.
 */
export function failureCauseEvent(old: VirtualMachine, vm: VirtualMachine): EventSpec | undefined {
  if (vm.metadata.deletionTimestamp || old.status?.phase !== 'Failed' || vm.status?.phase !== 'Failed') return undefined;
  const before = getCondition(old.status?.conditions, ConditionType.Synced);
  const now = getCondition(vm.status?.conditions, ConditionType.Synced);
  if (now?.status !== 'False' || !now.reason || now.reason === before?.reason) return undefined;
  return { type: 'Warning', reason: 'Failed', message: now.message || now.reason };
}
