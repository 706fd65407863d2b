/**
 * Rate limiters for the work queue, with client-go's semantics
 * (k8s.io/client-go/util/workqueue/default_rate_limiters.go).
 */
import type { Clock } from '../clock/clock.js';
import { realClock } from '../clock/clock.js';

export interface RateLimiter<K> {
  /** How long to wait before `item` may be processed again; counts a failure. */
  when(item: K): number;
  /** Stops tracking `item` (it succeeded). */
  forget(item: K): void;
  /** How many failures are recorded for `item`. */
  numRequeues(item: K): number;
}

/** base · 2^failures, capped at max (client-go: 5 ms → 1000 s). */
export class ItemExponentialFailureRateLimiter<K> implements RateLimiter<K> {
  #failures = new Map<K, number>();
  constructor(
    readonly baseMs = 5,
    readonly maxMs = 1_000_000,
  ) {}

  when(item: K): number {
    const n = this.#failures.get(item) ?? 0;
    this.#failures.set(item, n + 1);
    const delay = this.baseMs * 2 ** n;
    return Number.isFinite(delay) ? Math.min(delay, this.maxMs) : this.maxMs;
  }
  forget(item: K): void {
    this.#failures.delete(item);
  }
  numRequeues(item: K): number {
    return this.#failures.get(item) ?? 0;
  }
}

/**
 * A global token bucket (client-go: 10 qps, burst 100): each `when` reserves a token and
 * returns how long until it is available. Not per item: bounds the overall retry rate.
 */
export class BucketRateLimiter<K> implements RateLimiter<K> {
  #tokens: number;
  #last: number;
  constructor(
    readonly qps = 10,
    readonly burst = 100,
    readonly clock: Clock = realClock,
  ) {
    this.#tokens = burst;
    this.#last = clock.now();
  }

  when(_item: K): number {
    const now = this.clock.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#last) / 1000) * this.qps);
    this.#last = now;
    this.#tokens -= 1;
    if (this.#tokens >= 0) return 0;
    return Math.ceil((-this.#tokens / this.qps) * 1000);
  }
  forget(_item: K): void {}
  numRequeues(_item: K): number {
    return 0;
  }
}

/** The largest delay of all limiters (client-go's MaxOfRateLimiter). */
export class MaxOfRateLimiter<K> implements RateLimiter<K> {
  readonly #limiters: RateLimiter<K>[];
  constructor(...limiters: RateLimiter<K>[]) {
    this.#limiters = limiters;
  }
  when(item: K): number {
    let max = 0;
    for (const l of this.#limiters) max = Math.max(max, l.when(item));
    return max;
  }
  forget(item: K): void {
    for (const l of this.#limiters) l.forget(item);
  }
  numRequeues(item: K): number {
    let max = 0;
    for (const l of this.#limiters) max = Math.max(max, l.numRequeues(item));
    return max;
  }
}

/** client-go's DefaultControllerRateLimiter: max(per-item 5 ms→1000 s, bucket 10 qps / burst 100). */
export function defaultControllerRateLimiter<K>(clock: Clock = realClock): RateLimiter<K> {
  return new MaxOfRateLimiter<K>(new ItemExponentialFailureRateLimiter<K>(5, 1_000_000), new BucketRateLimiter<K>(10, 100, clock));
}
