/**
 * Reconnect delays: exponential from `baseMs`, capped at `maxMs`, with jitter so that many
 * browsers reconnecting after an apiserver restart do not arrive in lockstep.
 */
export interface BackoffOptions {
  baseMs: number;
  maxMs: number;
  /** Returns [0, 1); injectable for tests. */
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 8_000 };

/** Delay before retry number `attempt` (0 = the first retry): between half and all of the capped exponential. */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const random = options.random ?? Math.random;
  const exponential = options.baseMs * 2 ** Math.min(Math.max(attempt, 0), 30);
  const capped = Math.min(options.maxMs, exponential);
  return Math.round(capped / 2 + (capped / 2) * random());
}
