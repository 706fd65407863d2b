/**
 * Timestamps as the Kubernetes API writes them (metav1.Time): RFC 3339 in UTC with whole
 * seconds, `2026-01-12T10:00:00Z`. Browser-safe.
 */

/** `d` as metav1.Time: the milliseconds of toISOString() dropped. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}
