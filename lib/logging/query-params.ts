/**
 * The query of GET /logs (issue 17 contract section 4) parsed and checked: each bad value is
 * reported with the parameter it came from, for a 400 Status naming it.
 */
import type { LogFilter } from './query.js';
import { LOG_LEVELS, type LogLevel } from './record.js';

export const DEFAULT_LOG_LIMIT = 1000;
export const MAX_LOG_LIMIT = 10_000;

export interface LogQueryParams {
  filter: LogFilter;
  limit: number;
  follow: boolean;
}

export class LogQueryError extends Error {
  constructor(
    readonly parameter: string,
    message: string,
  ) {
    super(message);
  }
}

const DURATION = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** RFC 3339 (`2026-12-07T08:00:00Z`) or a duration back from `now` (`10m`, `2h`, `1d`). */
export function parseTimeBound(parameter: string, text: string, now: number): number {
  const d = DURATION.exec(text);
  if (d) return now - Number(d[1]) * UNIT_MS[d[2]!]!;
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/i.test(text)) {
    const ms = Date.parse(text);
    if (!Number.isNaN(ms)) return ms;
  }
  throw new LogQueryError(parameter, `${parameter}: "${text}" is neither an RFC 3339 time (2026-12-07T08:00:00Z) nor a duration (30s, 10m, 2h, 1d)`);
}

/** Every value of a parameter, comma lists split. */
function allValues(params: URLSearchParams, name: string): string[] {
  return params
    .getAll(name)
    .flatMap((v) => v.split(','))
    .map((v) => v.trim())
    .filter(Boolean);
}

function single(params: URLSearchParams, name: string): string | undefined {
  const values = params.getAll(name);
  if (values.length > 1) throw new LogQueryError(name, `${name}: given ${values.length} times; give it once`);
  return values[0];
}

export function parseLogQuery(params: URLSearchParams, now = Date.now()): LogQueryParams {
  const known = new Set(['component', 'node', 'level', 'since', 'until', 'correlationId', 'grep', 'limit', 'follow']);
  for (const name of params.keys()) {
    if (!known.has(name)) throw new LogQueryError(name, `${name}: unknown parameter (known: ${[...known].join(', ')})`);
  }
  const filter: LogFilter = {};
  const components = allValues(params, 'component');
  if (components.length) filter.components = components;
  const node = single(params, 'node');
  if (node !== undefined && node !== '') filter.node = node;
  const level = single(params, 'level');
  if (level !== undefined && level !== '') {
    if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new LogQueryError('level', `level: "${level}" is not one of ${LOG_LEVELS.join(', ')}`);
    filter.level = level as LogLevel;
  }
  const since = single(params, 'since');
  if (since) filter.sinceMs = parseTimeBound('since', since, now);
  const until = single(params, 'until');
  if (until) filter.untilMs = parseTimeBound('until', until, now);
  if (filter.sinceMs !== undefined && filter.untilMs !== undefined && filter.sinceMs > filter.untilMs) {
    throw new LogQueryError('until', 'until: is before since');
  }
  const correlationId = single(params, 'correlationId');
  if (correlationId) filter.correlationId = correlationId;
  const grep = single(params, 'grep');
  if (grep) filter.grep = grep;
  const limitText = single(params, 'limit');
  let limit = DEFAULT_LOG_LIMIT;
  if (limitText !== undefined) {
    limit = Number(limitText);
    if (!/^\d+$/.test(limitText) || limit < 1 || limit > MAX_LOG_LIMIT) {
      throw new LogQueryError('limit', `limit: "${limitText}" is not an integer between 1 and ${MAX_LOG_LIMIT}`);
    }
  }
  const followText = single(params, 'follow');
  if (followText !== undefined && followText !== 'true' && followText !== 'false' && followText !== '') {
    throw new LogQueryError('follow', `follow: "${followText}" is not true or false`);
  }
  return { filter, limit, follow: followText === 'true' || followText === '' };
}

/** The query string of a filter (what the apiserver sends its peers, what qxctl sends). */
export function logQueryString(filter: LogFilter, limit: number, follow = false): string {
  const params = new URLSearchParams();
  if (filter.components?.length) params.set('component', filter.components.join(','));
  if (filter.node) params.set('node', filter.node);
  if (filter.level) params.set('level', filter.level);
  if (filter.sinceMs !== undefined) params.set('since', new Date(filter.sinceMs).toISOString());
  if (filter.untilMs !== undefined) params.set('until', new Date(filter.untilMs).toISOString());
  if (filter.correlationId) params.set('correlationId', filter.correlationId);
  if (filter.grep) params.set('grep', filter.grep);
  params.set('limit', String(limit));
  if (follow) params.set('follow', 'true');
  return params.toString();
}
