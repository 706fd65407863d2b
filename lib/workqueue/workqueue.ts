/**
 * A rate-limited work queue with client-go's semantics
 * (k8s.io/client-go/util/workqueue):
 *
 * - a key is in the queue at most once (`dirty`), however often it is added;
 * - a key being processed (`processing`) is never handed to a second worker: adding it
 *   meanwhile marks it dirty and it is queued again when the first worker calls `done`;
 * - `addAfter` delays an add (the earliest pending time wins), `addRateLimited` delays by
 *   the rate limiter (per-item exponential backoff and a global bucket), `forget` clears
 *   the item's failure history.
 */
import type { Clock } from '../clock/clock.js';
import { realClock } from '../clock/clock.js';
import { defaultControllerRateLimiter, type RateLimiter } from './ratelimiter.js';

export interface WorkQueueOptions<K> {
  rateLimiter?: RateLimiter<K>;
  clock?: Clock;
  metrics?: WorkQueueMetrics;
}

/**
 * What a queue reports (client-go's workqueue MetricsProvider, in milliseconds): every add
 * that queued a key, how long a key waited in the queue before a worker took it, how long
 * the worker held it, and every rate-limited retry. Depth is read with `len()`.
 */
export interface WorkQueueMetrics {
  added(): void;
  queued(waitMs: number): void;
  worked(workMs: number): void;
  retried(): void;
}

export type GetResult<K> = { key: K; shutdown: false } | { key: undefined; shutdown: true };

export class WorkQueue<K = string> {
  readonly #rateLimiter: RateLimiter<K>;
  readonly #clock: Clock;
  #items: K[] = [];
  #head = 0;
  readonly #dirty = new Set<K>();
  readonly #processing = new Set<K>();
  readonly #waiting = new Map<K, { at: number; cancel: () => void }>();
  #getters: ((r: GetResult<K>) => void)[] = [];
  #drainWaiters: (() => void)[] = [];
  #shuttingDown = false;
  #metrics?: WorkQueueMetrics;
  /** When each queued key was queued, and when each key in processing was taken (metrics only). */
  readonly #queuedAt = new Map<K, number>();
  readonly #takenAt = new Map<K, number>();

  constructor(options: WorkQueueOptions<K> = {}) {
    this.#clock = options.clock ?? realClock;
    this.#rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(this.#clock);
    this.#metrics = options.metrics;
  }

  /** Starts reporting to `metrics` (a queue made before its owner knew where to report). */
  setMetrics(metrics: WorkQueueMetrics): void {
    this.#metrics = metrics;
  }

  /** Marks `key` as needing processing. */
  add(key: K): void {
    if (this.#shuttingDown) return;
    if (this.#dirty.has(key)) return;
    this.#dirty.add(key);
    if (this.#processing.has(key)) return;
    this.#push(key);
  }

  /** Adds `key` after `delayMs`; a pending earlier add for the same key wins. */
  addAfter(key: K, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = this.#clock.now() + delayMs;
    const pending = this.#waiting.get(key);
    if (pending && pending.at <= at) return;
    pending?.cancel();
    const cancel = this.#clock.setTimer(() => {
      this.#waiting.delete(key);
      this.add(key);
    }, delayMs);
    this.#waiting.set(key, { at, cancel });
  }

  /** Adds `key` once the rate limiter allows it (counts a failure). */
  addRateLimited(key: K): void {
    this.#metrics?.retried();
    this.addAfter(key, this.#rateLimiter.when(key));
  }

  /** Clears the failure history of `key` (call after a successful reconcile). */
  forget(key: K): void {
    this.#rateLimiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.#rateLimiter.numRequeues(key);
  }

  /** Keys queued (not counting ones being processed or waiting for a delay). */
  len(): number {
    return this.#items.length - this.#head;
  }

  /** Keys whose delayed add has not fired yet. */
  waitingCount(): number {
    return this.#waiting.size;
  }

  processingCount(): number {
    return this.#processing.size;
  }

  get shuttingDown(): boolean {
    return this.#shuttingDown;
  }

  /** Waits for the next key; `shutdown: true` once the queue is shut down and empty. */
  get(): Promise<GetResult<K>> {
    const ready = this.#take();
    if (ready) return Promise.resolve(ready);
    return new Promise((resolve) => this.#getters.push(resolve));
  }

  /** Marks the processing of `key` finished; re-queues it if it was added meanwhile. */
  done(key: K): void {
    if (this.#metrics) {
      const taken = this.#takenAt.get(key);
      this.#takenAt.delete(key);
      if (taken !== undefined) this.#metrics.worked(this.#clock.now() - taken);
    }
    this.#processing.delete(key);
    if (this.#dirty.has(key)) this.#push(key);
    if (this.#processing.size === 0) {
      const waiters = this.#drainWaiters;
      this.#drainWaiters = [];
      for (const w of waiters) w();
    }
  }

  /** Stops accepting keys; waiting getters return `shutdown` once the queue is empty. */
  shutDown(): void {
    this.#shuttingDown = true;
    for (const { cancel } of this.#waiting.values()) cancel();
    this.#waiting.clear();
    this.#wake();
  }

  /** Resolves once no key is being processed. */
  drained(): Promise<void> {
    if (this.#processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#drainWaiters.push(resolve));
  }

  #push(key: K): void {
    if (this.#metrics) {
      this.#metrics.added();
      this.#queuedAt.set(key, this.#clock.now());
    }
    this.#items.push(key);
    this.#wake();
  }

  #take(): GetResult<K> | undefined {
    if (this.#head < this.#items.length) {
      const key = this.#items[this.#head]!;
      this.#head++;
      if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
        this.#items = this.#items.slice(this.#head);
        this.#head = 0;
      }
      this.#dirty.delete(key);
      this.#processing.add(key);
      if (this.#metrics) {
        const now = this.#clock.now();
        const queued = this.#queuedAt.get(key);
        this.#queuedAt.delete(key);
        if (queued !== undefined) this.#metrics.queued(now - queued);
        this.#takenAt.set(key, now);
      }
      return { key, shutdown: false };
    }
    if (this.#shuttingDown) return { key: undefined, shutdown: true };
    return undefined;
  }

  #wake(): void {
    while (this.#getters.length) {
      const next = this.#take();
      if (!next) return;
      this.#getters.shift()!(next);
    }
  }
}
