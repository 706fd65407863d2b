/**
 * Whether a VM can be recovered on another node once its node is fenced (docs/fencing.md):
 * runStrategy Always and every disk on shared storage (an nfs pool, or a dir pool with
 * spec.shared). One rule for the node-lifecycle controller, which recovers such VMs, and the
 * agent, which stops only those when it self-fences (the others never move, so stopping
 * them would gain nothing).
 */
import type { StoragePool, VirtualMachine } from './generated/types.js';

export const NotRecoverableReasons = {
  RunStrategyNotAlways: 'RunStrategyNotAlways',
  DisksNotShared: 'DisksNotOnSharedStorage',
} as const;

/** A pool that is the same storage on every node it is assigned to. */
export function isSharedPool(pool: StoragePool | undefined): boolean {
  return pool?.spec?.type === 'nfs' || pool?.spec?.shared === true;
}

/** Why a VM cannot be recovered on another node, or undefined when it can. */
export function notRecoverableReason(
  vm: VirtualMachine,
  pools: { get(name: string): StoragePool | undefined },
): { reason: string; message: string } | undefined {
  const strategy = vm.spec?.runStrategy ?? 'Always';
  if (strategy !== 'Always') {
    return { reason: NotRecoverableReasons.RunStrategyNotAlways, message: `runStrategy is ${strategy}: only Always VMs are recovered on another node` };
  }
  const local = (vm.spec?.disks ?? []).filter((d) => !isSharedPool(pools.get(d.storagePool))).map((d) => `${d.name} (pool ${d.storagePool})`);
  if (local.length > 0) {
    return {
      reason: NotRecoverableReasons.DisksNotShared,
      message: `disk ${local.join(', ')} is not on shared storage (an nfs pool or a dir pool with spec.shared): the VM can only run on its node`,
    };
  }
  return undefined;
}
