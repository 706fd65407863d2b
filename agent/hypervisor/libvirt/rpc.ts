/**
 * A client for libvirt's remote RPC protocol over one stream socket (normally the unix
 * socket /var/run/libvirt/libvirt-sock): framing, serial-number multiplexing of concurrent
 * calls, per-call timeouts, keepalive answers, and delivery of asynchronous messages
 * (events). It knows nothing about reconnecting; the driver owns that.
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

export class RpcClient {
  private serial = 0;
  private readonly pending = new Map<number, Pending>();
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

  call<A, R>(def: ProcDef<A, R>, args: A, opts: CallOptions = {}): Promise<R> {
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
    if (header.type === MessageType.Reply || header.type === MessageType.ReplyWithFds) {
      const p = this.pending.get(header.serial);
      if (!p) return; // timed out earlier
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
    // Streams are not used.
  }
}
