/**
 * Deletion sub-reconciler. A VM being deleted keeps the `quantix.io/vm-cleanup` finalizer
 * until one of these holds (checked in this order):
 *   - the VM is unmanaged (status.managed false): Quantix never touches its domain;
 *   - it was never bound to a node: nothing exists on any host;
 *   - the agent reports cleanup done: condition Synced=True with reason Deleted (the
 *     domain is undefined and its volumes deleted);
 *   - an admin forces it (annotation quantix.io/force-cleanup: "true") and the node is
 *     gone for good — deleted, or not Ready. A forced release on a Ready node is refused:
 *     its agent is alive and will clean up.
 */
import { getCondition, setCondition } from '../../lib/apimachinery/conditions.js';
import type { VmInput, VmPlan } from './vm_reconcile_types.js';
import { CLEANUP_FINALIZER, ConditionType, FORCE_CLEANUP_ANNOTATION, Reason } from './vm_status.js';

export function reconcileDeletion(input: VmInput): VmPlan {
  const { vm, node, nowMs } = input;
  const plan: VmPlan = { status: structuredClone(vm.status ?? {}), events: [] };
  const finalizers = vm.metadata.finalizers ?? [];
  if (!finalizers.includes(CLEANUP_FINALIZER)) return plan;
  const nodeName = vm.spec?.nodeName ?? vm.status?.nodeName;
  const synced = getCondition(vm.status?.conditions, ConditionType.Synced);
  const forced = vm.metadata.annotations?.[FORCE_CLEANUP_ANNOTATION] === 'true';
  const nodeReady = getCondition(node?.status?.conditions, 'Ready')?.status === 'True';

  let released: { type: 'Normal' | 'Warning'; reason: string; message: string } | undefined;
  if (vm.status?.managed === false) {
    released = { type: 'Normal', reason: 'CleanupSkipped', message: 'unmanaged VM: its domain is left untouched on the host' };
  } else if (!nodeName) {
    released = { type: 'Normal', reason: 'CleanedUp', message: 'never bound to a node: nothing to clean up' };
  } else if (synced?.status === 'True' && synced.reason === Reason.Deleted) {
    released = { type: 'Normal', reason: 'CleanedUp', message: `the agent on node ${nodeName} removed the domain and its volumes` };
  } else if (forced && (!node || !nodeReady)) {
    released = {
      type: 'Warning',
      reason: 'ForcedCleanup',
      message: `cleanup forced by annotation ${FORCE_CLEANUP_ANNOTATION}: node ${nodeName} is ${node ? 'not Ready' : 'gone'}; its domain and volumes may remain on the host`,
    };
  }
  if (released) {
    plan.finalizers = finalizers.filter((f) => f !== CLEANUP_FINALIZER);
    plan.events.push(released);
    return plan;
  }
  const message = forced
    ? `waiting for the agent on node ${nodeName} to remove the domain and volumes (force-cleanup ignored: node ${nodeName} is Ready)`
    : `waiting for the agent on node ${nodeName} to remove the domain and volumes`;
  plan.status.conditions = setCondition(
    plan.status.conditions,
    { type: ConditionType.Ready, status: 'False', reason: Reason.Deleting, message },
    new Date(nowMs).toISOString(),
  );
  return plan;
}
