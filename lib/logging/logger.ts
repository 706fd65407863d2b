/**
 * The one logger every Quantix component uses (winston underneath).
 *
 * - JSON lines with timestamp, level, component, and the correlation id of the async
 *   work in progress: `withCorrelation` carries it through AsyncLocalStorage, so an id set
 *   at the edge appears on every line logged inside, without passing it around. Hot paths
 *   (the apiserver's requests, the controllers' reconciles) do not use it and pass a child
 *   logger or the id instead: on Node 20 AsyncLocalStorage installs promise hooks for the
 *   whole process, which cost about a fifth of the apiserver's CPU per request.
 * - Human-readable lines when stderr is a terminal (override with QUANTIX_LOG_FORMAT=json|text).
 * - Level from `setLogLevel` (a component's --log-level flag) or QUANTIX_LOG_LEVEL (default info).
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import winston from 'winston';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
const LEVELS: readonly LogLevel[] = ['error', 'warn', 'info', 'debug'];

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
  return LEVELS.find((level) => level === lower);
}

const addContext = winston.format((info) => {
  const context = contextStorage.getStore();
  if (context) {
    info.correlationId ??= context.correlationId;
    if (context.fields) for (const [key, value] of Object.entries(context.fields)) info[key] ??= value;
  }
  return info;
});

function humanFormat(): winston.Logform.Format {
  return winston.format.printf((info) => {
    const { timestamp, level, message, component, correlationId, ...rest } = info as Record<string, unknown>;
    const extra = Object.entries(rest)
      .filter(([key]) => typeof key === 'string')
      .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
      .join(' ');
    const cid = correlationId ? ` [${String(correlationId).slice(0, 8)}]` : '';
    return `${String(timestamp)} ${String(level).toUpperCase().padEnd(5)} ${String(component)}${cid}: ${String(message)}${extra ? ' ' + extra : ''}`;
  });
}

function chooseFormat(): winston.Logform.Format {
  const requested = process.env.QUANTIX_LOG_FORMAT;
  const human = requested ? requested === 'text' : Boolean(process.stderr.isTTY);
  return winston.format.combine(addContext(), winston.format.timestamp(), human ? humanFormat() : winston.format.json());
}

const root = winston.createLogger({
  level: parseLevel(process.env.QUANTIX_LOG_LEVEL) ?? 'info',
  levels: { error: 0, warn: 1, info: 2, debug: 3 },
  format: chooseFormat(),
  transports: [new winston.transports.Console({ stderrLevels: [...LEVELS] })],
});

/** Sets the level for every logger; throws on an unknown level so a bad flag is reported. */
export function setLogLevel(level: string): void {
  const parsed = parseLevel(level);
  if (!parsed) throw new Error(`unknown log level "${level}": use one of ${LEVELS.join(', ')}`);
  root.level = parsed;
}

export interface Logger {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
  /** A logger that adds `fields` to every line (e.g. controller and key). */
  child(fields: Record<string, unknown>): Logger;
  isDebugEnabled(): boolean;
}

function wrap(logger: winston.Logger): Logger {
  return {
    error: (message, fields) => logger.error(message, fields),
    warn: (message, fields) => logger.warn(message, fields),
    info: (message, fields) => logger.info(message, fields),
    debug: (message, fields) => logger.debug(message, fields),
    child: (fields) => wrap(logger.child(fields)),
    isDebugEnabled: () => root.isLevelEnabled('debug'),
  };
}

/** A logger for one component (`apiserver`, `agent`, `controller-manager`, `qxctl`…). */
export function createLogger(component: string): Logger {
  return wrap(root.child({ component }));
}

/** Redirects all output to `write`, one formatted line per call (tests capture lines with this). */
export function setLogSink(write: (line: string) => void): void {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      write(chunk.toString().trimEnd());
      callback();
    },
  });
  root.clear();
  root.add(new winston.transports.Stream({ stream }));
}
