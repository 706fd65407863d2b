/**
 * An informer: list, then watch from the list's resourceVersion, keeping a `Store` and
 * telling handlers what changed.
 *
 * - On 410 Gone (as an HTTP status or as an ERROR event in the stream) it relists; the
 *   store diff turns objects that vanished meanwhile into deletes.
 * - On any other failure (connection refused, reset, server restart) it reconnects from
 *   the last resourceVersion it saw, after a capped exponential backoff with jitter;
 *   an event arriving resets the backoff.
 * - Bookmarks advance the resourceVersion without touching the store.
 *
 * Written on the ApiClient's `watch` (client-node's `Watch` class) rather than on
 * client-node's `ListWatch`: that one stops for good on a connection error (the caller
 * must restart it), has no "synced" signal, reports updates without the old object (so
 * predicates cannot compare), and does not ask for bookmarks.
 */
import type { KubeObject } from '../../api-types/meta.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { Clock } from '../../lib/clock/clock.js';
import { realClock } from '../../lib/clock/clock.js';
import type { ApiClient, WatchHandle } from './client.js';
import type { WatchEvent } from '../../api-types/meta.js';
import type { ListResult } from '../../lib/apiclient/request.js';
import { isGone } from '../../lib/apimachinery/status-error.js';
import type { ResourceRef } from './resources.js';
import { Store, type Delta } from './store.js';

export interface ListerWatcher<T extends KubeObject> {
  list(): Promise<ListResult<T>>;
  watch(resourceVersion: string, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
}

export interface Selector {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
}

/** A ListerWatcher over the API for one resource (optionally filtered). */
export function listerWatcher<T extends KubeObject>(client: ApiClient, r: ResourceRef, selector: Selector = {}): ListerWatcher<T> {
  return {
    list: () => client.list<T>(r, { ...selector }),
    watch: (resourceVersion, onEvent, onDone) =>
      client.watch<T>(
        r,
        // A server-side timeout spreads reconnects out (client-go: 5–10 min).
        { ...selector, resourceVersion, allowWatchBookmarks: true, timeoutSeconds: 300 + Math.floor(Math.random() * 300) },
        onEvent,
        onDone,
      ),
  };
}

export interface EventHandler<T> {
  add?(obj: T): void;
  update?(old: T, obj: T): void;
  delete?(obj: T): void;
}

export interface InformerOptions {
  name: string;
  logger?: Logger;
  clock?: Clock;
  /** First reconnect delay (default 200 ms), doubled per failure up to `maxBackoffMs` (default 30 s). */
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Freeze cached objects (default true). */
  freeze?: boolean;
}

export class Informer<T extends KubeObject> {
  readonly store: Store<T>;
  readonly name: string;
  readonly #lw: ListerWatcher<T>;
  readonly #clock: Clock;
  readonly #log?: Logger;
  readonly #handlers: EventHandler<T>[] = [];
  readonly #initialBackoff: number;
  readonly #maxBackoff: number;
  #resourceVersion = '';
  #needList = true;
  #synced = false;
  #syncWaiters: (() => void)[] = [];
  #running = false;
  #generation = 0;
  #watch?: WatchHandle;
  #cancelTimer?: () => void;
  #backoff = 0;
  #watchStartedAt = 0;
  #eventsThisWatch = 0;
  /** Counters for tests and metrics. */
  readonly stats = { lists: 0, watches: 0, relistsAfterGone: 0, reconnects: 0, events: 0 };

  constructor(lw: ListerWatcher<T>, options: InformerOptions) {
    this.#lw = lw;
    this.name = options.name;
    this.#clock = options.clock ?? realClock;
    this.#log = options.logger?.child({ informer: options.name });
    this.#initialBackoff = options.initialBackoffMs ?? 200;
    this.#maxBackoff = options.maxBackoffMs ?? 30_000;
    this.store = new Store<T>({ freeze: options.freeze });
  }

  /** Registers handlers; objects already cached are replayed as adds. */
  on(handler: EventHandler<T>): void {
    this.#handlers.push(handler);
    if (this.#synced) for (const obj of this.store.list()) handler.add?.(obj);
  }

  hasSynced(): boolean {
    return this.#synced;
  }

  /** Resolves once the first list has been stored. */
  waitForSync(): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => this.#syncWaiters.push(resolve));
  }

  get resourceVersion(): string {
    return this.#resourceVersion;
  }

  start(): void {
    if (this.#running) return;
    this.#running = true;
    void this.#run();
  }

  stop(): void {
    this.#running = false;
    this.#generation++;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#watch?.abort();
    this.#watch = undefined;
  }

  async #run(): Promise<void> {
    if (!this.#running) return;
    const generation = ++this.#generation;
    if (this.#needList) {
      let list: ListResult<T>;
      try {
        this.stats.lists++;
        list = await this.#lw.list();
      } catch (err) {
        if (generation !== this.#generation) return;
        this.#log?.warn('list failed; retrying', { error: errorText(err) });
        this.#retryLater();
        return;
      }
      if (generation !== this.#generation) return;
      this.#needList = false;
      this.#resourceVersion = list.resourceVersion;
      this.#dispatch(this.store.replace(list.items));
      this.#markSynced();
    }
    this.stats.watches++;
    this.#watchStartedAt = this.#clock.now();
    this.#eventsThisWatch = 0;
    try {
      const handle = await this.#lw.watch(
        this.#resourceVersion,
        (e) => {
          if (generation === this.#generation) this.#onEvent(e);
        },
        (err) => {
          if (generation === this.#generation) this.#onDone(err);
        },
      );
      if (generation !== this.#generation) handle.abort();
      else this.#watch = handle;
    } catch (err) {
      if (generation === this.#generation) this.#onDone(err);
    }
  }

  #onEvent(e: WatchEvent<T>): void {
    this.stats.events++;
    this.#eventsThisWatch++;
    switch (e.type) {
      case 'BOOKMARK':
        if (e.object?.metadata?.resourceVersion) this.#resourceVersion = e.object.metadata.resourceVersion;
        this.#backoff = 0;
        return;
      case 'ERROR': {
        const status = e.object as unknown as { code?: number; message?: string };
        if (status?.code === 410) {
          this.#needList = true;
          this.stats.relistsAfterGone++;
          this.#log?.info('watch expired (410); relisting', { resourceVersion: this.#resourceVersion });
        } else {
          this.#log?.warn('watch error event', { code: status?.code, message: status?.message });
        }
        // The server ends the stream after an ERROR; restart now rather than wait for it.
        this.#restartWatch(status?.code === 410 ? undefined : new Error(status?.message ?? 'watch error'));
        return;
      }
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED': {
        const rv = e.object?.metadata?.resourceVersion;
        if (rv) this.#resourceVersion = rv;
        this.#backoff = 0;
        const d = this.store.apply(e.type, e.object);
        if (d) this.#dispatch([d]);
        return;
      }
    }
  }

  #restartWatch(err: unknown): void {
    this.#watch?.abort();
    this.#watch = undefined;
    this.#onDone(err);
  }

  #onDone(err: unknown): void {
    if (!this.#running) return;
    this.#generation++;
    this.#watch?.abort();
    this.#watch = undefined;
    if (isGone(err)) {
      this.#needList = true;
      this.stats.relistsAfterGone++;
      this.#log?.info('watch expired (410); relisting', { resourceVersion: this.#resourceVersion });
      void this.#run();
      return;
    }
    this.stats.reconnects++;
    const shortLived = this.#eventsThisWatch === 0 && this.#clock.now() - this.#watchStartedAt < 1000;
    if (err || shortLived) {
      if (err) this.#log?.debug('watch ended; reconnecting', { error: errorText(err), resourceVersion: this.#resourceVersion });
      this.#retryLater();
      return;
    }
    void this.#run(); // a normal end (server timeout): reconnect from the last resourceVersion
  }

  #retryLater(): void {
    this.#backoff = this.#backoff ? Math.min(this.#backoff * 2, this.#maxBackoff) : this.#initialBackoff;
    const delay = Math.round(this.#backoff * (0.8 + Math.random() * 0.4));
    const generation = ++this.#generation;
    this.#cancelTimer = this.#clock.setTimer(() => {
      this.#cancelTimer = undefined;
      if (generation === this.#generation) void this.#run();
    }, delay);
  }

  /** The current backoff (0 when healthy); exposed for tests. */
  get backoffMs(): number {
    return this.#backoff;
  }

  #markSynced(): void {
    if (this.#synced) return;
    this.#synced = true;
    const waiters = this.#syncWaiters;
    this.#syncWaiters = [];
    for (const w of waiters) w();
  }

  #dispatch(deltas: Delta<T>[]): void {
    for (const d of deltas) {
      for (const h of this.#handlers) {
        try {
          if (d.type === 'add') h.add?.(d.obj);
          else if (d.type === 'update') h.update?.(d.old, d.obj);
          else h.delete?.(d.obj);
        } catch (err) {
          this.#log?.error('event handler threw', { error: errorText(err) });
        }
      }
    }
  }
}

export function errorText(err: unknown): string {
  if (err instanceof Error) return err.message || err.name;
  return String(err);
}
