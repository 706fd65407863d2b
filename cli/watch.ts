/**
 * List then watch, the client-go way: list (for the resourceVersion), watch from there,
 * reconnect from the last resourceVersion seen when the stream drops, relist on
 * 410 Expired/Gone. Used by `get -w` (Tables) and by every wait (objects).
 */
import type { Client } from './client.js';
import type { Query } from '../lib/apiclient/request.js';
import type { WatchEvent } from '../api-types/meta.js';
import type { ListPage } from './list-pages.js';
import { ApiStatusError, ConnectionError } from './errors.js';
import { ApiError } from '../lib/apimachinery/status-error.js';

export interface ListWatchHandlers<L, O> {
  /** The list (or Table); return true to stop. `relist` is true after a 410 or a reconnect that needed one. */
  onList(list: L, relist: boolean): boolean | void | Promise<boolean | void>;
  /** One event (never ERROR or BOOKMARK); return true to stop. */
  onEvent(event: WatchEvent<O>): boolean | void | Promise<boolean | void>;
  /** The connection dropped and is being re-established (for a note on stderr). */
  onReconnect?(reason: string): void;
}

const rvOf = (o: unknown): string | undefined => (o as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener(
      'abort',
      () => {
        clearTimeout(timer);
        resolve();
      },
      { once: true },
    );
  });
}

/**
 * Runs list+watch on `path` until a handler returns true or `signal` aborts. Errors of
 * the first list are thrown (not found, forbidden…); later connection failures are
 * retried with a capped backoff.
 */
export async function listWatch<L, O>(
  client: Client,
  path: string,
  query: Query,
  handlers: ListWatchHandlers<L, O>,
  opts: { accept?: string; signal?: AbortSignal; chunkSize?: number } = {},
): Promise<void> {
  const { signal } = opts;
  let rv: string | undefined;
  let listed = false;
  let failures = 0;
  while (!signal?.aborted) {
    try {
      if (rv === undefined) {
        const list = await client.list<L & ListPage>(path, { query, accept: opts.accept, signal, chunkSize: opts.chunkSize });
        const relist = listed;
        listed = true;
        rv = rvOf(list) ?? '';
        if (await handlers.onList(list, relist)) return;
      }
      let expired = false;
      let received = 0;
      for await (const event of client.watch<O>(
        path,
        { ...query, resourceVersion: rv || undefined, allowWatchBookmarks: true },
        { accept: opts.accept, signal },
      )) {
        failures = 0;
        received++;
        if (event.type === 'ERROR') {
          const status = event.object as { code?: number; reason?: string; message?: string; kind?: string };
          if (status?.code === 410 || status?.reason === 'Expired' || status?.reason === 'Gone') {
            expired = true;
            break;
          }
          throw new ApiStatusError({
            kind: 'Status',
            apiVersion: 'v1',
            metadata: {},
            status: 'Failure',
            code: status?.code ?? 500,
            reason: status?.reason,
            message: status?.message,
          });
        }
        const eventRv = rvOf(event.object);
        if (eventRv) rv = eventRv;
        if (event.type === 'BOOKMARK') continue;
        if (await handlers.onEvent(event)) return;
      }
      if (signal?.aborted) return;
      if (expired) {
        handlers.onReconnect?.('the watch expired (410); relisting');
        rv = undefined;
      } else {
        handlers.onReconnect?.('the watch closed; reconnecting');
        // A stream that closes at once, again and again, must not spin.
        if (received === 0) await sleep(Math.min(250 * 2 ** ++failures, 5000), signal);
      }
    } catch (err) {
      if (signal?.aborted) return;
      if (!listed) throw err;
      if (err instanceof ApiError && (err.code === 410 || err.reason === 'Expired')) {
        rv = undefined;
        continue;
      }
      if (!(err instanceof ConnectionError) && !(err instanceof ApiError && err.code >= 500)) throw err;
      failures++;
      handlers.onReconnect?.(`${err.message}; retrying`);
      await sleep(Math.min(250 * 2 ** failures, 5000), signal);
    }
  }
}
