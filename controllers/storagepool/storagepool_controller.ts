/**
 * The storagepool controller: aggregates the per-host reports in status.hosts into
 * status.phase, status.capacity and a Ready condition, drops entries of unassigned
 * nodes, and records PoolDegraded / PoolError / PoolReady events (storagepool_reconcile.ts).
 * It also keeps the `quantix.io/pool-in-use` finalizer on every pool a VM uses (its disks or
 * its reported volumes), and removes it when none does, so deleting a pool in use waits.
 * (Unassigning a node whose VMs use the pool is refused by the apiserver itself.)
 */
import type { StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { POOL_IN_USE_FINALIZER } from '../../api-types/finalizers.js';
import { vmsUsingPool } from '../../api-types/pool-usage.js';
import { isNotFound } from '../../lib/apimachinery/status-error.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { planPool, planPoolFinalizer } from './storagepool_reconcile.js';

export interface StoragePoolControllerOptions {
  workers?: number;
  resyncPeriodMs?: number;
}

export const STORAGEPOOL_CONTROLLER = 'storagepool';

/** The VM cache index by the pools a VM uses. */
const BY_POOL = 'pools';

/** The pools a VM's disks and reported volumes name. */
function poolsOf(vm: VirtualMachine | undefined): string[] {
  if (!vm) return [];
  const names = [...(vm.spec?.disks ?? []).map((d) => d.storagePool), ...(vm.status?.volumes ?? []).map((v) => v.pool)];
  return [...new Set(names.filter((n): n is string => typeof n === 'string' && n !== ''))];
}

export function storagePoolController(options: StoragePoolControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(STORAGEPOOL_CONTROLLER);
    const pools = ctx.informers.informerFor<StoragePool>(StoragePools);
    const vms = ctx.informers.informerFor<VirtualMachine>(VirtualMachines);
    if (!vms.store.hasIndex(BY_POOL)) vms.store.addIndex(BY_POOL, poolsOf);
    const events = ctx.events.forComponent('quantix-storagepool-controller');
    const controller = new Controller({
      name: STORAGEPOOL_CONTROLLER,
      workers: options.workers ?? 2,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => pools.store.keys(),
      correlationIdOf: correlationIdFromStore(pools.store),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        const pool = pools.store.get(key);
        if (!pool) return done();
        let current = pool;
        const finalizers = planPoolFinalizer(pool, vmsUsingPool(pool.metadata.name!, vms.store.byIndex(BY_POOL, pool.metadata.name!)));
        if (finalizers) {
          try {
            // Guarded by resourceVersion: the list is replaced whole.
            current = await client.patch<StoragePool>(StoragePools, undefined, pool.metadata.name!, {
              metadata: { resourceVersion: pool.metadata.resourceVersion, finalizers: finalizers.length ? finalizers : null },
            });
          } catch (err) {
            if (isNotFound(err)) return done();
            throw err;
          }
          if (pool.metadata.deletionTimestamp && finalizers.length === 0) return done(); // released: gone
        }
        const plan = planPool(pool, Date.now());
        // The status was computed from `pool`; the finalizer write moved only metadata.
        await commitStatus(client, StoragePools, { ...current, status: pool.status }, plan.status);
        for (const e of plan.events) events.record(pool, e);
        return done();
      },
    });
    pools.on({
      add: (p) => controller.enqueue(keyOf(p)),
      update: (_old, p) => controller.enqueue(keyOf(p)),
    });
    // A VM matters to a pool only for its pool-in-use finalizer: a VM using it appeared while the
    // pool has none, or one changed pools or went away. Not every VM created: 10,000 of them
    // would each reconcile (and diff) a pool with 1,000 hosts.
    const touch = (onlyWithoutFinalizer: boolean, ...list: (VirtualMachine | undefined)[]) => {
      for (const name of new Set(list.flatMap(poolsOf))) {
        if (onlyWithoutFinalizer && pools.store.get(name)?.metadata.finalizers?.includes(POOL_IN_USE_FINALIZER)) continue;
        controller.enqueue(name);
      }
    };
    vms.on({
      add: (vm) => touch(true, vm),
      update: (old, vm) => {
        const before = poolsOf(old);
        const after = poolsOf(vm);
        if (before.length !== after.length || before.some((p) => !after.includes(p))) touch(false, old, vm);
      },
      delete: (vm) => touch(false, vm),
    });
    return controller;
  };
}
