/**
 * Timestamps as the Kubernetes API writes them: metav1.Time, RFC 3339 in UTC with whole
 * seconds (`2026-01-12T10:00:00Z`), and metav1.MicroTime (`2026-01-12T10:00:00.123000Z`).
 * Browser-safe.
 */

let lastSecond = Number.NaN;
let lastText = '';

/** `d` as metav1.Time: the milliseconds of toISOString() dropped. */
export function isoSeconds(d: Date): string {
  // Every API write stamps metadata and managedFields, and most writes in a second share one
  // text: remembering the last second saves a toISOString per stamp on the write path.
  const second = Math.floor(d.getTime() / 1000);
  if (second === lastSecond) return lastText;
  const iso = d.toISOString();
  // `YYYY-MM-DDTHH:mm:ss.sssZ` (all but extended years): cut the milliseconds without a regex.
  lastText = iso.length === 24 ? `${iso.slice(0, 19)}Z` : iso.replace(/\.\d+Z$/, 'Z');
  lastSecond = second;
  return lastText;
}

/** `d` as metav1.MicroTime (Leases): six fractional digits, the last three always 0. */
export function isoMicros(d: Date): string {
  return d.toISOString().replace('Z', '000Z');
}
