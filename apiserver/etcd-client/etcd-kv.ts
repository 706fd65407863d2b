/**
 * `KvClient`: the etcd calls the storage layer makes (KV.Range and KV.Txn from EtcdStore, the
 * Watch stream under etcd-watch.ts, KV.Compact from the compactor), `MaintenanceClient`
 * (Maintenance Status, Defragment and Alarm, from etcd-maintenance.ts and /readyz), and a
 * lean implementation of both on `H2cConnection`
 * (h2c-connection.ts, a minimal HTTP/2 client over `node:net`, or `node:tls` for https://).
 *
 * Why: etcd3's client runs every call through a connection pool, a cockatiel retry policy
 * and circuit breaker, grpc-js interceptors, call credentials and resolver / load-balancer
 * calls — about 10% of the apiserver's main thread per request in CPU profiles, and ~6% for
 * its watch streams. None of it is needed here: one HTTP/2 connection, one stream
 * per call or watch, gRPC's 5-byte message framing, the status from the trailers. And not
 * `node:http2` either: its client costs ~130 µs of CPU per unary call (an AsyncResource, a
 * Duplex and five events per stream); H2cConnection does the same call in ~10–13 µs.
 *
 * How: each endpoint's request header blocks (Range and Txn with grpc-timeout, Watch without)
 * are HPACK-encoded once; a unary call is one `request(block, handlers, { body, endStream })`
 * whose handlers collect the response and settle the promise when the stream closes; a watch
 * is an open request whose DATA is split into messages as it arrives. Handlers run inside the
 * socket's data callback, so they never throw: a bad response fails its own call or watch.
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
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type {
  Etcd3,
  IAlarmRequest,
  IAlarmResponse,
  ICompactionRequest,
  ICompactionResponse,
  IDefragmentResponse,
  IRangeRequest,
  IRangeResponse,
  IStatusResponse,
  ITxnRequest,
  ITxnResponse,
  IWatchRequest,
  IWatchResponse,
} from 'etcd3';
import protobuf from 'protobufjs';
import {
  encodeRequestHeaders,
  H2_ERRORS,
  H2cConnection,
  type H2cStream,
  type H2cConnectionOptions,
  type HeaderList,
  type StreamCloseInfo,
  type StreamHandlers,
} from './h2c-connection.js';

export interface KvClient {
  range(req: IRangeRequest): Promise<IRangeResponse>;
  txn(req: ITxnRequest): Promise<ITxnResponse>;
  /** KV.Compact: drops the history before `revision` (the apiserver's compactor, storage/etcd-maintenance.ts). */
  compact(req: ICompactionRequest): Promise<ICompactionResponse>;
  /** Opens one Watch stream (etcd's bidirectional Watch RPC). */
  watch(): Promise<WatchDuplex>;
  /**
   * Releases the connection; calls in flight finish, open watch streams fail (CANCELLED),
   * later calls fail.
   */
  close(): void;
}

/**
 * etcd's Maintenance calls the apiserver makes (storage/etcd-maintenance.ts): Status and
 * Defragment answer for the member the client is connected to (one client per endpoint
 * to reach each member), Alarm for the cluster.
 */
export interface MaintenanceClient {
  /** Maintenance.Status: the member's db size (allocated and in use), raft state, errors. */
  status(): Promise<IStatusResponse>;
  /** Maintenance.Defragment: rewrites the member's backend file; the member blocks reads and writes meanwhile. */
  defragment(): Promise<IDefragmentResponse>;
  /** Maintenance.Alarm: GET (memberID 0: every member), or DEACTIVATE an alarm ("disarm"). */
  alarm(req: IAlarmRequest): Promise<IAlarmResponse>;
}

/** The lean client: the stores' KV calls and watches, and the maintenance calls. */
export type LeanKvClient = KvClient & MaintenanceClient;

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
    compact: (req) => client.kv.compact(req),
    watch: () => client.watchClient.watch(),
    close: () => undefined,
  };
}

export interface LeanKvOptions {
  /** Per-call deadline (also sent to etcd as grpc-timeout; not for watch streams nor Defragment); default 30 s. */
  deadlineMs?: number;
  /** Defragment's deadline: it rewrites the whole backend file (seconds per GiB); default 10 minutes. */
  defragmentDeadlineMs?: number;
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
  /** For https:// endpoints: CA, client certificate and key. */
  tls?: H2cConnectionOptions['tls'];
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
const CompactionRequest = root.lookupType('etcdserverpb.CompactionRequest');
const CompactionResponse = root.lookupType('etcdserverpb.CompactionResponse');
const StatusRequest = root.lookupType('etcdserverpb.StatusRequest');
const StatusResponse = root.lookupType('etcdserverpb.StatusResponse');
const DefragmentRequest = root.lookupType('etcdserverpb.DefragmentRequest');
const DefragmentResponse = root.lookupType('etcdserverpb.DefragmentResponse');
const AlarmRequest = root.lookupType('etcdserverpb.AlarmRequest');
const AlarmResponse = root.lookupType('etcdserverpb.AlarmResponse');
/** etcd3's proto-loader options (node_modules/etcd3/lib/connection-pool.js). */
const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

// ------------------------------------------------------------------ errors

const STATUS = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
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

/** A grpc-message value: percent-encoded (as is, if the encoding is broken). */
function percentDecode(m: string): string {
  if (!m.includes('%')) return m;
  try {
    return decodeURIComponent(m);
  } catch {
    return m;
  }
}

/**
 * What a response's header blocks said: the HTTP status (first block) and the gRPC status
 * (in the first block of a trailers-only response, else in the trailers).
 */
class ResponseStatus {
  http: number | undefined;
  grpc: number | undefined;
  grpcMessage = '';

  /** Reads one header block (flat [name, value, ...] list from h2c). Never throws. */
  read(fields: HeaderList): void {
    let status: string | undefined;
    let grpc: string | undefined;
    let message: string | undefined;
    for (let i = 0; i + 1 < fields.length; i += 2) {
      const name = fields[i];
      if (name === ':status') status = fields[i + 1];
      else if (name === 'grpc-status') grpc = fields[i + 1];
      else if (name === 'grpc-message') message = fields[i + 1];
    }
    if (this.http === undefined) {
      if (status !== undefined && status.length === 3 && status[0] === '1') return; // 1xx: the response headers follow
      this.http = Number(status);
    }
    if (grpc !== undefined) {
      const code = Number(grpc);
      this.grpc = Number.isInteger(code) && code >= 0 ? code : UNKNOWN;
      this.grpcMessage = message === undefined ? '' : percentDecode(message);
    }
  }

  /** The error the finished response reports (undefined: gRPC status OK). */
  error(conn: Connection, info: StreamCloseInfo): EtcdKvError | undefined {
    const http = this.http;
    if (http !== undefined && http !== 200) return new EtcdKvError(httpStatusCode(http), `Received HTTP status code ${http}`);
    if (this.grpc === undefined) return conn.broken(info);
    return this.grpc === 0 ? undefined : new EtcdKvError(this.grpc, this.grpcMessage);
  }
}

// ------------------------------------------------------------------ client

/** A lean KvClient over one HTTP/2 connection to `endpoints` (http://, or https:// with `tls`; the next one after a failure). */
export function createKvClient(endpoints: readonly string[], opts: LeanKvOptions = {}): LeanKvClient {
  return new H2cKvClient(endpoints, opts);
}

// Flow-control windows well above HTTP/2's 64 KiB default, so a multi-megabyte list chunk
// streams in without a WINDOW_UPDATE round trip per 64 KiB.
const STREAM_WINDOW = 4 << 20;
const SESSION_WINDOW = 16 << 20;
/** Stream id past which a connection is replaced (ids are odd numbers below 2^31). */
const STREAM_ID_RETIREMENT = 2 ** 30;
const MAX_STREAM_ID = 0x7fff_ffff;
/** After a deadline, a connection that does not answer a ping within this is presumed dead. */
export const PING_TIMEOUT_MS = 5_000;
/** etcd (grpc-go) answers pings more frequent than every 5 s with GOAWAY: stay well above. */
export const MIN_PING_INTERVAL_MS = 10_000;

/** The unary calls, by the name their header block has. */
type UnaryKind = 'range' | 'txn' | 'compact' | 'status' | 'defragment' | 'alarm';

/** One endpoint's request header blocks, HPACK-encoded once. */
type HeaderBlocks = Record<UnaryKind | 'watch', Buffer>;

const grpcTimeout = (ms: number) => `${Math.min(Math.ceil(ms), 99_999_999)}m`; // at most 8 digits

function headerBlocks(origin: string, deadlineMs: number, defragmentDeadlineMs: number): HeaderBlocks {
  const url = new URL(origin);
  const authority = url.host;
  const scheme = url.protocol === 'https:' ? 'https' : 'http';
  const common = { 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'quantix-etcd-kv' };
  const unary = { ...common, 'grpc-timeout': grpcTimeout(deadlineMs) };
  const post = (path: string, headers: Record<string, string> = unary) => encodeRequestHeaders('POST', authority, path, headers, scheme);
  return {
    range: post('/etcdserverpb.KV/Range'),
    txn: post('/etcdserverpb.KV/Txn'),
    compact: post('/etcdserverpb.KV/Compact'),
    status: post('/etcdserverpb.Maintenance/Status'),
    defragment: post('/etcdserverpb.Maintenance/Defragment', { ...common, 'grpc-timeout': grpcTimeout(defragmentDeadlineMs) }),
    alarm: post('/etcdserverpb.Maintenance/Alarm'),
    watch: post('/etcdserverpb.Watch/Watch', common), // long-lived: no deadline
  };
}

/** h2c's messages start with "h2c: "; ours name etcd instead. */
const reason = (err: Error | undefined, fallback: string): string => (err?.message || fallback).replace(/^h2c: /, '');

/** One connection to one endpoint, and what the client tracks about it. */
class Connection {
  readonly h2: H2cConnection;
  /** The server's SETTINGS arrived at some point (the connection got established). */
  established = false;
  lastPing = 0;
  /** Closed by the client while requests waited for the handshake: close once they started. */
  #closeWhenConnected = false;

  constructor(
    origin: string,
    readonly blocks: HeaderBlocks,
    hooks: { error(conn: Connection): void; close(conn: Connection): void },
    tls: H2cConnectionOptions['tls'],
  ) {
    this.h2 = H2cConnection.connect(origin, {
      tls,
      initialWindowSize: STREAM_WINDOW,
      connectionWindowSize: SESSION_WINDOW,
      onConnect: () => {
        this.established = true;
        // Queued requests start right after this callback; close behind them.
        if (this.#closeWhenConnected) queueMicrotask(() => this.h2.close());
      },
      // Reported to the calls in flight by their streams; the client tries the next endpoint next time.
      onError: () => hooks.error(this),
      onClose: () => hooks.close(this),
    });
    // Idle connections do not keep the process alive (neither do grpc-js's); a call's
    // deadline timer does while it runs; an open watch stream does not.
    this.h2.unref();
  }

  /** Graceful close: calls in flight finish (also those still waiting for the handshake). */
  close(): void {
    if (this.established || this.h2.queuedStreams === 0) this.h2.close();
    else this.#closeWhenConnected = true;
  }

  /** The error for a stream that ended without a gRPC status (as grpc-js reports them). */
  broken(info: StreamCloseInfo): EtcdKvError {
    const { rstCode, error } = info;
    let e: EtcdKvError;
    if (!this.established) {
      const cause = (error as { cause?: unknown } | undefined)?.cause;
      e = new EtcdKvError(UNAVAILABLE, `cannot connect to etcd: ${reason(cause instanceof Error ? cause : error, 'connection closed')}`);
      unsent.add(e);
    } else if (rstCode === H2_ERRORS.REFUSED_STREAM && !info.local) {
      e = new EtcdKvError(UNAVAILABLE, 'Stream refused by server');
      unsent.add(e);
    } else if (info.unsent) {
      // Never reached the socket (or above a GOAWAY's last stream id, or out of stream ids):
      // etcd has not seen it. A fresh connection serves the retry.
      e = new EtcdKvError(
        UNAVAILABLE,
        this.h2.nextStreamId > MAX_STREAM_ID ? 'no stream ids left on the etcd connection' : `Connection dropped: ${reason(error, 'not sent')}`,
      );
      unsent.add(e);
    } else if (rstCode === undefined) {
      // Connection lost (error), or the stream ended cleanly without a status.
      e = error ? new EtcdKvError(UNAVAILABLE, `Connection dropped: ${reason(error, '')}`) : new EtcdKvError(INTERNAL, 'Received RST_STREAM with code 0');
    } else if (info.local) {
      // A stream-level protocol error h2c detected in the response.
      e = new EtcdKvError(INTERNAL, `Malformed HTTP/2 response: ${reason(error, `RST_STREAM code ${rstCode}`)}`);
    } else if (rstCode === H2_ERRORS.CANCEL) {
      e = new EtcdKvError(UNAVAILABLE, 'Connection dropped');
    } else if (rstCode === H2_ERRORS.ENHANCE_YOUR_CALM) {
      e = new EtcdKvError(RESOURCE_EXHAUSTED, 'Bandwidth exhausted or memory limit exceeded');
    } else {
      e = new EtcdKvError(INTERNAL, `Received RST_STREAM with code ${rstCode}`);
    }
    return e;
  }

  /**
   * After a deadline, and every keepalive interval while a watch is open: is the connection
   * alive at all? etcd3 found silently dead connections (no RST, e.g. a partition) with
   * keepalive pings; here an unanswered ping destroys the connection, so later calls
   * reconnect instead of each waiting out its own deadline, and watches fail and reopen.
   */
  probe(): void {
    const h2 = this.h2;
    // A closing (retired) connection still carries its open watches: keep checking it.
    if (h2.destroyed) return;
    if (!this.established) {
      h2.destroy(new Error('etcd connection not established before the deadline'));
      return;
    }
    const now = Date.now();
    if (now - this.lastPing < MIN_PING_INTERVAL_MS) return;
    this.lastPing = now;
    let answered = false;
    const timer = setTimeout(() => {
      // After a long stall of this thread the ACK may have arrived unread: decide after this
      // turn's socket reads (setImmediate runs after the poll phase).
      setImmediate(() => {
        if (!answered) h2.destroy(new Error('etcd did not answer a ping'));
      });
    }, PING_TIMEOUT_MS);
    timer.unref();
    const sent = h2.ping(() => {
      answered = true;
      clearTimeout(timer);
    });
    if (!sent) clearTimeout(timer);
  }
}

class H2cKvClient implements LeanKvClient {
  readonly #endpoints: string[];
  readonly #blocks: HeaderBlocks[];
  readonly #deadlineMs: number;
  readonly #defragmentDeadlineMs: number;
  readonly #maxReceive: number;
  readonly #watchKeepaliveMs: number;
  readonly #tls: H2cConnectionOptions['tls'];
  readonly #watches = new Set<H2cWatchStream>();
  readonly #hooks = {
    error: (conn: Connection): void => {
      if (this.#conn === conn) this.#next = (this.#next + 1) % this.#endpoints.length;
    },
    close: (conn: Connection): void => {
      if (this.#conn === conn) this.#conn = undefined;
    },
  };
  readonly #watchClosed = (watch: H2cWatchStream): void => void this.#watches.delete(watch);
  #next = 0;
  #conn: Connection | undefined;
  #closed = false;

  constructor(endpoints: readonly string[], opts: LeanKvOptions) {
    if (endpoints.length === 0) throw new Error('etcd KV client: no endpoints');
    this.#endpoints = endpoints.map((e) => {
      const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(e) ? e : `http://${e}`);
      if (url.protocol !== 'http:' && url.protocol !== 'https:') {
        throw new Error(`etcd KV client: only http:// and https:// endpoints are supported, got ${e}`);
      }
      return url.origin;
    });
    this.#deadlineMs = opts.deadlineMs ?? 30_000;
    this.#defragmentDeadlineMs = opts.defragmentDeadlineMs ?? 600_000;
    this.#maxReceive = opts.maxReceiveBytes ?? 0xffff_ffff;
    this.#watchKeepaliveMs = opts.watchKeepaliveMs ?? 30_000;
    this.#tls = opts.tls;
    this.#blocks = this.#endpoints.map((origin) => headerBlocks(origin, this.#deadlineMs, this.#defragmentDeadlineMs));
  }

  range(req: IRangeRequest): Promise<IRangeResponse> {
    return this.#call('range', RangeRequest, req, RangeResponse, true) as Promise<IRangeResponse>;
  }

  txn(req: ITxnRequest): Promise<ITxnResponse> {
    return this.#call('txn', TxnRequest, req, TxnResponse, false) as Promise<ITxnResponse>;
  }

  compact(req: ICompactionRequest): Promise<ICompactionResponse> {
    // Not resent once etcd may have seen it: a second compaction at the same revision fails.
    return this.#call('compact', CompactionRequest, req, CompactionResponse, false) as Promise<ICompactionResponse>;
  }

  status(): Promise<IStatusResponse> {
    return this.#call('status', StatusRequest, {}, StatusResponse, true) as Promise<IStatusResponse>;
  }

  defragment(): Promise<IDefragmentResponse> {
    return this.#call('defragment', DefragmentRequest, {}, DefragmentResponse, false) as Promise<IDefragmentResponse>;
  }

  alarm(req: IAlarmRequest): Promise<IAlarmResponse> {
    // GET and DEACTIVATE are idempotent (ACTIVATE is not something the apiserver does).
    return this.#call('alarm', AlarmRequest, req, AlarmResponse, true) as Promise<IAlarmResponse>;
  }

  watch(): Promise<WatchDuplex> {
    if (this.#closed) return Promise.reject(new EtcdKvError(CANCELLED, 'the etcd KV client was closed'));
    let watch: H2cWatchStream;
    try {
      watch = new H2cWatchStream(this.#connect(), this.#watchKeepaliveMs, this.#watchClosed);
    } catch (err) {
      return Promise.reject(new EtcdKvError(UNAVAILABLE, (err as Error).message));
    }
    this.#watches.add(watch);
    return Promise.resolve(watch);
  }

  close(): void {
    this.#closed = true;
    // Watches never finish by themselves: the connection's graceful close would wait for them.
    for (const watch of this.#watches) watch.fail(new EtcdKvError(CANCELLED, 'the etcd KV client was closed'));
    const conn = this.#conn;
    this.#conn = undefined;
    conn?.close();
  }

  /**
   * One call, retried once on a new connection when etcd cannot have seen it, or, for a
   * read, when the connection failed under it (e.g. a connection etcd closed while idle).
   */
  async #call(kind: UnaryKind, reqType: protobuf.Type, req: object, type: protobuf.Type, idempotent: boolean): Promise<unknown> {
    const body = encode(reqType, req);
    try {
      return await this.#once(kind, body, type);
    } catch (err) {
      const e = err as EtcdKvError;
      if (this.#closed || !(unsent.has(e) || (idempotent && e.code === UNAVAILABLE))) throw err;
      return this.#once(kind, body, type);
    }
  }

  /** The open connection, or a new one (lazily: after a close or failure, the next call reconnects). */
  #connect(): Connection {
    const current = this.#conn;
    if (current && !current.h2.closed) {
      // A connection has 2^31 stream ids: retire it well before they run out (calls in
      // flight finish on it; the next ones go to a new connection).
      if (current.h2.nextStreamId < STREAM_ID_RETIREMENT) return current;
      current.close();
    }
    const i = this.#next;
    const conn = new Connection(this.#endpoints[i]!, this.#blocks[i]!, this.#hooks, this.#tls);
    this.#conn = conn;
    return conn;
  }

  #once(kind: UnaryKind, body: Buffer, type: protobuf.Type): Promise<unknown> {
    return new Promise((resolve, reject) => {
      if (this.#closed) {
        reject(new EtcdKvError(CANCELLED, 'the etcd KV client was closed'));
        return;
      }
      let conn: Connection;
      try {
        conn = this.#connect();
      } catch (err) {
        const e = new EtcdKvError(UNAVAILABLE, (err as Error).message);
        unsent.add(e);
        reject(e);
        return;
      }
      const call = new UnaryCall(conn, type, this.#maxReceive, resolve, reject);
      call.stream = conn.h2.request(conn.blocks[kind], call, { body, endStream: true });
      const deadlineMs = kind === 'defragment' ? this.#defragmentDeadlineMs : this.#deadlineMs;
      call.timer = setTimeout(expire, deadlineMs, call, deadlineMs);
    });
  }
}

function expire(call: UnaryCall, deadlineMs: number): void {
  call.expire(deadlineMs);
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

/**
 * One unary call's stream handlers: the response body is collected, and the call settles
 * when the stream closes, from the HTTP and gRPC status. No handler throws.
 */
class UnaryCall extends ResponseStatus implements StreamHandlers {
  stream: H2cStream | undefined;
  timer: NodeJS.Timeout | undefined;
  #chunks: Buffer[] = [];
  #received = 0;
  #checkedLength = false;
  #failure: EtcdKvError | undefined; // decided on our side (deadline, size, bad response)
  #closed = false;

  constructor(
    readonly conn: Connection,
    readonly type: protobuf.Type,
    readonly maxReceive: number,
    readonly resolve: (value: unknown) => void,
    readonly reject: (err: Error) => void,
  ) {
    super();
  }

  headers(fields: HeaderList): void {
    try {
      this.read(fields);
    } catch (err) {
      this.#fail(new EtcdKvError(INTERNAL, `Failed to read response headers: ${(err as Error).message}`));
    }
  }

  data(chunk: Buffer): void {
    if (this.#failure) return;
    try {
      this.#chunks.push(chunk);
      this.#received += chunk.length;
      if (!this.#checkedLength && this.#received >= 5) {
        this.#checkedLength = true;
        const head = this.#chunks.length === 1 ? chunk : Buffer.concat(this.#chunks);
        const length = head.readUInt32BE(1);
        if (length > this.maxReceive) {
          this.#fail(new EtcdKvError(RESOURCE_EXHAUSTED, `Received message larger than max (${length} vs ${this.maxReceive})`));
        }
      }
    } catch (err) {
      this.#fail(new EtcdKvError(INTERNAL, `Failed to read server response: ${(err as Error).message}`));
    }
  }

  close(info: StreamCloseInfo): void {
    this.#closed = true;
    clearTimeout(this.timer);
    try {
      if (this.#failure) return this.reject(this.#failure);
      const err = this.error(this.conn, info);
      if (err) return this.reject(err);
      const chunks = this.#chunks;
      const buf = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, this.#received);
      if (buf.length < 5 || buf[0] !== 0 || buf.readUInt32BE(1) !== buf.length - 5) {
        return this.reject(new EtcdKvError(INTERNAL, 'malformed gRPC response: expected one uncompressed message'));
      }
      this.resolve(this.type.toObject(this.type.decode(buf.subarray(5)), TO_OBJECT));
    } catch (err) {
      this.reject(new EtcdKvError(INTERNAL, `Failed to parse server response: ${(err as Error).message}`));
    }
  }

  /** The deadline passed: cancel, and check the connection (an unanswered ping destroys it). */
  expire(deadlineMs: number): void {
    if (this.#closed) return;
    this.#fail(new EtcdKvError(DEADLINE_EXCEEDED, `Deadline exceeded after ${deadlineMs} ms`));
    this.conn.probe();
  }

  /** Ends the call with `err` (the stream's close, at once, rejects with it). */
  #fail(err: EtcdKvError): void {
    this.#failure ??= err;
    this.stream?.cancel();
  }
}

/** Reports a listener's exception as uncaught, outside h2c's socket callback (whose state it would break). */
function rethrow(err: unknown): never {
  throw err;
}

/**
 * A Watch RPC on one HTTP/2 stream. Requests go out as they are written; each complete
 * response message is decoded and emitted as it arrives. The outcome (`error` or `end`) is
 * decided when the stream closes, from the HTTP and gRPC status as for a unary call, and
 * emitted from a later macrotask (never inside the caller's cancel / close, nor before the
 * opener got the stream).
 */
class H2cWatchStream extends EventEmitter implements WatchDuplex {
  readonly #conn: Connection;
  readonly #stream: H2cStream;
  readonly #closedHook: (watch: H2cWatchStream) => void;
  readonly #status = new ResponseStatus();
  readonly #messages = new GrpcMessageReader();
  readonly #keepalive: NodeJS.Timeout;
  #failure: EtcdKvError | undefined; // decided on our side (client closed, undecodable response)
  /** `error` / `end` emitted, or cancelled by the caller: nothing more is emitted. */
  #done = false;
  /** Our side ended (END_STREAM queued). */
  #ended = false;
  /** The HTTP/2 stream closed. */
  #closed = false;

  constructor(conn: Connection, keepaliveMs: number, closed: (watch: H2cWatchStream) => void) {
    super();
    this.#conn = conn;
    this.#closedHook = closed;
    this.#stream = conn.h2.request(conn.blocks.watch, {
      headers: (fields) => this.#onHeaders(fields),
      data: (chunk) => this.#onData(chunk),
      close: (info) => this.#onClose(info),
    });
    this.#keepalive = setInterval(() => conn.probe(), keepaliveMs);
    this.#keepalive.unref();
  }

  write(req: IWatchRequest): void {
    if (this.#done || this.#ended || this.#closed) return;
    this.#stream.write(encode(WatchRequest, req));
  }

  end(): void {
    if (this.#ended || this.#closed) return;
    this.#ended = true;
    this.#stream.end();
  }

  cancel(): void {
    this.#done = true;
    this.#stream.cancel();
  }

  /** Ends the stream with `err` (emitted once the stream has closed). */
  fail(err: EtcdKvError): void {
    this.#failure ??= err;
    this.#stream.cancel();
  }

  #onHeaders(fields: HeaderList): void {
    try {
      this.#status.read(fields);
    } catch (err) {
      this.fail(new EtcdKvError(INTERNAL, `Failed to read response headers: ${(err as Error).message}`));
    }
  }

  #onData(chunk: Buffer): void {
    if (this.#done || this.#failure || this.#status.http !== 200) return;
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
      try {
        this.emit('data', res);
      } catch (err) {
        process.nextTick(rethrow, err);
      }
      if (this.#done || this.#failure) return; // a listener cancelled
    }
  }

  #onClose(info: StreamCloseInfo): void {
    this.#closed = true;
    clearInterval(this.#keepalive);
    this.#closedHook(this);
    if (this.#done) return;
    let outcome: EtcdKvError | undefined;
    try {
      outcome = this.#failure ?? this.#status.error(this.#conn, info);
    } catch (err) {
      outcome = new EtcdKvError(INTERNAL, (err as Error).message);
    }
    setImmediate(() => this.#finish(outcome));
  }

  #finish(err: EtcdKvError | undefined): void {
    if (this.#done) return;
    this.#done = true;
    if (err) this.emit('error', err);
    else this.emit('end');
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
