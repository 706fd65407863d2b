/**
 * What the vm controller's sub-reconcilers take and fill in: planVm (vm_reconcile.ts) calls
 * each vm_reconcile_<aspect>.ts, and they all share these two shapes (kept apart so the
 * aspect files need not import the file that calls them).
 */
import type { Node, VirtualMachine, VirtualMachineStatus } from '../../api-types/generated/types.js';
import type { EventSpec } from '../runtime/events.js';

export interface VmInput {
  vm: VirtualMachine;
  /** The node the VM is bound to (spec.nodeName, else status.nodeName), when it exists. */
  node: Node | undefined;
  nowMs: number;
}

export interface VmPlan {
  /** The full finalizer list to write, when it changes. */
  finalizers?: string[];
  /** The desired status (the committer diffs it against the current one). */
  status: VirtualMachineStatus;
  events: EventSpec[];
  requeueAfterMs?: number;
}
