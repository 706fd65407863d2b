/**
 * Which VirtualMachines use a StoragePool, and on which node: the one answer the apiserver
 * (refusing to unassign a pool from a node whose VMs use it) and the storagepool controller
 * (the pool-in-use finalizer) both rely on. Pure functions.
 */
import { fieldError, type FieldError } from './field-errors.js';
import { POOL_IN_USE_FINALIZER } from './finalizers.js';
import type { StoragePool, VirtualMachine } from './generated/types.js';

/**
 * Whether a pool belongs on a node: assigned to it, and not being deleted — except while it
 * still carries the pool-in-use finalizer: a pool VMs use stays on its hosts until they are
 * gone, or tearing it down would pull it from under them and block their own deletion. The
 * node gateway (what it streams to a node) and the agent (what it keeps defined) both ask this.
 */
export function poolAssignedTo(pool: StoragePool, node: string): boolean {
  if (!(pool.spec?.assignedNodes ?? []).includes(node)) return false;
  return !pool.metadata.deletionTimestamp || (pool.metadata.finalizers ?? []).includes(POOL_IN_USE_FINALIZER);
}

/** Whether a VM's disks name the pool, or the agent reports volumes of it (they may outlive a spec edit). */
export function vmUsesPool(vm: VirtualMachine, pool: string): boolean {
  return (vm.spec?.disks ?? []).some((d) => d?.storagePool === pool) || (vm.status?.volumes ?? []).some((v) => v?.pool === pool);
}

/** The nodes a VM's volumes may live on: the node it is bound to and the one it was last observed on. */
export function vmNodes(vm: VirtualMachine): string[] {
  const nodes = [vm.spec?.nodeName, vm.status?.nodeName].filter((n): n is string => typeof n === 'string' && n !== '');
  return [...new Set(nodes)];
}

/** `namespace/name` of every VM using the pool, sorted. A VM counts until it is gone (also while being deleted). */
export function vmsUsingPool(pool: string, vms: readonly VirtualMachine[]): string[] {
  return vms
    .filter((vm) => vmUsesPool(vm, pool))
    .map(vmRef)
    .sort();
}

function vmRef(vm: VirtualMachine): string {
  return `${vm.metadata.namespace ?? ''}/${vm.metadata.name ?? ''}`;
}

/** At most this many VMs are named per node in an error; the rest are counted. */
const NAMED_VMS = 10;

function nameList(refs: readonly string[]): string {
  const shown = refs.slice(0, NAMED_VMS).join(', ');
  return refs.length > NAMED_VMS ? `${shown} and ${refs.length - NAMED_VMS} more` : shown;
}

/**
 * The problems with an update of a pool from `old` to `pool`: one Forbidden error on
 * spec.assignedNodes per node removed from it while VMs on that node use the pool, naming
 * them (`default/web`). Their volumes live in the pool on that node: unassigning it would
 * stop (for nfs: unmount) the pool under them.
 */
export function poolUnassignmentErrors(pool: StoragePool, old: StoragePool, vms: readonly VirtualMachine[]): FieldError[] {
  const now = new Set(pool.spec?.assignedNodes ?? []);
  const removed = (old.spec?.assignedNodes ?? []).filter((n) => !now.has(n));
  if (removed.length === 0) return [];
  const name = old.metadata.name ?? pool.metadata.name ?? '';
  const byNode = new Map<string, string[]>(removed.map((n) => [n, []]));
  for (const vm of vms) {
    if (!vmUsesPool(vm, name)) continue;
    for (const node of vmNodes(vm)) byNode.get(node)?.push(vmRef(vm));
  }
  const errs: FieldError[] = [];
  for (const [node, refs] of byNode) {
    if (refs.length === 0) continue;
    refs.sort();
    errs.push(
      fieldError.forbidden(
        'spec.assignedNodes',
        `node "${node}" cannot be removed: ${refs.length === 1 ? 'a VM on it uses' : `${refs.length} VMs on it use`} pool "${name}": ${nameList(refs)}; ` +
          'delete them or remove their disks from the pool first',
      ),
    );
  }
  return errs;
}
