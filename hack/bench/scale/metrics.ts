/**
 * What the scale benchmark reads from the processes it runs: Prometheus text from etcd and
 * the apiserver, resident memory from /proc, and latency summaries.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { percentile } from '../stats.js';

/** GET a URL over HTTPS (client certificate or bearer token), the body as text. */
export function httpsGet(url: string, tls: { ca: string; cert?: string; key?: string; token?: string }): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      { ca: tls.ca, cert: tls.cert, key: tls.key, headers: tls.token ? { authorization: `Bearer ${tls.token}` } : {}, timeout: 30_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c: string) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`GET ${url}: ${res.statusCode} ${body.slice(0, 200)}`))));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url}: timed out`)));
    req.on('error', reject);
    req.end();
  });
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Prometheus text exposition → samples (comments skipped). */
export function parsePrometheus(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([^}]*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[3] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[4]) });
  }
  return out;
}

/** The sum of every sample named `name` (over all label sets); undefined when there is none. */
export function sumOf(samples: readonly Sample[], name: string): number | undefined {
  const matching = samples.filter((s) => s.name === name);
  return matching.length === 0 ? undefined : matching.reduce((a, s) => a + s.value, 0);
}

/**
 * p-quantiles per verb of a Prometheus histogram, from the difference of two scrapes (the
 * requests made between them), as histogram_quantile does: the upper bound of the bucket
 * holding the rank (so "≤ this"). Watches are left out (their duration is time to first byte).
 */
export function histogramQuantiles(
  before: readonly Sample[],
  after: readonly Sample[],
  name: string,
  byLabel: string,
  quantiles: readonly number[],
): Record<string, Record<string, number | string>> {
  const buckets = (samples: readonly Sample[]) => {
    const m = new Map<string, Map<number, number>>();
    for (const s of samples) {
      if (s.name !== `${name}_bucket`) continue;
      const key = s.labels[byLabel] ?? '';
      const le = s.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(s.labels.le);
      const perKey = m.get(key) ?? new Map<number, number>();
      perKey.set(le, (perKey.get(le) ?? 0) + s.value);
      m.set(key, perKey);
    }
    return m;
  };
  const b0 = buckets(before);
  const b1 = buckets(after);
  const out: Record<string, Record<string, number | string>> = {};
  for (const [key, counts] of b1) {
    if (key === 'WATCH') continue;
    const bounds = [...counts.keys()].sort((a, b) => a - b);
    const cumulative = bounds.map((le) => counts.get(le)! - (b0.get(key)?.get(le) ?? 0));
    const total = cumulative[cumulative.length - 1] ?? 0;
    if (total <= 0) continue;
    const row: Record<string, number | string> = { count: total };
    for (const q of quantiles) {
      const rank = q * total;
      const i = cumulative.findIndex((c) => c >= rank);
      const le = bounds[i]!;
      row[`p${Math.round(q * 100)}`] = le === Number.POSITIVE_INFINITY ? `>${bounds[bounds.length - 2]}s` : `≤${le}s`;
    }
    out[key] = row;
  }
  return out;
}

/** Resident memory (bytes) of the largest process in the tree under `pid` (the node process a tsx launcher runs). */
export function largestRssBytes(pid: number): number {
  let largest = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const current = stack.pop()!;
    try {
      const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${current}/status`, 'utf8'));
      if (m) largest = Math.max(largest, Number(m[1]) * 1024);
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children) stack.push(...children.split(' ').map(Number));
      }
    } catch {
      /* gone */
    }
  }
  return largest;
}

export const MiB = 1024 * 1024;
export const mib = (bytes: number | undefined) => (bytes === undefined ? undefined : Math.round((bytes / MiB) * 10) / 10);

/** p50/p99/max (ms, one decimal) and the count of `values`. */
export function latencySummary(values: readonly number[]): { count: number; p50: number; p99: number; max: number } {
  const r = (v: number) => Math.round(v * 10) / 10;
  return { count: values.length, p50: r(percentile(values, 50)), p99: r(percentile(values, 99)), max: r(percentile(values, 100)) };
}

/** Client-side latencies by verb (the bench's own API calls). */
export class VerbLatencies {
  readonly #byVerb = new Map<string, number[]>();
  errors = 0;

  async time<T>(verb: string, call: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      return await call();
    } catch (err) {
      this.errors++;
      throw err;
    } finally {
      const list = this.#byVerb.get(verb) ?? [];
      list.push(performance.now() - started);
      this.#byVerb.set(verb, list);
    }
  }

  summary(): Record<string, ReturnType<typeof latencySummary>> {
    return Object.fromEntries([...this.#byVerb].map(([verb, values]) => [verb, latencySummary(values)]));
  }
}
