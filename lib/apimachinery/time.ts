/**
 * Timestamps as the Kubernetes API writes them: metav1.Time, RFC 3339 in UTC with whole
 * seconds (`2026-01-12T10:00:00Z`), and metav1.MicroTime (`2026-01-12T10:00:00.123000Z`).
 * Browser-safe.
 */

/** `d` as metav1.Time: the milliseconds of toISOString() dropped. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}

/** `d` as metav1.MicroTime (Leases): six fractional digits, the last three always 0. */
export function isoMicros(d: Date): string {
  return d.toISOString().replace('Z', '000Z');
}
