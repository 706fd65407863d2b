/**
 * `POST /logs/ui`: the web UI's action log (its uiLogger sends batches; `sendBeacon` on page
 * close sends `text/plain`). Body `{ "sessionId": string, "entries": UiLogEntry[] }`; each entry
 * becomes one LogRecord line in `<log-dir>/ui.log` (component `ui`, node = this host, message
 * `<category> <action>[ <target>] <result>`, fields user, sessionId, category, action, target,
 * result, durationMs, route, and `detail` for the entry's own message). Answers 204.
 *
 * Any authenticated user may post (viewers too: their actions are logged); node and bootstrap
 * credentials may not (403). The user is authenticated before the body is read (the
 * middleware in server.ts), and the body is bounded (UI_LOG_LIMITS):
 * - at most `maxBodyBytes` per body and `maxEntriesPerBatch` entries per batch,
 * - at most `entriesPerSecond` per session, with bursts of `burstEntries` (a token bucket),
 * - at most `maxSessions` sessions tracked at once;
 * past any of them 429 TooManyRequests with Retry-After, as the issue asks. A bad body is a 400
 * naming the field (`entries[3].result`), and nothing of that batch is written.
 *
 * No secret reaches ui.log: the caller's own bearer token, `Bearer …` values and bootstrap
 * tokens are replaced wherever an entry's text carries them.
 */
import { hostname } from 'node:os';
import type { Express, Request, Response } from 'express';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { LOG_LEVELS, type LogLevel, type LogRecord } from '../../lib/logging/record.js';
import { Groups, type UserInfo } from '../auth/identity.js';
import { requestRecordOf } from './access-log.js';
import { sendError } from './respond.js';
import { bearerTokenOf, scrubSecrets } from '../audit/redact.js';

export { scrubSecrets };

export const UI_LOG_PATH = '/logs/ui';
export const UI_LOG_RESULTS = ['start', 'success', 'error', 'info'] as const;
export type UiLogResult = (typeof UI_LOG_RESULTS)[number];

/** One UI action, as the web UI sends it (the contract's UiLogEntry). */
export interface UiLogEntry {
  time: string;
  level: LogLevel;
  category: string;
  action: string;
  target?: string;
  result: UiLogResult;
  durationMs?: number;
  correlationId?: string;
  message?: string;
  route?: string;
}

export interface UiLogLimits {
  maxBodyBytes: number;
  maxEntriesPerBatch: number;
  /** Sustained entries per second per session (user + sessionId). */
  entriesPerSecond: number;
  /** Entries a session may send at once after a quiet spell. */
  burstEntries: number;
  /** Sessions whose buckets are kept; a new one past it waits until idle ones are dropped. */
  maxSessions: number;
}

export const UI_LOG_LIMITS: UiLogLimits = {
  maxBodyBytes: 256 * 1024,
  maxEntriesPerBatch: 200,
  entriesPerSecond: 100,
  burstEntries: 1000,
  maxSessions: 10_000,
};

export interface UiLogOptions {
  /** Where the records go (a RotatingFile on <log-dir>/ui.log). Without it entries are checked, bounded and dropped. */
  file?: { write(line: string): void };
  /** The `node` of the records: this host (default os.hostname()). */
  node?: string;
  limits?: Partial<UiLogLimits>;
  /** The clock of the rate buckets (tests). */
  now?: () => number;
}

/** Per-field length bounds of an entry's strings. */
const MAX_CHARS: Record<string, number> = {
  sessionId: 128,
  category: 64,
  action: 128,
  target: 512,
  correlationId: 128,
  message: 2048,
  route: 512,
  time: 64,
};

/** A token bucket per session: `entriesPerSecond` refill, `burstEntries` capacity. */
export class SessionRates {
  readonly #limits: UiLogLimits;
  readonly #now: () => number;
  readonly #buckets = new Map<string, { tokens: number; at: number }>();

  constructor(limits: UiLogLimits, now: () => number = Date.now) {
    this.#limits = limits;
    this.#now = now;
  }

  /** Takes `count` entries from the session's bucket; returns the seconds to wait when it cannot. */
  take(session: string, count: number): number | undefined {
    const now = this.#now();
    const { entriesPerSecond: rate, burstEntries: burst } = this.#limits;
    let bucket = this.#buckets.get(session);
    if (!bucket) {
      if (this.#buckets.size >= this.#limits.maxSessions) this.#dropIdle(now);
      if (this.#buckets.size >= this.#limits.maxSessions) return Math.ceil(burst / rate);
      bucket = { tokens: burst, at: now };
      this.#buckets.set(session, bucket);
    }
    bucket.tokens = Math.min(burst, bucket.tokens + ((now - bucket.at) / 1000) * rate);
    bucket.at = now;
    if (bucket.tokens >= count) {
      bucket.tokens -= count;
      return undefined;
    }
    return Math.max(1, Math.ceil((count - bucket.tokens) / rate));
  }

  get size(): number {
    return this.#buckets.size;
  }

  /** A bucket that would be full again is as good as none. */
  #dropIdle(now: number): void {
    const fullAfterMs = (this.#limits.burstEntries / this.#limits.entriesPerSecond) * 1000;
    for (const [key, bucket] of this.#buckets) if (now - bucket.at >= fullAfterMs) this.#buckets.delete(key);
  }
}

function invalid(field: string, message: string): ApiError {
  return errors.badRequest(`${field}: ${message}`, [{ reason: 'FieldValueInvalid', field, message }]);
}

function optionalString(entry: Record<string, unknown>, key: string, where: string): string | undefined {
  const value = entry[key];
  const field = where ? `${where}.${key}` : key;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalid(field, `Invalid value: must be a string`);
  if (value.length > MAX_CHARS[key]!) throw invalid(field, `Invalid value: at most ${MAX_CHARS[key]} characters`);
  return value;
}

function requiredString(entry: Record<string, unknown>, key: string, where: string): string {
  const value = optionalString(entry, key, where);
  if (value === undefined || value.trim() === '') throw invalid(where ? `${where}.${key}` : key, 'Required value');
  return value;
}

/** Checks a body against the contract; throws a 400 naming the first bad field. */
export function parseUiLogBatch(body: unknown, limits: UiLogLimits = UI_LOG_LIMITS): { sessionId: string; entries: UiLogEntry[] } {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalid('body', 'Invalid value: must be an object {"sessionId", "entries"}');
  const raw = body as Record<string, unknown>;
  const sessionId = requiredString(raw, 'sessionId', '');
  if (!Array.isArray(raw.entries)) throw invalid('entries', raw.entries === undefined ? 'Required value' : 'Invalid value: must be a list of entries');
  if (raw.entries.length > limits.maxEntriesPerBatch) {
    throw errors.tooManyRequests(`entries: ${raw.entries.length} entries in one batch, the limit is ${limits.maxEntriesPerBatch}: send smaller batches`, 1);
  }
  const entries = raw.entries.map((item, i): UiLogEntry => {
    const where = `entries[${i}]`;
    if (item === null || typeof item !== 'object' || Array.isArray(item)) throw invalid(where, 'Invalid value: must be an object');
    const e = item as Record<string, unknown>;
    const time = requiredString(e, 'time', where);
    const parsed = Date.parse(time);
    if (Number.isNaN(parsed)) throw invalid(`${where}.time`, `Invalid value: ${JSON.stringify(time)}: an RFC 3339 time`);
    const level = e.level;
    if (typeof level !== 'string' || !(LOG_LEVELS as readonly string[]).includes(level)) {
      throw invalid(`${where}.level`, `Unsupported value: ${JSON.stringify(level)}: supported values: ${LOG_LEVELS.map((l) => `"${l}"`).join(', ')}`);
    }
    const result = e.result;
    if (typeof result !== 'string' || !(UI_LOG_RESULTS as readonly string[]).includes(result)) {
      throw invalid(`${where}.result`, `Unsupported value: ${JSON.stringify(result)}: supported values: ${UI_LOG_RESULTS.map((r) => `"${r}"`).join(', ')}`);
    }
    const durationMs = e.durationMs;
    if (durationMs !== undefined && durationMs !== null && (typeof durationMs !== 'number' || !Number.isFinite(durationMs) || durationMs < 0)) {
      throw invalid(`${where}.durationMs`, 'Invalid value: a number of milliseconds ≥ 0');
    }
    const entry: UiLogEntry = {
      time: new Date(parsed).toISOString(),
      level: level as LogLevel,
      category: requiredString(e, 'category', where),
      action: requiredString(e, 'action', where),
      result: result as UiLogResult,
    };
    const target = optionalString(e, 'target', where);
    if (target !== undefined) entry.target = target;
    if (typeof durationMs === 'number') entry.durationMs = Math.round(durationMs);
    const correlationId = optionalString(e, 'correlationId', where);
    if (correlationId !== undefined) entry.correlationId = correlationId;
    const message = optionalString(e, 'message', where);
    if (message !== undefined) entry.message = message;
    const route = optionalString(e, 'route', where);
    if (route !== undefined) entry.route = route;
    return entry;
  });
  return { sessionId, entries };
}

/** The LogRecord of one entry (the contract's field names, in its order). */
export function uiLogRecord(entry: UiLogEntry, context: { user: string; sessionId: string; node: string }, scrub: (text: string) => string): LogRecord {
  const target = entry.target !== undefined ? scrub(entry.target) : undefined;
  const record: LogRecord = {
    time: entry.time,
    level: entry.level,
    component: 'ui',
    node: context.node,
    message: scrub(`${entry.category} ${entry.action}${target ? ` ${target}` : ''} ${entry.result}`),
    correlationId: entry.correlationId,
    user: context.user,
    sessionId: context.sessionId,
    category: entry.category,
    action: entry.action,
    target,
    result: entry.result,
    durationMs: entry.durationMs,
    route: entry.route !== undefined ? scrub(entry.route) : undefined,
    detail: entry.message !== undefined ? scrub(entry.message) : undefined,
  };
  return record;
}

/** Reads a request body up to a limit (server.ts readBodyBytes: 413 past it). */
export type BodyReader = (req: Request, limitBytes: number) => Promise<Buffer>;

export function mountUiLogRoute(app: Express, readBodyBytes: BodyReader, options: UiLogOptions = {}): void {
  const limits: UiLogLimits = { ...UI_LOG_LIMITS, ...options.limits };
  const node = options.node ?? hostname();
  const rates = new SessionRates(limits, options.now);
  app.post(UI_LOG_PATH, async (req: Request, res: Response) => {
    Object.assign(requestRecordOf(res), { verb: 'create', resource: 'logs/ui' });
    try {
      const user = res.locals.user as UserInfo;
      if (user.groups.includes(Groups.nodes) || user.groups.includes(Groups.bootstrappers)) {
        throw errors.forbidden(`User "${user.name}" cannot post path "${UI_LOG_PATH}": node and bootstrap credentials do not log UI actions`);
      }
      const type = String(req.headers['content-type'] ?? '')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      if (type !== 'application/json' && type !== 'text/plain') throw errors.unsupportedMediaType(type, ['application/json', 'text/plain']);
      let bytes: Buffer;
      try {
        bytes = await readBodyBytes(req, limits.maxBodyBytes);
      } catch (err) {
        if (err instanceof ApiError && err.code === 413) {
          throw errors.tooManyRequests(`the body is larger than ${limits.maxBodyBytes} bytes: send smaller batches`, 1);
        }
        throw err;
      }
      let body: unknown;
      try {
        body = JSON.parse(bytes.toString('utf8'));
      } catch (err) {
        throw invalid('body', `Invalid value: not JSON: ${(err as Error).message}`);
      }
      const batch = parseUiLogBatch(body, limits);
      const wait = rates.take(`${user.name}\u0000${batch.sessionId}`, batch.entries.length);
      if (wait !== undefined) {
        throw errors.tooManyRequests(
          `session "${batch.sessionId}" of user "${user.name}" sent more than ${limits.entriesPerSecond} UI log entries per second (bursts of ${limits.burstEntries})`,
          wait,
        );
      }
      if (options.file) {
        const token = bearerTokenOf(req.headers.authorization);
        const scrub = (text: string) => scrubSecrets(text, token);
        const context = { user: user.name, sessionId: scrub(batch.sessionId), node };
        for (const entry of batch.entries) options.file.write(JSON.stringify(uiLogRecord(entry, context, scrub)));
      }
      res.status(204).end();
    } catch (err) {
      sendError(res, err instanceof ApiError ? err : errors.internal(err instanceof Error ? err.message : String(err)));
    }
  });
}
