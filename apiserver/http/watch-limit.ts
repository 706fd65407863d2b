/**
 * At most so many open watch streams per user. Every watch holds a place in the watch cache's
 * fan-out and a socket; without a cap one token could open them until the process ran out.
 * Past the cap the answer is 429 TooManyRequests with Retry-After, as Kubernetes' priority
 * and fairness answers; a client retries once one of its streams has ended.
 */
import { errors } from '../../lib/apimachinery/status-error.js';
import type { UserInfo } from '../auth/identity.js';

/** Kubernetes' default of max-requests-inflight, per user here: the controller-manager, a dozen UI tabs and kubectl fit. */
export const DEFAULT_MAX_WATCHES_PER_USER = 400;
const RETRY_AFTER_SECONDS = 1;

export class WatchLimiter {
  readonly #open = new Map<string, number>();

  constructor(readonly maxPerUser = DEFAULT_MAX_WATCHES_PER_USER) {}

  /** Takes a place for `user`'s new watch; the returned function gives it back (once). Throws the 429 past the cap. */
  acquire(user: UserInfo): () => void {
    const open = this.#open.get(user.name) ?? 0;
    if (open >= this.maxPerUser) {
      throw errors.tooManyRequests(
        `too many watches: user "${user.name}" has ${open} open, the limit is ${this.maxPerUser}; retry once one of them has ended`,
        RETRY_AFTER_SECONDS,
      );
    }
    this.#open.set(user.name, open + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#open.get(user.name) ?? 1) - 1;
      if (left > 0) this.#open.set(user.name, left);
      else this.#open.delete(user.name);
    };
  }

  openBy(user: string): number {
    return this.#open.get(user) ?? 0;
  }
}
