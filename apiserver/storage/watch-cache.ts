/**
 * `CachedStore`: the watch cache. Wraps an EtcdStore with ONE etcd watch per resource,
 * started from the revision of an initial list, and keeps
 * - a map of the current objects (deep-frozen, shared with readers; identical parts such as
 *   managedFields trees shared between objects, see frozen-sharing.ts), and
 * - a ring buffer of the most recent events (the "window"), bounded by count (windowSize,
 *   10,000) and by the stored bytes of the versions it keeps (windowBytes, 64 MiB),
 * fanning every event out in memory to any number of watchers, each with its own
 * namespace / label / field filter, like Kubernetes' cacher.
 *
 * Watches
 * - '' / '0': synthetic ADDED events for the cache's current objects, then changes.
 *   The snapshot is the cache's state, which trails etcd by the watch delay (as in
 *   Kubernetes' cacher); events after it follow, so nothing is missed or doubled.
 * - N: events after N replayed from the window without touching etcd; N older than the
 *   window → ExpiredError (onError). N newer than the cache: events after N as they come.
 * - A MODIFIED that makes an object stop matching a watcher's filter reaches that watcher
 *   as DELETED (the previous object at the event's revision); one that makes it start
 *   matching, as ADDED.
 * - Each event is serialized once, lazily, and shared by every watcher receiving it in its
 *   fan-out; the window then keeps the event, not its serialized forms.
 * - BOOKMARKs every `bookmarkIntervalMs` and on `bookmarkNow()` to watchers that allow
 *   them and are idle, at the cache's revision.
 * - A watcher whose handler cannot keep up (bounded buffer overflows) ends with
 *   SlowWatcherError; the others are unaffected.
 *
 * Lists and gets
 * - resourceVersion '0' (and N once the cache has reached N, without limit/continue):
 *   from memory. Items are the cache's frozen objects (shared, read-only); `limit` is
 *   ignored for '0', as in Kubernetes' watch cache.
 * - '' (consistent) and anything with `continue`: from etcd. Choice: etcd 3.4.23 on this
 *   machine has the progress-notification ordering bug (etcd-io/etcd#15220), so the
 *   cache cannot cheaply prove it has caught up with etcd's current revision; a
 *   consistent list therefore reads etcd, which is correct by construction.
 * - get with resourceVersion '0' from memory (a private copy), else from etcd.
 *
 * Writes pass through to etcd. update / guaranteedUpdate start from the cached object
 * when it is at the caller's resourceVersion, saving the read (the CAS catches staleness).
 *
 * Resilience: a broken etcd watch reconnects from the last revision; a compacted one
 * relists and emits the difference (ADDED / MODIFIED / DELETED at the relist revision).
 */
import type { KubeObject } from '../../api-types/meta.js';
import { ConflictError, ExpiredError, NotFoundError, StorageError } from './errors.js';
import { EtcdWatchStream } from './etcd-watch.js';
import { type EtcdStore, type StoredObject, parseResourceVersion } from './etcd-store.js';
import type {
  DeleteOptions,
  DeleteResult,
  GetOptions,
  ListOptions,
  ListResult,
  StorageResource,
  Store,
  UpdateFn,
  Watch,
  WatchErrorHandler,
  WatchEvent,
  WatchHandler,
  WatchOptions,
} from './interface.js';
import { FrozenSharing, deepFreeze } from './frozen-sharing.js';
import { indexDimensionValue, ObjectSelector } from './selectors.js';
import { LazyWatchEvent, WatcherChannel, bookmarkEvent, forgetObjectJson } from './watch-events.js';

/** Hooks for /metrics. All optional; called synchronously, keep them cheap. */
export interface WatchCacheMetrics {
  /** The number of active watchers changed. */
  watchers?(count: number): void;
  /**
   * After each etcd watch response is applied: the highest etcd revision this cache knows
   * of (watch response headers, writes through this store) minus the cache's revision.
   */
  lag?(revisions: number): void;
  /**
   * Per event: milliseconds from the etcd watch response's arrival to the end of the
   * in-memory fan-out, and the number of watchers the event was delivered to.
   */
  dispatch?(latencyMs: number, delivered: number): void;
}

export interface CachedStoreOptions {
  /** Recent events kept for resuming watches; default 10,000. */
  windowSize?: number;
  /**
   * And at most this many stored bytes of them (the versions the window alone keeps alive);
   * default 64 MiB. Large objects under heavy churn shorten the window instead of growing
   * the heap (issue 20: the window sized by memory, not only by count).
   */
  windowBytes?: number;
  /** BOOKMARK interval; default 60 s; 0 = only on bookmarkNow(). */
  bookmarkIntervalMs?: number;
  /** Events buffered per watcher while its handler is busy before it is ended; default 1,000. */
  watcherBufferSize?: number;
  metrics?: WatchCacheMetrics;
  /** Backoff for re-establishing the etcd watch / relisting. */
  backoff?: { initialMs?: number; maxMs?: number };
}

export interface WatchCacheStats {
  watchers: number;
  objects: number;
  /** Revision of the last event applied (or of the last list / progress notification). */
  cacheRevision: number;
  /** Highest etcd revision known to this cache. */
  etcdRevision: number;
  lag: number;
  windowEvents: number;
  /** Stored bytes of the events in the window. */
  windowBytes: number;
  /** Watches from N are served from memory for N ≥ this revision. */
  windowStartRevision: number;
  relists: number;
  reconnects: number;
  /** Values under the prefix that did not decode (left out of the cache). */
  corruptObjects: number;
}

interface Entry {
  obj: KubeObject; // frozen
  modRevision: string;
  /** The stored bytes: a private copy for an update is parsed from them (about half the cost of structuredClone). */
  raw?: Buffer;
}

/** The window's default budget of stored bytes (CachedStoreOptions.windowBytes). */
export const DEFAULT_WINDOW_BYTES = 64 * 1024 * 1024;

/** One change as kept in the window. */
interface CacheEvent {
  revision: number;
  type: 'ADDED' | 'MODIFIED' | 'DELETED';
  namespace: string | undefined;
  /** The object after the change; for DELETED, the last state at the deletion revision. */
  obj: KubeObject;
  /** The object before the change (MODIFIED only). */
  prev: KubeObject | undefined;
  /** Stored (etcd value) bytes of the version the event carries: what the window budget counts. */
  bytes: number;
  /** Lazily built events, shared by all watchers of one fan-out (dropped after it). */
  asIs?: WatchEvent;
  asAdded?: WatchEvent;
  asDeleted?: WatchEvent;
}

/** The recent events, oldest first, bounded by count and by stored bytes (the newest event always stays). */
class Window {
  readonly #buf: (CacheEvent | undefined)[];
  readonly #maxBytes: number;
  #start = 0;
  #size = 0;
  #bytes = 0;
  /** Highest revision evicted (or the initial list revision): watches from N ≥ this are served. */
  floor: number;

  constructor(capacity: number, floor: number, maxBytes = Number.POSITIVE_INFINITY) {
    this.#buf = new Array(Math.max(1, capacity));
    this.#maxBytes = maxBytes;
    this.floor = floor;
  }

  get size(): number {
    return this.#size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  push(e: CacheEvent): void {
    if (this.#size === this.#buf.length) this.#evictOldest();
    this.#buf[(this.#start + this.#size) % this.#buf.length] = e;
    this.#size++;
    this.#bytes += e.bytes;
    while (this.#bytes > this.#maxBytes && this.#size > 1) this.#evictOldest();
  }

  #evictOldest(): void {
    const old = this.#buf[this.#start]!;
    this.floor = Math.max(this.floor, old.revision);
    this.#bytes -= old.bytes;
    this.#buf[this.#start] = undefined;
    this.#start = (this.#start + 1) % this.#buf.length;
    this.#size--;
  }

  at(i: number): CacheEvent {
    return this.#buf[(this.#start + i) % this.#buf.length]!;
  }

  /** Events with revision > rev, oldest first. */
  after(rev: number): CacheEvent[] {
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.at(mid).revision <= rev) lo = mid + 1;
      else hi = mid;
    }
    const out: CacheEvent[] = [];
    for (let i = lo; i < this.#size; i++) out.push(this.at(i));
    return out;
  }
}

class CacheWatcher {
  /** Events with revision ≤ this are covered by the watcher's snapshot or replay. */
  startRevision = 0;
  active = false;

  constructor(
    readonly channel: WatcherChannel,
    readonly namespace: string | undefined,
    readonly selector: ObjectSelector,
    readonly allowBookmarks: boolean,
  ) {}

  matches(obj: KubeObject | undefined, ns: string | undefined): boolean {
    if (obj === undefined) return false;
    if (this.namespace !== undefined && ns !== this.namespace) return false;
    return this.selector.matches(obj);
  }

  /** The event this watcher should see for `e`, if any (selector transitions included). */
  view(e: CacheEvent): WatchEvent | undefined {
    if (this.namespace !== undefined && e.namespace !== this.namespace) return undefined;
    if (this.selector.empty) return asIs(e);
    switch (e.type) {
      case 'ADDED':
        return this.selector.matches(e.obj) ? asIs(e) : undefined;
      case 'DELETED':
        return this.selector.matches(e.obj) ? asIs(e) : undefined;
      case 'MODIFIED': {
        const now = this.selector.matches(e.obj);
        const before = e.prev !== undefined && this.selector.matches(e.prev);
        if (now) return before ? asIs(e) : (e.asAdded ??= new LazyWatchEvent('ADDED', e.obj));
        if (before) return (e.asDeleted ??= new LazyWatchEvent('DELETED', withRevision(e.prev!, e.revision)));
        return undefined;
      }
    }
  }
}

function asIs(e: CacheEvent): WatchEvent {
  return (e.asIs ??= new LazyWatchEvent(e.type, e.obj));
}

/** The window event of a cached entry's deletion at `revision`: its last state, its stored bytes. */
function deletedEvent(prev: Entry, revision: number): CacheEvent {
  return {
    revision,
    type: 'DELETED',
    namespace: prev.obj.metadata.namespace,
    obj: withRevision(prev.obj, revision),
    prev: undefined,
    bytes: prev.raw?.length ?? 0,
  };
}

function withRevision(obj: KubeObject, revision: number): KubeObject {
  return deepFreeze({ ...obj, metadata: { ...obj.metadata, resourceVersion: String(revision) } });
}

export class CachedStore implements Store {
  readonly resource: StorageResource;
  readonly #inner: EtcdStore;
  readonly #windowSize: number;
  readonly #windowBytes: number;
  readonly #bookmarkIntervalMs: number;
  readonly #bufferSize: number;
  readonly #metrics: WatchCacheMetrics;
  /** Freezes cached objects, sharing their common parts (fewer objects for the GC to mark). */
  readonly #sharing = new FrozenSharing();
  readonly #backoff: { initialMs: number; maxMs: number };

  readonly #objects = new Map<string, Entry>();
  #window: Window;
  #revision = 0;
  #etcdRevision = 0;
  readonly #watchers = new Set<CacheWatcher>();
  /**
   * Active-or-pending watchers by their selector's index term (dimension → value → set),
   * and those without one. An event is offered only to the watchers whose term its old or
   * new state carries, so 1,000 per-node watches cost a lookup per event, not 1,000 tests.
   */
  readonly #indexed = new Map<string, Map<string, Set<CacheWatcher>>>();
  readonly #unindexed = new Set<CacheWatcher>();
  #stream: EtcdWatchStream | undefined;
  #bookmarkTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #ready: Promise<void>;
  #relists = 0;
  #reconnects = 0;
  #corrupt = 0;

  constructor(inner: EtcdStore, opts: CachedStoreOptions = {}) {
    this.#inner = inner;
    this.resource = inner.resource;
    this.#windowSize = opts.windowSize ?? 10_000;
    this.#windowBytes = opts.windowBytes ?? DEFAULT_WINDOW_BYTES;
    this.#bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000;
    this.#bufferSize = opts.watcherBufferSize ?? 1000;
    this.#metrics = guarded(opts.metrics ?? {});
    this.#backoff = { initialMs: opts.backoff?.initialMs ?? 100, maxMs: opts.backoff?.maxMs ?? 5000 };
    this.#window = new Window(this.#windowSize, 0, this.#windowBytes);
    this.#ready = this.#initialSync();
    this.#ready.catch(() => undefined);
    if (this.#bookmarkIntervalMs > 0) {
      this.#bookmarkTimer = setInterval(() => this.bookmarkNow(), this.#bookmarkIntervalMs);
      this.#bookmarkTimer.unref?.();
    }
  }

  /** Resolves once the initial list is loaded and the etcd watch is started. */
  ready(): Promise<void> {
    return this.#ready;
  }

  /** Stops the etcd watch and timers; active watchers end with an error. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#stream?.close();
    clearInterval(this.#bookmarkTimer);
    for (const w of [...this.#watchers]) w.channel.fail(new StorageError('watch cache closed'));
  }

  stats(): WatchCacheStats {
    return {
      watchers: this.#watchers.size,
      objects: this.#objects.size,
      cacheRevision: this.#revision,
      etcdRevision: this.#etcdRevision,
      lag: Math.max(0, this.#etcdRevision - this.#revision),
      windowEvents: this.#window.size,
      windowBytes: this.#window.bytes,
      windowStartRevision: this.#window.floor,
      relists: this.#relists,
      reconnects: this.#reconnects,
      corruptObjects: this.#corrupt,
    };
  }

  /** Sends a BOOKMARK at the cache's revision to every idle watcher that allows bookmarks. */
  bookmarkNow(): void {
    if (this.#revision === 0) return;
    let event: WatchEvent | undefined;
    for (const w of this.#watchers) {
      // Never below where the watch started (a watch from a revision the cache has not reached yet).
      if (!w.allowBookmarks || !w.active || !w.channel.idle || w.startRevision > this.#revision) continue;
      w.channel.push((event ??= bookmarkEvent(this.resource, String(this.#revision))));
    }
  }

  // ---------------------------------------------------------------- sync with etcd

  async #initialSync(): Promise<void> {
    let delay = this.#backoff.initialMs;
    for (;;) {
      if (this.#closed) throw new StorageError('watch cache closed');
      try {
        const { items, revision } = await this.#inner.listAllStored(0, () => this.#corrupt++);
        for (const s of items) this.#objects.set(s.key, { obj: this.#sharing.freeze(s.obj), modRevision: s.modRevision, raw: ownCopy(s.raw) });
        this.#revision = revision;
        this.#etcdRevision = Math.max(this.#etcdRevision, revision);
        this.#window = new Window(this.#windowSize, revision, this.#windowBytes);
        this.#startWatch(revision + 1);
        return;
      } catch (err) {
        if (this.#closed) throw err;
        await sleep(delay);
        delay = Math.min(this.#backoff.maxMs, delay * 2);
      }
    }
  }

  #startWatch(fromRevision: number): void {
    if (this.#closed) return;
    const prefix = Buffer.from(this.#inner.keyPrefix);
    const end = Buffer.from(prefix);
    end[end.length - 1]!++;
    this.#stream = new EtcdWatchStream(
      this.#inner.kv,
      { key: prefix, rangeEnd: end, startRevision: fromRevision, backoff: this.#backoff },
      {
        events: (events, headerRevision, receivedAt) => {
          this.#etcdRevision = Math.max(this.#etcdRevision, headerRevision);
          const applied: CacheEvent[] = [];
          for (const e of events) {
            const key = e.kv.key.toString('utf8');
            const revision = Number(e.kv.mod_revision);
            let obj: KubeObject | undefined;
            if (e.type === 'Put') {
              try {
                obj = this.#sharing.freeze(this.#inner.decode(e.kv));
              } catch {
                this.#corrupt++; // not representable: treated as gone
              }
            }
            if (obj) {
              const prev = this.#objects.get(key);
              this.#objects.set(key, { obj, modRevision: String(e.kv.mod_revision), raw: ownCopy(e.kv.value) });
              applied.push({ revision, type: prev ? 'MODIFIED' : 'ADDED', namespace: obj.metadata.namespace, obj, prev: prev?.obj, bytes: e.kv.value.length });
            } else {
              const prev = this.#objects.get(key);
              if (!prev) continue;
              this.#objects.delete(key);
              applied.push(deletedEvent(prev, revision));
            }
          }
          this.#commit(applied, Number(events[events.length - 1]!.kv.mod_revision), receivedAt);
        },
        progress: (revision) => {
          this.#etcdRevision = Math.max(this.#etcdRevision, revision);
          if (revision > this.#revision) this.#revision = revision;
        },
        compacted: () => {
          this.#stream = undefined;
          void this.#relist();
        },
        disconnected: () => {
          this.#reconnects++;
        },
      },
    ).start();
  }

  /** Applies a batch already reflected in the map: window, revision, then fan-out. */
  #commit(applied: CacheEvent[], revision: number, receivedAt: number): void {
    for (const e of applied) this.#window.push(e);
    if (revision > this.#revision) this.#revision = revision;
    this.#metrics.lag?.(Math.max(0, this.#etcdRevision - this.#revision));
    for (const e of applied) {
      let delivered = 0;
      const offer = (watchers: Iterable<CacheWatcher>) => {
        for (const w of watchers) {
          if (!w.active || e.revision <= w.startRevision) continue;
          const view = w.view(e);
          if (view) {
            w.channel.push(view);
            delivered++;
          }
        }
      };
      offer(this.#unindexed);
      for (const [dimension, byValue] of this.#indexed) {
        const now = indexDimensionValue(this.resource, dimension, e.obj);
        const before = e.prev ? indexDimensionValue(this.resource, dimension, e.prev) : undefined;
        if (now !== undefined) offer(byValue.get(now) ?? []);
        if (before !== undefined && before !== now) offer(byValue.get(before) ?? []);
      }
      this.#metrics.dispatch?.(performance.now() - receivedAt, delivered);
      // The window keeps an event for a watch that may resume from before it, not its
      // serialized forms: held for the window's ~20 s at 500 writes/s, they were promoted to
      // V8's old generation and made full GCs about 1.5× as frequent (measured with
      // --trace-gc, hack/bench/apiserver's load). A resumed watch serializes again; a slow
      // watcher's buffer holds the events it was given.
      e.asIs = e.asAdded = e.asDeleted = undefined;
      if (e.prev) forgetObjectJson(e.prev);
    }
  }

  /** After a compaction: list again and emit the difference at the new revision. */
  async #relist(): Promise<void> {
    let delay = this.#backoff.initialMs;
    for (;;) {
      if (this.#closed) return;
      try {
        const { items, revision } = await this.#inner.listAllStored(0, () => this.#corrupt++);
        if (this.#closed) return;
        this.#relists++;
        this.#etcdRevision = Math.max(this.#etcdRevision, revision);
        const applied: CacheEvent[] = [];
        const seen = new Set<string>();
        for (const s of items) {
          seen.add(s.key);
          const prev = this.#objects.get(s.key);
          if (prev && prev.modRevision === s.modRevision) continue;
          const obj = this.#sharing.freeze(s.obj);
          this.#objects.set(s.key, { obj, modRevision: s.modRevision, raw: ownCopy(s.raw) });
          applied.push({ revision, type: prev ? 'MODIFIED' : 'ADDED', namespace: obj.metadata.namespace, obj, prev: prev?.obj, bytes: s.raw?.length ?? 0 });
        }
        for (const [key, prev] of this.#objects) {
          if (seen.has(key)) continue;
          this.#objects.delete(key);
          applied.push(deletedEvent(prev, revision));
        }
        this.#commit(applied, revision, performance.now());
        this.#startWatch(revision + 1);
        return;
      } catch {
        await sleep(delay);
        delay = Math.min(this.#backoff.maxMs, delay * 2);
      }
    }
  }

  // ---------------------------------------------------------------- reads

  async get(namespace: string | undefined, name: string, opts?: GetOptions): Promise<KubeObject> {
    if (opts?.resourceVersion === '0') {
      await this.#ready;
      const key = this.#inner.keyFor(this.resource.namespaced ? namespace : undefined, name);
      const e = this.#objects.get(key);
      if (!e) throw new NotFoundError(key, name);
      return structuredClone(e.obj);
    }
    return this.#inner.get(namespace, name);
  }

  async list(opts: ListOptions = {}): Promise<ListResult> {
    const rv = opts.resourceVersion ?? '';
    const min = parseResourceVersion(rv);
    const fromMemory = !opts.continue && (rv === '0' || (min > 0 && !opts.limit));
    if (!fromMemory) return this.#inner.list(opts);
    const selector = new ObjectSelector(this.resource, opts.labelSelector, opts.fieldSelector);
    await this.#ready;
    if (min > this.#revision) return this.#inner.list(opts);
    const namespace = this.resource.namespaced ? opts.namespace || selector.namespace || undefined : undefined;
    const matched: [string, KubeObject][] = [];
    for (const [key, e] of this.#objects) {
      if (namespace !== undefined && e.obj.metadata.namespace !== namespace) continue;
      if (selector.matches(e.obj)) matched.push([key, e.obj]);
    }
    // Same order as etcd: by key.
    matched.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { items: matched.map((m) => m[1]), resourceVersion: String(this.#revision) };
  }

  /**
   * The cache's current objects, for lookups that must not wait (admission reading other
   * resources, as Kubernetes' admission plugins read informers): frozen and shared,
   * read-only, unsorted. Trails etcd by the watch delay. Throws before the initial list loaded.
   */
  cachedObjects(): KubeObject[] {
    if (this.#revision === 0) throw new StorageError(`the watch cache of ${this.resource.resource} is not loaded yet`);
    const out: KubeObject[] = [];
    for (const e of this.#objects.values()) out.push(e.obj);
    return out;
  }

  // ---------------------------------------------------------------- writes

  #sawWrite(rv: string | undefined): void {
    const n = Number(rv);
    if (n > this.#etcdRevision) this.#etcdRevision = n;
  }

  async create(obj: KubeObject): Promise<KubeObject> {
    const out = await this.#inner.create(obj);
    this.#sawWrite(out.metadata.resourceVersion);
    return out;
  }

  /** The cached state of a key as a StoredObject, if the cache is loaded. */
  #cached(namespace: string | undefined, name: string): StoredObject | undefined {
    if (this.#revision === 0) return undefined;
    const key = this.#inner.keyFor(this.resource.namespaced ? namespace : undefined, name);
    const e = this.#objects.get(key);
    return e ? { key, obj: e.obj, modRevision: e.modRevision, raw: e.raw } : undefined;
  }

  async update(obj: KubeObject): Promise<KubeObject> {
    const rv = obj.metadata?.resourceVersion;
    if (!rv) {
      // Unconditional: a guaranteedUpdate starting from the cached object.
      return this.guaranteedUpdate(obj.metadata.namespace, obj.metadata.name!, () => obj);
    }
    const cached = this.#cached(obj.metadata.namespace, obj.metadata.name!);
    let out: KubeObject;
    if (cached && cached.modRevision === rv) {
      out = await this.#inner.updateFrom(obj, cached);
    } else if (cached && Number(cached.modRevision) > Number(rv)) {
      // Mod revisions only grow: the caller's version is certainly stale.
      throw new ConflictError(cached.key, obj.metadata.name!, rv!, cached.modRevision);
    } else {
      out = await this.#inner.update(obj);
    }
    this.#sawWrite(out.metadata.resourceVersion);
    return out;
  }

  async guaranteedUpdate(namespace: string | undefined, name: string, tryUpdate: UpdateFn): Promise<KubeObject> {
    const out = await this.#inner.guaranteedUpdateFrom(namespace, name, tryUpdate, this.#cached(namespace, name));
    this.#sawWrite(out.metadata.resourceVersion);
    return out;
  }

  async delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<DeleteResult> {
    const out = await this.#inner.delete(namespace, name, opts);
    this.#sawWrite(out.object.metadata.resourceVersion);
    return out;
  }

  // ---------------------------------------------------------------- watch

  watch(opts: WatchOptions, onEvent: WatchHandler, onError: WatchErrorHandler): Watch {
    const selector = new ObjectSelector(this.resource, opts.labelSelector, opts.fieldSelector);
    const from = parseResourceVersion(opts.resourceVersion);
    const initial = opts.sendInitialEvents ?? from === 0;
    const namespace = this.resource.namespaced ? opts.namespace || selector.namespace || undefined : undefined;
    let watcher: CacheWatcher | undefined;
    const channel = new WatcherChannel(onEvent, onError, this.#bufferSize, () => {
      if (watcher && this.#watchers.delete(watcher)) {
        this.#unregister(watcher);
        this.#metrics.watchers?.(this.#watchers.size);
      }
    });
    watcher = new CacheWatcher(channel, namespace, selector, opts.allowBookmarks === true);
    const w = watcher;
    if (this.#closed) {
      queueMicrotask(() => channel.fail(new StorageError('watch cache closed')));
      return { stop: () => channel.stop() };
    }
    this.#watchers.add(w);
    this.#register(w);
    this.#metrics.watchers?.(this.#watchers.size);
    this.#ready.then(
      () => {
        if (channel.done) return;
        this.#activate(w, from, initial);
      },
      (err: unknown) => channel.fail(err instanceof Error ? err : new Error(String(err))),
    );
    return { stop: () => channel.stop() };
  }

  #register(w: CacheWatcher): void {
    const term = w.selector.indexTerm;
    if (!term) {
      this.#unindexed.add(w);
      return;
    }
    let byValue = this.#indexed.get(term.dimension);
    if (!byValue) this.#indexed.set(term.dimension, (byValue = new Map()));
    let set = byValue.get(term.value);
    if (!set) byValue.set(term.value, (set = new Set()));
    set.add(w);
  }

  #unregister(w: CacheWatcher): void {
    const term = w.selector.indexTerm;
    if (!term) {
      this.#unindexed.delete(w);
      return;
    }
    const byValue = this.#indexed.get(term.dimension);
    const set = byValue?.get(term.value);
    if (!byValue || !set) return;
    set.delete(w);
    if (set.size === 0) byValue.delete(term.value);
    if (byValue.size === 0) this.#indexed.delete(term.dimension);
  }

  /** Snapshot or window replay, then live events: all synchronous, so nothing slips between. */
  #activate(w: CacheWatcher, from: number, initial: boolean): void {
    const backlog: WatchEvent[] = [];
    if (initial) {
      for (const e of this.#objects.values()) {
        if (!w.matches(e.obj, e.obj.metadata.namespace)) continue;
        // A fresh event per snapshot, not one kept on the entry: a kept event would hold its
        // JSON and its encoded watch line for as long as the object is unchanged, tripling
        // what a cached object costs (hack/bench/scale/cache-memory.ts; docs/scale.md). The
        // object's own JSON is still shared (objectJson), so a snapshot costs an encode only.
        backlog.push(new LazyWatchEvent('ADDED', e.obj));
      }
      if (w.allowBookmarks) backlog.push(bookmarkEvent(this.resource, String(this.#revision), true));
    } else if (from > 0) {
      if (from < this.#window.floor) {
        w.channel.fail(new ExpiredError(String(from), `the watch cache holds changes after revision ${this.#window.floor} only`));
        return;
      }
      for (const e of this.#window.after(from)) {
        const v = w.view(e);
        if (v) backlog.push(v);
      }
    }
    w.startRevision = Math.max(this.#revision, from);
    w.active = true;
    if (backlog.length > 0) w.channel.pushUnbounded(backlog);
  }
}

/** Metrics hooks that cannot break the watch path by throwing. */
function guarded(m: WatchCacheMetrics): WatchCacheMetrics {
  const wrap = <A extends unknown[]>(f: ((...args: A) => void) | undefined) =>
    f &&
    ((...args: A) => {
      try {
        f(...args);
      } catch {
        /* a metrics hook must not break the cache */
      }
    });
  return { watchers: wrap(m.watchers?.bind(m)), lag: wrap(m.lag?.bind(m)), dispatch: wrap(m.dispatch?.bind(m)) };
}

/**
 * A copy that pins neither the larger gRPC message buffer the value was sliced from nor
 * (allocUnsafeSlow: unpooled) an 8 KiB block of Node's shared buffer pool.
 */
function ownCopy(value: Buffer | undefined): Buffer | undefined {
  if (value === undefined) return undefined;
  const copy = Buffer.allocUnsafeSlow(value.length);
  copy.set(value);
  return copy;
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref?.());
}
