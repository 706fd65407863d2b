/**
 * A client for libvirt's remote RPC protocol over one stream socket (normally the unix
 * socket /var/run/libvirt/libvirt-sock): framing, serial-number multiplexing of concurrent
 * calls, per-call timeouts, keepalive answers, delivery of asynchronous messages (events),
 * and data streams (openStream). It knows nothing about reconnecting; the driver owns that.
 *
 * Streams (libvirt docs/kbase/internals/rpc.rst, "Method call bidirectional stream"): a call
 * such as DOMAIN_OPEN_CONSOLE opens one; its serial then names the stream. Both sides send
 * data as type=Stream status=Continue messages with the call's proc and serial, the payload
 * being the raw bytes. A side that has no more data sends status=Ok with no payload; the
 * client's Ok (finish) and Error (abort, no payload) are confirmed by the server with an
 * empty Ok. The server reports a failure as status=Error carrying a remote_error, either as
 * a Stream message or as a Reply with the stream's serial (when our data could not be
 * written); after it the stream is gone on the server's side.
 */
import net from 'node:net';
import {
  decodeHeader,
  decodeRemoteError,
  encodeFrame,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  KEEPALIVE_PROTOCOL_VERSION,
  MESSAGE_HEADER_BYTES,
  MESSAGE_LEN_BYTES,
  MESSAGE_MAX,
  MessageStatus,
  MessageType,
  REMOTE_PROGRAM,
  QEMU_PROGRAM,
  REMOTE_PROTOCOL_VERSION,
  STREAM_PAYLOAD_MAX,
  type MessageHeader,
  type ProcDef,
  type RemoteError,
} from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

export type RpcErrorKind = 'remote' | 'closed' | 'timeout' | 'protocol';

export class RpcError extends Error {
  constructor(
    readonly kind: RpcErrorKind,
    message: string,
    readonly procName: string,
    readonly remote: RemoteError | null = null,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

interface Pending {
  procName: string;
  decode: (r: XdrReader) => unknown;
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | null;
}

export interface RpcClientOptions {
  /** Default per-call timeout; 0 disables. */
  callTimeoutMs?: number;
  /** Asynchronous messages (events) from the server. */
  onMessage?: (proc: number, body: XdrReader, header: MessageHeader) => void;
  /** The stream closed or failed; called once. */
  onClose?: (reason: string) => void;
}

export interface CallOptions {
  timeoutMs?: number;
}

/** How a stream ended. */
export type RpcStreamEnd =
  /** The server has no more data (its status=Ok); the client finished its side in turn. */
  | { kind: 'eof' }
  /** The server aborted the stream (status=Error) with libvirt's error. */
  | { kind: 'error'; message: string; remote: RemoteError | null }
  /** The connection to libvirtd closed. */
  | { kind: 'closed'; message: string }
  /** Our finish() or abort(), confirmed by the server (or given up on after the call timeout). */
  | { kind: 'finished' };

type StreamPhase = 'open' | 'ending' | 'ended';

/**
 * One data stream of an RpcClient. Data that arrives before the first onData listener is
 * kept and handed to it, so nothing sent right after the opening reply is lost.
 */
export class RpcStream {
  private phase: StreamPhase = 'open';
  private end: RpcStreamEnd | null = null;
  private readonly dataListeners: Array<(data: Buffer) => void> = [];
  private readonly endListeners: Array<(end: RpcStreamEnd) => void> = [];
  private early: Buffer[] = [];
  private confirm: { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout | null } | null = null;

  /** @internal Created by RpcClient.openStream. */
  constructor(
    readonly procName: string,
    readonly proc: number,
    readonly serial: number,
    private readonly client: { sendStream(s: RpcStream, status: MessageStatus, payload?: Buffer): boolean; forget(s: RpcStream): void },
    private readonly confirmTimeoutMs: number,
  ) {}

  /** True once the stream ended (or our finish/abort is on its way): writes are dropped. */
  get ended(): boolean {
    return this.phase !== 'open';
  }

  /** How it ended, once it did. */
  get endedWith(): RpcStreamEnd | null {
    return this.end;
  }

  /** Sends bytes (split into messages libvirtd accepts). False when the stream no longer takes data. */
  write(data: Buffer): boolean {
    if (this.phase !== 'open') return false;
    for (let off = 0; off < data.length; off += STREAM_PAYLOAD_MAX) {
      if (!this.client.sendStream(this, MessageStatus.Continue, data.subarray(off, off + STREAM_PAYLOAD_MAX))) return false;
    }
    return true;
  }

  /** Ends our side normally (status=Ok); resolves when the server confirms. */
  finish(): Promise<void> {
    return this.endLocally(MessageStatus.Ok);
  }

  /** Aborts the stream (status=Error, no payload); resolves when the server confirms. */
  abort(): Promise<void> {
    return this.endLocally(MessageStatus.Error);
  }

  onData(listener: (data: Buffer) => void): void {
    this.dataListeners.push(listener);
    if (this.dataListeners.length === 1 && this.early.length > 0) {
      const early = this.early;
      this.early = [];
      for (const d of early) listener(d);
    }
  }

  /** Called once; at once when the stream already ended. */
  onEnd(listener: (end: RpcStreamEnd) => void): void {
    if (this.end) listener(this.end);
    else this.endListeners.push(listener);
  }

  private endLocally(status: MessageStatus): Promise<void> {
    if (this.phase !== 'open') return Promise.resolve();
    this.phase = 'ending';
    return new Promise<void>((resolve, reject) => {
      this.confirm = { resolve, reject, timer: null };
      if (this.confirmTimeoutMs > 0) {
        this.confirm.timer = setTimeout(() => {
          this.client.forget(this);
          this.settle(
            { kind: 'finished' },
            new RpcError('timeout', `${this.procName} stream: no confirmation within ${this.confirmTimeoutMs} ms`, this.procName),
          );
        }, this.confirmTimeoutMs);
      }
      if (!this.client.sendStream(this, status)) this.settle({ kind: 'closed', message: 'connection closed' });
    });
  }

  /** @internal A Stream message (or an error Reply) with this stream's serial. */
  receive(header: MessageHeader, body: XdrReader): void {
    if (header.type === MessageType.Stream && header.status === MessageStatus.Continue) {
      if (this.phase !== 'open') return; // data racing our finish/abort
      const data = Buffer.from(body.rest());
      if (data.length === 0) return;
      if (this.dataListeners.length === 0) this.early.push(data);
      else for (const l of [...this.dataListeners]) l(data);
      return;
    }
    if (header.status === MessageStatus.Ok) {
      if (this.phase === 'ending') {
        this.client.forget(this);
        this.settle({ kind: 'finished' });
      } else if (this.phase === 'open') {
        // The server's end of data: finish our side so libvirtd releases the stream; its confirmation is swallowed.
        this.phase = 'ending';
        this.fire({ kind: 'eof' });
        if (!this.client.sendStream(this, MessageStatus.Ok)) this.client.forget(this);
      } else {
        this.client.forget(this);
      }
      return;
    }
    // status=Error: the server dropped the stream.
    let remote: RemoteError | null = null;
    try {
      remote = decodeRemoteError(body);
    } catch {
      // no decodable error body
    }
    this.client.forget(this);
    const message = remote?.message ?? `${this.procName} stream failed`;
    this.settle({ kind: 'error', message, remote }, new RpcError('remote', message, this.procName, remote));
  }

  /** @internal The connection closed. */
  closed(reason: string): void {
    this.settle({ kind: 'closed', message: reason }, new RpcError('closed', reason, this.procName));
  }

  private settle(end: RpcStreamEnd, confirmError?: Error): void {
    const c = this.confirm;
    this.confirm = null;
    if (c) {
      if (c.timer) clearTimeout(c.timer);
      if (confirmError) c.reject(confirmError);
      else c.resolve();
    }
    this.fire(end);
  }

  private fire(end: RpcStreamEnd): void {
    if (this.phase !== 'ended' && end.kind !== 'eof') this.phase = 'ended';
    if (this.end) return;
    this.end = end;
    this.early = [];
    const listeners = this.endListeners.splice(0);
    for (const l of listeners) l(end);
  }
}

export class RpcClient {
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly streams = new Map<number, RpcStream>();
  private chunks: Buffer[] = [];
  private buffered = 0;
  private closedReason: string | null = null;
  private readonly callTimeoutMs: number;

  private constructor(
    private readonly socket: net.Socket,
    private readonly options: RpcClientOptions,
  ) {
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    socket.setNoDelay(true);
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.shutdown(`socket error: ${err.message}`));
    socket.on('close', () => this.shutdown('connection closed by libvirtd'));
  }

  /** Opens the stream. Rejects with RpcError('closed') when nothing listens. */
  static connect(socketPath: string, options: RpcClientOptions = {}, connectTimeoutMs = 5_000): Promise<RpcClient> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection({ path: socketPath });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new RpcError('timeout', `connect to ${socketPath} timed out after ${connectTimeoutMs} ms`, 'connect'));
      }, connectTimeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new RpcClient(socket, options));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new RpcError('closed', `cannot connect to ${socketPath}: ${err.message}`, 'connect'));
      });
    });
  }

  /** Wraps an already connected socket (tests). */
  static fromSocket(socket: net.Socket, options: RpcClientOptions = {}): RpcClient {
    return new RpcClient(socket, options);
  }

  get closed(): boolean {
    return this.closedReason !== null;
  }

  get pendingCalls(): number {
    return this.pending.size;
  }

  /** Streams libvirtd may still send on (open, or waiting for the confirmation of our end). */
  get openStreams(): number {
    return this.streams.size;
  }

  call<A, R>(def: ProcDef<A, R>, args: A, opts: CallOptions = {}): Promise<R> {
    return this.send(def, args, opts);
  }

  /**
   * Calls a procedure that opens a data stream; resolves with the stream once the call
   * succeeded. Data the server sends before the reply is kept for the first onData listener.
   */
  async openStream<A>(def: ProcDef<A, void>, args: A, opts: CallOptions = {}): Promise<RpcStream> {
    let stream: RpcStream | null = null;
    try {
      await this.send(def, args, opts, (serial) => {
        stream = new RpcStream(def.name, def.proc, serial, this.streamIo, opts.timeoutMs ?? this.callTimeoutMs);
        this.streams.set(serial, stream);
      });
    } catch (err) {
      const s = stream as RpcStream | null;
      if (s) this.streams.delete(s.serial);
      throw err;
    }
    return stream!;
  }

  private readonly streamIo = {
    sendStream: (s: RpcStream, status: MessageStatus, payload?: Buffer): boolean => {
      if (this.closedReason !== null || this.streams.get(s.serial) !== s) return false;
      const header = { prog: REMOTE_PROGRAM, vers: REMOTE_PROTOCOL_VERSION, proc: s.proc, type: MessageType.Stream, serial: s.serial, status };
      this.socket.write(encodeFrame(header, payload));
      return true;
    },
    forget: (s: RpcStream): void => {
      if (this.streams.get(s.serial) === s) this.streams.delete(s.serial);
    },
  };

  private send<A, R>(def: ProcDef<A, R>, args: A, opts: CallOptions, beforeSend?: (serial: number) => void): Promise<R> {
    if (this.closedReason !== null) {
      return Promise.reject(new RpcError('closed', this.closedReason, def.name));
    }
    this.serial = (this.serial + 1) >>> 0;
    const serial = this.serial;
    let payload: Buffer;
    try {
      const w = new XdrWriter();
      def.encode(w, args);
      payload = w.toBuffer();
    } catch (err) {
      return Promise.reject(new RpcError('protocol', `cannot encode ${def.name}: ${(err as Error).message}`, def.name));
    }
    const frame = encodeFrame(
      { prog: def.prog ?? REMOTE_PROGRAM, vers: REMOTE_PROTOCOL_VERSION, proc: def.proc, type: MessageType.Call, serial, status: MessageStatus.Ok },
      payload,
    );
    return new Promise<R>((resolve, reject) => {
      const timeoutMs = opts.timeoutMs ?? this.callTimeoutMs;
      const entry: Pending = {
        procName: def.name,
        decode: def.decode,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: null,
      };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          // A late reply for this serial is dropped by onFrame.
          this.pending.delete(serial);
          reject(new RpcError('timeout', `${def.name} got no reply within ${timeoutMs} ms`, def.name));
        }, timeoutMs);
      }
      this.pending.set(serial, entry);
      beforeSend?.(serial);
      this.socket.write(frame);
    });
  }

  /** Closes the stream; pending calls fail with RpcError('closed'). */
  close(reason = 'client closed the connection'): void {
    this.shutdown(reason);
    this.socket.destroy();
  }

  private shutdown(reason: string): void {
    if (this.closedReason !== null) return;
    this.closedReason = reason;
    for (const [serial, p] of this.pending) {
      if (p.timer) clearTimeout(p.timer);
      p.reject(new RpcError('closed', reason, p.procName));
      this.pending.delete(serial);
    }
    const streams = [...this.streams.values()];
    this.streams.clear();
    for (const s of streams) s.closed(reason);
    this.socket.destroy();
    this.options.onClose?.(reason);
  }

  private onData(data: Buffer): void {
    this.chunks.push(data);
    this.buffered += data.length;
    while (this.buffered >= MESSAGE_LEN_BYTES) {
      const head = this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks);
      this.chunks = [head];
      const len = head.readUInt32BE(0);
      if (len < MESSAGE_LEN_BYTES + MESSAGE_HEADER_BYTES || len > MESSAGE_MAX) {
        this.shutdown(`protocol error: invalid frame length ${len}`);
        return;
      }
      if (this.buffered < len) return;
      const frame = head.subarray(0, len);
      const rest = head.subarray(len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.buffered = rest.length;
      try {
        this.onFrame(frame);
      } catch (err) {
        this.shutdown(`protocol error: ${(err as Error).message}`);
        return;
      }
    }
  }

  private onFrame(frame: Buffer): void {
    const r = new XdrReader(frame, MESSAGE_LEN_BYTES);
    const header = decodeHeader(r);
    if (header.prog === KEEPALIVE_PROGRAM) {
      if (header.proc === KEEPALIVE_PROC_PING && this.closedReason === null) {
        this.socket.write(
          encodeFrame({
            prog: KEEPALIVE_PROGRAM,
            vers: KEEPALIVE_PROTOCOL_VERSION,
            proc: KEEPALIVE_PROC_PONG,
            type: MessageType.Message,
            serial: 0,
            status: MessageStatus.Ok,
          }),
        );
      }
      return;
    }
    if (header.prog !== REMOTE_PROGRAM && header.prog !== QEMU_PROGRAM) return;
    if (header.type === MessageType.Stream) {
      this.streams.get(header.serial)?.receive(header, r);
      return;
    }
    if (header.type === MessageType.Reply || header.type === MessageType.ReplyWithFds) {
      const p = this.pending.get(header.serial);
      if (!p) {
        // An error reply to a stream's data (libvirtd could not write it); otherwise a call that timed out earlier.
        const s = this.streams.get(header.serial);
        if (s && header.status === MessageStatus.Error) s.receive(header, r);
        return;
      }
      this.pending.delete(header.serial);
      if (p.timer) clearTimeout(p.timer);
      if (header.status === MessageStatus.Ok) {
        let value: unknown;
        try {
          value = p.decode(r);
        } catch (err) {
          p.reject(new RpcError('protocol', `cannot decode ${p.procName} reply: ${(err as Error).message}`, p.procName));
          return;
        }
        p.resolve(value);
      } else {
        let remote: RemoteError | null = null;
        try {
          remote = decodeRemoteError(r);
        } catch {
          // fall through with a generic message
        }
        const msg = remote?.message ?? `${p.procName} failed (undecodable error)`;
        p.reject(new RpcError('remote', msg, p.procName, remote));
      }
      return;
    }
    if (header.type === MessageType.Message) {
      this.options.onMessage?.(header.proc, r, header);
    }
  }
}
