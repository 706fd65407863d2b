/**
 * The client side of a VM's console subresources (`…/virtualmachines/NAME/console` and
 * `…/vnc`, WebSocket, subprotocol `plain.quantix.io`, raw bytes both ways):
 *
 * - `attachTerminal` joins a terminal to a serial console: raw mode on a TTY (restored on
 *   every way out), `Ctrl-]` detaches as in virsh and virtctl, the end of piped stdin
 *   detaches too;
 * - `sessionOutcome` maps how a session ended (close code and reason) to a message and an
 *   exit code consistent with errors.ts;
 * - `serveVnc` listens on 127.0.0.1 and carries each accepted TCP connection over a
 *   WebSocket of its own.
 */
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ApiError } from '../lib/apimachinery/status-error.js';
import { CliError, ExitCode } from './errors.js';

/** The subprotocol both sides require (the server echoes it). */
export const CONSOLE_SUBPROTOCOL = 'plain.quantix.io';

/** `Ctrl-]`, the escape byte of virsh console and virtctl console. */
export const DETACH_BYTE = 0x1d;

/** Custom close code for every server-side end (the reason text starts with `Reason:`). */
export const CLOSE_SESSION_ENDED = 4000;

/** The bytes before the first `Ctrl-]` of a chunk, and whether there was one. */
export function splitAtDetach(chunk: Buffer): { forward: Buffer; detach: boolean } {
  const at = chunk.indexOf(DETACH_BYTE);
  return at < 0 ? { forward: chunk, detach: false } : { forward: chunk.subarray(0, at), detach: true };
}

/** `VMStopped: the domain shut down` → { reason: 'VMStopped', message: 'the domain shut down' }. */
export function parseCloseReason(text: string): { reason: string; message: string } {
  const m = /^([A-Za-z]+):\s*(.*)$/s.exec(text);
  return m ? { reason: m[1]!, message: m[2]! } : { reason: '', message: text };
}

/** How a session ended, as the client saw it. */
export type SessionEnd = { kind: 'detached'; how: 'escape' | 'stdin-closed' | 'signal' } | { kind: 'closed'; code: number; reason: string };

export interface SessionOutcome {
  exitCode: number;
  /** For stderr; undefined when there is nothing to say. */
  message?: string;
}

/**
 * The message and exit code for the end of a session. The codes follow errors.ts, the same
 * as the condition gets before the upgrade: a console taken away is a conflict (4, like the
 * 409 ConsoleTaken), a lost agent or connection is unavailable (8, like 503); a VM that
 * stopped under an open console ends it normally (0, as virsh console does).
 */
export function sessionOutcome(end: SessionEnd, what = 'console'): SessionOutcome {
  if (end.kind === 'detached') {
    const why = end.how === 'escape' ? '' : end.how === 'stdin-closed' ? ' (end of input)' : ' (signal)';
    return { exitCode: ExitCode.OK, message: `detached from the ${what}${why}` };
  }
  const { code, reason: text } = end;
  if (code === 1000) return { exitCode: ExitCode.OK, message: text ? `${what} closed by the server: ${text}` : `${what} closed by the server` };
  if (code === CLOSE_SESSION_ENDED) {
    const { reason, message } = parseCloseReason(text);
    switch (reason) {
      case 'VMStopped':
        return { exitCode: ExitCode.OK, message: `${what} closed: the VM stopped${message ? ` (${message})` : ''}` };
      case 'ConsoleTaken':
        return {
          exitCode: ExitCode.Conflict,
          message: `${what} closed: another session took the console over${message ? ` (${message})` : ''}; \`qxctl console --force\` takes it back`,
        };
      case 'AgentDisconnected':
        return { exitCode: ExitCode.Unavailable, message: `${what} closed: the VM's agent disconnected${message ? ` (${message})` : ''}; try again` };
      default:
        return { exitCode: ExitCode.Generic, message: `${what} closed by the server: ${text || 'no reason given'}` };
    }
  }
  if (code === 1006) return { exitCode: ExitCode.Unavailable, message: `${what} closed: the connection to the server was lost` };
  if (code === 1001) return { exitCode: ExitCode.Unavailable, message: `${what} closed: the server is going away${text ? ` (${text})` : ''}; try again` };
  return { exitCode: ExitCode.Generic, message: `${what} closed by the server with code ${code}${text ? `: ${text}` : ''}` };
}

/** stdin as attachTerminal uses it (process.stdin, or a stream in tests). */
export interface TerminalInput extends NodeJS.ReadableStream {
  isTTY?: boolean;
  isRaw?: boolean;
  setRawMode?(mode: boolean): unknown;
}

export interface AttachOptions {
  input: TerminalInput;
  output: NodeJS.WritableStream;
  /** Aborted on SIGINT/SIGTERM/SIGHUP: the session closes normally (and the terminal is restored). */
  signal?: AbortSignal;
  /** How long to wait for the server's close frame after ours before dropping the connection. */
  closeWaitMs?: number;
}

/**
 * Joins a terminal to an open console socket until either side ends it. On a TTY the input
 * is put in raw mode (keys such as Ctrl-C go to the guest) and restored however the session
 * ends, also when the process exits on an error.
 */
export function attachTerminal(socket: WebSocket, opts: AttachOptions): Promise<SessionEnd> {
  const { input, output } = opts;
  const raw = Boolean(input.isTTY && input.setRawMode);
  const wasRaw = Boolean(input.isRaw);
  const restore = () => {
    if (raw) input.setRawMode!(wasRaw);
  };
  if (raw) input.setRawMode!(true);
  process.once('exit', restore);

  return new Promise<SessionEnd>((resolve) => {
    let detached: SessionEnd | undefined;
    let closeTimer: NodeJS.Timeout | undefined;
    const finish = (end: SessionEnd) => {
      input.off('data', onInput);
      input.off('end', onEnd);
      opts.signal?.removeEventListener('abort', onAbort);
      input.pause();
      if (closeTimer) clearTimeout(closeTimer);
      restore();
      process.off('exit', restore);
      resolve(end);
    };
    const detach = (how: 'escape' | 'stdin-closed' | 'signal') => {
      if (detached) return;
      detached = { kind: 'detached', how };
      input.off('data', onInput);
      socket.close(1000, 'client detached');
      // The server answers our close frame; one that does not is not waited for long.
      closeTimer = setTimeout(() => socket.terminate(), opts.closeWaitMs ?? 2000);
    };
    const onInput = (chunk: Buffer | string) => {
      const { forward, detach: escaped } = splitAtDetach(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
      if (forward.length && socket.readyState === socket.OPEN) socket.send(forward, { binary: true });
      if (escaped) detach('escape');
    };
    const onEnd = () => detach('stdin-closed');
    const onAbort = () => detach('signal');

    socket.on('message', (data: Buffer | ArrayBuffer | Buffer[]) => {
      const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
      // A slow terminal pushes back on the server instead of buffering without bound.
      if (!output.write(bytes)) {
        socket.pause();
        output.once('drain', () => socket.resume());
      }
    });
    socket.on('error', () => {
      // 'close' follows with code 1006; the outcome is decided there.
    });
    socket.on('close', (code: number, reason: Buffer) => finish(detached ?? { kind: 'closed', code, reason: reason.toString('utf8') }));
    if (opts.signal?.aborted) return detach('signal');
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    input.on('data', onInput);
    input.on('end', onEnd);
    input.resume();
  });
}

/** Opens the WebSocket for one VNC connection (rejects with the server's Status error). */
export type OpenSocket = () => Promise<WebSocket>;

export interface VncTunnel {
  server: Server;
  port: number;
  /** Resolves when the tunnel stops: undefined after close(), the error that stopped it otherwise. */
  done: Promise<Error | undefined>;
  /** Stops listening and closes every open connection (WebSocket close 1000). */
  close(): Promise<void>;
  /** Connections carried now. */
  readonly connections: number;
}

/** Errors after which no later connection can succeed: the tunnel stops with them. */
function isFatal(err: unknown): boolean {
  return err instanceof ApiError && [401, 403, 404].includes(err.code);
}

/**
 * Listens on 127.0.0.1:port (0: any free port) and carries each accepted TCP connection
 * over its own WebSocket from `open()`. A connection whose WebSocket cannot be opened is
 * closed and reported with `onError`, except when the reason holds for every later
 * connection too (unauthorized, forbidden, not found): then the tunnel stops with it.
 */
export async function serveVnc(opts: {
  port: number;
  open: OpenSocket;
  wrap: (socket: WebSocket) => Duplex;
  onError?: (err: unknown) => void;
  onConnection?: (remote: string) => void;
}): Promise<VncTunnel> {
  const pairs = new Set<{ tcp: Socket; ws?: WebSocket }>();
  let fatal: Error | undefined;
  let stop!: (err: Error | undefined) => void;
  const done = new Promise<Error | undefined>((resolve) => (stop = resolve));
  const server = createServer({ pauseOnConnect: true }, (tcp) => {
    const pair: { tcp: Socket; ws?: WebSocket } = { tcp };
    pairs.add(pair);
    const viewerGone = () => {
      if (pair.ws && pair.ws.readyState === pair.ws.OPEN) pair.ws.close(1000, 'viewer disconnected');
    };
    tcp.on('end', viewerGone);
    tcp.on('close', () => {
      pairs.delete(pair);
      viewerGone();
    });
    tcp.on('error', () => tcp.destroy());
    opts.onConnection?.(`${tcp.remoteAddress}:${tcp.remotePort}`);
    opts.open().then(
      (ws) => {
        if (tcp.destroyed) return void ws.close(1000, 'viewer disconnected');
        pair.ws = ws;
        const stream = opts.wrap(ws);
        stream.on('error', () => tcp.destroy());
        stream.on('close', () => tcp.destroy());
        // The viewer's end closes the WebSocket with 1000 (viewerGone), not a bare close frame.
        tcp.pipe(stream, { end: false });
        stream.pipe(tcp);
        tcp.resume();
      },
      (err: unknown) => {
        tcp.destroy();
        if (isFatal(err)) {
          fatal ??= err as Error;
          void tunnel.close();
        } else opts.onError?.(err);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        err.code === 'EADDRINUSE'
          ? new CliError(`cannot listen on 127.0.0.1:${opts.port}: the port is in use (choose another with --port, or 0 for any)`, ExitCode.Usage)
          : new CliError(`cannot listen on 127.0.0.1:${opts.port}: ${err.message}`, ExitCode.Generic),
      ),
    );
    // The loopback only: the tunnel carries an authenticated session to anyone who connects.
    server.listen(opts.port, '127.0.0.1', () => resolve());
  });
  let closing: Promise<void> | undefined;
  const tunnel: VncTunnel = {
    server,
    port: (server.address() as AddressInfo).port,
    done,
    get connections() {
      return pairs.size;
    },
    close() {
      closing ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const { tcp, ws } of pairs) {
          ws?.close(1000, 'tunnel closed');
          tcp.destroy();
        }
      }).then(() => stop(fatal));
      return closing;
    },
  };
  return tunnel;
}
