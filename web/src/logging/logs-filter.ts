/**
 * The Logs page's filter: kept in the page URL (so a correlation id can be linked to, and
 * Back works) and turned into the `GET /logs` query (ISSUE17-CONTRACT §4).
 */
import { LOG_LEVELS, type LogLevel } from '../../../lib/logging/record.js';

/** Records one `GET /logs` may return. */
export const MAX_PAGE = 10_000;
/** Lines the page holds at most (more pages are fetched backwards up to this). */
export const MAX_LINES = 100_000;
export const LINE_CHOICES = [1_000, 10_000, 100_000] as const;

export interface LogsFilter {
  /** Components to show; empty means all. */
  components: string[];
  /** "User Actions": only the UI action log (component `ui`). */
  userActions: boolean;
  /** Minimum level (`warn` = warn and error). */
  level?: LogLevel;
  /** RFC 3339 or a duration back from now (`10m`). */
  since?: string;
  until?: string;
  correlationId?: string;
  /** Case-insensitive substring over message and fields. */
  grep?: string;
  /** Lines to load. */
  lines: number;
  follow: boolean;
}

export const DEFAULT_FILTER: LogsFilter = { components: [], userActions: false, lines: 1_000, follow: false };

const nonEmpty = (v: string | null): string | undefined => (v?.trim() ? v.trim() : undefined);

export function filterFromSearch(params: URLSearchParams): LogsFilter {
  const level = params.get('level');
  const lines = Number(params.get('lines'));
  return {
    components: params
      .getAll('component')
      .flatMap((c) => c.split(','))
      .map((c) => c.trim())
      .filter(Boolean),
    userActions: params.get('userActions') === 'true',
    level: (LOG_LEVELS as readonly string[]).includes(level ?? '') ? (level as LogLevel) : undefined,
    since: nonEmpty(params.get('since')),
    until: nonEmpty(params.get('until')),
    correlationId: nonEmpty(params.get('correlationId')),
    grep: nonEmpty(params.get('grep')),
    lines: Number.isInteger(lines) && lines > 0 ? Math.min(lines, MAX_LINES) : DEFAULT_FILTER.lines,
    follow: params.get('follow') === 'true',
  };
}

/** The page URL's query for a filter: only what differs from the defaults. */
export function searchFromFilter(f: LogsFilter): URLSearchParams {
  const p = new URLSearchParams();
  if (f.components.length) p.set('component', f.components.join(','));
  if (f.userActions) p.set('userActions', 'true');
  if (f.level) p.set('level', f.level);
  if (f.since) p.set('since', f.since);
  if (f.until) p.set('until', f.until);
  if (f.correlationId) p.set('correlationId', f.correlationId);
  if (f.grep) p.set('grep', f.grep);
  if (f.lines !== DEFAULT_FILTER.lines) p.set('lines', String(f.lines));
  if (f.follow) p.set('follow', 'true');
  return p;
}

/** The Logs page showing the chain of one correlation id (a path under the app's /ui base). */
export function logsPathFor(correlationId: string): string {
  return `/logs?${searchFromFilter({ ...DEFAULT_FILTER, correlationId }).toString()}`;
}

/** The components the API is asked for: "User Actions" narrows to `ui`. */
export function componentsOf(f: LogsFilter): string[] {
  return f.userActions ? ['ui'] : f.components;
}

export interface PageWindow {
  limit: number;
  /** Overrides the filter's `until` (paging backwards: the oldest record loaded so far). */
  until?: string;
  /** Overrides the filter's `since` (following on from the newest record loaded). */
  since?: string;
  follow?: boolean;
}

/** The `GET /logs` query for a filter and one page of it. */
export function logsQuery(f: LogsFilter, w: PageWindow): Record<string, string | undefined> {
  const components = componentsOf(f);
  return {
    component: components.length ? components.join(',') : undefined,
    level: f.level,
    since: w.since ?? f.since,
    until: w.follow ? undefined : (w.until ?? f.until),
    correlationId: f.correlationId,
    grep: f.grep,
    limit: String(Math.min(Math.max(1, w.limit), MAX_PAGE)),
    follow: w.follow ? 'true' : undefined,
  };
}
