/**
 * A controller: a work queue of keys, N workers, and a reconcile function.
 *
 * The reconcile contract (controller-runtime's): a reconcile gets only a key, re-reads
 * current state and returns
 *   - `done()`            — converged; the key's failure history is forgotten;
 *   - `requeueAfter(ms)`  — converged for now, look again later (e.g. a timeout to check);
 *   - throws an error     — retried with the rate limiter's backoff (per key 5 ms → 1000 s,
 *                           global 10 qps / burst 100);
 *   - throws TerminalError — recorded and not retried until the key is enqueued again.
 * Anything else thrown (a TypeError from a bug: what Go calls a panic) is caught, logged
 * with its stack and retried like an error; a worker never dies.
 *
 * Every reconcile runs with a reconcile id, logged with the controller and key, and under
 * the correlation id of the object (`correlationIdOf`: its quantix.io/correlation-id
 * annotation, the user action that last changed it): the reconcile's log lines carry it, and
 * the reconcile sends it with its API requests (`client.withCorrelationId(ctx.correlationId)`),
 * so the writes it causes, and the Events it records about the object, keep it.
 */
import { randomBytes } from 'node:crypto';
import { createLogger, type Logger } from '../../lib/logging/logger.js';
import type { Clock } from '../../lib/clock/clock.js';
import { realClock } from '../../lib/clock/clock.js';
import type { RateLimiter } from '../../lib/workqueue/ratelimiter.js';
import { WorkQueue } from '../../lib/workqueue/workqueue.js';
import type { ReconcileMetrics, ReconcileResult } from './metrics.js';

export type Result = { requeueAfterMs?: number };

export const done = (): Result => ({});
export const requeueAfter = (ms: number): Result => ({ requeueAfterMs: Math.max(1, Math.ceil(ms)) });

/** An error a retry cannot fix (bad input): logged, not retried. */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export interface ReconcileContext {
  key: string;
  reconcileId: string;
  /** The correlation id of the object (undefined when it has none, or is gone). */
  correlationId?: string;
  /** Logs with controller, key, reconcileId and correlationId. */
  log: Logger;
}

export type Reconciler = (ctx: ReconcileContext) => Promise<Result | void> | Result | void;

export interface ControllerOptions {
  name: string;
  reconcile: Reconciler;
  /** Concurrent workers (default 1). A key is never processed by two at once. */
  workers?: number;
  logger?: Logger;
  clock?: Clock;
  rateLimiter?: RateLimiter<string>;
  /** Every period, enqueue every key `listKeys` returns (catches anything missed). */
  resyncPeriodMs?: number;
  listKeys?: () => Iterable<string>;
  /** The correlation id a key's reconcile runs under (runtime/correlation.ts reads it from the cache). */
  correlationIdOf?: (key: string) => string | undefined;
}

export interface ControllerStats {
  reconciles: number;
  errors: number;
  panics: number;
  terminal: number;
  requeues: number;
  resyncs: number;
}

const PANICS = [TypeError, RangeError, ReferenceError, SyntaxError];

/**
 * 12 random hex digits per reconcile, drawn from a pool filled 4,096 ids at a time: one
 * randomBytes call per reconcile cost 5 s of the manager's CPU in the 1,000-node benchmark.
 */
let idPool = '';
let idAt = 0;
function nextReconcileId(): string {
  if (idAt >= idPool.length) {
    idPool = randomBytes(6 * 4096).toString('hex');
    idAt = 0;
  }
  idAt += 12;
  return idPool.slice(idAt - 12, idAt);
}

export class Controller {
  readonly name: string;
  readonly queue: WorkQueue<string>;
  readonly stats: ControllerStats = { reconciles: 0, errors: 0, panics: 0, terminal: 0, requeues: 0, resyncs: 0 };
  readonly #options: ControllerOptions;
  readonly #log: Logger;
  readonly #clock: Clock;
  #workers: Promise<void>[] = [];
  #cancelResync?: () => void;
  #started = false;
  #metrics?: ReconcileMetrics;

  constructor(options: ControllerOptions) {
    this.name = options.name;
    this.#options = options;
    this.#clock = options.clock ?? realClock;
    this.#log = (options.logger ?? createLogger('controller-manager')).child({ controller: options.name });
    this.queue = new WorkQueue<string>({ clock: this.#clock, rateLimiter: options.rateLimiter });
  }

  get log(): Logger {
    return this.#log;
  }

  /** Reports reconciles and the queue to `metrics` (the manager calls it once). */
  instrument(metrics: ReconcileMetrics): void {
    this.#metrics = metrics;
    this.queue.setMetrics(metrics.queue(this.name));
  }

  enqueue(key: string): void {
    this.queue.add(key);
  }

  enqueueAfter(key: string, ms: number): void {
    this.queue.addAfter(key, ms);
  }

  /** Starts the workers (and the resync timer). */
  start(): void {
    if (this.#started) return;
    this.#started = true;
    const n = Math.max(1, this.#options.workers ?? 1);
    for (let i = 0; i < n; i++) this.#workers.push(this.#worker());
    this.#scheduleResync();
    this.#log.info('controller started', { workers: n });
  }

  /** Stops taking keys and waits for in-flight reconciles to finish. */
  async stop(): Promise<void> {
    this.#cancelResync?.();
    this.queue.shutDown();
    await Promise.all(this.#workers);
    this.#workers = [];
    this.#log.info('controller stopped');
  }

  /** Runs one key now, outside the workers (tests). */
  async processOne(key: string): Promise<void> {
    this.queue.add(key);
    const r = await this.queue.get();
    if (!r.shutdown) await this.#process(r.key);
  }

  #scheduleResync(): void {
    const period = this.#options.resyncPeriodMs;
    const listKeys = this.#options.listKeys;
    if (!period || !listKeys) return;
    // ±10 % jitter so controllers do not resync in lockstep.
    const delay = period * (0.9 + Math.random() * 0.2);
    this.#cancelResync = this.#clock.setTimer(() => {
      if (this.queue.shuttingDown) return;
      this.stats.resyncs++;
      for (const key of listKeys()) this.queue.add(key);
      this.#scheduleResync();
    }, delay);
  }

  async #worker(): Promise<void> {
    for (;;) {
      const r = await this.queue.get();
      if (r.shutdown) return;
      await this.#process(r.key);
    }
  }

  async #process(key: string): Promise<void> {
    const reconcileId = nextReconcileId();
    const correlationId = this.#options.correlationIdOf?.(key);
    const log = this.#log.child(correlationId ? { key, reconcileId, correlationId } : { key, reconcileId });
    const started = this.#clock.now();
    this.stats.reconciles++;
    let outcome: ReconcileResult = 'success';
    try {
      // `log` carries the reconcile id; no AsyncLocalStorage here, whose promise hooks would
      // tax every reconcile of the process.
      const result = await Promise.resolve().then(() => this.#options.reconcile({ key, reconcileId, correlationId, log }));
      this.queue.forget(key);
      if (result?.requeueAfterMs !== undefined) {
        outcome = 'requeue';
        this.stats.requeues++;
        this.queue.addAfter(key, result.requeueAfterMs);
      }
      if (log.isDebugEnabled()) {
        log.debug('reconciled', { durationMs: this.#clock.now() - started, requeueAfterMs: result?.requeueAfterMs });
      }
    } catch (err) {
      if (err instanceof TerminalError) {
        outcome = 'terminal';
        this.stats.terminal++;
        this.queue.forget(key);
        log.error('reconcile failed (terminal, not retried)', { error: err.message, durationMs: this.#clock.now() - started });
      } else if (PANICS.some((P) => err instanceof P)) {
        outcome = 'panic';
        this.stats.panics++;
        this.queue.addRateLimited(key);
        log.error('reconcile panicked (recovered; retrying)', {
          error: (err as Error).message,
          stack: (err as Error).stack,
          retries: this.queue.numRequeues(key),
        });
      } else {
        outcome = 'error';
        this.stats.errors++;
        this.queue.addRateLimited(key);
        const retries = this.queue.numRequeues(key);
        // Conflicts are routine under optimistic concurrency: keep them out of warn.
        const conflict = (err as { code?: number })?.code === 409;
        (conflict ? log.debug : log.warn)('reconcile failed; retrying', { error: errorMessage(err), retries });
      }
    } finally {
      this.#metrics?.reconciled(this.name, outcome, (this.#clock.now() - started) / 1000);
      this.queue.done(key);
    }
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
