/**
 * An async token bucket: `take()` resolves when a token is available (FIFO). Used for
 * client-side API rate limits (client-go's QPS/burst per client) and for the event sink.
 */
import type { Clock } from '../clock/clock.js';
import { realClock } from '../clock/clock.js';

export class TokenBucket {
  #tokens: number;
  #at: number;
  #waiters: (() => void)[] = [];
  #cancel?: () => void;

  constructor(
    readonly qps: number,
    readonly burst: number,
    readonly clock: Clock = realClock,
  ) {
    if (!(qps > 0) || !(burst >= 1)) throw new Error(`token bucket: qps must be > 0 and burst >= 1 (got ${qps}, ${burst})`);
    this.#tokens = burst;
    this.#at = clock.now();
  }

  /** Resolves once a token is taken. */
  take(): Promise<void> {
    this.#refill();
    if (this.#tokens >= 1 && this.#waiters.length === 0) {
      this.#tokens -= 1;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.#waiters.push(resolve);
      this.#schedule();
    });
  }

  get waiting(): number {
    return this.#waiters.length;
  }

  #refill(): void {
    const now = this.clock.now();
    this.#tokens = Math.min(this.burst, this.#tokens + ((now - this.#at) / 1000) * this.qps);
    this.#at = now;
  }

  #schedule(): void {
    if (this.#cancel) return;
    const wait = Math.max(1, Math.ceil(((1 - this.#tokens) / this.qps) * 1000));
    this.#cancel = this.clock.setTimer(() => {
      this.#cancel = undefined;
      this.#refill();
      while (this.#tokens >= 1 && this.#waiters.length) {
        this.#tokens -= 1;
        this.#waiters.shift()!();
      }
      if (this.#waiters.length) this.#schedule();
    }, wait);
  }
}
