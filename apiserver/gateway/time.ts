/** Timestamps the gateway writes: RFC 3339 with second precision, as Kubernetes' metav1.Time. */
export function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d+Z$/, 'Z');
}
