/**
 * RerunOnFailure: after a failure (phase Failed) the vm controller asks the agent for a
 * restart by setting the phase back to Scheduled, after a backoff of
 * 10 s · 2^restartCount (capped at 5 min) counted from when the VM failed. The agent
 * starts a Scheduled VM whose domain exists and counts the restart in restartCount.
 * A clean guest shutdown (Stopped) is not a failure: it stays stopped. `Always` is the
 * agent's own business (it restarts the domain whenever it stops); Manual and Halted
 * never restart. Nothing here moves a VM to another node.
 */
import { getCondition, setCondition } from '../../lib/apimachinery/conditions.js';
import type { VmInput, VmPlan } from './vm_reconcile_types.js';
import { ConditionType, Reason } from './vm_status.js';

export const RESTART_BACKOFF_BASE_MS = 10_000;
export const RESTART_BACKOFF_MAX_MS = 300_000;

export function restartBackoffMs(restartCount: number): number {
  return Math.min(RESTART_BACKOFF_BASE_MS * 2 ** Math.max(0, restartCount), RESTART_BACKOFF_MAX_MS);
}

export function reconcileRestart(input: VmInput, plan: VmPlan): void {
  const { vm, nowMs } = input;
  if (vm.spec?.runStrategy !== 'RerunOnFailure' || plan.status.phase !== 'Failed') return;
  const ready = getCondition(plan.status.conditions, ConditionType.Ready);
  const failedAt = ready?.reason === 'Failed' && ready.lastTransitionTime ? Date.parse(ready.lastTransitionTime) : nowMs;
  const restarts = vm.status?.restartCount ?? 0;
  const due = failedAt + restartBackoffMs(restarts);
  if (nowMs < due) {
    plan.requeueAfterMs = due - nowMs;
    return;
  }
  const now = new Date(nowMs).toISOString();
  plan.status.phase = 'Scheduled';
  plan.status.conditions = setCondition(
    plan.status.conditions,
    { type: ConditionType.Ready, status: 'False', reason: Reason.Restarting, message: `restarting after a failure (restart ${restarts + 1})` },
    now,
  );
  plan.events = plan.events.filter((e) => e.reason !== 'Failed');
  plan.events.push({ type: 'Normal', reason: 'Restarting', message: `runStrategy RerunOnFailure: restarting after a failure (restart ${restarts + 1})` });
}
