/**
 * Reading a log directory (files.ts: `<base>.log` and its rotations): the newest records
 * matching a filter, and the records written after a point (follow).
 *
 * Fast on big directories: a query reads each base's files newest first, backwards in
 * chunks, and stops as soon as its page is full or the records get older than `since`
 * (or than the oldest record already on the page); a rotated file whose first record is
 * newer than `until` is skipped whole. A line is tested as text before it is parsed where
 * that is exact enough (correlation id, plain `grep` text), so most lines of a selective
 * query are never parsed. Lines that are not JSON records are skipped and counted.
 *
 * The current file is read up to its last complete line at the moment the query opens it;
 * the query's `cursor` says where that was, and `readNewRecords` goes on from there (a
 * rotation in between is noticed by the file's inode: the rest of the renamed file is read
 * first, then the new one).
 */
import { closeSync, fstatSync, openSync, readdirSync, readSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { setImmediate } from 'node:timers/promises';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import { logFilesOf } from './files.js';
import { LOG_LEVELS, type LogLevel, type LogRecord } from './record.js';

export interface LogFilter {
  /** Only these components (any, when absent or empty). */
  components?: readonly string[];
  node?: string;
  /** The minimum level: `warn` means warn and error. */
  level?: LogLevel;
  /** Records at or after this time (ms since the epoch). */
  sinceMs?: number;
  /** Records at or before this time. */
  untilMs?: number;
  correlationId?: string;
  /** A substring, case-insensitive, of the message or any field. */
  grep?: string;
}

export interface LogDirOptions {
  /** The node of records that do not name one (the host the directory is on). */
  node: string;
  /** Read only these bases (default: every base in the directory). */
  bases?: readonly string[];
  /** Leave these bases out (the apiserver leaves `agent` to the agents). */
  excludeBases?: readonly string[];
  /** Bytes read per step backwards (default 1 MiB). */
  chunkBytes?: number;
}

/** Where reading stopped in each base's current file: its inode and the offset after its last complete line. */
export type LogCursor = Record<string, { ino: number; offset: number }>;

export interface LogReadResult {
  /** In time order (oldest first). */
  records: LogRecord[];
  /** Lines that were not JSON log records (skipped). */
  brokenLines: number;
  cursor: LogCursor;
}

export const AUDIT_BASE = 'audit';
const LEVEL_RANK: Record<string, number> = Object.fromEntries(LOG_LEVELS.map((level, i) => [level, i]));
const NEWLINE = 0x0a;

/** The bases present in a directory (`x.log`, `x.log.N`), sorted. */
export function logBasesIn(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const bases = new Set<string>();
  for (const name of names) {
    const m = /^(.+)\.log(?:\.[1-9][0-9]*)?$/.exec(name);
    if (m) bases.add(m[1]!);
  }
  return [...bases].sort();
}

function basesToRead(dir: string, options: LogDirOptions, filter: LogFilter): string[] {
  const present = options.bases ? options.bases.filter((b) => logFilesOf(dir, b).length > 0) : logBasesIn(dir);
  const excluded = new Set(options.excludeBases ?? []);
  const wanted = filter.components?.length ? new Set(filter.components) : undefined;
  return present.filter((base) => {
    if (excluded.has(base)) return false;
    if (!wanted) return true;
    // `audit` and `ui` files hold only their own component; a process's file may hold several (apiserver.log: gateway…).
    if (base === AUDIT_BASE || base === 'ui') return wanted.has(base);
    return !(wanted.size > 0 && [...wanted].every((c) => c === AUDIT_BASE || c === 'ui'));
  });
}

// ---------------------------------------------------------------------------------------------
// Turning lines into records

/** An audit.k8s.io Event as the audit backend writes it (the fields read here). */
interface AuditEvent {
  kind?: string;
  apiVersion?: string;
  auditID?: string;
  stage?: string;
  verb?: string;
  requestURI?: string;
  user?: { username?: string };
  objectRef?: { resource?: string; subresource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp?: string;
  stageTimestamp?: string;
  annotations?: Record<string, string>;
}

function isAuditEvent(obj: Record<string, unknown>): boolean {
  return obj.kind === 'Event' && typeof obj.apiVersion === 'string' && obj.apiVersion.startsWith('audit.k8s.io/');
}

/** An audit Event as a record: `update virtualmachines default/web → 200`, component `audit`, the correlation id from its annotation. */
export function auditEventToRecord(event: AuditEvent, node: string): LogRecord | undefined {
  const time = normalizeTime(event.stageTimestamp ?? event.requestReceivedTimestamp);
  if (!time) return undefined;
  const ref = event.objectRef;
  const target = ref?.resource
    ? `${ref.resource}${ref.subresource ? `/${ref.subresource}` : ''}${ref.name || ref.namespace ? ` ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name ?? ''}` : ''}`
    : (event.requestURI ?? '');
  const code = event.responseStatus?.code;
  const level: LogLevel = code === undefined || code < 400 ? 'info' : code >= 500 ? 'error' : 'warn';
  const correlationId = event.annotations?.[CORRELATION_ID_ANNOTATION];
  return {
    time,
    level,
    component: AUDIT_BASE,
    node,
    message: `${event.verb ?? '?'} ${target}${code !== undefined ? ` → ${code}` : ''}`,
    ...(correlationId ? { correlationId } : {}),
    ...(event.user?.username !== undefined ? { user: event.user.username } : {}),
    ...(event.verb !== undefined ? { verb: event.verb } : {}),
    ...(code !== undefined ? { code } : {}),
    ...(event.auditID !== undefined ? { auditID: event.auditID } : {}),
    ...(event.stage !== undefined ? { stage: event.stage } : {}),
    ...(event.requestURI !== undefined ? { requestURI: event.requestURI } : {}),
  };
}

/** ISO 8601 UTC with milliseconds, or undefined when not a time. */
function normalizeTime(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (value.length === 24 && value.endsWith('Z') && value[10] === 'T') return value;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : new Date(ms).toISOString();
}

/**
 * One parsed line as a record with the contract's fields first, or undefined when it is not
 * one (no time). Lines written before `time` replaced winston's `timestamp` still read.
 */
export function toLogRecord(obj: Record<string, unknown>, base: string, node: string): LogRecord | undefined {
  if (isAuditEvent(obj)) return auditEventToRecord(obj as AuditEvent, node);
  const { time, timestamp, level, component, node: lineNode, message, correlationId, ...rest } = obj;
  const normalized = normalizeTime(time ?? timestamp);
  if (!normalized) return undefined;
  return {
    time: normalized,
    level: typeof level === 'string' && level in LEVEL_RANK ? (level as LogLevel) : 'info',
    component: typeof component === 'string' && component ? component : base,
    node: typeof lineNode === 'string' && lineNode ? lineNode : node,
    message: typeof message === 'string' ? message : message === undefined ? '' : JSON.stringify(message),
    ...(typeof correlationId === 'string' && correlationId ? { correlationId } : {}),
    ...rest,
  };
}

// ---------------------------------------------------------------------------------------------
// Filtering

/**
 * The filter compiled once per query: tests on the raw line that every matching line passes
 * (so most lines of a selective query are never parsed, nor even decoded), then the test of
 * the record. The most selective raw test (correlation id, then grep, then level) finds the
 * candidate lines of a whole chunk at once, on its bytes where it can; the others test each
 * candidate. The byte forms expect compact JSON, as JSON.stringify writes it (every Quantix
 * writer: the logger, the audit backend, the UI log).
 */
interface CompiledFilter {
  primary: RawTest | undefined;
  /** The other raw tests, on each candidate line. */
  lineMayMatch(line: string): boolean;
  matches(record: LogRecord, ms: number): boolean;
}

interface RawTest {
  /** Global: its matches in a chunk's text are the candidate lines. */
  regex: RegExp;
  /** Any of these bytes is in every matching line (`fold`: compared with ASCII letters lowercased). */
  bytes?: { needles: Buffer[]; fold: boolean };
}

function jsonEscapes(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c) return true;
  }
  return false;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** What a line of at least `level` holds: its level, or for an audit Event its response code (4xx warn, 5xx error). */
function levelTest(level: LogLevel, base: string): RawTest | undefined {
  const rank = LEVEL_RANK[level]!;
  if (base === AUDIT_BASE) {
    if (rank >= 2) return undefined;
    const digits = rank === 0 ? ['5'] : ['4', '5'];
    return {
      regex: new RegExp(`"code"\\s*:\\s*[${digits.join('')}]\\d\\d`, 'g'),
      bytes: { needles: digits.map((d) => Buffer.from(`"code":${d}`)), fold: false },
    };
  }
  if (rank >= 2) return undefined;
  const levels = LOG_LEVELS.slice(0, rank + 1);
  return {
    regex: new RegExp(`"level"\\s*:\\s*"(?:${levels.join('|')})"`, 'g'),
    bytes: { needles: levels.map((l) => Buffer.from(`"level":"${l}"`)), fold: false },
  };
}

function compileFilter(filter: LogFilter, base: string): CompiledFilter {
  const components = filter.components?.length ? new Set(filter.components) : undefined;
  const maxRank = filter.level ? LEVEL_RANK[filter.level]! : LOG_LEVELS.length;
  const grep = filter.grep ? filter.grep.toLowerCase() : undefined;
  const cid = filter.correlationId;
  // JSON escapes quotes, backslashes and control characters: a text without them is in the raw line as it is.
  const tests: RawTest[] = [];
  if (cid && !jsonEscapes(cid)) tests.push({ regex: new RegExp(escapeRegExp(cid), 'g'), bytes: { needles: [Buffer.from(cid)], fold: false } });
  // An audit record's message joins the Event's fields with spaces, slashes and an arrow: a
  // text without those lies within one field, found in the raw line as it is.
  if (filter.grep && !jsonEscapes(filter.grep) && (base !== AUDIT_BASE || !/[ /→]/.test(filter.grep))) {
    const ascii = /^[\x20-\x7e]*$/.test(filter.grep);
    tests.push({ regex: new RegExp(escapeRegExp(filter.grep), 'gi'), ...(ascii ? { bytes: { needles: [Buffer.from(grep!)], fold: true } } : {}) });
  }
  const level = filter.level && levelTest(filter.level, base);
  if (level) tests.push(level);
  const primary = tests.find((t) => t.bytes) ?? tests[0];
  const lineTests = tests.filter((t) => t !== primary).map((t) => new RegExp(t.regex.source, t.regex.flags.replace('g', '')));
  return {
    primary,
    lineMayMatch(line) {
      for (const t of lineTests) if (!t.test(line)) return false;
      return true;
    },
    matches(record, ms) {
      if (filter.sinceMs !== undefined && ms < filter.sinceMs) return false;
      if (filter.untilMs !== undefined && ms > filter.untilMs) return false;
      if (components && !components.has(record.component)) return false;
      if (filter.node !== undefined && record.node !== filter.node) return false;
      if ((LEVEL_RANK[record.level] ?? 2) > maxRank) return false;
      if (cid !== undefined && record.correlationId !== cid) return false;
      if (grep !== undefined && !recordText(record).toLowerCase().includes(grep)) return false;
      return true;
    },
  };
}

let foldBuffer = Buffer.alloc(0);

/** `body` with ASCII letters lowercased (UTF-8 multi-byte sequences have no byte below 0x80: untouched). */
function asciiLower(body: Buffer): Buffer {
  if (foldBuffer.length < body.length) foldBuffer = Buffer.allocUnsafe(Math.max(body.length, 1 << 20));
  const out = foldBuffer;
  for (let i = 0; i < body.length; i++) {
    const c = body[i]!;
    out[i] = c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
  }
  return out.subarray(0, body.length);
}

/** The candidate lines of a chunk of complete lines (raw bytes), newest first; with a byte test, only the lines holding its bytes are decoded. */
function candidateLinesOf(body: Buffer, compiled: CompiledFilter): string[] {
  const bytes = compiled.primary?.bytes;
  if (!bytes) return candidateLines(body.toString('utf8'), compiled);
  const hay = bytes.fold ? asciiLower(body) : body;
  const starts = new Set<number>();
  const spans: [number, number][] = [];
  for (const needle of bytes.needles) {
    for (let at = hay.indexOf(needle); at >= 0; ) {
      const start = hay.lastIndexOf(NEWLINE, at) + 1;
      let end = hay.indexOf(NEWLINE, at);
      if (end < 0) end = hay.length;
      if (!starts.has(start)) {
        starts.add(start);
        spans.push([start, end]);
      }
      at = end + 1 < hay.length ? hay.indexOf(needle, end + 1) : -1;
    }
  }
  if (bytes.needles.length > 1) spans.sort((x, y) => x[0] - y[0]);
  const lines: string[] = [];
  for (let i = spans.length - 1; i >= 0; i--) {
    const line = body.toString('utf8', spans[i]![0], spans[i]![1]);
    if (compiled.lineMayMatch(line)) lines.push(line);
  }
  return lines;
}

/** The candidate lines of a chunk of complete lines, newest (last) first. */
function candidateLines(text: string, compiled: CompiledFilter): string[] {
  const needle = compiled.primary?.regex;
  if (!needle) {
    const lines = text.split('\n');
    lines.reverse();
    return lines.filter((l) => l && compiled.lineMayMatch(l));
  }
  const lines: string[] = [];
  needle.lastIndex = 0;
  let lineEndSeen = -1;
  for (let m = needle.exec(text); m; m = needle.exec(text)) {
    if (m.index < lineEndSeen) continue; // a second match in the same line
    const start = text.lastIndexOf('\n', m.index) + 1;
    let end = text.indexOf('\n', m.index);
    if (end < 0) end = text.length;
    lineEndSeen = end;
    needle.lastIndex = end;
    const line = text.slice(start, end);
    if (compiled.lineMayMatch(line)) lines.push(line);
  }
  lines.reverse();
  return lines;
}

const TIME_FIELD = /"(?:time|timestamp|stageTimestamp)"\s*:\s*"([^"]+)"/;

/** A line's time without parsing it (the oldest line of a chunk says whether to read on). */
function lineTimeMs(line: string): number | undefined {
  const m = TIME_FIELD.exec(line);
  if (!m) return undefined;
  const ms = Date.parse(m[1]!);
  return Number.isNaN(ms) ? undefined : ms;
}

function recordText(record: LogRecord): string {
  let text = '';
  for (const [key, value] of Object.entries(record)) {
    if (key === 'time') continue;
    text += `${typeof value === 'string' ? value : JSON.stringify(value)}\n`;
  }
  return text;
}

/** Whether a record (from any source) passes a filter: the apiserver checks what peers and agents send. */
export function recordMatches(record: LogRecord, filter: LogFilter): boolean {
  const ms = Date.parse(record.time);
  return !Number.isNaN(ms) && compileFilter(filter, record.component).matches(record, ms);
}

// ---------------------------------------------------------------------------------------------
// Reading backwards

/** Calls `onChunk` with the complete lines of [0, end) of an open file (bytes, without the last newline), newest chunk first, until it returns false. */
async function readChunksBackward(fd: number, end: number, chunkBytes: number, onChunk: (body: Buffer) => boolean): Promise<void> {
  let pos = end;
  let carry = Buffer.alloc(0);
  const buffer = Buffer.allocUnsafe(chunkBytes);
  while (pos > 0) {
    const start = Math.max(0, pos - chunkBytes);
    const n = readSync(fd, buffer, 0, pos - start, start);
    const data = carry.length ? Buffer.concat([buffer.subarray(0, n), carry]) : buffer.subarray(0, n);
    let body: Buffer;
    if (start > 0) {
      const nl = data.indexOf(NEWLINE);
      if (nl < 0) {
        // One line longer than a chunk: keep gathering it.
        carry = Buffer.from(data);
        pos = start;
        continue;
      }
      body = data.subarray(nl + 1);
      carry = Buffer.from(data.subarray(0, nl));
    } else {
      body = data;
      carry = Buffer.alloc(0);
    }
    // Without the newline that ends the last line.
    if (!onChunk(body.length && body[body.length - 1] === NEWLINE ? body.subarray(0, body.length - 1) : body)) return;
    pos = start;
    // A scan of a big directory takes seconds: let the process serve others between chunks.
    await setImmediate();
  }
}

/** The offset after the last newline at or before `size` (a line being written is not read yet). */
function completeEnd(fd: number, size: number): number {
  const buffer = Buffer.allocUnsafe(64 * 1024);
  let pos = size;
  while (pos > 0) {
    const start = Math.max(0, pos - buffer.length);
    const n = readSync(fd, buffer, 0, pos - start, start);
    const nl = buffer.subarray(0, n).lastIndexOf(NEWLINE);
    if (nl >= 0) return start + nl + 1;
    pos = start;
  }
  return 0;
}

/** The time of the first record of a file (its oldest), read from its first line; undefined when unknown. */
function firstRecordMs(fd: number, size: number): number | undefined {
  const buffer = Buffer.allocUnsafe(Math.min(size, 64 * 1024));
  const n = readSync(fd, buffer, 0, buffer.length, 0);
  const nl = buffer.subarray(0, n).indexOf(NEWLINE);
  if (nl < 0) return undefined;
  try {
    const obj = JSON.parse(buffer.toString('utf8', 0, nl)) as Record<string, unknown>;
    const time = isAuditEvent(obj) ? (obj.stageTimestamp ?? obj.requestReceivedTimestamp) : (obj.time ?? obj.timestamp);
    const ms = typeof time === 'string' ? Date.parse(time) : Number.NaN;
    return Number.isNaN(ms) ? undefined : ms;
  } catch {
    return undefined;
  }
}

/** The newest `limit` matches seen so far across bases; `cutoff` is the oldest time still on a full page. */
class Page {
  #items: { ms: number; seq: number; record: LogRecord }[] = [];
  #seq = 0;
  cutoff = Number.NEGATIVE_INFINITY;
  constructor(readonly limit: number) {}

  add(ms: number, record: LogRecord): void {
    // Lines are read newest first: a lower seq is newer among records of the same time.
    this.#items.push({ ms, seq: this.#seq++, record });
    if (this.#items.length >= 2 * this.limit) this.compact();
  }

  compact(): void {
    this.#items.sort((a, b) => b.ms - a.ms || a.seq - b.seq);
    if (this.#items.length >= this.limit) {
      this.#items.length = this.limit;
      this.cutoff = this.#items[this.limit - 1]!.ms;
    }
  }

  records(): LogRecord[] {
    this.compact();
    return this.#items.map((i) => i.record).reverse();
  }
}

/**
 * The newest `limit` records of a log directory that match `filter`, in time order, and the
 * cursor after them (for follow). Never throws on a file's content; an unreadable file is
 * an error of the whole read.
 */
export async function queryLogDir(dir: string, filter: LogFilter, limit: number, options: LogDirOptions): Promise<LogReadResult> {
  const page = new Page(limit);
  const cursor: LogCursor = {};
  let brokenLines = 0;
  const chunkBytes = options.chunkBytes ?? 1024 * 1024;
  for (const base of basesToRead(dir, options, filter)) {
    const compiled = compileFilter(filter, base);
    // Opened all at once: a rotation during the read renames files, the open descriptors stay.
    const files = logFilesOf(dir, base)
      .map((path) => {
        try {
          return { path, fd: openSync(path, 'r') };
        } catch {
          return undefined; // rotated away between the listing and the open
        }
      })
      .filter((f): f is { path: string; fd: number } => f !== undefined);
    try {
      let found = 0;
      let done = false;
      for (let i = files.length - 1; i >= 0 && !done; i--) {
        const { path, fd } = files[i]!;
        const st = fstatSync(fd);
        const isCurrent = path === join(dir, `${base}.log`);
        const end = completeEnd(fd, st.size);
        if (isCurrent) cursor[base] = { ino: st.ino, offset: end };
        if (filter.untilMs !== undefined && i < files.length - 1) {
          const oldest = firstRecordMs(fd, end);
          if (oldest !== undefined && oldest > filter.untilMs) continue;
        }
        await readChunksBackward(fd, end, chunkBytes, (body) => {
          for (const line of candidateLinesOf(body, compiled)) {
            let obj: unknown;
            try {
              obj = JSON.parse(line);
            } catch {
              brokenLines++;
              continue;
            }
            const record = obj && typeof obj === 'object' && !Array.isArray(obj) ? toLogRecord(obj as Record<string, unknown>, base, options.node) : undefined;
            if (!record) {
              brokenLines++;
              continue;
            }
            const ms = Date.parse(record.time);
            // Older than what is asked for, or than every record the page keeps: so is the rest of this base.
            if ((filter.sinceMs !== undefined && ms < filter.sinceMs) || ms < page.cutoff) {
              done = true;
              return false;
            }
            if (!compiled.matches(record, ms)) continue;
            page.add(ms, record);
            if (++found >= limit) {
              done = true;
              return false;
            }
          }
          // The chunk's oldest line: when older than what is asked for, so is the rest of this base.
          const bound = Math.max(filter.sinceMs ?? Number.NEGATIVE_INFINITY, page.cutoff);
          if (bound > Number.NEGATIVE_INFINITY) {
            const nl = body.indexOf(NEWLINE);
            const oldest = lineTimeMs(body.toString('utf8', 0, nl < 0 ? body.length : nl));
            if (oldest !== undefined && oldest < bound) {
              done = true;
              return false;
            }
          }
          return true;
        });
      }
      page.compact();
    } finally {
      for (const f of files) closeSync(f.fd);
    }
  }
  return { records: page.records(), brokenLines, cursor };
}

// ---------------------------------------------------------------------------------------------
// Reading forwards from a cursor (follow)

function readForward(path: string, from: number, maxBytes: number): { text: string; next: number } | undefined {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const length = Math.max(0, Math.min(size - from, maxBytes));
    const buffer = Buffer.allocUnsafe(length);
    const n = length > 0 ? readSync(fd, buffer, 0, length, from) : 0;
    const nl = buffer.subarray(0, n).lastIndexOf(NEWLINE);
    if (nl < 0) return { text: '', next: from };
    return { text: buffer.toString('utf8', 0, nl), next: from + nl + 1 };
  } finally {
    closeSync(fd);
  }
}

/**
 * The records written after `cursor` that match `filter` (at most `maxBytes` read per base
 * per call; the returned cursor goes on from where it stopped). A base that appeared since
 * is read from its start; a rotated file is finished before its successor is read.
 */
export function readNewRecords(dir: string, cursor: LogCursor, filter: LogFilter, options: LogDirOptions & { maxBytes?: number }): LogReadResult {
  const maxBytes = options.maxBytes ?? 4 * 1024 * 1024;
  const next: LogCursor = { ...cursor };
  const out: { ms: number; record: LogRecord }[] = [];
  let brokenLines = 0;
  for (const base of basesToRead(dir, options, filter)) {
    const compiled = compileFilter(filter, base);
    const currentPath = join(dir, `${base}.log`);
    let current: { ino: number; size: number };
    try {
      const st = statSync(currentPath);
      current = { ino: st.ino, size: st.size };
    } catch {
      continue;
    }
    const at = cursor[base];
    // The files to read, in order, each from an offset.
    const steps: { path: string; from: number; ino: number }[] = [];
    if (!at) steps.push({ path: currentPath, from: 0, ino: current.ino });
    else if (at.ino === current.ino) steps.push({ path: currentPath, from: current.size < at.offset ? 0 : at.offset, ino: current.ino });
    else {
      // Rotated since: finish the file we were reading (now `.N`), then every newer one.
      const files = logFilesOf(dir, base).map((path) => {
        try {
          return { path, ino: statSync(path).ino };
        } catch {
          return { path, ino: -1 };
        }
      });
      const old = files.findIndex((f) => f.ino === at.ino);
      if (old < 0) steps.push({ path: currentPath, from: 0, ino: current.ino });
      else for (let i = old; i < files.length; i++) steps.push({ path: files[i]!.path, from: i === old ? at.offset : 0, ino: files[i]!.ino });
    }
    let budget = maxBytes;
    for (const step of steps) {
      const read = readForward(step.path, step.from, budget);
      if (!read) break;
      budget -= read.next - step.from;
      next[base] = { ino: step.ino, offset: read.next };
      for (const line of candidateLines(read.text, compiled).reverse()) {
        let record: LogRecord | undefined;
        try {
          const obj = JSON.parse(line) as unknown;
          record = obj && typeof obj === 'object' && !Array.isArray(obj) ? toLogRecord(obj as Record<string, unknown>, base, options.node) : undefined;
        } catch {
          record = undefined;
        }
        if (!record) {
          brokenLines++;
          continue;
        }
        const ms = Date.parse(record.time);
        if (compiled.matches(record, ms)) out.push({ ms, record });
      }
      // Stop at the budget, or within a file not yet finished (the rest comes next call).
      if (budget <= 0 || step.path === currentPath) break;
      const size = statSafe(step.path);
      if (size !== undefined && read.next < completeSize(step.path, size)) break;
    }
  }
  out.sort((a, b) => a.ms - b.ms);
  return { records: out.map((o) => o.record), brokenLines, cursor: next };
}

function statSafe(path: string): number | undefined {
  try {
    return statSync(path).size;
  } catch {
    return undefined;
  }
}

function completeSize(path: string, size: number): number {
  const fd = openSync(path, 'r');
  try {
    return completeEnd(fd, size);
  } finally {
    closeSync(fd);
  }
}

/**
 * Follows a log directory from `cursor`: calls `onRecords` with each batch of new matching
 * records until `signal` aborts. Polls (every `intervalMs`, default 500 ms) rather than
 * watching: fs.watch misses renames on some file systems, and a poll is one stat per base.
 */
export function followLogDir(
  dir: string,
  cursor: LogCursor,
  filter: LogFilter,
  options: LogDirOptions & { intervalMs?: number /** A tick is skipped while this says so (the reader is slow). */; held?: () => boolean },
  onRecords: (records: LogRecord[]) => void,
  signal: AbortSignal,
): void {
  let at = cursor;
  const timer = setInterval(() => {
    if (options.held?.()) return;
    try {
      const result = readNewRecords(dir, at, filter, options);
      at = result.cursor;
      if (result.records.length) onRecords(result.records);
    } catch {
      // The directory went away or a file is unreadable for now: try again next tick.
    }
  }, options.intervalMs ?? 500);
  signal.addEventListener('abort', () => clearInterval(timer), { once: true });
}
