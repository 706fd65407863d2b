/**
 * Log records as JSON lines, CSV and text: the names and formats of ISSUE17-CONTRACT §4
 * (`lib/logging/export.ts`, h3's, shared with qxctl, replaces this once merged).
 * CSV: the header LOG_RECORD_COLUMNS, then one row per record (RFC 4180 quoting).
 * TXT: `time level component node [correlationId] message`, the id part only when known.
 */
import { LOG_RECORD_COLUMNS, type LogRecord } from '../../../lib/logging/record.js';

function csvCell(value: unknown): string {
  const s = value === undefined || value === null ? '' : typeof value === 'string' ? value : JSON.stringify(value);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(records: readonly LogRecord[]): string {
  const lines = [LOG_RECORD_COLUMNS.join(',')];
  for (const r of records) lines.push(LOG_RECORD_COLUMNS.map((c) => csvCell(r[c])).join(','));
  return `${lines.join('\n')}\n`;
}

export function toText(records: readonly LogRecord[]): string {
  return records.map((r) => `${r.time} ${r.level} ${r.component} ${r.node}${r.correlationId ? ` [${r.correlationId}]` : ''} ${r.message}\n`).join('');
}

export function toJsonLines(records: readonly LogRecord[]): string {
  return records.map((r) => `${JSON.stringify(r)}\n`).join('');
}
