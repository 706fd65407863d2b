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
 *   quantix_controller_event_writes_total                        Event creates and count bumps sent (events.ts)
 *   quantix_controller_event_loop_delay_seconds{quantile}        event-loop delay (perf_hooks.monitorEventLoopDelay),
 *                                                                quantile 0.5, 0.99 and 1 (the max), over the worse of
 *                                                                the current and the last complete 10-s window
 *   quantix_controller_leader_transitions_total                  times this replica started or stopped leading
 *   quantix_leader_election_renew_duration_seconds{result}       histogram: the leader's renewal attempts, from its
 *                                                                timer to the answer (renewed | failed)
 *   quantix_informer_lists_total{resource}                       full lists an informer asked for: its first, and
 *                                                                a relist after 410 Gone (read at scrape)
 *   quantix_informer_watch_reconnects_total{resource}            watches resumed from the last resourceVersion seen,
 *                                                                without a list (read at scrape)
 * plus Node's process metrics (process_*, nodejs_*).
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { WorkQueueMetrics } from '../../lib/workqueue/workqueue.js';

export type ReconcileResult = 'success' | 'requeue' | 'error' | 'terminal' | 'panic';

/** What a Controller reports (controller.ts calls it; the manager wires it). */
export interface ReconcileMetrics {
  reconciled(controller: string, result: ReconcileResult, seconds: number): void;
  queue(controller: string): WorkQueueMetrics;
}

export interface LoopDelay {
  p50: number;
  p99: number;
  max: number;
}

/**
 * Event-loop delay in seconds over a sliding window (perf_hooks.monitorEventLoopDelay, 10 ms
 * resolution): what the last complete window saw, or the current one when worse. A lease
 * renewal waits this long for its timer on top of its request: the number to watch next to
 * --renew-deadline.
 */
export class EventLoopDelayWindow {
  readonly #histogram: IntervalHistogram;
  readonly #timer: NodeJS.Timeout;
  #last: LoopDelay = { p50: 0, p99: 0, max: 0 };

  constructor(windowMs = 10_000) {
    this.#histogram = monitorEventLoopDelay({ resolution: 10 });
    this.#histogram.enable();
    this.#timer = setInterval(() => {
      this.#last = this.#read();
      this.#histogram.reset();
    }, windowMs).unref();
  }

  #read(): LoopDelay {
    const h = this.#histogram;
    if (h.count === 0) return { p50: 0, p99: 0, max: 0 };
    return { p50: h.percentile(50) / 1e9, p99: h.percentile(99) / 1e9, max: h.max / 1e9 };
  }

  current(): LoopDelay {
    const now = this.#read();
    const last = this.#last;
    return now.max >= last.max ? now : last;
  }

  /** Samples in the current window. */
  get samples(): number {
    return this.#histogram.count;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#histogram.disable();
  }
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
  readonly leaderTransitions: Counter;
  readonly leaseRenewals: Histogram<'result'>;
  readonly eventLoopDelay?: EventLoopDelayWindow;
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
    this.leaderTransitions = new Counter({
      name: 'quantix_controller_leader_transitions_total',
      help: 'Times this replica started or stopped leading',
      registers,
    });
    this.leaseRenewals = new Histogram({
      name: 'quantix_leader_election_renew_duration_seconds',
      help: "The leader's lease renewal attempts, from its timer to the answer, by result (renewed, failed)",
      labelNames: ['result'],
      buckets: DURATION_BUCKETS,
      registers,
    });
    if (options.processMetrics !== false) {
      collectDefaultMetrics({ register: registry });
      const window = new EventLoopDelayWindow();
      this.eventLoopDelay = window;
      new Gauge({
        name: 'quantix_controller_event_loop_delay_seconds',
        help: 'Event-loop delay (perf_hooks.monitorEventLoopDelay) over the worse of the current and the last complete 10-s window; quantile 1 is the max',
        labelNames: ['quantile'],
        registers,
        collect() {
          const d = window.current();
          this.set({ quantile: '0.5' }, d.p50);
          this.set({ quantile: '0.99' }, d.p99);
          this.set({ quantile: '1' }, d.max);
        },
      });
    }
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
