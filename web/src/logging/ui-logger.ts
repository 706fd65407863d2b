/**
 * The UI action log (the seed's uiLogger): entries are buffered and sent in batches to
 * `POST /logs/ui` (ISSUE17-CONTRACT §3) with the signed-in bearer token, one session id per
 * browser tab (sessionStorage). A 429 (or a network failure, or a 5xx) keeps the batch and
 * waits (Retry-After, else an exponential backoff) before the next try; a 4xx other than 429
 * drops it (the same body would be refused again). The buffer is bounded: beyond
 * `maxBuffered` the oldest entries are dropped and counted.
 *
 * When the page goes away (pagehide, or the tab is hidden — pagehide is not always fired on
 * mobile) the rest of the buffer is sent with `fetch(…, { keepalive: true })`: the browser
 * completes such a request after the page is gone, as it does a `navigator.sendBeacon`, but
 * unlike sendBeacon it can carry the `Authorization` header, and the endpoint authenticates
 * every request (viewers' actions are logged under their user). Keepalive bodies are limited
 * to 64 KiB in flight, so the rest is cut into chunks below that.
 */
import { backoffDelay } from '../live/backoff.js';
import { newActionId } from '../api/request-id.js';
import type { UiLogBatch, UiLogEntry } from './ui-log-entry.js';

export interface SendResult {
  status: number;
  /** Seconds, from a Retry-After header. */
  retryAfterSeconds?: number;
}

/** Sends one batch body; `keepalive` for the page-hide flush. Rejects on a network failure. */
export type UiLogTransport = (body: string, token: string, keepalive: boolean) => Promise<SendResult>;

export interface UiLoggerOptions {
  transport?: UiLogTransport;
  now?: () => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (timer: unknown) => void;
  storage?: Pick<Storage, 'getItem' | 'setItem'>;
  /** Entries per POST (the endpoint's bound is larger). */
  batchSize?: number;
  /** How long an entry may wait for a batch to fill. */
  flushIntervalMs?: number;
  maxBuffered?: number;
  /** Bytes per keepalive body (the browser allows 64 KiB in flight). */
  keepaliveChunkBytes?: number;
  /** The current route, stamped on entries that do not name one. */
  route?: () => string | undefined;
  random?: () => number;
}

export const UI_LOG_PATH = '/logs/ui';
const SESSION_KEY = 'quantix.ui-session';
const utf8 = new TextEncoder();

export const fetchTransport =
  (baseUrl = ''): UiLogTransport =>
  async (body, token, keepalive) => {
    const res = await fetch(`${baseUrl}${UI_LOG_PATH}`, {
      method: 'POST',
      keepalive,
      headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      body,
    });
    const retryAfter = Number(res.headers.get('Retry-After'));
    return { status: res.status, retryAfterSeconds: Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter : undefined };
  };

/** The tab's session id: kept in sessionStorage so reloads keep it and a new tab gets a new one. */
export function sessionIdFrom(storage: Pick<Storage, 'getItem' | 'setItem'> | undefined): string {
  try {
    const existing = storage?.getItem(SESSION_KEY);
    if (existing) return existing;
    const id = newActionId();
    storage?.setItem(SESSION_KEY, id);
    return id;
  } catch {
    return newActionId(); // storage disabled: one session per page load
  }
}

export type UiLogInput = Omit<UiLogEntry, 'time' | 'level'> & Partial<Pick<UiLogEntry, 'time' | 'level'>>;

export class UiLogger {
  readonly sessionId: string;
  #buffer: UiLogEntry[] = [];
  #token: string | undefined;
  #timer: unknown;
  #sending = false;
  #blockedUntil = 0;
  #failures = 0;
  #dropped = 0;
  readonly #o: Required<Omit<UiLoggerOptions, 'storage' | 'route'>> & Pick<UiLoggerOptions, 'route'>;

  constructor(options: UiLoggerOptions = {}) {
    this.#o = {
      transport: options.transport ?? fetchTransport(),
      now: options.now ?? Date.now,
      setTimer: options.setTimer ?? ((fn, ms) => setTimeout(fn, ms)),
      clearTimer: options.clearTimer ?? ((t) => clearTimeout(t as ReturnType<typeof setTimeout>)),
      batchSize: options.batchSize ?? 50,
      flushIntervalMs: options.flushIntervalMs ?? 2_000,
      maxBuffered: options.maxBuffered ?? 2_000,
      keepaliveChunkBytes: options.keepaliveChunkBytes ?? 60_000,
      route: options.route,
      random: options.random ?? Math.random,
    };
    this.sessionId = sessionIdFrom(options.storage);
  }

  /** The bearer token to send with (undefined while signed out: entries wait in the buffer). */
  setToken(token: string | undefined): void {
    this.#token = token;
    if (token && this.#buffer.length) this.#schedule(0);
  }

  get buffered(): number {
    return this.#buffer.length;
  }

  /** Entries dropped because the buffer was full or the server refused them. */
  get dropped(): number {
    return this.#dropped;
  }

  log(input: UiLogInput): UiLogEntry {
    const entry: UiLogEntry = {
      ...input,
      time: input.time ?? new Date(this.#o.now()).toISOString(),
      level: input.level ?? (input.result === 'error' ? 'error' : 'info'),
      route: input.route ?? this.#o.route?.(),
    };
    this.#buffer.push(entry);
    if (this.#buffer.length > this.#o.maxBuffered) {
      const excess = this.#buffer.length - this.#o.maxBuffered;
      this.#buffer.splice(0, excess);
      this.#dropped += excess;
    }
    this.#schedule(this.#buffer.length >= this.#o.batchSize ? 0 : this.#o.flushIntervalMs);
    return entry;
  }

  /** Sends buffered entries, one batch at a time, until the buffer is empty or a send fails. */
  async flush(): Promise<void> {
    this.#cancelTimer();
    while (this.#buffer.length && this.#token && !this.#sending) {
      const wait = this.#blockedUntil - this.#o.now();
      if (wait > 0) {
        this.#schedule(wait);
        return;
      }
      const batch = this.#buffer.slice(0, this.#o.batchSize);
      this.#sending = true;
      let result: SendResult | undefined;
      try {
        result = await this.#o.transport(this.#body(batch), this.#token, false);
      } catch {
        result = undefined; // network failure: keep the batch
      } finally {
        this.#sending = false;
      }
      if (result && result.status < 300) {
        this.#buffer.splice(0, batch.length);
        this.#failures = 0;
        continue;
      }
      if (result && result.status !== 429 && result.status < 500) {
        // Refused as such (400, 401, 413): sending it again would be refused again.
        this.#buffer.splice(0, batch.length);
        this.#dropped += batch.length;
        continue;
      }
      const delay =
        result?.retryAfterSeconds !== undefined
          ? result.retryAfterSeconds * 1000
          : backoffDelay(this.#failures, { baseMs: 1_000, maxMs: 60_000, random: this.#o.random });
      this.#failures += 1;
      this.#blockedUntil = this.#o.now() + delay;
      this.#schedule(delay);
      return;
    }
  }

  /** The page is going away (or the user signs out): hand the whole buffer to the browser in keepalive requests. */
  flushAll(): void {
    this.#cancelTimer();
    if (!this.#token || !this.#buffer.length) return;
    const entries = this.#buffer.splice(0);
    const overhead = this.#body([]).length;
    for (const chunk of chunkBySize(entries, this.#o.batchSize, this.#o.keepaliveChunkBytes, (e) => utf8.encode(JSON.stringify(e)).length, overhead)) {
      void this.#o.transport(this.#body(chunk), this.#token, true).catch(() => undefined);
    }
  }

  #body(entries: UiLogEntry[]): string {
    const batch: UiLogBatch = { sessionId: this.sessionId, entries };
    return JSON.stringify(batch);
  }

  #schedule(ms: number): void {
    if (this.#timer !== undefined) {
      if (ms > 0) return; // a flush is already due
      this.#cancelTimer();
    }
    this.#timer = this.#o.setTimer(() => {
      this.#timer = undefined;
      void this.flush();
    }, ms);
  }

  #cancelTimer(): void {
    if (this.#timer === undefined) return;
    this.#o.clearTimer(this.#timer);
    this.#timer = undefined;
  }
}

/**
 * Cuts entries into chunks of at most `maxEntries` whose serialized size (the sum of
 * `sizeOf` of each entry plus `overhead`) stays under `maxBytes`; an entry bigger than that
 * alone goes alone.
 */
export function chunkBySize<T>(entries: T[], maxEntries: number, maxBytes: number, sizeOf: (entry: T) => number, overhead = 0): T[][] {
  const chunks: T[][] = [];
  let current: T[] = [];
  let bytes = overhead;
  for (const e of entries) {
    const size = sizeOf(e) + 1; // and its comma
    if (current.length && (current.length + 1 > maxEntries || bytes + size > maxBytes)) {
      chunks.push(current);
      current = [];
      bytes = overhead;
    }
    current.push(e);
    bytes += size;
  }
  if (current.length) chunks.push(current);
  return chunks;
}

/** The app's logger: stamps the current route; flushes when the page goes away and logs uncaught errors. */
export const uiLogger = new UiLogger({
  storage: typeof sessionStorage === 'undefined' ? undefined : sessionStorage,
  route: () => (typeof location === 'undefined' ? undefined : location.pathname),
});

export function installPageLifecycle(logger: UiLogger = uiLogger): () => void {
  const onHide = () => logger.flushAll();
  const onVisibility = () => document.visibilityState === 'hidden' && logger.flushAll();
  const onError = (e: ErrorEvent) => logger.log({ category: 'app', action: 'uncaught-error', result: 'error', message: e.message });
  const onRejection = (e: PromiseRejectionEvent) =>
    logger.log({ category: 'app', action: 'unhandled-rejection', result: 'error', message: String((e.reason as Error)?.message ?? e.reason) });
  window.addEventListener('pagehide', onHide);
  document.addEventListener('visibilitychange', onVisibility);
  window.addEventListener('error', onError);
  window.addEventListener('unhandledrejection', onRejection);
  return () => {
    window.removeEventListener('pagehide', onHide);
    document.removeEventListener('visibilitychange', onVisibility);
    window.removeEventListener('error', onError);
    window.removeEventListener('unhandledrejection', onRejection);
  };
}
