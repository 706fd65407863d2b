/**
 * A copy of h3's lib/logging/export.ts (ISSUE17-CONTRACT §4: the shared formats of qxctl logs
 * and this UI's export), kept here until that file is on this branch; once merged, this file
 * becomes `export * from '../../../lib/logging/export.js'`.
 * Log records as text, the same for `qxctl logs -o …` and the web UI's export: JSON lines,
 * CSV (RFC 4180: a header of exactly LOG_RECORD_COLUMNS, one row per record; the extra fields
 * are in the JSON and text forms) and plain text (`time level component node [cid] message key=value…`).
 */
import { LOG_RECORD_COLUMNS, type LogRecord } from '../../../lib/logging/record.js';

const COLUMNS: readonly string[] = LOG_RECORD_COLUMNS;

/** One JSON object per line, each ending with a newline. */
export function toJsonLines(records: readonly LogRecord[]): string {
  let out = '';
  for (const r of records) out += `${JSON.stringify(r)}\n`;
  return out;
}

/** The fields of a record beyond the shared columns. */
export function extraFields(record: LogRecord): Record<string, unknown> {
  const extra: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record)) if (!COLUMNS.includes(key) && value !== undefined) extra[key] = value;
  return extra;
}

/** A CSV cell: quoted when it holds a comma, quote, CR or LF (quotes doubled). */
export function csvCell(value: unknown): string {
  const text = value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** CSV: header `time,level,component,node,correlationId,message`, one row per record, CRLF line ends (RFC 4180). */
export function toCsv(records: readonly LogRecord[]): string {
  const lines = [COLUMNS.join(',')];
  for (const r of records) lines.push(COLUMNS.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

/** One line of text: `time level component node [cid] message key=value…` (no brackets without an id). */
export function toTextLine(r: LogRecord): string {
  const extra = Object.entries(extraFields(r))
    .map(([k, v]) => `${k}=${typeof v === 'string' ? (/\s/.test(v) || v === '' ? JSON.stringify(v) : v) : JSON.stringify(v)}`)
    .join(' ');
  // A message spanning lines stays on one (\n written as the two characters).
  const message = r.message.replace(/\r?\n/g, '\\n');
  return `${r.time} ${r.level.toUpperCase().padEnd(5)} ${r.component} ${r.node}${r.correlationId ? ` [${r.correlationId}]` : ''} ${message}${extra ? ` ${extra}` : ''}`;
}

export function toText(records: readonly LogRecord[]): string {
  let out = '';
  for (const r of records) out += `${toTextLine(r)}\n`;
  return out;
}
