/**
 * Correlation ids for UI actions: one per user action, sent as `X-Request-Id` on every API
 * call of that action (all calls share it), so the apiserver stores it with the writes it
 * causes and `qxctl logs --correlation-id` finds the whole chain, from this click to the
 * agent's libvirt call. A UUID (random, from getRandomValues: crypto.randomUUID needs a
 * secure context, and the UI may be served over plain HTTP).
 */
export function newActionId(): string {
  const b = new Uint8Array(16);
  crypto.getRandomValues(b);
  b[6] = (b[6]! & 0x0f) | 0x40; // version 4
  b[8] = (b[8]! & 0x3f) | 0x80; // RFC 4122 variant
  const hex = Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
