/**
 * A watch over HTTP: newline-delimited JSON events, headers flushed at once, served from
 * the watch cache (never one etcd watch per client). Object events are serialized once by
 * the cache and shared by every stream; only Table streams render per stream.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../../api-types/meta.js';
import type { ServedResource } from '../registry/served-resource.js';
import { ExpiredError, SlowWatcherError } from '../storage/errors.js';
import type { WatchEvent, WatchOptions } from '../storage/interface.js';
import { eventLine, LazyWatchEvent } from '../storage/watch-events.js';
import type { Accepted } from './negotiation.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { toApiError } from './status.js';
import { partialObjectMetadata, toTable } from './table.js';

export interface WatchStreamOptions {
  sr: ServedResource;
  req: IncomingMessage;
  res: ServerResponse;
  watch: WatchOptions;
  accepted: Accepted;
  timeoutSeconds?: number;
  /** Node credentials see only their own objects. */
  objectFilter?: (obj: KubeObject) => boolean;
  /** What of each object the watcher may read (authorizer's view). */
  objectView?: (obj: KubeObject) => KubeObject;
  onOpen?: () => void;
  onClose?: () => void;
}

export function serveWatch(opts: WatchStreamOptions): void {
  const { sr, req, res, accepted } = opts;
  res.statusCode = 200;
  res.setHeader('Content-Type', 'application/json');
  res.setHeader('Cache-Control', 'no-cache, private');
  res.setHeader('Transfer-Encoding', 'chunked');
  res.flushHeaders();
  opts.onOpen?.();

  let closed = false;
  let firstTableEvent = true;
  const close = () => {
    if (closed) return;
    closed = true;
    clearTimeout(timer);
    watch?.stop();
    opts.onClose?.();
    res.end();
  };

  const render = (event: WatchEvent): Buffer | string => {
    if (event.type === 'ERROR' || event.type === 'BOOKMARK' || accepted.form === 'object') {
      return eventLine(event);
    }
    const object =
      accepted.form === 'table'
        ? toTable(sr.def, [event.object], { resourceVersion: event.object.metadata.resourceVersion }, { includeColumns: firstTableEvent })
        : partialObjectMetadata(event.object);
    firstTableEvent = false;
    return `${JSON.stringify({ type: event.type, object })}\n`;
  };

  // Backpressure: when the socket buffer is full the cache holds this watcher's next
  // events (bounded; a watcher that falls too far behind is ended with SlowWatcherError).
  const onEvent = (event: WatchEvent): void | Promise<void> => {
    if (closed) return;
    if (opts.objectFilter && event.type !== 'BOOKMARK' && event.type !== 'ERROR' && !opts.objectFilter(event.object)) return;
    // A new event (not a copy of the shared one): its JSON line is the viewed object's.
    if (opts.objectView && event.type !== 'BOOKMARK' && event.type !== 'ERROR') event = new LazyWatchEvent(event.type, opts.objectView(event.object));
    if (res.write(render(event))) return;
    return new Promise<void>((resolve) => {
      const done = () => {
        res.off('drain', done);
        res.off('close', done);
        resolve();
      };
      res.on('drain', done);
      res.on('close', done);
    });
  };

  const onError = (err: Error) => {
    if (closed) return;
    // A watcher that fell behind just ends; the client re-watches from its last version.
    if (err instanceof SlowWatcherError) return close();
    const apiError =
      err instanceof ExpiredError ? errors.expired(err.message) : toApiError(err, { group: sr.def.group, resource: sr.def.plural, kind: sr.def.kind });
    res.write(JSON.stringify({ type: 'ERROR', object: apiError.toStatus() }) + '\n');
    close();
  };

  const timer = opts.timeoutSeconds && opts.timeoutSeconds > 0 ? setTimeout(close, opts.timeoutSeconds * 1000) : undefined;
  req.on('close', close);
  res.on('close', close);
  let watch: { stop(): void } | undefined;
  try {
    watch = sr.store.watch(opts.watch, onEvent, onError);
    if (closed) watch.stop();
  } catch (err) {
    onError(err instanceof Error ? err : new Error(String(err)));
  }
}
