/**
 * `H2cConnection`: a minimal client-side HTTP/2 connection (RFC 9113) with a callback API
 * and little per-request allocation, over a plain `node:net` socket (http://: cleartext h2c
 * with prior knowledge, as etcd's gRPC port and a `node:http2` `createServer()` speak it) or
 * a `node:tls` socket (https://: ALPN h2, with the CA and client certificate given in `tls`).
 *
 * Why: node:http2's client spends most of a small unary call in JS machinery (an
 * AsyncResource per request, a Duplex per stream, header object mapping, five events per
 * stream); etcd-kv.ts needs none of it. Here a request is one small object; its HEADERS
 * (a pre-encoded HPACK block, see hpack.ts `encodeHeaderBlock`) and DATA frames are copied
 * into a shared write slab and every frame produced in one event-loop turn leaves in one socket write.
 *
 * What it does:
 * - connect: preface, SETTINGS (ENABLE_PUSH 0, a 4 MiB INITIAL_WINDOW_SIZE, optional
 *   MAX_FRAME_SIZE / HEADER_TABLE_SIZE / MAX_HEADER_LIST_SIZE) and a WINDOW_UPDATE raising
 *   the connection receive window (16 MiB). Streams start once the server's SETTINGS
 *   arrived (so its MAX_CONCURRENT_STREAMS is known); requests made earlier are queued.
 * - the server's settings: MAX_CONCURRENT_STREAMS (requests beyond it queue),
 *   INITIAL_WINDOW_SIZE (our send windows, with the delta rule for open streams),
 *   MAX_FRAME_SIZE (DATA and header blocks we send are split), HEADER_TABLE_SIZE (ignored:
 *   our encoder never uses the dynamic table).
 * - frames: DATA, HEADERS (+CONTINUATION, PADDED, PRIORITY), PRIORITY (ignored),
 *   RST_STREAM, SETTINGS, PUSH_PROMISE (a connection error: push is disabled), PING (acked;
 *   ours with a callback), GOAWAY (streams above its last id close as unsent, lower ones
 *   finish, no new streams), WINDOW_UPDATE; unknown types are ignored.
 * - flow control: DATA waits for the connection and stream send windows; received DATA is
 *   acknowledged with WINDOW_UPDATE once half a window was consumed (connection and stream).
 * - errors: malformed frames or HPACK → GOAWAY with PROTOCOL_ERROR / FRAME_SIZE_ERROR /
 *   COMPRESSION_ERROR / FLOW_CONTROL_ERROR and the connection is destroyed; a socket error
 *   or close fails every stream (`error` set); streams the server cannot have processed
 *   (never written, connect failure, REFUSED_STREAM, above GOAWAY's last id, out of stream
 *   ids) close with `unsent: true` — safe to retry on a new connection.
 *
 * Handlers are called synchronously from the socket's data callback and must not throw.
 * No server push, no priorities, no receive-side backpressure (data is handed to the
 * handler as it arrives and its window credit returned), no HTTP/1.1 upgrade.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsOptions } from 'node:tls';
import { encodeHeaderBlock, HeaderListTooLarge, HpackDecoder, HpackError, type HeaderList } from './hpack.js';

export type { HeaderList } from './hpack.js';
export { encodeHeaderBlock } from './hpack.js';

// ------------------------------------------------------------------ protocol constants

const FRAME_DATA = 0x0;
const FRAME_HEADERS = 0x1;
const FRAME_PRIORITY = 0x2;
const FRAME_RST_STREAM = 0x3;
const FRAME_SETTINGS = 0x4;
const FRAME_PUSH_PROMISE = 0x5;
const FRAME_PING = 0x6;
const FRAME_GOAWAY = 0x7;
const FRAME_WINDOW_UPDATE = 0x8;
const FRAME_CONTINUATION = 0x9;

const FLAG_END_STREAM = 0x1;
const FLAG_ACK = 0x1;
const FLAG_END_HEADERS = 0x4;
const FLAG_PADDED = 0x8;
const FLAG_PRIORITY = 0x20;

const SETTINGS_HEADER_TABLE_SIZE = 0x1;
const SETTINGS_ENABLE_PUSH = 0x2;
const SETTINGS_MAX_CONCURRENT_STREAMS = 0x3;
const SETTINGS_INITIAL_WINDOW_SIZE = 0x4;
const SETTINGS_MAX_FRAME_SIZE = 0x5;
const SETTINGS_MAX_HEADER_LIST_SIZE = 0x6;

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2_ERRORS = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;
const E = H2_ERRORS;

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
const DEFAULT_WINDOW = 65_535;
const MAX_WINDOW = 0x7fff_ffff;
const DEFAULT_FRAME_SIZE = 16_384;
/** Largest stream id (ids are odd and below 2^31). */
const MAX_STREAM_ID = 0x7fff_ffff;
/** Write slab size: small frames are copied into it; a flush writes the filled part. */
const SLAB_SIZE = 64 * 1024;
/** DATA payloads up to this size are copied into the slab; larger ones are written as is. */
const COPY_LIMIT = 4096;
const EMPTY = Buffer.alloc(0);

// ------------------------------------------------------------------ public types

/** How a stream ended. */
export interface StreamCloseInfo {
  /** RST_STREAM code: the server's, or ours when `local` (cancel, or a stream-level error). */
  rstCode?: number;
  /** Set when the stream failed: connection loss, protocol error, GOAWAY, refusal. */
  error?: Error;
  /**
   * The server cannot have processed the request: it never reached the socket, the server
   * refused it (REFUSED_STREAM), it was above a GOAWAY's last stream id, or the connection
   * never came up. Safe to retry on another connection.
   */
  unsent: boolean;
  /** The stream was reset by us (cancel() or a stream error we detected). */
  local?: boolean;
}

export interface StreamHandlers {
  /** Response headers (endStream: a headers-only response), then trailers (endStream true). */
  headers(fields: HeaderList, endStream: boolean): void;
  /** A chunk of response body: a view into a socket read buffer that is never reused, so it may be kept. */
  data(chunk: Buffer): void;
  /** Called exactly once, last. */
  close(info: StreamCloseInfo): void;
}

export interface H2cStream {
  /** 0 until the stream is started (queued behind MAX_CONCURRENT_STREAMS or the connection). */
  readonly id: number;
  /**
   * Queues request body bytes (sent as flow control allows). Chunks over 4 KiB are written
   * without a copy: do not modify them afterwards.
   */
  write(data: Buffer): void;
  /** Ends the request side (END_STREAM), after `data` if given. */
  end(data?: Buffer): void;
  /** Resets the stream (RST_STREAM, default CANCEL); the handlers' close follows at once. */
  cancel(code?: number): void;
}

export interface RequestOptions {
  /** Request body to send right after the HEADERS. */
  body?: Buffer;
  /** End the request side after the headers (and body, if given): a unary request. */
  endStream?: boolean;
}

export interface H2cConnectionOptions {
  /** Our SETTINGS_INITIAL_WINDOW_SIZE (per-stream receive window). Default 4 MiB. */
  initialWindowSize?: number;
  /** Connection receive window (raised with a WINDOW_UPDATE at connect). Default 16 MiB. */
  connectionWindowSize?: number;
  /** Our SETTINGS_MAX_FRAME_SIZE (largest frame we accept). Default 16384. */
  maxFrameSize?: number;
  /** Our SETTINGS_HEADER_TABLE_SIZE (HPACK decoder table). Default 4096. */
  headerTableSize?: number;
  /** Largest response header list accepted (and advertised as SETTINGS_MAX_HEADER_LIST_SIZE). Default 256 KiB. */
  maxHeaderListSize?: number;
  /** A local cap on concurrent streams, in addition to the server's. Default none. */
  maxConcurrentStreams?: number;
  /**
   * Largest stream id this connection uses; requests past it close as unsent and the
   * connection closes gracefully (the caller opens a new one). Default 2^31 - 1.
   */
  maxStreamId?: number;
  /** For https:// origins: CA, client certificate and key (ALPN h2 is always requested). */
  tls?: Pick<TlsOptions, 'ca' | 'cert' | 'key'>;
  /** Called once the server's first SETTINGS arrived. */
  onConnect?: () => void;
  /** Called with the error that destroyed the connection. */
  onError?: (err: Error) => void;
  /** Called once when the connection is gone (after every stream closed). */
  onClose?: () => void;
  /** Called when the server sent GOAWAY. */
  onGoaway?: (code: number, lastStreamId: number) => void;
}

/** A connection-level failure; `code` is the HTTP/2 error code when there is one. */
export class H2cError extends Error {
  override readonly name = 'H2cError';
  constructor(
    message: string,
    readonly code?: number,
  ) {
    super(message);
  }
}

/** Encodes a request header block: pseudo-headers first, then `extra` (lowercase names). */
export function encodeRequestHeaders(
  method: string,
  authority: string,
  path: string,
  extra: Record<string, string | number> = {},
  scheme: 'http' | 'https' = 'http',
): Buffer {
  return encodeHeaderBlock([[':method', method], [':scheme', scheme], [':authority', authority], [':path', path], ...Object.entries(extra)]);
}

// ------------------------------------------------------------------ streams

const WAITING = 0;
const OPEN = 1;
const CLOSED = 2;

/** The shared close info of a stream that completed normally. */
const DONE: StreamCloseInfo = Object.freeze({ unsent: false });

class Stream implements H2cStream {
  id = 0;
  state = WAITING;
  /** The user ended the request side (END_STREAM is due after the queued bytes). */
  localEnded = false;
  /** END_STREAM went into the write buffer. */
  endSent = false;
  remoteEnded = false;
  sendWindow = 0;
  /** Received bytes not yet credited back with a WINDOW_UPDATE. */
  recvUnacked = 0;
  /** Queued request body: chunks, offset into the first, total bytes. */
  out: Buffer[] | undefined;
  outOffset = 0;
  outBytes = 0;
  /** Flush generation that carries this stream's HEADERS. */
  gen = 0;
  responded = false;

  constructor(
    readonly conn: H2cConnection,
    readonly block: Buffer,
    readonly handlers: StreamHandlers,
  ) {}

  write(data: Buffer): void {
    if (this.state === CLOSED) return;
    if (this.localEnded) throw new Error('H2cStream: write after end');
    this.conn._queue(this, data);
  }

  end(data?: Buffer): void {
    if (this.state === CLOSED || this.localEnded) return;
    if (data !== undefined && data.length > 0) this.conn._queue(this, data, true);
    else this.conn._queue(this, EMPTY, true);
  }

  cancel(code: number = E.CANCEL): void {
    if (this.state !== CLOSED) this.conn._cancel(this, code);
  }
}

// ------------------------------------------------------------------ connection

export class H2cConnection {
  readonly #socket: Socket;
  readonly #authority: string;
  readonly #opts: H2cConnectionOptions;
  readonly #decoder: HpackDecoder;
  readonly #streams = new Map<number, Stream>();
  #waiting: (Stream | undefined)[] = [];
  #waitHead = 0;
  /** Streams with queued DATA blocked on the connection send window. */
  readonly #blocked = new Set<Stream>();

  // state
  #connected = false;
  #closing = false;
  #destroyed = false;
  #closeEmitted = false;
  #goawayId = MAX_STREAM_ID; // streams above this were not processed
  #goaway = false;
  #nextId = 1;
  #lastId = 0;
  readonly #maxStreamId: number;

  // peer settings
  #peerMaxConcurrent = Infinity;
  #peerInitialWindow = DEFAULT_WINDOW;
  #peerMaxFrame = DEFAULT_FRAME_SIZE;
  #connSendWindow = DEFAULT_WINDOW;

  // our settings
  readonly #localMaxConcurrent: number;
  readonly #streamWindow: number;
  readonly #connWindow: number;
  readonly #maxRecvFrame: number;
  #connRecvUnacked = 0;

  // read side
  #rbuf: Buffer[] = [];
  #rlen = 0;
  /** Bytes the pending partial frame needs before it can be parsed. */
  #rneed = 9;
  /** Header block in progress (HEADERS without END_HEADERS, then CONTINUATION). */
  #hbStream = 0;
  #hbEndStream = false;
  #hbChunks: Buffer[] = [];
  #hbLen = 0;
  readonly #hbLimit: number;

  // write side
  #slab = Buffer.allocUnsafe(SLAB_SIZE);
  #slabStart = 0;
  #slabPos = 0;
  #segs: Buffer[] = [];
  #flushScheduled = false;
  #flushGen = 0;
  readonly #flushFn = (): void => this.#flush();

  // pings
  #pingSeq = 0;
  readonly #pings = new Map<number, (err?: Error) => void>();

  /** Opens a connection to `origin` (http://host:port); requests made before it is up are queued. */
  static connect(origin: string, opts: H2cConnectionOptions = {}): H2cConnection {
    return new H2cConnection(origin, opts);
  }

  private constructor(origin: string, opts: H2cConnectionOptions) {
    const url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(origin) ? origin : `http://${origin}`);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error(`h2c: only http:// and https:// origins are supported, got ${origin}`);
    this.#authority = url.host;
    this.#opts = opts;
    this.#streamWindow = opts.initialWindowSize ?? 4 << 20;
    this.#connWindow = opts.connectionWindowSize ?? 16 << 20;
    this.#maxRecvFrame = opts.maxFrameSize ?? DEFAULT_FRAME_SIZE;
    this.#localMaxConcurrent = opts.maxConcurrentStreams ?? Infinity;
    this.#maxStreamId = Math.min(opts.maxStreamId ?? MAX_STREAM_ID, MAX_STREAM_ID);
    const maxList = opts.maxHeaderListSize ?? 256 * 1024;
    this.#decoder = new HpackDecoder({ maxTableSize: opts.headerTableSize ?? 4096, maxHeaderListSize: maxList });
    this.#hbLimit = Math.max(64 * 1024, 2 * maxList);
    if (this.#streamWindow > MAX_WINDOW || this.#connWindow > MAX_WINDOW || this.#connWindow < DEFAULT_WINDOW) {
      throw new RangeError('h2c: window sizes must be between 65535 and 2^31-1');
    }
    if (this.#maxRecvFrame < DEFAULT_FRAME_SIZE || this.#maxRecvFrame > 0xffffff) {
      throw new RangeError('h2c: maxFrameSize must be between 16384 and 2^24-1');
    }

    // Preface and our SETTINGS are queued at once (net buffers writes until connected).
    this.#appendExternal(PREFACE);
    const settings: [number, number][] = [
      [SETTINGS_ENABLE_PUSH, 0],
      [SETTINGS_INITIAL_WINDOW_SIZE, this.#streamWindow],
    ];
    if (opts.headerTableSize !== undefined) settings.push([SETTINGS_HEADER_TABLE_SIZE, opts.headerTableSize]);
    if (opts.maxFrameSize !== undefined) settings.push([SETTINGS_MAX_FRAME_SIZE, opts.maxFrameSize]);
    if (opts.maxHeaderListSize !== undefined) settings.push([SETTINGS_MAX_HEADER_LIST_SIZE, opts.maxHeaderListSize]);
    this.#frameHead(settings.length * 6, FRAME_SETTINGS, 0, 0, settings.length * 6);
    for (const [id, v] of settings) {
      this.#slab.writeUInt16BE(id, this.#slabPos);
      this.#slab.writeUInt32BE(v, this.#slabPos + 2);
      this.#slabPos += 6;
    }
    if (this.#connWindow > DEFAULT_WINDOW) this.#writeWindowUpdate(0, this.#connWindow - DEFAULT_WINDOW);

    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    // Writes made before the TLS handshake finishes are buffered by the TLS socket, as by net's.
    const socket =
      url.protocol === 'https:'
        ? tlsConnect({
            host,
            port: Number(url.port || 443),
            ALPNProtocols: ['h2'],
            ...opts.tls,
            ...(/^[\d.]+$|:/.test(host) ? {} : { servername: host }),
          }).setNoDelay(true)
        : netConnect({ host, port: Number(url.port || 80), noDelay: true });
    this.#socket = socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#fail(err));
    socket.on('end', () => this.#fail(new H2cError('h2c: connection closed by the server')));
    socket.on('close', () => this.#fail(new H2cError('h2c: connection closed')));
    this.#scheduleFlush();
  }

  // ---------------------------------------------------------------- public API

  /** host:port of the origin, for :authority. */
  get authority(): string {
    return this.#authority;
  }
  /** The server's SETTINGS arrived: streams can start. */
  get connected(): boolean {
    return this.#connected && !this.#destroyed;
  }
  /** No new streams: close() was called, a GOAWAY arrived, or the connection is gone. */
  get closed(): boolean {
    return this.#closing || this.#goaway || this.#destroyed;
  }
  get destroyed(): boolean {
    return this.#destroyed;
  }
  /** The id the next stream will get. */
  get nextStreamId(): number {
    return this.#nextId;
  }
  /** Streams open on the wire (not counting queued ones). */
  get activeStreams(): number {
    return this.#streams.size;
  }
  /** Requests queued behind MAX_CONCURRENT_STREAMS or the connection setup. */
  get queuedStreams(): number {
    return this.#waiting.length - this.#waitHead;
  }

  /**
   * Starts a request with a pre-encoded HPACK header block (hpack.ts `encodeHeaderBlock`;
   * blocks are stateless, so a constant one can be reused and concatenated). Returns at once;
   * the stream starts when the connection and the concurrency limit allow.
   */
  request(headerBlock: Buffer, handlers: StreamHandlers, opts?: RequestOptions): H2cStream {
    const s = new Stream(this, headerBlock, handlers);
    if (opts !== undefined) {
      if (opts.body !== undefined && opts.body.length > 0) {
        s.out = [opts.body];
        s.outBytes = opts.body.length;
      }
      if (opts.endStream) s.localEnded = true;
    }
    if (this.closed || this.#nextId > this.#maxStreamId) {
      const error = new H2cError(
        this.#destroyed
          ? 'h2c: connection destroyed'
          : this.#nextId > this.#maxStreamId
            ? 'h2c: no stream ids left on this connection'
            : this.#goaway
              ? 'h2c: connection is going away'
              : 'h2c: connection closed',
      );
      s.state = CLOSED;
      // Never synchronously from request(): the caller has not got the stream yet.
      process.nextTick(() => handlers.close({ error, unsent: true }));
      return s;
    }
    if (this.#connected && this.#waitHead === this.#waiting.length && this.#streams.size < this.#concurrency()) {
      this.#start(s);
    } else {
      this.#waiting.push(s);
    }
    return s;
  }

  /** Sends a PING; `cb` is called on its ACK, or with an error if the connection goes first. */
  ping(cb: (err?: Error) => void): boolean {
    // Still allowed after a GOAWAY either way: streams left open on a closing connection
    // (long-lived watches) need their liveness checked like any other.
    if (this.#destroyed) return false;
    const id = ++this.#pingSeq;
    this.#pings.set(id, cb);
    this.#frameHead(8, FRAME_PING, 0, 0, 8);
    this.#slab.writeUInt32BE(0, this.#slabPos);
    this.#slab.writeUInt32BE(id >>> 0, this.#slabPos + 4);
    this.#slabPos += 8;
    this.#scheduleFlush();
    return true;
  }

  /** Graceful close: GOAWAY, no new streams (queued ones close as unsent), open ones finish, then the socket ends. */
  close(): void {
    if (this.#closing || this.#destroyed) return;
    this.#closing = true;
    this.#writeGoaway(E.NO_ERROR, '');
    this.#scheduleFlush();
    this.#failWaiting(new H2cError('h2c: connection closed'));
    this.#maybeFinish();
  }

  /** Closes the socket at once; every stream fails (with `err` if given). */
  destroy(err?: Error): void {
    this.#destroy(err ?? new H2cError('h2c: connection destroyed'), err !== undefined);
  }

  ref(): this {
    this.#socket.ref();
    return this;
  }

  unref(): this {
    this.#socket.unref();
    return this;
  }

  // ---------------------------------------------------------------- stream plumbing (called by Stream)

  /** @internal Queues body bytes (and END_STREAM when `end`). */
  _queue(s: Stream, data: Buffer, end = false): void {
    if (data.length > 0) {
      if (s.out === undefined) s.out = [data];
      else s.out.push(data);
      s.outBytes += data.length;
    }
    if (end) s.localEnded = true;
    if (s.state === OPEN) this.#sendPending(s);
  }

  /** @internal */
  _cancel(s: Stream, code: number): void {
    if (s.state === WAITING) {
      s.state = CLOSED; // skipped when its turn comes
      s.handlers.close({ rstCode: code, local: true, unsent: true });
      return;
    }
    this.#writeRst(s.id, code);
    this.#scheduleFlush();
    // Never unsent: HEADERS (and any body) already queued go out with the RST on the next flush.
    this.#closeStream(s, { rstCode: code, local: true, unsent: false });
  }

  // ---------------------------------------------------------------- streams

  #concurrency(): number {
    return Math.min(this.#peerMaxConcurrent, this.#localMaxConcurrent);
  }

  #start(s: Stream): void {
    if (this.#nextId > this.#maxStreamId) {
      s.state = CLOSED;
      s.handlers.close({ error: new H2cError('h2c: no stream ids left on this connection'), unsent: true });
      this.close();
      return;
    }
    const id = this.#nextId;
    this.#nextId += 2;
    this.#lastId = id;
    s.id = id;
    s.state = OPEN;
    s.sendWindow = this.#peerInitialWindow;
    s.gen = this.#flushGen + 1;
    this.#streams.set(id, s);
    const endNow = s.localEnded && s.outBytes === 0;
    this.#writeHeaders(id, s.block, endNow);
    if (endNow) s.endSent = true;
    else this.#sendPending(s);
    this.#scheduleFlush();
    // The last id: no more streams here; this one finishes, the caller opens a new connection.
    if (this.#nextId > this.#maxStreamId) this.close();
  }

  /** Starts queued streams while the limits allow. */
  #pump(): void {
    while (this.#waitHead < this.#waiting.length) {
      if (!this.#connected || this.closed || this.#streams.size >= this.#concurrency()) break;
      const q = this.#waiting; // re-read: starting a stream can close the connection and reset the queue
      const s = q[this.#waitHead];
      q[this.#waitHead++] = undefined;
      if (s !== undefined && s.state === WAITING) this.#start(s);
    }
    const q = this.#waiting;
    if (this.#waitHead === q.length) {
      q.length = 0;
      this.#waitHead = 0;
    } else if (this.#waitHead > 1024 && this.#waitHead * 2 > q.length) {
      q.splice(0, this.#waitHead);
      this.#waitHead = 0;
    }
  }

  #failWaiting(error: Error): void {
    const q = this.#waiting;
    this.#waiting = [];
    const head = this.#waitHead;
    this.#waitHead = 0;
    for (let i = head; i < q.length; i++) {
      const s = q[i];
      if (s === undefined || s.state !== WAITING) continue;
      s.state = CLOSED;
      s.handlers.close({ error, unsent: true });
    }
  }

  /** Sends queued DATA as the windows allow; END_STREAM with the last byte. */
  #sendPending(s: Stream): void {
    while (s.outBytes > 0) {
      const win = Math.min(s.sendWindow, this.#connSendWindow);
      if (win <= 0) {
        if (this.#connSendWindow <= 0) this.#blocked.add(s);
        this.#scheduleFlush();
        return;
      }
      const chunk = s.out![0]!;
      const avail = chunk.length - s.outOffset;
      const n = Math.min(avail, win, this.#peerMaxFrame);
      const last = n === s.outBytes && s.localEnded;
      this.#writeData(s.id, chunk, s.outOffset, s.outOffset + n, last);
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      s.outBytes -= n;
      if (n === avail) {
        s.out!.shift();
        s.outOffset = 0;
      } else {
        s.outOffset += n;
      }
      if (last) s.endSent = true;
    }
    if (s.localEnded && !s.endSent) {
      this.#writeData(s.id, EMPTY, 0, 0, true);
      s.endSent = true;
    }
    this.#scheduleFlush();
    if (s.endSent && s.remoteEnded) this.#closeStream(s, DONE);
  }

  #closeStream(s: Stream, info: StreamCloseInfo): void {
    if (s.state === CLOSED) return;
    s.state = CLOSED;
    this.#streams.delete(s.id);
    this.#blocked.delete(s);
    s.out = undefined;
    s.handlers.close(info);
    if (this.#destroyed) return;
    this.#pump();
    this.#maybeFinish();
  }

  /** The server ended its side. A request side still open is reset (the exchange is over). */
  #remoteEnd(s: Stream): void {
    s.remoteEnded = true;
    if (!s.endSent) {
      this.#writeRst(s.id, E.CANCEL);
      this.#scheduleFlush();
    }
    this.#closeStream(s, DONE);
  }

  /** A stream-level error: RST_STREAM with `code`, the stream fails. */
  #streamError(s: Stream, code: number, message: string): void {
    this.#writeRst(s.id, code);
    this.#scheduleFlush();
    this.#closeStream(s, { rstCode: code, local: true, error: new H2cError(message, code), unsent: false });
  }

  /** After close() or GOAWAY: once no stream is open, end the socket. */
  #maybeFinish(): void {
    if ((this.#closing || this.#goaway) && this.#streams.size === 0 && !this.#destroyed) {
      this.#failWaiting(new H2cError('h2c: connection closed'));
      this.#flush();
      this.#destroyed = true;
      this.#socket.destroySoon();
      this.#failPings(new H2cError('h2c: connection closed'));
      this.#emitClose();
    }
  }

  // ---------------------------------------------------------------- teardown

  /** Socket error / end / close. */
  #fail(err: Error): void {
    if (this.#destroyed) {
      this.#emitClose();
      return;
    }
    const e = this.#connected ? err : Object.assign(new H2cError(`h2c: cannot connect to ${this.#authority}: ${err.message}`), { cause: err });
    this.#destroy(e, true);
  }

  /** A connection error: GOAWAY with `code`, then destroy. */
  #connError(code: number, message: string): void {
    if (this.#destroyed) return;
    // Frames not yet written are dropped: only the GOAWAY goes out.
    this.#segs.length = 0;
    this.#slabStart = this.#slabPos;
    this.#writeGoaway(code, message);
    this.#flush(false); // streams whose frames were dropped stay "unsent"
    this.#destroy(new H2cError(`h2c: ${message}`, code), true, true);
  }

  #destroy(err: Error, report: boolean, soon = false): void {
    if (this.#destroyed) return;
    this.#destroyed = true;
    if (soon) this.#socket.destroySoon();
    else this.#socket.destroy();
    const open = [...this.#streams.values()];
    this.#streams.clear();
    this.#blocked.clear();
    for (const s of open) {
      if (s.state === CLOSED) continue;
      s.state = CLOSED;
      s.handlers.close({ error: err, unsent: s.gen > this.#flushGen });
    }
    this.#failWaiting(err);
    this.#failPings(err);
    if (report) this.#opts.onError?.(err);
    this.#emitClose();
  }

  #failPings(err: Error): void {
    if (this.#pings.size === 0) return;
    const cbs = [...this.#pings.values()];
    this.#pings.clear();
    for (const cb of cbs) cb(err);
  }

  #emitClose(): void {
    if (this.#closeEmitted) return;
    this.#closeEmitted = true;
    this.#opts.onClose?.();
  }

  // ---------------------------------------------------------------- reading

  #onData(chunk: Buffer): void {
    if (this.#destroyed) return;
    let buf = chunk;
    if (this.#rlen > 0) {
      // Part of a frame is pending: wait for the whole of it before concatenating (no
      // quadratic copying of big frames arriving in small reads).
      this.#rbuf.push(chunk);
      this.#rlen += chunk.length;
      if (this.#rlen < this.#rneed) return;
      buf = Buffer.concat(this.#rbuf, this.#rlen);
      this.#rbuf = [];
      this.#rlen = 0;
    }
    let pos = 0;
    const total = buf.length;
    let need = 9;
    while (total - pos >= 9) {
      const len = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      if (len > this.#maxRecvFrame) {
        this.#connError(E.FRAME_SIZE_ERROR, `frame of ${len} bytes exceeds the maximum frame size`);
        return;
      }
      if (total - pos - 9 < len) {
        need = 9 + len;
        break;
      }
      const type = buf[pos + 3]!;
      const flags = buf[pos + 4]!;
      const sid = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      const start = pos + 9;
      pos = start + len;
      this.#onFrame(type, flags, sid, buf, start, pos);
      if (this.#destroyed) return;
    }
    if (pos < total) {
      this.#rbuf.push(pos === 0 ? buf : buf.subarray(pos));
      this.#rlen = total - pos;
      this.#rneed = need;
    }
  }

  #onFrame(type: number, flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (this.#hbStream !== 0 && type !== FRAME_CONTINUATION) {
      return this.#connError(E.PROTOCOL_ERROR, 'expected CONTINUATION');
    }
    switch (type) {
      case FRAME_DATA:
        return this.#onDataFrame(flags, sid, buf, start, end);
      case FRAME_HEADERS:
        return this.#onHeaders(flags, sid, buf, start, end);
      case FRAME_CONTINUATION:
        return this.#onContinuation(flags, sid, buf, start, end);
      case FRAME_PRIORITY:
        if (sid === 0) return this.#connError(E.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (end - start !== 5) {
          const s = this.#streams.get(sid);
          if (s) this.#streamError(s, E.FRAME_SIZE_ERROR, 'PRIORITY frame of the wrong size');
        }
        return;
      case FRAME_RST_STREAM:
        return this.#onRst(sid, buf, start, end);
      case FRAME_SETTINGS:
        return this.#onSettings(flags, sid, buf, start, end);
      case FRAME_PUSH_PROMISE:
        return this.#connError(E.PROTOCOL_ERROR, 'PUSH_PROMISE received although push is disabled');
      case FRAME_PING:
        return this.#onPing(flags, sid, buf, start, end);
      case FRAME_GOAWAY:
        return this.#onGoaway(sid, buf, start, end);
      case FRAME_WINDOW_UPDATE:
        return this.#onWindowUpdate(sid, buf, start, end);
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** A frame on a stream we never opened (even ids: push, which is disabled; odd ids above ours: idle). */
  #idle(sid: number): boolean {
    return (sid & 1) === 0 || sid > this.#lastId;
  }

  #onDataFrame(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid === 0) return this.#connError(E.PROTOCOL_ERROR, 'DATA on stream 0');
    const len = end - start;
    // The whole frame (padding included) counts against flow control.
    this.#connRecvUnacked += len;
    if (this.#connRecvUnacked >= this.#connWindow >>> 1) {
      this.#writeWindowUpdate(0, this.#connRecvUnacked);
      this.#connRecvUnacked = 0;
      this.#scheduleFlush();
    }
    if (flags & FLAG_PADDED) {
      if (len < 1) return this.#connError(E.FRAME_SIZE_ERROR, 'padded DATA frame without a pad length');
      const pad = buf[start]!;
      start++;
      if (pad > end - start) return this.#connError(E.PROTOCOL_ERROR, 'DATA padding exceeds the frame');
      end -= pad;
    }
    const s = this.#streams.get(sid);
    if (s === undefined) {
      if (this.#idle(sid)) return this.#connError(E.PROTOCOL_ERROR, `DATA on idle stream ${sid}`);
      return; // a stream we reset or that ended: ignored (its bytes were counted above)
    }
    if (!s.responded) return this.#streamError(s, E.PROTOCOL_ERROR, 'DATA before HEADERS');
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (!endStream) {
      s.recvUnacked += len;
      if (s.recvUnacked >= this.#streamWindow >>> 1) {
        this.#writeWindowUpdate(sid, s.recvUnacked);
        s.recvUnacked = 0;
        this.#scheduleFlush();
      }
    }
    if (end > start) s.handlers.data(buf.subarray(start, end));
    if (endStream && s.state === OPEN) this.#remoteEnd(s);
  }

  #onHeaders(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid === 0) return this.#connError(E.PROTOCOL_ERROR, 'HEADERS on stream 0');
    if (this.#idle(sid)) return this.#connError(E.PROTOCOL_ERROR, `HEADERS on idle stream ${sid}`);
    if (flags & FLAG_PADDED) {
      if (end - start < 1) return this.#connError(E.FRAME_SIZE_ERROR, 'padded HEADERS frame without a pad length');
      const pad = buf[start]!;
      start++;
      if (pad > end - start) return this.#connError(E.PROTOCOL_ERROR, 'HEADERS padding exceeds the frame');
      end -= pad;
    }
    if (flags & FLAG_PRIORITY) {
      if (end - start < 5) return this.#connError(E.FRAME_SIZE_ERROR, 'HEADERS priority fields truncated');
      start += 5;
    }
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    if (flags & FLAG_END_HEADERS) return this.#headerBlock(sid, endStream, buf, start, end);
    this.#hbStream = sid;
    this.#hbEndStream = endStream;
    this.#hbChunks = [buf.subarray(start, end)];
    this.#hbLen = end - start;
  }

  #onContinuation(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (this.#hbStream === 0 || sid !== this.#hbStream) {
      return this.#connError(E.PROTOCOL_ERROR, 'unexpected CONTINUATION');
    }
    this.#hbChunks.push(buf.subarray(start, end));
    this.#hbLen += end - start;
    if (this.#hbLen > this.#hbLimit) return this.#connError(E.ENHANCE_YOUR_CALM, 'header block too large');
    if ((flags & FLAG_END_HEADERS) === 0) return;
    const block = Buffer.concat(this.#hbChunks, this.#hbLen);
    this.#hbStream = 0;
    this.#hbChunks = [];
    this.#hbLen = 0;
    this.#headerBlock(sid, this.#hbEndStream, block, 0, block.length);
  }

  #headerBlock(sid: number, endStream: boolean, buf: Buffer, start: number, end: number): void {
    // Decoded even for streams we no longer track: the dynamic table must stay in sync.
    let fields: HeaderList;
    try {
      fields = this.#decoder.decode(buf, start, end);
    } catch (err) {
      if (err instanceof HeaderListTooLarge) {
        const s = this.#streams.get(sid);
        if (s) this.#streamError(s, E.PROTOCOL_ERROR, err.message);
        return;
      }
      const msg = err instanceof HpackError ? err.message : String(err);
      return this.#connError(E.COMPRESSION_ERROR, msg);
    }
    const s = this.#streams.get(sid);
    if (s === undefined || s.remoteEnded) return;
    s.responded = true;
    s.handlers.headers(fields, endStream);
    if (endStream && s.state === OPEN) this.#remoteEnd(s);
  }

  #onRst(sid: number, buf: Buffer, start: number, end: number): void {
    if (sid === 0) return this.#connError(E.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
    if (end - start !== 4) return this.#connError(E.FRAME_SIZE_ERROR, 'RST_STREAM frame of the wrong size');
    if (this.#idle(sid)) return this.#connError(E.PROTOCOL_ERROR, `RST_STREAM on idle stream ${sid}`);
    const s = this.#streams.get(sid);
    if (s === undefined) return;
    const code = buf.readUInt32BE(start);
    const refused = code === E.REFUSED_STREAM;
    this.#closeStream(s, {
      rstCode: code,
      error: new H2cError(refused ? 'h2c: stream refused by the server' : `h2c: stream reset by the server with code ${code}`, code),
      unsent: refused,
    });
  }

  #onSettings(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) return this.#connError(E.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FLAG_ACK) {
      if (end !== start) return this.#connError(E.FRAME_SIZE_ERROR, 'SETTINGS ACK with a payload');
      return;
    }
    if ((end - start) % 6 !== 0) return this.#connError(E.FRAME_SIZE_ERROR, 'SETTINGS frame of the wrong size');
    let windowDelta = 0;
    for (let p = start; p < end; p += 6) {
      const id = buf.readUInt16BE(p);
      const value = buf.readUInt32BE(p + 2);
      switch (id) {
        case SETTINGS_ENABLE_PUSH:
          if (value > 1) return this.#connError(E.PROTOCOL_ERROR, 'invalid SETTINGS_ENABLE_PUSH');
          break;
        case SETTINGS_MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = value;
          break;
        case SETTINGS_INITIAL_WINDOW_SIZE:
          if (value > MAX_WINDOW) return this.#connError(E.FLOW_CONTROL_ERROR, 'SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1');
          windowDelta += value - this.#peerInitialWindow;
          this.#peerInitialWindow = value;
          break;
        case SETTINGS_MAX_FRAME_SIZE:
          if (value < DEFAULT_FRAME_SIZE || value > 0xffffff) return this.#connError(E.PROTOCOL_ERROR, 'invalid SETTINGS_MAX_FRAME_SIZE');
          this.#peerMaxFrame = value;
          break;
        default:
          // HEADER_TABLE_SIZE (our encoder never uses the dynamic table), MAX_HEADER_LIST_SIZE
          // (advisory) and unknown settings need nothing.
          break;
      }
    }
    this.#writeFrameEmpty(FRAME_SETTINGS, FLAG_ACK, 0);
    this.#scheduleFlush();
    if (windowDelta !== 0) {
      // The delta applies to every open stream's send window (RFC 9113 §6.9.2).
      for (const s of this.#streams.values()) {
        s.sendWindow += windowDelta;
        if (s.sendWindow > MAX_WINDOW) return this.#connError(E.FLOW_CONTROL_ERROR, 'stream window above 2^31-1 after SETTINGS');
      }
      if (windowDelta > 0) for (const s of [...this.#streams.values()]) if (s.outBytes > 0 && s.state === OPEN) this.#sendPending(s);
    }
    if (!this.#connected) {
      this.#connected = true;
      this.#opts.onConnect?.();
      if (this.#destroyed) return;
    }
    this.#pump();
  }

  #onPing(flags: number, sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) return this.#connError(E.PROTOCOL_ERROR, 'PING on a stream');
    if (end - start !== 8) return this.#connError(E.FRAME_SIZE_ERROR, 'PING frame of the wrong size');
    if (flags & FLAG_ACK) {
      const id = buf.readUInt32BE(start + 4);
      const cb = buf.readUInt32BE(start) === 0 ? this.#pings.get(id) : undefined;
      if (cb) {
        this.#pings.delete(id);
        cb();
      }
      return;
    }
    this.#frameHead(8, FRAME_PING, FLAG_ACK, 0, 8);
    buf.copy(this.#slab, this.#slabPos, start, end);
    this.#slabPos += 8;
    this.#scheduleFlush();
  }

  #onGoaway(sid: number, buf: Buffer, start: number, end: number): void {
    if (sid !== 0) return this.#connError(E.PROTOCOL_ERROR, 'GOAWAY on a stream');
    if (end - start < 8) return this.#connError(E.FRAME_SIZE_ERROR, 'GOAWAY frame too short');
    const last = buf.readUInt32BE(start) & 0x7fffffff;
    const code = buf.readUInt32BE(start + 4);
    const debug = buf.toString('latin1', start + 8, end);
    this.#goaway = true;
    if (last < this.#goawayId) this.#goawayId = last;
    this.#opts.onGoaway?.(code, last);
    const why = `h2c: the server sent GOAWAY (code ${code}${debug ? `: ${debug}` : ''})`;
    // Queued requests first: closing the last open stream below finishes the connection.
    this.#failWaiting(new H2cError(why, code));
    // Streams above the last id were not processed: unsent.
    const above = [...this.#streams.values()].filter((s) => s.id > this.#goawayId);
    for (const s of above) {
      this.#closeStream(s, { error: new H2cError(why, code), unsent: true });
      if (this.#destroyed) return;
    }
    this.#failWaiting(new H2cError(why, code));
    this.#scheduleFlush();
    this.#maybeFinish();
  }

  #onWindowUpdate(sid: number, buf: Buffer, start: number, end: number): void {
    if (end - start !== 4) return this.#connError(E.FRAME_SIZE_ERROR, 'WINDOW_UPDATE frame of the wrong size');
    const inc = buf.readUInt32BE(start) & 0x7fffffff;
    if (sid === 0) {
      if (inc === 0) return this.#connError(E.PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0');
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW) return this.#connError(E.FLOW_CONTROL_ERROR, 'connection window above 2^31-1');
      // The blocked streams in the order they blocked, only while the window lasts: the
      // stream the window runs out on stays first, and the ones after it are not touched.
      // Retrying every blocked stream on every update was O(blocked) per frame: with thousands
      // of writes waiting (the scale benchmark's create burst) that took 22 % of the
      // apiserver's CPU.
      for (const s of this.#blocked) {
        if (this.#connSendWindow <= 0) break;
        if (s.state === OPEN) this.#sendPending(s);
        if (this.#destroyed) return;
        if (this.#connSendWindow <= 0 && s.state === OPEN && s.outBytes > 0) break;
        this.#blocked.delete(s);
      }
      return;
    }
    const s = this.#streams.get(sid);
    if (s === undefined) {
      if (this.#idle(sid)) return this.#connError(E.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${sid}`);
      return;
    }
    if (inc === 0) return this.#streamError(s, E.PROTOCOL_ERROR, 'WINDOW_UPDATE with increment 0');
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.#streamError(s, E.FLOW_CONTROL_ERROR, 'stream window above 2^31-1');
    if (s.outBytes > 0 || (s.localEnded && !s.endSent)) this.#sendPending(s);
  }

  // ---------------------------------------------------------------- writing

  /** Makes room for `n` bytes in the slab. */
  #reserve(n: number): void {
    if (this.#slab.length - this.#slabPos >= n) return;
    this.#cutSlab();
    this.#slab = Buffer.allocUnsafe(Math.max(SLAB_SIZE, n));
    this.#slabStart = 0;
    this.#slabPos = 0;
  }

  /** Moves the filled part of the slab to the segment list. */
  #cutSlab(): void {
    if (this.#slabPos > this.#slabStart) {
      this.#segs.push(this.#slab.subarray(this.#slabStart, this.#slabPos));
      this.#slabStart = this.#slabPos;
    }
  }

  /** Queues a buffer to write as is (after everything in the slab so far). */
  #appendExternal(buf: Buffer): void {
    this.#cutSlab();
    this.#segs.push(buf);
  }

  /** Reserves 9 + `room` bytes and writes a frame header. */
  #frameHead(len: number, type: number, flags: number, sid: number, room: number): void {
    this.#reserve(9 + room);
    const b = this.#slab;
    const p = this.#slabPos;
    b[p] = len >>> 16;
    b[p + 1] = (len >>> 8) & 0xff;
    b[p + 2] = len & 0xff;
    b[p + 3] = type;
    b[p + 4] = flags;
    b.writeUInt32BE(sid, p + 5);
    this.#slabPos = p + 9;
  }

  #writeFrameEmpty(type: number, flags: number, sid: number): void {
    this.#frameHead(0, type, flags, sid, 0);
  }

  #writeHeaders(sid: number, block: Buffer, endStream: boolean): void {
    const max = this.#peerMaxFrame;
    const es = endStream ? FLAG_END_STREAM : 0;
    if (block.length <= max) {
      this.#frameHead(block.length, FRAME_HEADERS, FLAG_END_HEADERS | es, sid, block.length);
      block.copy(this.#slab, this.#slabPos);
      this.#slabPos += block.length;
      return;
    }
    for (let off = 0; off < block.length; off += max) {
      const n = Math.min(max, block.length - off);
      const lastPart = off + n === block.length;
      const type = off === 0 ? FRAME_HEADERS : FRAME_CONTINUATION;
      const flags = (off === 0 ? es : 0) | (lastPart ? FLAG_END_HEADERS : 0);
      this.#frameHead(n, type, flags, sid, n);
      block.copy(this.#slab, this.#slabPos, off, off + n);
      this.#slabPos += n;
    }
  }

  #writeData(sid: number, data: Buffer, start: number, end: number, endStream: boolean): void {
    const n = end - start;
    const flags = endStream ? FLAG_END_STREAM : 0;
    if (n <= COPY_LIMIT) {
      this.#frameHead(n, FRAME_DATA, flags, sid, n);
      data.copy(this.#slab, this.#slabPos, start, end);
      this.#slabPos += n;
    } else {
      this.#frameHead(n, FRAME_DATA, flags, sid, 0);
      this.#appendExternal(start === 0 && end === data.length ? data : data.subarray(start, end));
    }
  }

  #writeRst(sid: number, code: number): void {
    this.#frameHead(4, FRAME_RST_STREAM, 0, sid, 4);
    this.#slab.writeUInt32BE(code, this.#slabPos);
    this.#slabPos += 4;
  }

  #writeWindowUpdate(sid: number, inc: number): void {
    this.#frameHead(4, FRAME_WINDOW_UPDATE, 0, sid, 4);
    this.#slab.writeUInt32BE(inc, this.#slabPos);
    this.#slabPos += 4;
  }

  #writeGoaway(code: number, debug: string): void {
    const d = Buffer.from(debug.slice(0, 256), 'latin1');
    this.#frameHead(8 + d.length, FRAME_GOAWAY, 0, 0, 8 + d.length);
    this.#slab.writeUInt32BE(0, this.#slabPos); // last server-initiated stream we processed: none
    this.#slab.writeUInt32BE(code, this.#slabPos + 4);
    d.copy(this.#slab, this.#slabPos + 8);
    this.#slabPos += 8 + d.length;
  }

  /**
   * Flushes at the end of this event-loop turn (setImmediate), not per tick: everything
   * produced in one turn (e.g. the etcd calls of all HTTP requests read in one poll) leaves
   * in one write, so etcd reads them together and batches their raft proposals. Flushing per
   * microtask sent one write per request: etcd then spent about three times the CPU per call
   * and the apiserver waited on it (measured with 64 creates in flight).
   */
  #scheduleFlush(): void {
    if (this.#flushScheduled || this.#destroyed) return;
    this.#flushScheduled = true;
    setImmediate(this.#flushFn);
  }

  /** Writes everything queued in one socket write (one writev when there are several segments). */
  #flush(countGeneration = true): void {
    this.#flushScheduled = false;
    this.#cutSlab();
    const segs = this.#segs;
    if (segs.length === 0 || this.#socket.destroyed) {
      segs.length = 0;
      return;
    }
    if (countGeneration) this.#flushGen++;
    if (segs.length === 1) {
      this.#socket.write(segs[0]!);
    } else {
      this.#socket.cork();
      for (const seg of segs) this.#socket.write(seg);
      this.#socket.uncork();
    }
    segs.length = 0;
  }
}
