/**
 * Watch event objects and per-watcher delivery, shared by EtcdStore (one etcd watch per
 * watcher) and CachedStore (one etcd watch fanned out in memory).
 *
 * - `objectJson` serializes an object once (memoized per object), so ADDED and MODIFIED
 *   events of the same object version and every watcher receiving them share one string;
 *   `LazyWatchEvent.json` builds the event from it on first use, `eventLine` its stream line.
 * - `WatcherChannel` delivers events to one handler in order: synchronously while the
 *   handler keeps up, through a bounded buffer while a handler's promise is pending, and
 *   ends the watcher with SlowWatcherError when that buffer overflows.
 */
import type { KubeObject, WatchEventType } from '../../api-types/meta.js';
import { SlowWatcherError } from './errors.js';
import { deepFreeze } from './frozen-sharing.js';
import type { StorageResource, WatchErrorHandler, WatchEvent, WatchHandler } from './interface.js';

/**
 * Memoized JSON by object identity, in two generations swapped every JSON_MEMO_GENERATION_MS:
 * a string is shared by everything serializing the object close together (a fan-out to
 * every watcher, the gateway's stream to the node, a relist), and let go of a generation or
 * two after its last use. Kept for as long as the object lives, it doubled the heap of an
 * idle watch cache (every object's JSON next to the object; hack/bench/scale/cache-memory.ts).
 */
export const JSON_MEMO_GENERATION_MS = 10_000;
let jsonYoung = new WeakMap<object, string>();
let jsonOld = new WeakMap<object, string>();
setInterval(() => {
  jsonOld = jsonYoung;
  jsonYoung = new WeakMap();
}, JSON_MEMO_GENERATION_MS).unref();

/** JSON of an object, computed once per object identity while in use. Only for objects no one mutates. */
export function objectJson(obj: KubeObject): string {
  let s = jsonYoung.get(obj);
  if (s !== undefined) return s;
  s = jsonOld.get(obj) ?? JSON.stringify(obj);
  jsonYoung.set(obj, s);
  return s;
}

/**
 * Lets go of an object's memoized JSON: for an object version only the watch cache's window
 * still holds, which is rarely serialized again (a watch resuming from an older version).
 */
export function forgetObjectJson(obj: KubeObject): void {
  jsonYoung.delete(obj);
  jsonOld.delete(obj);
}

const lineOf = new WeakMap<WatchEvent, Buffer>();

/**
 * The event as one line of a watch stream, encoded once per event: a broadcast event goes to
 * every stream, which would otherwise each concatenate and UTF-8-encode the same text.
 */
export function eventLine(event: WatchEvent): Buffer {
  let line = lineOf.get(event);
  if (line === undefined) {
    line = Buffer.from(`${event.json}\n`);
    lineOf.set(event, line);
  }
  return line;
}

export class LazyWatchEvent implements WatchEvent {
  #json: string | undefined;
  constructor(
    readonly type: WatchEventType,
    readonly object: KubeObject,
  ) {}

  get json(): string {
    return (this.#json ??= `{"type":"${this.type}","object":${objectJson(this.object)}}`);
  }
}

export const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end';

/** A BOOKMARK: an object of the resource's kind carrying only metadata.resourceVersion. */
export function bookmarkEvent(resource: StorageResource, resourceVersion: string, initialEventsEnd = false): WatchEvent {
  const object: KubeObject = {
    ...(resource.apiVersion ? { apiVersion: resource.apiVersion } : {}),
    ...(resource.kind ? { kind: resource.kind } : {}),
    metadata: initialEventsEnd ? { resourceVersion, annotations: { [INITIAL_EVENTS_END_ANNOTATION]: 'true' } } : { resourceVersion },
  };
  return new LazyWatchEvent('BOOKMARK', deepFreeze(object));
}

/** A FIFO with O(1) push/shift. */
class Queue<T> {
  #items: (T | undefined)[] = [];
  #head = 0;
  get length(): number {
    return this.#items.length - this.#head;
  }
  push(v: T): void {
    this.#items.push(v);
  }
  shift(): T | undefined {
    if (this.#head >= this.#items.length) return undefined;
    const v = this.#items[this.#head];
    this.#items[this.#head++] = undefined;
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
    return v;
  }
  clear(): void {
    this.#items = [];
    this.#head = 0;
  }
}

function isPromiseLike(v: unknown): v is PromiseLike<void> {
  return v !== null && typeof v === 'object' && typeof (v as { then?: unknown }).then === 'function';
}

export class WatcherChannel {
  /** Snapshot / replay events (not bounded), delivered before `#queue`. */
  #backlog = new Queue<WatchEvent>();
  #queue = new Queue<WatchEvent>();
  #busy = false;
  #done = false;
  #draining = false;

  /**
   * @param bufferLimit events held while the handler is busy; one more ends the watcher.
   *   Events passed to `pushUnbounded` (an initial snapshot or window replay, already
   *   materialized by the caller) do not count against it.
   */
  constructor(
    private readonly onEvent: WatchHandler,
    private readonly onError: WatchErrorHandler,
    private readonly bufferLimit: number,
    private readonly onDone?: () => void,
  ) {}

  get done(): boolean {
    return this.#done;
  }

  /** Nothing buffered and the handler is not busy. */
  get idle(): boolean {
    return !this.#busy && this.#queue.length === 0 && this.#backlog.length === 0;
  }

  get buffered(): number {
    return this.#queue.length;
  }

  push(event: WatchEvent): void {
    if (this.#done) return;
    if (!this.#busy && !this.#draining && this.#queue.length === 0 && this.#backlog.length === 0) {
      // Fast path: the handler keeps up; no queueing.
      this.#draining = true;
      try {
        this.#deliver(event);
      } finally {
        this.#draining = false;
      }
      this.#drain(); // in case the handler pushed re-entrantly
      return;
    }
    if (this.#queue.length >= this.bufferLimit) {
      this.fail(new SlowWatcherError(this.#queue.length));
      return;
    }
    this.#queue.push(event);
    this.#drain();
  }

  /**
   * Queues events that do not count against the buffer limit (an initial snapshot or a
   * window replay, already materialized), ahead of anything pushed later; then delivers
   * what it can. Call it before any `push`.
   */
  pushUnbounded(events: Iterable<WatchEvent>): void {
    if (this.#done) return;
    for (const e of events) this.#backlog.push(e);
    this.#drain();
  }

  /** Ends the watcher and reports `err` once. Buffered events are dropped. */
  fail(err: Error): void {
    if (this.#done) return;
    this.#finish();
    try {
      this.onError(err);
    } catch {
      /* the error handler's own failure has nowhere to go */
    }
  }

  /** Ends the watcher silently. Idempotent. */
  stop(): void {
    if (!this.#done) this.#finish();
  }

  #finish(): void {
    this.#done = true;
    this.#queue.clear();
    this.#backlog.clear();
    this.onDone?.();
  }

  #deliver(event: WatchEvent): void {
    let r: void | Promise<void>;
    try {
      r = this.onEvent(event);
    } catch (err) {
      this.fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (isPromiseLike(r)) {
      this.#busy = true;
      r.then(
        () => {
          this.#busy = false;
          this.#drain();
        },
        (err: unknown) => {
          this.#busy = false;
          this.fail(err instanceof Error ? err : new Error(String(err)));
        },
      );
    }
  }

  #drain(): void {
    if (this.#draining) return; // a handler re-entered through a synchronous push
    this.#draining = true;
    try {
      while (!this.#done && !this.#busy) {
        const next = this.#backlog.length > 0 ? this.#backlog.shift() : this.#queue.shift();
        if (next === undefined) break;
        this.#deliver(next);
      }
    } finally {
      this.#draining = false;
    }
  }
}
