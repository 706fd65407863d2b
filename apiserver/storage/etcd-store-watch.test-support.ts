/**
 * `WatchableEtcdStore`: EtcdStore with a watch served by its own etcd watch (no cache), so the
 * storage contract suite (store.int.test.ts) can run every case, watches included, against
 * the bare store as well as the watch cache. Test support only: the apiserver serves
 * watches from CachedStore (watch-cache.ts), one etcd watch per resource.
 */
import type { Etcd3, IEvent } from 'etcd3';
import type { KubeObject } from '../../api-types/meta.js';
import { ExpiredError } from './errors.js';
import { checkSegment, EtcdStore, isCompacted, parseResourceVersion, prefixEnd, type EtcdStoreOptions } from './etcd-store.js';
import { EtcdWatchStream } from './etcd-watch.js';
import type { StorageResource, Store, Watch, WatchErrorHandler, WatchHandler, WatchOptions } from './interface.js';
import { ObjectSelector } from './selectors.js';
import { LazyWatchEvent, WatcherChannel, bookmarkEvent } from './watch-events.js';

export interface WatchableEtcdStoreOptions extends EtcdStoreOptions {
  /** BOOKMARK interval; default 60 s. */
  bookmarkIntervalMs?: number;
  /** Events buffered per watcher while its handler is busy; default 1000. */
  watcherBufferSize?: number;
}

export class WatchableEtcdStore extends EtcdStore implements Store {
  readonly #bookmarkIntervalMs: number;
  readonly #watcherBufferSize: number;

  constructor(client: Etcd3, resource: StorageResource, opts: WatchableEtcdStoreOptions = {}) {
    super(client, resource, opts);
    this.#bookmarkIntervalMs = opts.bookmarkIntervalMs ?? 60_000;
    this.#watcherBufferSize = opts.watcherBufferSize ?? 1000;
  }

  /**
   * A watch served by its own etcd watch (no cache): initial state from a list, then
   * changes; selector transitions become ADDED / DELETED. Prefer CachedStore for
   * anything with many watchers.
   */
  watch(opts: WatchOptions, onEvent: WatchHandler, onError: WatchErrorHandler): Watch {
    const selector = new ObjectSelector(this.resource, opts.labelSelector, opts.fieldSelector);
    const fromRevision = parseResourceVersion(opts.resourceVersion);
    const initial = opts.sendInitialEvents ?? fromRevision === 0;
    const namespace = this.resource.namespaced ? opts.namespace || selector.namespace || undefined : undefined;
    if (namespace !== undefined) checkSegment('metadata.namespace', namespace);
    const prefix = namespace !== undefined ? `${this.keyPrefix}${namespace}/` : this.keyPrefix;
    let stream: EtcdWatchStream | undefined;
    let timer: NodeJS.Timeout | undefined;
    let delivered = fromRevision; // highest revision every event of which was delivered
    const channel = new WatcherChannel(onEvent, onError, this.#watcherBufferSize, () => {
      stream?.close();
      clearInterval(timer);
    });
    const matches = (o: KubeObject | undefined): o is KubeObject => o !== undefined && selector.matches(o);

    const start = async (): Promise<void> => {
      let rev = fromRevision;
      if (initial) {
        const snapshot = await this.list({
          namespace,
          labelSelector: opts.labelSelector,
          fieldSelector: opts.fieldSelector,
        });
        rev = Math.max(rev, Number(snapshot.resourceVersion));
        channel.pushUnbounded(snapshot.items.map((o) => new LazyWatchEvent('ADDED', o)));
        if (opts.allowBookmarks) channel.push(bookmarkEvent(this.resource, String(rev), true));
      } else if (rev === 0) {
        rev = await this.currentRevision();
      }
      delivered = rev;
      if (channel.done) return;
      stream = new EtcdWatchStream(
        this.kv,
        { key: Buffer.from(prefix), rangeEnd: prefixEnd(Buffer.from(prefix)), startRevision: rev + 1, prevKv: true },
        {
          events: (events) => {
            try {
              this.#deliverWatchEvents(events, channel, matches);
            } catch (err) {
              channel.fail(err as Error); // e.g. a value that does not decode
            }
            delivered = Number(events[events.length - 1]!.kv.mod_revision);
          },
          progress: (revision) => {
            delivered = Math.max(delivered, revision);
          },
          compacted: (compactRevision) => {
            channel.fail(new ExpiredError(String(delivered), `etcd compacted history up to revision ${compactRevision}`));
          },
        },
      ).start();
      if (opts.allowBookmarks && this.#bookmarkIntervalMs > 0) {
        timer = setInterval(() => {
          if (channel.idle) channel.push(bookmarkEvent(this.resource, String(delivered)));
        }, this.#bookmarkIntervalMs);
        timer.unref?.();
      }
    };
    start().catch((err: unknown) => {
      if (isCompacted(err)) channel.fail(new ExpiredError(String(fromRevision), 'compacted'));
      else channel.fail(err instanceof Error ? err : new Error(String(err)));
    });
    return { stop: () => channel.stop() };
  }

  /** One etcd watch response to one watcher: decode, filter, selector transitions. */
  #deliverWatchEvents(events: IEvent[], channel: WatcherChannel, matches: (o: KubeObject | undefined) => o is KubeObject): void {
    for (const e of events) {
      const cur = e.type === 'Put' ? this.decode(e.kv) : undefined;
      let prev: KubeObject | undefined;
      if (e.prev_kv?.value && e.prev_kv.value.length > 0) {
        // The previous state at this event's revision (a DELETED carries it).
        prev = this.decode(e.prev_kv);
        prev.metadata.resourceVersion = String(e.kv.mod_revision);
      }
      const curOk = matches(cur);
      const prevOk = matches(prev);
      if (curOk) channel.push(new LazyWatchEvent(prevOk ? 'MODIFIED' : 'ADDED', cur));
      else if (prevOk) channel.push(new LazyWatchEvent('DELETED', prev!));
    }
  }
}
