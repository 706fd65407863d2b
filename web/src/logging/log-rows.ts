/**
 * The Logs page's rows: records in time order, paged backwards from the newest and
 * extended by the follow stream, with the overlap at page boundaries removed.
 */
import type { LogRecord } from '../../../lib/logging/record.js';
import { MAX_PAGE } from './logs-filter.js';

export interface LogSource {
  component: string;
  node: string;
  state: 'ok' | 'unreachable' | 'error';
  message?: string;
}

export interface LogList {
  kind: 'LogList';
  items: LogRecord[];
  sources: LogSource[];
}

const same = (a: LogRecord, b: LogRecord) => JSON.stringify(a) === JSON.stringify(b);

/** Whether `r` is already among the rows that share its time at the end (or start) of `rows`. */
function seenAt(rows: readonly LogRecord[], r: LogRecord, fromEnd: boolean): boolean {
  if (fromEnd) {
    for (let i = rows.length - 1; i >= 0 && rows[i]!.time >= r.time; i--) if (rows[i]!.time === r.time && same(rows[i]!, r)) return true;
  } else {
    for (let i = 0; i < rows.length && rows[i]!.time <= r.time; i++) if (rows[i]!.time === r.time && same(rows[i]!, r)) return true;
  }
  return false;
}

/** An older page (time order) before the rows; records of the boundary time already shown are dropped. */
export function prependOlder(rows: readonly LogRecord[], older: readonly LogRecord[]): LogRecord[] {
  if (!rows.length) return [...older];
  const first = rows[0]!.time;
  const fresh = older.filter((r) => r.time < first || (r.time === first && !seenAt(rows, r, false)));
  return [...fresh, ...rows];
}

/**
 * Followed records after the rows, kept in time order (records from several sources may
 * arrive slightly out of order) and without repeats of what is shown; at most `cap` rows,
 * the oldest dropped.
 */
export function appendFollowed(rows: readonly LogRecord[], records: readonly LogRecord[], cap: number): LogRecord[] {
  const out = [...rows];
  for (const r of records) {
    if (out.length && r.time <= out[out.length - 1]!.time) {
      if (seenAt(out, r, true)) continue;
      let i = out.length;
      while (i > 0 && out[i - 1]!.time > r.time) i--;
      out.splice(i, 0, r);
    } else {
      out.push(r);
    }
  }
  return out.length > cap ? out.slice(out.length - cap) : out;
}

/** Sources that did not answer, each once (a source may appear in several pages). */
export function troubledSources(sources: readonly LogSource[]): LogSource[] {
  const byKey = new Map<string, LogSource>();
  for (const s of sources) {
    const key = `${s.component}/${s.node}`;
    if (s.state === 'ok') byKey.delete(key);
    else byKey.set(key, s);
  }
  return [...byKey.values()];
}

/**
 * Loads up to `want` records, newest first in pages of at most MAX_PAGE (the API's bound),
 * each page ending where the previous began. Stops when a page comes back short or brings
 * nothing new.
 */
export async function loadPages(
  fetchPage: (limit: number, until: string | undefined) => Promise<LogList>,
  want: number,
  onPage?: (rows: LogRecord[]) => void,
): Promise<{ rows: LogRecord[]; sources: LogSource[] }> {
  let rows: LogRecord[] = [];
  const sources: LogSource[] = [];
  let until: string | undefined;
  while (rows.length < want) {
    // `until` is inclusive: the records at the boundary time come again; ask for that many more.
    let overlap = 0;
    while (until && overlap < rows.length && rows[overlap]!.time === until) overlap++;
    const limit = Math.min(MAX_PAGE, want - rows.length + overlap);
    const page = await fetchPage(limit, until);
    sources.push(...page.sources);
    const before = rows.length;
    rows = prependOlder(rows, page.items);
    onPage?.(rows);
    if (page.items.length < limit || rows.length === before) break;
    until = rows[0]!.time;
  }
  return { rows, sources };
}

/** Splits a byte stream of NDJSON into parsed lines (a line may span chunks). */
export function ndjsonSplitter(): { push(text: string): unknown[]; end(): unknown[] } {
  let rest = '';
  const parse = (lines: string[]) => lines.filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown);
  return {
    push(text) {
      const parts = (rest + text).split('\n');
      rest = parts.pop() ?? '';
      return parse(parts);
    },
    end() {
      const last = rest;
      rest = '';
      return parse([last]);
    },
  };
}

export type FollowMessage = { type: 'record'; record: LogRecord } | { type: 'source'; source: LogSource };
