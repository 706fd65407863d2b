/**
 * One resource kept live: list (paged), then watch from the list's resourceVersion,
 * applying events by uid (applyUpdate). A 410 Expired — as an HTTP answer or as an ERROR
 * event — relists; any other failure reconnects from the last resourceVersion seen, after
 * a capped, jittered backoff. The last good items stay visible while reconnecting.
 *
 * State machine: connecting → live ⇄ reconnecting; error while the server refuses the
 * token (401/403), retried at the same backoff so a fixed token recovers by itself.
 */
import type { KubeList, KubeObject } from '../../../api-types/meta.js';
import type { ApiClient } from '../api/client.js';
import type { ResourceRef } from '../api/resources.js';
import { resourcePath } from '../../../api-types/group-version.js';
import { ApiError, asApiError } from '../../../lib/apimachinery/status-error.js';
import { applyUpdate, isNewerVersion, replaceList } from './apply-update.js';
import { backoffDelay, DEFAULT_BACKOFF, type BackoffOptions } from './backoff.js';
import { LineSplitter } from '../../../lib/apiclient/line-splitter.js';
import { decodeWatchLine, watchEventError } from '../../../lib/apiclient/watch-events.js';

export type ConnectionState = 'connecting' | 'live' | 'reconnecting' | 'error';

export interface ListSnapshot<T extends KubeObject> {
  items: readonly T[];
  state: ConnectionState;
  /** The first list has arrived: `items` is real data, not a placeholder. */
  synced: boolean;
  /** Why the last attempt failed (kept until the stream is live again). */
  error?: ApiError;
  resourceVersion?: string;
}

export interface ResourceWatchOptions {
  pageSize?: number;
  backoff?: BackoffOptions;
  /** No byte for this long (bookmarks come every 60 s when idle) means a dead link: reconnect. */
  idleTimeoutMs?: number;
  /** Server-side watch timeout; spread so reconnects of many browsers do not line up. */
  watchTimeoutSeconds?: () => number;
  /** A watch that ends sooner than this without events counts as a failure (no hot loop). */
  minHealthyWatchMs?: number;
}

type Listener = () => void;

export class ResourceWatch<T extends KubeObject> {
  readonly #client: ApiClient;
  readonly #ref: ResourceRef<T>;
  readonly #options: Required<ResourceWatchOptions>;
  readonly #listeners = new Set<Listener>();
  #items: readonly T[] = [];
  #resourceVersion: string | undefined;
  #state: ConnectionState = 'connecting';
  #synced = false;
  #error: ApiError | undefined;
  #snapshot: ListSnapshot<T>;
  #notifyScheduled = false;
  #running = false;
  #stopped = false;
  #abort: AbortController | undefined;
  #wake: (() => void) | undefined;
  /** Counters for tests and the debug panel. */
  readonly stats = { lists: 0, watches: 0, events: 0, staleSkipped: 0 };

  constructor(client: ApiClient, ref: ResourceRef<T>, options: ResourceWatchOptions = {}) {
    this.#client = client;
    this.#ref = ref;
    this.#options = {
      pageSize: options.pageSize ?? 500,
      backoff: options.backoff ?? DEFAULT_BACKOFF,
      idleTimeoutMs: options.idleTimeoutMs ?? 90_000,
      watchTimeoutSeconds: options.watchTimeoutSeconds ?? (() => 240 + Math.floor(Math.random() * 120)),
      minHealthyWatchMs: options.minHealthyWatchMs ?? 1_000,
    };
    this.#snapshot = this.#buildSnapshot();
  }

  get ref(): ResourceRef<T> {
    return this.#ref;
  }

  getSnapshot = (): ListSnapshot<T> => this.#snapshot;

  subscribe = (listener: Listener): (() => void) => {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  };

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#stopped = false;
    void this.#run();
  }

  stop(): void {
    this.#stopped = true;
    this.#running = false;
    this.#abort?.abort();
    this.#wake?.();
  }

  /** Retry now instead of waiting out the backoff (the browser came back online, say). */
  kick(): void {
    this.#wake?.();
  }

  async #run(): Promise<void> {
    let attempt = 0;
    let needList = true;
    while (!this.#stopped) {
      try {
        if (needList) {
          await this.#list();
          needList = false;
        }
        const healthy = await this.#watchOnce(() => {
          attempt = 0;
          this.#update({ state: 'live', error: undefined });
        });
        if (!healthy) throw new ApiError(0, 'WatchClosed', 'the watch stream closed at once');
      } catch (err) {
        if (this.#stopped) return;
        const error = asApiError(err);
        if (error.isExpired) {
          // Our resourceVersion is older than the server's history: start over from a list.
          needList = true;
          if (attempt++ === 0) continue;
        } else {
          this.#update({ state: error.isUnauthorized || error.isForbidden ? 'error' : 'reconnecting', error });
        }
        await this.#sleep(backoffDelay(attempt++, this.#options.backoff));
      }
    }
  }

  async #list(): Promise<void> {
    const items: T[] = [];
    let resourceVersion: string | undefined;
    let cont: string | undefined;
    const controller = new AbortController();
    this.#abort = controller;
    do {
      const page = await this.#client.get<KubeList<T>>(resourcePath(this.#ref), {
        query: { limit: String(this.#options.pageSize), continue: cont },
        signal: controller.signal,
      });
      // Every page is consistent with the first page's revision: watch from there.
      resourceVersion ??= page.metadata.resourceVersion;
      for (const item of page.items) items.push(item);
      cont = page.metadata.continue || undefined;
    } while (cont && !this.#stopped);
    this.stats.lists++;
    this.#items = replaceList(this.#items, items);
    this.#resourceVersion = resourceVersion;
    this.#synced = true;
    this.#update({});
  }

  /** One watch stream; true when it was healthy (lasted or delivered), false when it ended at once. */
  async #watchOnce(onOpen: () => void): Promise<boolean> {
    const controller = new AbortController();
    this.#abort = controller;
    const started = Date.now();
    let delivered = false;
    const res = await this.#client.fetch('GET', resourcePath(this.#ref), {
      query: {
        watch: '1',
        resourceVersion: this.#resourceVersion,
        allowWatchBookmarks: 'true',
        timeoutSeconds: String(this.#options.watchTimeoutSeconds()),
      },
      signal: controller.signal,
    });
    this.stats.watches++;
    onOpen();
    if (!res.body) throw new ApiError(0, 'NetworkError', 'the watch response has no body');
    const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
    const splitter = new LineSplitter();
    let idle: ReturnType<typeof setTimeout> | undefined;
    const armIdle = () => {
      clearTimeout(idle);
      idle = setTimeout(() => controller.abort(), this.#options.idleTimeoutMs);
    };
    armIdle();
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        armIdle();
        for (const line of splitter.push(value)) {
          this.#handleLine(line);
          delivered = true;
        }
      }
      for (const line of splitter.flush()) this.#handleLine(line);
    } finally {
      clearTimeout(idle);
      controller.abort();
    }
    return delivered || Date.now() - started >= this.#options.minHealthyWatchMs;
  }

  #handleLine(line: string): void {
    const event = decodeWatchLine<T>(line);
    if (event.type === 'ERROR') throw watchEventError(event);
    const rv = event.object?.metadata?.resourceVersion;
    if (event.type !== 'BOOKMARK') {
      this.stats.events++;
      const next = applyUpdate(this.#items, event);
      if (next === this.#items) this.stats.staleSkipped++;
      else this.#items = next;
    }
    if (rv && isNewerVersion(rv, this.#resourceVersion)) this.#resourceVersion = rv;
    this.#update({});
  }

  #update(patch: { state?: ConnectionState; error?: ApiError | undefined }): void {
    if (patch.state !== undefined) this.#state = patch.state;
    if ('error' in patch) this.#error = patch.error;
    // Batch: a burst of watch events renders once.
    if (this.#notifyScheduled) return;
    this.#notifyScheduled = true;
    setTimeout(() => {
      this.#notifyScheduled = false;
      this.#snapshot = this.#buildSnapshot();
      for (const listener of [...this.#listeners]) listener();
    }, 0);
  }

  #buildSnapshot(): ListSnapshot<T> {
    return { items: this.#items, state: this.#state, synced: this.#synced, error: this.#error, resourceVersion: this.#resourceVersion };
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
  }
}
