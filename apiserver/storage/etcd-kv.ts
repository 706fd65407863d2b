/**
 * `KvClient`: the etcd calls the storage layer makes (KV.Range and KV.Txn from EtcdStore, the
 * Watch stream under etcd-watch.ts), and a lean implementation of them straight on `node:http2`.
 *
 * Why: etcd3's client runs every call through a connection pool, a cockatiel retry policy
 * and circuit breaker, grpc-js interceptors, call credentials and resolver / load-balancer
 * calls — about 10% of the apiserver's main thread per request in CPU profiles, and ~6% for
 * its watch streams. Over plain HTTP none of it is needed: one HTTP/2 session, one stream per
 * call or watch, gRPC's 5-byte message framing, the status from the trailers.
 *
 * Shapes: messages are encoded and decoded with protobufjs from etcd3's own .proto files and
 * the conversion options etcd3's proto-loader uses, so responses are exactly what
 * `etcd3.kv.range / txn` and its watch streams return (snake_case fields, int64 as strings, enums as names,
 * defaults filled in, oneof virtual fields, bytes as Buffers).
 *
 * Errors look like grpc-js's: an Error with a numeric `code` and `details`, message
 * `<code> <STATUS>: <details>` ("14 UNAVAILABLE: ...", "8 RESOURCE_EXHAUSTED: Received
 * message larger than max ..."), which is what etcd-store.ts and toApiError match on.
 */
import { EventEmitter } from 'node:events';
import http2, { type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type {
  Etcd3,
  IRangeRequest,
  IRangeResponse,
  ITxnRequest,
  ITxnResponse,
  IWatchRequest,
  IWatchResponse,
} from 'etcd3';
import protobuf from 'protobufjs';

export interface KvClient {
  range(req: IRangeRequest): Promise<IRangeResponse>;
  txn(req: ITxnRequest): Promise<ITxnResponse>;
  /** Opens one Watch stream (etcd's bidirectional Watch RPC). */
  watch(): Promise<WatchDuplex>;
  /**
   * Releases the connection; calls in flight finish, open watch streams fail (CANCELLED),
   * later calls fail.
   */
  close(): void;
}

/**
 * One etcd Watch RPC: WatchRequests out, WatchResponses in (etcd3's shapes). It ends with one
 * `error` or `end` (etcd closed it with status OK), so keep an `error` listener until then.
 * `end()` half-closes (etcd keeps the stream's watches running); `cancel()` drops the stream:
 * etcd3's then reports an `error` (CANCELLED), the lean one nothing more.
 */
export interface WatchDuplex {
  write(req: IWatchRequest): void;
  end(): void;
  cancel(): void;
  on(event: 'data', fn: (res: IWatchResponse) => void): this;
  on(event: 'error', fn: (err: Error) => void): this;
  on(event: 'end', fn: () => void): this;
}

/** etcd3's own `client.kv` and watch client as a KvClient (close is a no-op: the Etcd3 client is the caller's). */
export function etcd3Kv(client: Etcd3): KvClient {
  return {
    range: (req) => client.kv.range(req),
    txn: (req) => client.kv.txn(req),
    watch: () => client.watchClient.watch(),
    close: () => undefined,
  };
}

export interface LeanKvOptions {
  /** Per-call deadline (also sent to etcd as grpc-timeout; not for watch streams); default 30 s. */
  deadlineMs?: number;
  /**
   * Largest range / txn response accepted (larger ones fail with RESOURCE_EXHAUSTED, which
   * EtcdStore answers by halving its range chunk). Default: anything gRPC's 4-byte length
   * prefix can express, i.e. no limit, as etcd3 is configured (ETCD_GRPC_OPTIONS).
   */
  maxReceiveBytes?: number;
  /**
   * While a watch stream is open, its connection is pinged this often (no answer within 5 s
   * fails it), as etcd3's keepalive (ETCD_GRPC_OPTIONS) did: a watch on a silently dead
   * connection fails and reconnects instead of waiting forever. Default 30 s.
   */
  watchKeepaliveMs?: number;
}

// ------------------------------------------------------------------ protobuf

const protoFile = join(dirname(createRequire(import.meta.url).resolve('etcd3/package.json')), 'proto', 'rpc.proto');
const root = new protobuf.Root().loadSync(protoFile, { keepCase: true });
root.resolveAll();
const RangeRequest = root.lookupType('etcdserverpb.RangeRequest');
const RangeResponse = root.lookupType('etcdserverpb.RangeResponse');
const TxnRequest = root.lookupType('etcdserverpb.TxnRequest');
const TxnResponse = root.lookupType('etcdserverpb.TxnResponse');
const WatchRequest = root.lookupType('etcdserverpb.WatchRequest');
const WatchResponse = root.lookupType('etcdserverpb.WatchResponse');
/** etcd3's proto-loader options (node_modules/etcd3/lib/connection-pool.js). */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

// ------------------------------------------------------------------ errors

const STATUS = [
  'OK', 'CANCELLED', 'UNKNOWN', 'INVALID_ARGUMENT', 'DEADLINE_EXCEEDED', 'NOT_FOUND', 'ALREADY_EXISTS',
  'PERMISSION_DENIED', 'RESOURCE_EXHAUSTED', 'FAILED_PRECONDITION', 'ABORTED', 'OUT_OF_RANGE',
  'UNIMPLEMENTED', 'INTERNAL', 'UNAVAILABLE', 'DATA_LOSS', 'UNAUTHENTICATED',
];
const CANCELLED = 1;
const UNKNOWN = 2;
const DEADLINE_EXCEEDED = 4;
const RESOURCE_EXHAUSTED = 8;
const INTERNAL = 13;
const UNAVAILABLE = 14;

/** A failed call: gRPC status `code` and `details`, message formatted as grpc-js does. */
export class EtcdKvError extends Error {
  constructor(
    readonly code: number,
    readonly details: string,
  ) {
    super(`${code} ${STATUS[code] ?? 'UNKNOWN'}: ${details}`);
  }
}

/** Failures etcd cannot have acted on (no connection, stream refused): safe to retry, even a txn. */
const unsent = new WeakSet<Error>();

/** gRPC's mapping of a non-200 HTTP status without grpc-status. */
function httpStatusCode(status: number): number {
  if (status === 400) return INTERNAL;
  if (status === 401) return 16;
  if (status === 403) return 7;
  if (status === 404) return 12;
  if (status === 429 || status === 502 || status === 503 || status === 504) return UNAVAILABLE;
  return UNKNOWN;
}

/** The gRPC status in response headers or trailers, if they carry one. */
function grpcStatusOf(h: IncomingHttpHeaders): { code: number; message: string } | undefined {
  const s = h['grpc-status'];
  if (s === undefined) return undefined;
  const m = h['grpc-message'];
  let message = '';
  if (typeof m === 'string') {
    try {
      message = decodeURIComponent(m);
    } catch {
      message = m;
    }
  }
  return { code: Number(s), message };
}

// ------------------------------------------------------------------ client

/** A lean KvClient over one HTTP/2 connection to `endpoints` (plain http://; the next one after a failure). */
export function createKvClient(endpoints: readonly string[], opts: LeanKvOptions = {}): KvClient {
  return new Http2KvClient(endpoints, opts);
}

// Flow-control windows well above HTTP/2's 64 KiB default, so a multi-megabyte list chunk
// streams in without a WINDOW_UPDATE round trip per 64 KiB.
const STREAM_WINDOW = 4 << 20;
const SESSION_WINDOW = 16 << 20;
/** Stream id past which a connection is replaced (ids are odd numbers below 2^31). */
const STREAM_ID_RETIREMENT = 2 ** 30;
/** After a deadline, a connection that does not answer a ping within this is presumed dead. */
const PING_TIMEOUT_MS = 5_000;
/** etcd (grpc-go) answers pings more frequent than every 5 s with GOAWAY: stay well above. */
const MIN_PING_INTERVAL_MS = 10_000;

class Http2KvClient implements KvClient {
  readonly #endpoints: string[];
  readonly #deadlineMs: number;
  readonly #maxReceive: number;
  readonly #watchKeepaliveMs: number;
  readonly #rangeHeaders: http2.OutgoingHttpHeaders;
  readonly #txnHeaders: http2.OutgoingHttpHeaders;
  readonly #watchHeaders: http2.OutgoingHttpHeaders;
  readonly #watches = new Set<Http2WatchStream>();
  #next = 0;
  #session: ClientHttp2Session | undefined;
  #closed = false;
  readonly #established = new WeakSet<ClientHttp2Session>();
  readonly #lastPing = new WeakMap<ClientHttp2Session, number>();

  constructor(endpoints: readonly string[], opts: LeanKvOptions) {
    if (endpoints.length === 0) throw new Error('etcd KV client: no endpoints');
    this.#endpoints = endpoints.map((e) => {
      const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`);
      if (url.protocol !== 'http:') {
        throw new Error(`etcd KV client: only plain http:// endpoints are supported (no TLS), got ${e}`);
      }
      return url.origin;
    });
    this.#deadlineMs = opts.deadlineMs ?? 30_000;
    this.#maxReceive = opts.maxReceiveBytes ?? 0xffff_ffff;
    this.#watchKeepaliveMs = opts.watchKeepaliveMs ?? 30_000;
    const headers = (path: string): http2.OutgoingHttpHeaders => ({
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'quantix-etcd-kv',
    });
    const unary = (path: string): http2.OutgoingHttpHeaders => ({
      ...headers(path),
      'grpc-timeout': `${Math.min(Math.ceil(this.#deadlineMs), 99_999_999)}m`, // at most 8 digits
    });
    this.#rangeHeaders = unary('/etcdserverpb.KV/Range');
    this.#txnHeaders = unary('/etcdserverpb.KV/Txn');
    this.#watchHeaders = headers('/etcdserverpb.Watch/Watch'); // long-lived: no deadline
  }

  range(req: IRangeRequest): Promise<IRangeResponse> {
    return this.#call(this.#rangeHeaders, RangeRequest, req, RangeResponse, true) as Promise<IRangeResponse>;
  }

  txn(req: ITxnRequest): Promise<ITxnResponse> {
    return this.#call(this.#txnHeaders, TxnRequest, req, TxnResponse, false) as Promise<ITxnResponse>;
  }

  watch(): Promise<WatchDuplex> {
    if (this.#closed) return Promise.reject(new EtcdKvError(CANCELLED, 'the etcd KV client was closed'));
    let session: ClientHttp2Session;
    let stream: http2.ClientHttp2Stream;
    try {
      session = this.#connect();
      stream = session.request(this.#watchHeaders);
    } catch (err) {
      return Promise.reject(new EtcdKvError(UNAVAILABLE, (err as Error).message));
    }
    const watch = new Http2WatchStream(stream, {
      keepaliveMs: this.#watchKeepaliveMs,
      probe: () => this.#probe(session),
      broken: (rstCode, err) => this.#broken(session, rstCode, err),
      closed: () => this.#watches.delete(watch),
    });
    this.#watches.add(watch);
    return Promise.resolve(watch);
  }

  close(): void {
    this.#closed = true;
    // Watches never finish by themselves: the session's graceful close would wait for them.
    for (const watch of this.#watches) watch.fail(new EtcdKvError(CANCELLED, 'the etcd KV client was closed'));
    this.#session?.close();
    this.#session = undefined;
  }

  /**
   * One call, retried once on a new connection when etcd cannot have seen it, or, for a
   * read, when the connection failed under it (e.g. a connection etcd closed while idle).
   */
  async #call(
    headers: http2.OutgoingHttpHeaders,
    reqType: protobuf.Type,
    req: object,
    type: protobuf.Type,
    idempotent: boolean,
  ): Promise<unknown> {
    const body = encode(reqType, req);
    try {
      return await this.#once(headers, body, type);
    } catch (err) {
      const e = err as EtcdKvError;
      if (this.#closed || !(unsent.has(e) || (idempotent && e.code === UNAVAILABLE))) throw err;
      return this.#once(headers, body, type);
    }
  }

  /** The open session, or a new one (lazily: after a close or failure, the next call reconnects). */
  #connect(): ClientHttp2Session {
    const current = this.#session;
    if (current && !current.closed && !current.destroyed) {
      // A connection has 2^31 stream ids: retire it well before they run out (calls in
      // flight finish on it; the next ones go to a new connection).
      if ((current.state.nextStreamID ?? 0) < STREAM_ID_RETIREMENT) return current;
      current.close();
    }
    const endpoint = this.#endpoints[this.#next]!;
    const session = http2.connect(endpoint, { settings: { enablePush: false, initialWindowSize: STREAM_WINDOW } });
    session.on('connect', () => {
      this.#established.add(session);
      session.setLocalWindowSize(SESSION_WINDOW);
    });
    session.on('error', () => {
      // Reported to the calls in flight by their streams; try the next endpoint next time.
      if (this.#session === session) this.#next = (this.#next + 1) % this.#endpoints.length;
    });
    session.on('close', () => {
      if (this.#session === session) this.#session = undefined;
    });
    // Idle connections do not keep the process alive (neither do grpc-js's); a call's
    // deadline timer does while it runs; an open watch stream does not.
    session.unref();
    this.#session = session;
    return session;
  }

  #once(headers: http2.OutgoingHttpHeaders, body: Buffer, type: protobuf.Type): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new EtcdKvError(CANCELLED, 'the etcd KV client was closed'));
        return;
      }
      let session: ClientHttp2Session;
      let stream: http2.ClientHttp2Stream;
      try {
        session = this.#connect();
        stream = session.request(headers);
      } catch (err) {
        const e = new EtcdKvError(UNAVAILABLE, (err as Error).message);
        unsent.add(e);
        reject(e);
        return;
      }
      const chunks: Buffer[] = [];
      let received = 0;
      let checkedLength = false;
      let httpStatus: number | undefined;
      let grpcStatus: number | undefined;
      let grpcMessage = '';
      let failure: EtcdKvError | undefined; // decided on our side (deadline, size)
      let streamError: Error | undefined;

      const timer = setTimeout(() => {
        failure ??= new EtcdKvError(DEADLINE_EXCEEDED, `Deadline exceeded after ${this.#deadlineMs} ms`);
        stream.close(http2.constants.NGHTTP2_CANCEL);
        this.#probe(session);
      }, this.#deadlineMs);

      const readStatus = (h: IncomingHttpHeaders): void => {
        const status = grpcStatusOf(h);
        if (!status) return;
        grpcStatus = status.code;
        grpcMessage = status.message;
      };
      stream.on('response', (h) => {
        httpStatus = Number(h[':status']);
        readStatus(h); // a trailers-only response carries the status in the headers
      });
      stream.on('trailers', readStatus);
      stream.on('data', (chunk: Buffer) => {
        if (failure) return;
        chunks.push(chunk);
        received += chunk.length;
        if (!checkedLength && received >= 5) {
          checkedLength = true;
          const head = chunks.length === 1 ? chunk : Buffer.concat(chunks);
          const length = head.readUInt32BE(1);
          if (length > this.#maxReceive) {
            failure ??= new EtcdKvError(RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${this.#maxReceive})`);
            stream.close(http2.constants.NGHTTP2_CANCEL);
          }
        }
      });
      stream.on('error', (err) => {
        streamError = err;
      });
      stream.on('close', () => {
        clearTimeout(timer);
        if (failure) return reject(failure);
        if (httpStatus !== undefined && httpStatus !== 200) {
          return reject(new EtcdKvError(httpStatusCode(httpStatus), `Received HTTP status code ${httpStatus}`));
        }
        if (grpcStatus === undefined) return reject(this.#broken(session, stream.rstCode, streamError));
        if (grpcStatus !== 0) return reject(new EtcdKvError(grpcStatus, grpcMessage));
        const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received);
        if (buf.length < 5 || buf[0] !== 0 || buf.readUInt32BE(1) !== buf.length - 5) {
          return reject(new EtcdKvError(INTERNAL, 'malformed gRPC response: expected one uncompressed message'));
        }
        try {
          resolve(type.toObject(type.decode(buf.subarray(5)), TO_OBJECT));
        } catch (err) {
          reject(new EtcdKvError(INTERNAL, `Failed to parse server response: ${(err as Error).message}`));
        }
      });
      stream.end(body);
    });
  }

  /** The error for a stream that ended without a gRPC status (as grpc-js reports them). */
  #broken(session: ClientHttp2Session, rstCode: number, err: Error | undefined): EtcdKvError {
    const c = http2.constants;
    let e: EtcdKvError;
    if (!this.#established.has(session)) {
      e = new EtcdKvError(UNAVAILABLE, `cannot connect to etcd: ${err?.message ?? 'connection closed'}`);
      unsent.add(e);
    } else if ((err as NodeJS.ErrnoException | undefined)?.code === 'ERR_HTTP2_OUT_OF_STREAMS') {
      // The stream never got an id: etcd has not seen it. A fresh connection serves the retry.
      e = new EtcdKvError(UNAVAILABLE, 'no stream ids left on the etcd connection');
      unsent.add(e);
      session.close();
    } else if (rstCode === c.NGHTTP2_REFUSED_STREAM) {
      e = new EtcdKvError(UNAVAILABLE, 'Stream refused by server');
      unsent.add(e);
    } else if (err && err.message && (err as NodeJS.ErrnoException).code !== 'ERR_HTTP2_STREAM_ERROR') {
      e = new EtcdKvError(UNAVAILABLE, `Connection dropped: ${err.message}`);
    } else if (session.destroyed || rstCode === c.NGHTTP2_CANCEL) {
      e = new EtcdKvError(UNAVAILABLE, 'Connection dropped');
    } else if (rstCode === c.NGHTTP2_ENHANCE_YOUR_CALM) {
      e = new EtcdKvError(RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded');
    } else {
      e = new EtcdKvError(INTERNAL, `Received RST_STREAM with code ${rstCode}`);
    }
    return e;
  }

  /**
   * After a deadline: is the connection alive at all? etcd3 found silently dead connections
   * (no RST, e.g. a partition) with keepalive pings; here the first deadline on a session
   * pings it, and no answer destroys it, so later calls reconnect instead of each waiting
   * out its own deadline.
   */
  #probe(session: ClientHttp2Session): void {
    if (session.destroyed || session.closed) return;
    if (session.connecting) {
      session.destroy(new Error('etcd connection not established before the deadline'));
      return;
    }
    const now = Date.now();
    if (now - (this.#lastPing.get(session) ?? 0) < MIN_PING_INTERVAL_MS) return;
    this.#lastPing.set(session, now);
    const timer = setTimeout(() => session.destroy(new Error('etcd did not answer a ping')), PING_TIMEOUT_MS);
    timer.unref();
    if (!session.ping(() => clearTimeout(timer))) clearTimeout(timer);
  }
}

/** A gRPC length-prefixed message: flag 0 (uncompressed), 4-byte big-endian length, bytes. */
function encode(type: protobuf.Type, req: object): Buffer {
  const msg = type.encode(type.fromObject(req as Record<string, unknown>)).finish();
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  out.set(msg, 5);
  return out;
}

interface WatchStreamHooks {
  keepaliveMs: number;
  /** Pings the stream's connection; no answer destroys it. */
  probe(): void;
  /** The error for a stream that ended without a gRPC status. */
  broken(rstCode: number, err: Error | undefined): EtcdKvError;
  closed(): void;
}

/**
 * A Watch RPC on one HTTP/2 stream. Requests go out as they are written; each complete
 * response message is decoded and emitted as it arrives. The outcome (`error` or `end`) is
 * decided when the stream closes, from the HTTP and gRPC status as for a unary call.
 */
class Http2WatchStream extends EventEmitter implements WatchDuplex {
  readonly #stream: http2.ClientHttp2Stream;
  readonly #hooks: WatchStreamHooks;
  readonly #messages = new GrpcMessageReader();
  readonly #keepalive: NodeJS.Timeout;
  #httpStatus: number | undefined;
  #grpcStatus: { code: number; message: string } | undefined;
  #failure: EtcdKvError | undefined; // decided on our side (client closed, undecodable response)
  #streamError: Error | undefined;
  /** `error` / `end` emitted, or cancelled by the caller: nothing more is emitted. */
  #done = false;

  constructor(stream: http2.ClientHttp2Stream, hooks: WatchStreamHooks) {
    super();
    this.#stream = stream;
    this.#hooks = hooks;
    this.#keepalive = setInterval(hooks.probe, hooks.keepaliveMs);
    this.#keepalive.unref();
    stream.on('response', (h) => {
      this.#httpStatus = Number(h[':status']);
      this.#grpcStatus = grpcStatusOf(h); // a trailers-only response carries the status in the headers
    });
    stream.on('trailers', (h) => {
      this.#grpcStatus = grpcStatusOf(h);
    });
    stream.on('data', (chunk: Buffer) => this.#onData(chunk));
    stream.on('error', (err) => {
      this.#streamError = err;
    });
    // etcd finished its side (trailers read); ours may still be open, and the stream closes
    // only when both are.
    stream.on('end', () => stream.close());
    stream.on('close', () => {
      clearInterval(this.#keepalive);
      hooks.closed();
      this.#finish();
    });
  }

  write(req: IWatchRequest): void {
    if (this.#done || this.#stream.writableEnded || this.#stream.destroyed) return;
    this.#stream.write(encode(WatchRequest, req));
  }

  end(): void {
    if (!this.#stream.writableEnded && !this.#stream.destroyed) this.#stream.end();
  }

  cancel(): void {
    this.#done = true;
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  /** Ends the stream with `err` (emitted once the stream has closed). */
  fail(err: EtcdKvError): void {
    this.#failure ??= err;
    this.#stream.close(http2.constants.NGHTTP2_CANCEL);
  }

  #onData(chunk: Buffer): void {
    if (this.#done || this.#failure || this.#httpStatus !== 200) return;
    let messages: Buffer[];
    try {
      messages = this.#messages.push(chunk);
    } catch (err) {
      this.fail(new EtcdKvError(INTERNAL, (err as Error).message));
      return;
    }
    for (const message of messages) {
      let res: IWatchResponse;
      try {
        res = WatchResponse.toObject(WatchResponse.decode(message), TO_OBJECT) as IWatchResponse;
      } catch (err) {
        this.fail(new EtcdKvError(INTERNAL, `Failed to parse server response: ${(err as Error).message}`));
        return;
      }
      this.emit('data', res);
      if (this.#done || this.#failure) return; // a listener cancelled
    }
  }

  #finish(): void {
    if (this.#done) return;
    this.#done = true;
    const err = this.#outcome();
    if (err) this.emit('error', err);
    else this.emit('end');
  }

  #outcome(): EtcdKvError | undefined {
    if (this.#failure) return this.#failure;
    const http = this.#httpStatus;
    if (http !== undefined && http !== 200) return new EtcdKvError(httpStatusCode(http), `Received HTTP status code ${http}`);
    const status = this.#grpcStatus;
    if (!status) return this.#hooks.broken(this.#stream.rstCode ?? 0, this.#streamError);
    return status.code === 0 ? undefined : new EtcdKvError(status.code, status.message);
  }
}

/**
 * Splits a stream of gRPC length-prefixed messages into messages: a DATA chunk may hold part
 * of one message, or several.
 */
class GrpcMessageReader {
  readonly #chunks: Buffer[] = [];
  #buffered = 0;
  /** The length of the message being read, once its 5-byte prefix is in. */
  #length: number | undefined;

  /** The messages `chunk` completes. */
  push(chunk: Buffer): Buffer[] {
    this.#chunks.push(chunk);
    this.#buffered += chunk.length;
    const messages: Buffer[] = [];
    for (;;) {
      if (this.#length === undefined) {
        if (this.#buffered < 5) break;
        const prefix = this.#take(5);
        if (prefix[0] !== 0) throw new Error('malformed gRPC response: compressed message');
        this.#length = prefix.readUInt32BE(1);
      }
      if (this.#buffered < this.#length) break;
      messages.push(this.#take(this.#length));
      this.#length = undefined;
    }
    return messages;
  }

  /** The next `n` buffered bytes (a view when one chunk holds them all, else a copy). */
  #take(n: number): Buffer {
    this.#buffered -= n;
    const first = this.#chunks[0];
    if (first && first.length >= n) {
      if (first.length === n) this.#chunks.shift();
      else this.#chunks[0] = first.subarray(n);
      return first.subarray(0, n);
    }
    const out = Buffer.allocUnsafe(n);
    let copied = 0;
    while (copied < n) {
      const chunk = this.#chunks[0]!;
      const used = Math.min(chunk.length, n - copied);
      chunk.copy(out, copied, 0, used);
      copied += used;
      if (used === chunk.length) this.#chunks.shift();
      else this.#chunks[0] = chunk.subarray(used);
    }
    return out;
  }
}
