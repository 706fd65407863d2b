/**
 * The vm controller's reconcile as a pure function: a VM (and its node, if any) → the
 * finalizers, status and events it should have. Sub-reconcilers, in calling order:
 *
 *   1. deletion   (vm_reconcile_deletion.ts) — while deleting: release the cleanup
 *                 finalizer once the agent reports the domain and volumes gone (or it is
 *                 forced); nothing else runs.
 *   2. finalizer  — add `quantix.io/vm-cleanup` to every live VM.
 *   3. status     (vm_reconcile_status.ts) — phase (Pending/Scheduled only), Scheduled,
 *                 Ready and pre-agent Synced conditions, observedGeneration; events on
 *                 Ready transitions.
 *   4. restart    (vm_reconcile_restart.ts) — RerunOnFailure: ask the agent for a restart
 *                 after a failure, with exponential backoff.
 */
import { reconcileDeletion } from './vm_reconcile_deletion.js';
import { reconcileRestart } from './vm_reconcile_restart.js';
import { reconcileStatus } from './vm_reconcile_status.js';
import type { VmInput, VmPlan } from './vm_reconcile_types.js';
import { CLEANUP_FINALIZER } from './vm_status.js';

export function planVm(input: VmInput): VmPlan {
  const { vm } = input;
  if (vm.metadata.deletionTimestamp) return reconcileDeletion(input);
  const plan: VmPlan = { status: structuredClone(vm.status ?? {}), events: [] };
  const finalizers = vm.metadata.finalizers ?? [];
  if (!finalizers.includes(CLEANUP_FINALIZER)) plan.finalizers = [...finalizers, CLEANUP_FINALIZER];
  reconcileStatus(input, plan);
  reconcileRestart(input, plan);
  return plan;
}
