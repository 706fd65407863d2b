/**
 * The one logger every Quantix component uses.
 *
 * - Every line is one `LogRecord` (record.ts) as JSON: `time`, `level`, `component`, `node`,
 *   `message`, `correlationId` (when known), then the line's extra fields.
 * - The correlation id of the async work in progress: `withCorrelation` carries it through
 *   AsyncLocalStorage, so an id set at the edge appears on every line logged inside, without
 *   passing it around. Hot paths (the apiserver's requests, the controllers' reconciles) do
 *   not use it and pass a child logger with `correlationId` instead: on Node 20
 *   AsyncLocalStorage installs promise hooks for the whole process, which cost about a fifth
 *   of the apiserver's CPU per request.
 * - Written here, not with winston (used before): each line is one JSON.stringify of the record
 *   into a buffered sink, about 490,000 lines/s against winston's 90,000 (format chain and
 *   stream per line) in the same run on this 2-core machine (200,000 info lines with three
 *   fields each); and winston's File transport names rotated files `apiserver1.log`, not the
 *   `<base>.log.N` the logs API reads (files.ts).
 * - Output: stderr, human-readable when stderr is a terminal (override with
 *   QUANTIX_LOG_FORMAT=json|text). `setLogFile` (a component's --log-dir) adds the rotated
 *   file `<dir>/<base>.log` (files.ts) and, as klog's --stderrthreshold, then leaves only
 *   errors on stderr, so a supervisor capturing stderr does not keep an unbounded copy.
 * - Level from `setLogLevel` (a component's --log-level flag) or QUANTIX_LOG_LEVEL (default info).
 * - Fields named like a credential (`token`, `userData`, …) are written as `[redacted]`: a
 *   last line of defence; code must not log secrets in the first place.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_LOG_MAX_BYTES, DEFAULT_LOG_MAX_FILES, RotatingFile, type RotationLimits } from './files.js';
import { LOG_LEVELS, type LogLevel } from './record.js';

export type { LogLevel } from './record.js';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

interface LogContext {
  correlationId: string;
  fields?: Record<string, unknown>;
}

const contextStorage = new AsyncLocalStorage<LogContext>();

/** Runs `fn` with a correlation id (and optional extra fields) attached to every log line inside it. */
export function withCorrelation<T>(correlationId: string | undefined, fn: () => T, fields?: Record<string, unknown>): T {
  return contextStorage.run({ correlationId: correlationId || newCorrelationId(), fields }, fn);
}

export function currentCorrelationId(): string | undefined {
  return contextStorage.getStore()?.correlationId;
}

export function newCorrelationId(): string {
  return randomUUID();
}

function parseLevel(value: string | undefined): LogLevel | undefined {
  const lower = value?.toLowerCase();
  return LOG_LEVELS.find((level) => level === lower);
}

/** The record's own columns: a field of the same name in a log call is dropped, never mixed in. */
const RESERVED = new Set(['time', 'level', 'component', 'node', 'message', 'correlationId']);
const SECRET_FIELDS = new Set(['authorization', 'token', 'bearertoken', 'password', 'secret', 'tokensecret', 'userdata', 'privatekey', 'keypem', 'clientkey']);

const state = {
  level: parseLevel(process.env.QUANTIX_LOG_LEVEL) ?? ('info' as LogLevel),
  node: hostname(),
  human: process.env.QUANTIX_LOG_FORMAT ? process.env.QUANTIX_LOG_FORMAT === 'text' : Boolean(process.stderr.isTTY),
  /** The most verbose level that still goes to stderr (all of them until a log file is set). */
  stderrLevel: 'debug' as LogLevel,
  sink: undefined as ((line: string) => void) | undefined,
  file: undefined as RotatingFile | undefined,
};

/** Sets the level for every logger; throws on an unknown level so a bad flag is reported. */
export function setLogLevel(level: string): void {
  const parsed = parseLevel(level);
  if (!parsed) throw new Error(`unknown log level "${level}": use one of ${LOG_LEVELS.join(', ')}`);
  state.level = parsed;
}

/** The `node` of every record: the Node name on an agent (the host name until it is known). */
export function setLogNode(node: string): void {
  state.node = node;
}

export interface LogFileOptions extends Partial<RotationLimits> {
  dir: string;
  /** `apiserver`, `controller-manager`, `agent`. */
  base: string;
}

/**
 * Also writes every record to `<dir>/<base>.log`, rotated (files.ts); from then on stderr gets
 * only errors. Replaces an earlier file. Returns the file (its `close` flushes it).
 */
export function setLogFile({ dir, base, maxBytes = DEFAULT_LOG_MAX_BYTES, maxFiles = DEFAULT_LOG_MAX_FILES }: LogFileOptions): RotatingFile {
  const file = new RotatingFile(join(dir, `${base}.log`), { maxBytes, maxFiles });
  const previous = state.file;
  state.file = file;
  state.stderrLevel = 'error';
  void previous?.close();
  return file;
}

/** Stops writing to the log file set by `setLogFile` (tests; a component's shutdown). */
export async function closeLogFile(): Promise<void> {
  const file = state.file;
  state.file = undefined;
  state.stderrLevel = 'debug';
  await file?.close();
}

/** Redirects what would go to stderr to `write`, every record, as JSON, one per call (tests capture lines with this). */
export function setLogSink(write: (line: string) => void): void {
  state.sink = write;
}

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line (e.g. controller and key, or `correlationId`; `node` sets the column). */
  child(fields: Record<string, unknown>): Logger;
  isDebugEnabled(): boolean;
}

function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Error) return value.message;
  if (typeof value === 'bigint') return value.toString();
  return value;
}

function addFields(target: Record<string, unknown>, fields: Record<string, unknown> | undefined): void {
  if (!fields) return;
  for (const [key, value] of Object.entries(fields)) {
    if (RESERVED.has(key) || value === undefined) continue;
    target[key] = SECRET_FIELDS.has(key.toLowerCase()) ? '[redacted]' : value;
  }
}

function serialize(record: Record<string, unknown>): string {
  try {
    return JSON.stringify(record, jsonValue);
  } catch (err) {
    // A circular or otherwise unserializable field: keep the line, say what was lost.
    const { time, level, component, node, message, correlationId } = record;
    return JSON.stringify({ time, level, component, node, message, correlationId, logError: `fields not serializable: ${(err as Error).message}` });
  }
}

function humanLine(record: Record<string, unknown>): string {
  const { time, level, component, node: _node, message, correlationId, ...rest } = record;
  const extra = Object.entries(rest)
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value, jsonValue)}`)
    .join(' ');
  const cid = correlationId ? ` [${String(correlationId).slice(0, 8)}]` : '';
  return `${String(time)} ${String(level).toUpperCase().padEnd(5)} ${String(component)}${cid}: ${String(message)}${extra ? ` ${extra}` : ''}`;
}

function emit(level: LogLevel, component: string, bound: Record<string, unknown>, message: string, fields: Record<string, unknown> | undefined): void {
  if (RANK[level] > RANK[state.level]) return;
  const context = contextStorage.getStore();
  const correlationId = fields?.correlationId ?? bound.correlationId ?? context?.correlationId;
  const node = typeof bound.node === 'string' ? bound.node : state.node;
  const record: Record<string, unknown> = { time: new Date().toISOString(), level, component, node, message: String(message) };
  if (correlationId) record.correlationId = String(correlationId);
  addFields(record, context?.fields);
  addFields(record, bound);
  addFields(record, fields);
  const json = serialize(record);
  state.file?.write(json);
  if (state.sink) state.sink(json);
  else if (RANK[level] <= RANK[state.stderrLevel]) process.stderr.write(`${state.human ? humanLine(record) : json}\n`);
}

function makeLogger(component: string, bound: Record<string, unknown>): Logger {
  return {
    error: (message, fields) => emit('error', component, bound, message, fields),
    warn: (message, fields) => emit('warn', component, bound, message, fields),
    info: (message, fields) => emit('info', component, bound, message, fields),
    debug: (message, fields) => emit('debug', component, bound, message, fields),
    child: (fields) => makeLogger(component, { ...bound, ...fields }),
    isDebugEnabled: () => state.level === 'debug',
  };
}

/** A logger for one component (`apiserver`, `agent`, `controller-manager`, `qxctl`…). */
export function createLogger(component: string): Logger {
  return makeLogger(component, {});
}
