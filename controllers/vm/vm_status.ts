/**
 * The VirtualMachine status vocabulary shared by the controllers: condition types and
 * reasons, the finalizer, the annotations, and which component owns which phase.
 *
 * Phase ownership (see api-types/schema/virtualmachine.ts):
 *   Pending, Scheduled                      — vm controller (Scheduled again to ask for a restart under RerunOnFailure)
 *   Starting, Running, Stopping, Stopped,
 *   Paused, Failed                          — agent (from libvirt)
 *   Unknown                                 — node-lifecycle controller (node stopped heartbeating)
 *   Lost, Terminated                        — node gateway (full state sync)
 *
 * Condition ownership:
 *   Scheduled — scheduler writes False (Unschedulable, NodeNotSuitable) and clears
 *               NodeNotSuitable; the vm controller writes True (Bound) once spec.nodeName is set.
 *   Ready     — vm controller, derived from phase.
 *   Synced    — agent; the vm controller writes it only before the agent has acted
 *               (NotScheduled, WaitingForAgent), and never over a Synced the agent wrote
 *               (it may, before any phase: a disk waiting for its Image). `Synced` with reason `Deleted` is the
 *               agent's "domain and volumes removed" signal that releases the finalizer.
 */
import type { Condition, VirtualMachine, VirtualMachinePhase } from '../../api-types/generated/types.js';
import { getCondition } from '../../lib/apimachinery/conditions.js';

export { CLEANUP_FINALIZER } from '../../api-types/finalizers.js';
export const FORCE_CLEANUP_ANNOTATION = 'quantix.io/force-cleanup';

export const ConditionType = { Scheduled: 'Scheduled', Ready: 'Ready', Synced: 'Synced' } as const;

export const Reason = {
  // Scheduled
  Bound: 'Bound',
  Unschedulable: 'Unschedulable',
  NodeNotSuitable: 'NodeNotSuitable',
  // Synced (vm controller, before the agent acts)
  NotScheduled: 'NotScheduled',
  WaitingForAgent: 'WaitingForAgent',
  // Synced (agent): cleanup done
  Deleted: 'Deleted',
  // Ready
  Restarting: 'Restarting',
  Deleting: 'Deleting',
  NodeUnreachable: 'NodeUnreachable',
} as const;

/** Phases the agent (or gateway, or node-lifecycle) has set: the vm controller leaves them alone. */
export const OBSERVED_PHASES: ReadonlySet<VirtualMachinePhase> = new Set([
  'Starting',
  'Running',
  'Stopping',
  'Stopped',
  'Paused',
  'Failed',
  'Unknown',
  'Lost',
  'Terminated',
]);

/** Phases in which the agent has not acted yet (scheduler validation of a bound VM applies). */
export function agentHasActed(vm: VirtualMachine): boolean {
  const phase = vm.status?.phase;
  return phase !== undefined && OBSERVED_PHASES.has(phase);
}

export function boundCondition(nodeName: string): Omit<Condition, 'lastTransitionTime'> {
  return { type: ConditionType.Scheduled, status: 'True', reason: Reason.Bound, message: `bound to node ${nodeName}` };
}

export function scheduledCondition(vm: VirtualMachine): Condition | undefined {
  return getCondition(vm.status?.conditions, ConditionType.Scheduled);
}

export function isNodeNotSuitable(vm: VirtualMachine): boolean {
  const c = scheduledCondition(vm);
  return c?.status === 'False' && c.reason === Reason.NodeNotSuitable;
}
