/**
 * The controller-manager's Prometheus metrics (served by `--metrics-listen`, lib/metrics/server.ts).
 * Names follow controller-runtime's and client-go's, under the `quantix_` prefix:
 *
 *   quantix_controller_reconcile_total{controller,result}        result: success | requeue | error | terminal | panic
 *   quantix_controller_reconcile_errors_total{controller}        reconciles that failed (error, terminal or panic)
 *   quantix_controller_reconcile_time_seconds{controller}        histogram of one reconcile's duration
 *   quantix_workqueue_depth{name}                                keys waiting for a worker (read at scrape)
 *   quantix_workqueue_adds_total{name}                           keys queued
 *   quantix_workqueue_queue_duration_seconds{name}               histogram: queued → taken by a worker
 *   quantix_workqueue_work_duration_seconds{name}                histogram: taken → done
 *   quantix_workqueue_retries_total{name}                        rate-limited re-adds
 *   quantix_leader_election_master_status{name}                  1 while this replica leads (read at scrape)
 *   quantix_controller_events_dropped_total                      Events dropped on a full backlog (events.ts)
 *   quantix_informer_lists_total{resource}                       full lists an informer asked for: its first, and
 *                                                                a relist after 410 Gone (read at scrape)
 *   quantix_informer_watch_reconnects_total{resource}            watches resumed from the last resourceVersion seen,
 *                                                                without a list (read at scrape)
 * plus Node's process metrics (process_*, nodejs_*).
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkQueueMetrics } from '../../lib/workqueue/workqueue.js';

export type ReconcileResult = 'success' | 'requeue' | 'error' | 'terminal' | 'panic';

/** What a Controller reports (controller.ts calls it; the manager wires it). */
export interface ReconcileMetrics {
  reconciled(controller: string, result: ReconcileResult, seconds: number): void;
  queue(controller: string): WorkQueueMetrics;
}

const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class ControllerManagerMetrics implements ReconcileMetrics {
  readonly registry: Registry;
  readonly reconcileTotal: Counter<'controller' | 'result'>;
  readonly reconcileErrors: Counter<'controller'>;
  readonly reconcileTime: Histogram<'controller'>;
  readonly queueDepth: Gauge<'name'>;
  readonly queueAdds: Counter<'name'>;
  readonly queueDuration: Histogram<'name'>;
  readonly workDuration: Histogram<'name'>;
  readonly retries: Counter<'name'>;
  readonly leader: Gauge<'name'>;
  readonly informerLists: Counter<'resource'>;
  readonly informerReconnects: Counter<'resource'>;
  /** The informers' own counts at the last scrape: the counters grow by the difference. */
  readonly #informersSeen = new Map<string, { lists: number; reconnects: number }>();

  constructor(registry = new Registry(), options: { processMetrics?: boolean } = {}) {
    this.registry = registry;
    const registers = [registry];
    this.reconcileTotal = new Counter({
      name: 'quantix_controller_reconcile_total',
      help: 'Reconciles per controller and result (success, requeue, error, terminal, panic)',
      labelNames: ['controller', 'result'],
      registers,
    });
    this.reconcileErrors = new Counter({
      name: 'quantix_controller_reconcile_errors_total',
      help: 'Reconciles per controller that failed (an error, a terminal error or a recovered panic)',
      labelNames: ['controller'],
      registers,
    });
    this.reconcileTime = new Histogram({
      name: 'quantix_controller_reconcile_time_seconds',
      help: 'Duration of one reconcile per controller',
      labelNames: ['controller'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.queueDepth = new Gauge({ name: 'quantix_workqueue_depth', help: 'Keys waiting in a work queue for a worker', labelNames: ['name'], registers });
    this.queueAdds = new Counter({ name: 'quantix_workqueue_adds_total', help: 'Keys queued in a work queue', labelNames: ['name'], registers });
    this.queueDuration = new Histogram({
      name: 'quantix_workqueue_queue_duration_seconds',
      help: 'How long a key waits in a work queue before a worker takes it',
      labelNames: ['name'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.workDuration = new Histogram({
      name: 'quantix_workqueue_work_duration_seconds',
      help: 'How long a worker holds a key taken from a work queue',
      labelNames: ['name'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    this.retries = new Counter({ name: 'quantix_workqueue_retries_total', help: 'Rate-limited re-adds to a work queue', labelNames: ['name'], registers });
    this.leader = new Gauge({
      name: 'quantix_leader_election_master_status',
      help: '1 while this replica holds the lease and runs the controllers, else 0',
      labelNames: ['name'],
      registers,
    });
    this.informerLists = new Counter({
      name: 'quantix_informer_lists_total',
      help: 'Full lists an informer asked for (its first, and a relist after 410 Gone)',
      labelNames: ['resource'],
      registers,
    });
    this.informerReconnects = new Counter({
      name: 'quantix_informer_watch_reconnects_total',
      help: 'Watches an informer resumed from the last resourceVersion it saw, without a list',
      labelNames: ['resource'],
      registers,
    });
    if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  }

  reconciled(controller: string, result: ReconcileResult, seconds: number): void {
    this.reconcileTotal.inc({ controller, result });
    if (result === 'error' || result === 'terminal' || result === 'panic') this.reconcileErrors.inc({ controller });
    this.reconcileTime.observe({ controller }, seconds);
  }

  queue(name: string): WorkQueueMetrics {
    return {
      added: () => this.queueAdds.inc({ name }),
      queued: (ms) => this.queueDuration.observe({ name }, ms / 1000),
      worked: (ms) => this.workDuration.observe({ name }, ms / 1000),
      retried: () => this.retries.inc({ name }),
    };
  }

  /** The values read at scrape time: queue depths, leadership and the informers' lists and watch reconnects. */
  refresh(state: {
    queues: { name: string; depth: number }[];
    leaseName: string;
    leading: boolean;
    informers?: { resource: string; lists: number; reconnects: number }[];
  }): void {
    for (const q of state.queues) this.queueDepth.set({ name: q.name }, q.depth);
    this.leader.set({ name: state.leaseName }, state.leading ? 1 : 0);
    for (const i of state.informers ?? []) {
      const seen = this.#informersSeen.get(i.resource) ?? { lists: 0, reconnects: 0 };
      this.informerLists.inc({ resource: i.resource }, Math.max(0, i.lists - seen.lists));
      this.informerReconnects.inc({ resource: i.resource }, Math.max(0, i.reconnects - seen.reconnects));
      this.#informersSeen.set(i.resource, { lists: Math.max(seen.lists, i.lists), reconnects: Math.max(seen.reconnects, i.reconnects) });
    }
  }
}
