/**
 * Correlation ids for UI actions (seed 001): every API call carries `X-Request-Id`; the
 * calls of one user action share the action's id with a per-call suffix, so the apiserver
 * log (which records requestId) shows which click caused which writes.
 */
const session = Math.random().toString(36).slice(2, 8);
let sequence = 0;

/** A fresh id for one user action, e.g. `ui-k3x9q2-17`. */
export function newActionId(): string {
  sequence += 1;
  return `ui-${session}-${sequence}`;
}

/** The id of the n-th call of an action (`ui-k3x9q2-17.2`). */
export function callId(actionId: string, n: number): string {
  return n === 0 ? actionId : `${actionId}.${n}`;
}
