/**
 * The storagepool controller: aggregates the per-host reports in status.hosts into
 * status.phase, status.capacity and a Ready condition, drops entries of unassigned
 * nodes, and records PoolDegraded / PoolError / PoolReady events (storagepool_reconcile.ts).
 */
import type { StoragePool } from '../../api-types/generated/types.js';
import { commitStatus } from '../runtime/committer.js';
import { Controller, done } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, StoragePools } from '../runtime/resources.js';
import { planPool } from './storagepool_reconcile.js';

export interface StoragePoolControllerOptions {
  workers?: number;
  resyncPeriodMs?: number;
}

export const STORAGEPOOL_CONTROLLER = 'storagepool';

export function storagePoolController(options: StoragePoolControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const client = ctx.clientFor(STORAGEPOOL_CONTROLLER);
    const pools = ctx.informers.informerFor<StoragePool>(StoragePools);
    const events = ctx.events.forComponent('quantix-storagepool-controller');
    const controller = new Controller({
      name: STORAGEPOOL_CONTROLLER,
      workers: options.workers ?? 2,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => pools.store.keys(),
      reconcile: async ({ key }) => {
        const pool = pools.store.get(key);
        if (!pool) return done();
        const plan = planPool(pool, Date.now());
        await commitStatus(client, StoragePools, pool, plan.status);
        for (const e of plan.events) events.record(pool, e);
        return done();
      },
    });
    pools.on({
      add: (p) => controller.enqueue(keyOf(p)),
      update: (_old, p) => controller.enqueue(keyOf(p)),
    });
    return controller;
  };
}
