/**
 * At most so many requests in flight per user, watches apart (they have their own cap,
 * watch-limit.ts). A request holds a place from authentication until its response is done
 * or its connection closes. Without a cap one token could keep the process busy with slow
 * requests (a body sent byte by byte, large lists) until nobody else was served. Past the
 * cap the answer is 429 TooManyRequests with Retry-After, as Kubernetes' max-requests-inflight.
 */
import type { ServerResponse } from 'node:http';
import { errors } from '../../lib/apimachinery/status-error.js';
import type { UserInfo } from '../auth/identity.js';

/**
 * kube-apiserver's --max-requests-inflight default, for one user here. A client holds one
 * request per connection: the controller-manager (66 connections), a benchmark's load
 * generator (64), kubectl and a dozen UI tabs (6 each) fit together under one user.
 */
export const DEFAULT_MAX_REQUESTS_INFLIGHT_PER_USER = 400;
const RETRY_AFTER_SECONDS = 1;

export class InflightLimiter {
  readonly #inFlight = new Map<string, number>();

  constructor(readonly maxPerUser = DEFAULT_MAX_REQUESTS_INFLIGHT_PER_USER) {}

  /** Takes a place for `user`'s request until `res` closes. Throws the 429 past the cap. */
  admit(user: UserInfo, res: ServerResponse): void {
    const release = this.hold(user);
    // 'close' comes once, after the response was sent or the connection went away.
    res.once('close', release);
  }

  /**
   * Takes a place for `user` until the returned release is called (once; later calls do
   * nothing): for requests without a ServerResponse, e.g. a WebSocket upgrade until it is
   * answered. Throws the 429 past the cap.
   */
  hold(user: UserInfo): () => void {
    const count = this.#inFlight.get(user.name) ?? 0;
    if (count >= this.maxPerUser) {
      throw errors.tooManyRequests(
        `too many requests in flight: user "${user.name}" has ${count}, the limit is ${this.maxPerUser}; retry once some have been answered`,
        RETRY_AFTER_SECONDS,
      );
    }
    this.#inFlight.set(user.name, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.#inFlight.get(user.name) ?? 1) - 1;
      if (left > 0) this.#inFlight.set(user.name, left);
      else this.#inFlight.delete(user.name);
    };
  }

  inFlightFor(user: string): number {
    return this.#inFlight.get(user) ?? 0;
  }
}
