/**
 * One etcd watch over a key range on its own gRPC Watch stream, as an explicit state machine
 * (connecting → watching → reconnecting / compacted / closed). The stream comes from a
 * `KvClient` (../etcd-client/etcd-kv.ts): the apiserver passes the lean HTTP/2 client (etcd3's grpc-js
 * watch stream cost ~6% of its main thread); `etcd3Kv` opens etcd3's own.
 *
 * Why not etcd3's WatchBuilder: it multiplexes every watcher of a client over one stream
 * with a serial attach queue, drops `compact_revision` (a compaction surfaces as a bare
 * "Watcher canceled" error) and hides response headers, which the watch cache needs for
 * progress. Here:
 * - each response's events are handed over as one batch (fragments reassembled), in
 *   revision order, never splitting a revision;
 * - a broken stream is re-opened from the revision after the last one delivered, with
 *   capped exponential backoff;
 * - a compacted start revision ends the watch with `compacted(rev)` and no retry;
 * - etcd's periodic progress notifications for this watch (sent in order with events)
 *   advance the revision and are reported through `progress`. Explicit progress
 *   *requests* are never sent: etcd 3.4 < 3.4.25 may answer them before pending events
 *   (etcd-io/etcd#15220).
 */
import type { IEvent, IWatchResponse } from 'etcd3';
import type { KvClient, WatchDuplex } from '../etcd-client/etcd-kv.js';

/** What opens the watch streams: a KvClient. */
export type WatchOpener = Pick<KvClient, 'watch'>;

export interface EtcdWatchOptions {
  key: Buffer;
  rangeEnd: Buffer;
  /** First revision to deliver (exclusive lower bounds are the caller's business). Must be > 0. */
  startRevision: number;
  /** Ask etcd for the previous key-value with each event (needed to build DELETED objects). */
  prevKv?: boolean;
  backoff?: { initialMs?: number; maxMs?: number };
}

export interface EtcdWatchHandlers {
  /** A batch of events (one etcd response), ordered, all revisions complete. */
  events(events: IEvent[], headerRevision: number, receivedAt: number): void;
  /** etcd reported that every event up to `revision` has been delivered. */
  progress?(revision: number): void;
  /** The start revision was compacted: the watch is over; resume needs a relist. */
  compacted(compactRevision: number): void;
  /** A transient stream failure; the watch reconnects by itself. */
  disconnected?(err: Error): void;
  /** The stream (re)connected and etcd accepted the watch. */
  connected?(): void;
}

type State = 'idle' | 'connecting' | 'watching' | 'backoff' | 'compacted' | 'closed';

export class EtcdWatchStream {
  #state: State = 'idle';
  #stream: WatchDuplex | undefined;
  #watchId: string | undefined;
  #nextRevision: number;
  #fragments: IEvent[] = [];
  #timer: NodeJS.Timeout | undefined;
  #backoffMs: number;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;

  constructor(
    private readonly opener: WatchOpener,
    private readonly opts: EtcdWatchOptions,
    private readonly handlers: EtcdWatchHandlers,
  ) {
    if (!(opts.startRevision > 0)) throw new Error('EtcdWatchStream: startRevision must be > 0');
    this.#nextRevision = opts.startRevision;
    this.#initialBackoffMs = opts.backoff?.initialMs ?? 100;
    this.#maxBackoffMs = opts.backoff?.maxMs ?? 5000;
    this.#backoffMs = this.#initialBackoffMs;
  }

  /** The first revision not yet delivered. */
  get nextRevision(): number {
    return this.#nextRevision;
  }

  get state(): State {
    return this.#state;
  }

  start(): this {
    if (this.#state === 'idle') void this.#connect();
    return this;
  }

  close(): void {
    if (this.#state === 'closed') return;
    this.#state = 'closed';
    clearTimeout(this.#timer);
    this.#teardown();
  }

  #teardown(): void {
    const stream = this.#stream;
    this.#stream = undefined;
    this.#watchId = undefined;
    this.#fragments = [];
    if (stream) closeStream(stream);
  }

  async #connect(): Promise<void> {
    this.#state = 'connecting';
    let stream: WatchDuplex;
    try {
      stream = await this.opener.watch();
    } catch (err) {
      this.#fail(toError(err));
      return;
    }
    if (this.#state !== 'connecting') {
      closeStream(stream);
      return;
    }
    this.#stream = stream;
    stream.on('data', (res: IWatchResponse) => {
      if (this.#stream !== stream) return;
      this.#onResponse(res);
    });
    stream.on('error', (err: Error) => {
      if (this.#stream !== stream) return;
      this.#fail(err);
    });
    stream.on('end', () => {
      if (this.#stream !== stream) return;
      this.#fail(new Error('etcd watch stream ended'));
    });
    stream.write({
      create_request: {
        key: this.opts.key,
        range_end: this.opts.rangeEnd,
        start_revision: this.#nextRevision,
        progress_notify: true,
        prev_kv: this.opts.prevKv ?? false,
        fragment: true,
      },
    });
  }

  #fail(err: Error): void {
    if (this.#state === 'closed' || this.#state === 'compacted') return;
    this.#teardown();
    this.#state = 'backoff';
    this.handlers.disconnected?.(err);
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#maxBackoffMs, this.#backoffMs * 2);
    this.#timer = setTimeout(() => {
      if (this.#state === 'backoff') void this.#connect();
    }, delay);
    this.#timer.unref?.();
  }

  #onResponse(res: IWatchResponse): void {
    const receivedAt = performance.now();
    const headerRevision = Number(res.header?.revision ?? 0);
    if (res.created) {
      if (res.canceled) {
        this.#onCanceled(res);
        return;
      }
      this.#watchId = String(res.watch_id);
      this.#state = 'watching';
      this.#backoffMs = this.#initialBackoffMs;
      this.handlers.connected?.();
      return;
    }
    if (this.#watchId !== undefined && String(res.watch_id) !== this.#watchId) return; // -1: stream-wide progress, never requested
    if (res.canceled) {
      this.#onCanceled(res);
      return;
    }
    if (res.events.length > 0) {
      if (res.fragment) {
        for (const e of res.events) this.#fragments.push(e);
        return;
      }
      let events = res.events;
      if (this.#fragments.length > 0) {
        events = this.#fragments.concat(events);
        this.#fragments = [];
      }
      const last = Number(events[events.length - 1]!.kv.mod_revision);
      this.#nextRevision = last + 1;
      this.handlers.events(events, headerRevision, receivedAt);
      return;
    }
    // An empty response for our watch: a progress notification.
    if (headerRevision >= this.#nextRevision) {
      this.#nextRevision = headerRevision + 1;
      this.handlers.progress?.(headerRevision);
    }
  }

  #onCanceled(res: IWatchResponse): void {
    const compactRevision = Number(res.compact_revision ?? 0);
    if (compactRevision > 0) {
      this.#teardown();
      this.#state = 'compacted';
      this.handlers.compacted(compactRevision);
      return;
    }
    this.#fail(new Error(`etcd canceled the watch: ${res.cancel_reason || 'no reason given'}`));
  }
}

/**
 * Half-closes, then cancels. The order matters for etcd3's stream: etcd3 counts an error on
 * a still-writable watch stream (a plain cancel yields CANCELLED) against the host's circuit
 * breaker, which opens after three and fails every call for 5 s. etcd keeps a half-closed
 * watch stream open, so the cancel is still needed to release it. (The lean stream has no
 * breaker: for it the end is merely redundant.)
 */
function closeStream(stream: WatchDuplex): void {
  try {
    stream.end();
  } catch {
    /* already closed */
  }
  try {
    stream.cancel();
  } catch {
    /* already closed */
  }
}

function toError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}
