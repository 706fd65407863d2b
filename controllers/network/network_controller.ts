/**
 * The network controller: aggregates the per-host reports in status.hosts (written by the
 * node gateway from the agents' heartbeats) into status.phase and a Ready condition, drops
 * entries of unassigned nodes, and records NetworkDegraded / NetworkError / NetworkReady
 * events (network_reconcile.ts). Status only: it never touches spec.
 */
import type { Network } from '../../api-types/generated/types.js';
import { commitStatus } from '../runtime/committer.js';
import { correlationIdFromStore } from '../runtime/correlation.js';
import { Controller, done } from '../runtime/controller.js';
import type { ControllerSetup } from '../runtime/manager.js';
import { keyOf, Networks } from '../runtime/resources.js';
import { planNetwork } from './network_reconcile.js';

export interface NetworkControllerOptions {
  workers?: number;
  resyncPeriodMs?: number;
}

export const NETWORK_CONTROLLER = 'network';

export function networkController(options: NetworkControllerOptions = {}): ControllerSetup {
  return (ctx) => {
    const sharedClient = ctx.clientFor(NETWORK_CONTROLLER);
    const networks = ctx.informers.informerFor<Network>(Networks);
    const events = ctx.events.forComponent('quantix-network-controller');
    const controller = new Controller({
      name: NETWORK_CONTROLLER,
      workers: options.workers ?? 2,
      logger: ctx.logger,
      resyncPeriodMs: options.resyncPeriodMs ?? 5 * 60_000,
      listKeys: () => networks.store.keys(),
      correlationIdOf: correlationIdFromStore(networks.store),
      reconcile: async ({ key, correlationId }) => {
        const client = sharedClient.withCorrelationId(correlationId);
        const net = networks.store.get(key);
        if (!net) return done();
        const plan = planNetwork(net, Date.now());
        await commitStatus(client, Networks, net, plan.status);
        for (const e of plan.events) events.record(net, e);
        return done();
      },
    });
    networks.on({
      add: (n) => controller.enqueue(keyOf(n)),
      update: (_old, n) => controller.enqueue(keyOf(n)),
    });
    return controller;
  };
}
