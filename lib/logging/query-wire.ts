/**
 * The logs query on the node gateway's Tunnel (gateway.proto LogReadRequest, LogReadResult):
 * records and cursors to and from their proto form, for the apiserver and the agent alike.
 */
import type { Init, LogCursor as ProtoCursor, LogEntry, LogReadRequest, LogReadResult } from '../../api-types/proto/types.js';
import type { LogCursor, LogFilter } from './query.js';
import { LOG_LEVELS, type LogLevel, type LogRecord } from './record.js';

/** What one answer may carry: under the gateway's 4 MiB limit for a Tunnel message, with room for framing. */
export const MAX_LOG_RESULT_BYTES = 3 * 1024 * 1024;

export function toLogEntry(record: LogRecord): LogEntry {
  const { time, level, component, node, message, correlationId, ...fields } = record;
  return {
    time,
    level,
    component,
    node,
    message,
    correlationId: correlationId ?? '',
    fieldsJson: Object.keys(fields).length ? JSON.stringify(fields) : '',
  };
}

export function fromLogEntry(entry: LogEntry): LogRecord {
  let fields: Record<string, unknown> = {};
  if (entry.fieldsJson) {
    try {
      const parsed = JSON.parse(entry.fieldsJson) as unknown;
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) fields = parsed as Record<string, unknown>;
    } catch {
      fields = { fieldsJson: entry.fieldsJson };
    }
  }
  return {
    time: entry.time,
    level: (LOG_LEVELS as readonly string[]).includes(entry.level) ? (entry.level as LogLevel) : 'info',
    component: entry.component,
    node: entry.node,
    message: entry.message,
    ...(entry.correlationId ? { correlationId: entry.correlationId } : {}),
    ...fields,
  };
}

export function toProtoCursor(cursor: LogCursor): ProtoCursor {
  return { entries: Object.entries(cursor).map(([base, c]) => ({ base, inode: c.ino, offset: c.offset })) };
}

export function fromProtoCursor(cursor: ProtoCursor | null | undefined): LogCursor | undefined {
  if (!cursor) return undefined;
  return Object.fromEntries(cursor.entries.map((e) => [e.base, { ino: e.inode, offset: e.offset }]));
}

export function toLogReadRequest(filter: LogFilter, limit: number, cursor?: LogCursor): Init<LogReadRequest> {
  return {
    components: [...(filter.components ?? [])],
    level: filter.level ?? '',
    sinceMs: filter.sinceMs ?? 0,
    untilMs: filter.untilMs ?? 0,
    correlationId: filter.correlationId ?? '',
    grep: filter.grep ?? '',
    limit,
    ...(cursor ? { cursor: toProtoCursor(cursor) } : {}),
  };
}

export function fromLogReadRequest(req: LogReadRequest): { filter: LogFilter; limit: number; cursor?: LogCursor } {
  const filter: LogFilter = {
    ...(req.components.length ? { components: req.components } : {}),
    ...((LOG_LEVELS as readonly string[]).includes(req.level) ? { level: req.level as LogLevel } : {}),
    ...(req.sinceMs ? { sinceMs: req.sinceMs } : {}),
    ...(req.untilMs ? { untilMs: req.untilMs } : {}),
    ...(req.correlationId ? { correlationId: req.correlationId } : {}),
    ...(req.grep ? { grep: req.grep } : {}),
  };
  const cursor = fromProtoCursor(req.cursor);
  return { filter, limit: req.limit, ...(cursor ? { cursor } : {}) };
}

/** The result in proto form, keeping the newest records that fit in `maxBytes` (the oldest go first). */
export function toLogReadResult(records: readonly LogRecord[], brokenLines: number, cursor: LogCursor, maxBytes = MAX_LOG_RESULT_BYTES): LogReadResult {
  const entries: LogEntry[] = [];
  let bytes = 0;
  for (let i = records.length - 1; i >= 0; i--) {
    const entry = toLogEntry(records[i]!);
    bytes += 16 + JSON.stringify(entry).length;
    if (bytes > maxBytes) break;
    entries.push(entry);
  }
  entries.reverse();
  return { records: entries, brokenLines, cursor: toProtoCursor(cursor), noLogDir: false };
}
