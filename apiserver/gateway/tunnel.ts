/**
 * Tunnels: each connected agent holds one bidirectional stream open; the apiserver sends
 * requests down it (list files of a pool) and the agent answers on the same stream, so the
 * control plane never dials into hosts (no agent port, no agent certificates, works
 * through NAT).
 *
 * A node's tunnel lives in the apiserver replica the agent is connected to; that replica
 * records it in etcd (tunnel-locator.ts) and the others forward requests for that node to it
 * (forward.ts), so any replica serves any node (docs/architecture.md).
 */
import { randomUUID } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ConsoleFrame, FileListing, Init, LogReadRequest, LogReadResult, TunnelRequest, TunnelResponse } from '../../api-types/proto/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { grpcErrorFromStatus } from '../../api-types/proto/errors.js';

export const TUNNEL_REQUEST_TIMEOUT_MS = 15_000;

interface Pending {
  /** The agent's answer to this request. */
  answer(msg: TunnelResponse): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/** A console session asked for and not yet attached (the agent has not opened its stream). */
interface PendingConsole {
  node: string;
  attach(call: ServerDuplexStream<ConsoleFrame, ConsoleFrame>): void;
}

class Tunnel {
  readonly pending = new Map<string, Pending>();
  constructor(readonly call: ServerDuplexStream<TunnelResponse, TunnelRequest>) {}

  failAll(err: Error): void {
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(err);
    }
    this.pending.clear();
  }
}

/** How a console session ended, as the WebSocket close reason code says it (docs/architecture.md). */
export type ConsoleEndCode = 'Closed' | 'VMStopped' | 'ConsoleTaken' | 'AgentDisconnected' | 'Error';

export interface ConsoleOpenRequest {
  namespace: string;
  name: string;
  domainUuid: string;
  kind: 'serial' | 'vnc';
  force: boolean;
}

/** Console sessions one node may carry at once: under the gateway's streams per connection (index.ts), next to the agent's own streams. */
export const MAX_CONSOLE_SESSIONS_PER_NODE = 64;

/**
 * One console session as the apiserver sees it: the agent's ConsoleSession stream. Bytes
 * both ways; `close` ends the stream (the agent closes the console); `onEnd` fires once.
 */
export class GatewayConsoleSession {
  readonly #dataListeners: ((data: Buffer) => void)[] = [];
  readonly #endListeners: ((code: ConsoleEndCode, message: string) => void)[] = [];
  #ended: { code: ConsoleEndCode; message: string } | undefined;
  #endFrame: { code: ConsoleEndCode; message: string } | undefined;

  constructor(
    readonly node: string,
    readonly kind: string,
    private readonly call: ServerDuplexStream<ConsoleFrame, ConsoleFrame>,
    onEnded: () => void,
  ) {
    call.on('data', (frame: ConsoleFrame) => {
      if (frame.end) this.#endFrame = { code: endCodeOf(frame.end.reason), message: frame.end.message };
      if (frame.data?.length) for (const l of this.#dataListeners) l(frame.data);
    });
    const finish = () => {
      if (this.#ended) return;
      this.#ended = this.#endFrame ?? { code: 'AgentDisconnected', message: `the agent on node ${node} disconnected` };
      onEnded();
      for (const l of this.#endListeners) l(this.#ended.code, this.#ended.message);
    };
    call.on('end', () => {
      finish();
      call.end();
    });
    call.on('cancelled', finish);
    call.on('error', finish);
    call.on('close', finish);
  }

  /** False when the stream's buffer is full: wait for `onDrain`. */
  write(data: Buffer): boolean {
    if (this.#ended) return true;
    return this.call.write({ data } as ConsoleFrame);
  }

  onDrain(listener: () => void): void {
    this.call.on('drain', listener);
  }

  /** Stops reading from the agent (the client is slow); HTTP/2 flow control then holds the agent. */
  pause(): void {
    this.call.pause();
  }

  resume(): void {
    this.call.resume();
  }

  /** Ends the session from this side (the client went away): the agent closes the console. */
  close(): void {
    if (this.#ended) return;
    this.#endFrame = { code: 'Closed', message: 'the client closed the session' };
    this.call.end();
  }

  onData(listener: (data: Buffer) => void): void {
    this.#dataListeners.push(listener);
  }

  onEnd(listener: (code: ConsoleEndCode, message: string) => void): void {
    if (this.#ended) listener(this.#ended.code, this.#ended.message);
    else this.#endListeners.push(listener);
  }
}

function endCodeOf(reason: string): ConsoleEndCode {
  return reason === 'VMStopped' || reason === 'ConsoleTaken' || reason === 'Closed' ? reason : 'Error';
}

export class TunnelRegistry {
  readonly #tunnels = new Map<string, Tunnel>();
  readonly #pendingConsoles = new Map<string, PendingConsole>();
  readonly #sessions = new Map<string, Set<GatewayConsoleSession>>();

  /** Told when a node's tunnel opens here (true) or ends here (false): tunnel-locator.ts records it. */
  onTunnelChange: ((node: string, here: boolean) => void) | undefined;

  constructor(private readonly log?: Logger) {}

  connected(node: string): boolean {
    return this.#tunnels.has(node);
  }

  /** Serves one agent's Tunnel call until it ends; a newer tunnel of the same node replaces it. */
  serve(node: string, call: ServerDuplexStream<TunnelResponse, TunnelRequest>): void {
    const tunnel = new Tunnel(call);
    const previous = this.#tunnels.get(node);
    this.#tunnels.set(node, tunnel);
    if (previous) {
      previous.failAll(errors.unavailable(`the tunnel of node ${node} was replaced`));
      previous.call.end();
    }
    this.log?.debug('tunnel open', { node });
    this.onTunnelChange?.(node, true);
    call.on('data', (msg: TunnelResponse) => {
      if (!msg.id) return;
      const p = tunnel.pending.get(msg.id);
      if (!p) return;
      tunnel.pending.delete(msg.id);
      clearTimeout(p.timer);
      p.answer(msg);
    });
    const end = () => {
      if (this.#tunnels.get(node) === tunnel) {
        this.#tunnels.delete(node);
        this.onTunnelChange?.(node, false);
      }
      tunnel.failAll(errors.unavailable(`the agent on node ${node} disconnected`));
    };
    call.on('end', () => {
      end();
      call.end();
    });
    call.on('cancelled', end);
    call.on('error', end);
  }

  listFiles(node: string, pool: string, path: string, limit: number, timeoutMs = TUNNEL_REQUEST_TIMEOUT_MS): Promise<FileListing> {
    const tunnel = this.#tunnels.get(node);
    if (!tunnel) {
      return Promise.reject(errors.unavailable(`the agent on node ${node} is not connected to this apiserver`));
    }
    const id = randomUUID();
    return new Promise<FileListing>((resolve, reject) => {
      const timer = setTimeout(() => {
        tunnel.pending.delete(id);
        reject(new ApiError(504, 'Timeout', `the agent on node ${node} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const answer = (msg: TunnelResponse) => {
        if (msg.listing) resolve(msg.listing);
        else reject(agentError(msg.error?.reason ?? 'InternalError', msg.error?.message ?? 'the agent sent an empty answer'));
      };
      tunnel.pending.set(id, { answer, reject, timer });
      const req: Init<TunnelRequest> = { id, listFiles: { pool, path, limit } };
      tunnel.call.write(req as TunnelRequest);
    });
  }

  /** The nodes whose tunnel is here. */
  connectedNodes(): string[] {
    return [...this.#tunnels.keys()];
  }

  /** Asks the agent of `node` for its log records (GET /logs): 503 when not connected here, 504 when it does not answer in time. */
  readLogs(node: string, request: Init<LogReadRequest>, timeoutMs = TUNNEL_REQUEST_TIMEOUT_MS): Promise<LogReadResult> {
    const tunnel = this.#tunnels.get(node);
    if (!tunnel) return Promise.reject(errors.unavailable(`the agent on node ${node} is not connected to this apiserver`));
    const id = randomUUID();
    return new Promise<LogReadResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        tunnel.pending.delete(id);
        reject(new ApiError(504, 'Timeout', `the agent on node ${node} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      const answer = (msg: TunnelResponse) => {
        if (msg.logs) resolve(msg.logs);
        else reject(agentError(msg.error?.reason ?? 'InternalError', msg.error?.message ?? 'the agent sent an empty answer'));
      };
      tunnel.pending.set(id, { answer, reject, timer });
      tunnel.call.write({ id, readLogs: request } as TunnelRequest);
    });
  }

  /** Console sessions this replica carries, by kind (a gauge of /metrics). */
  consoleSessionCount(kind?: string): number {
    let n = 0;
    for (const sessions of this.#sessions.values()) for (const s of sessions) if (!kind || s.kind === kind) n++;
    return n;
  }

  /**
   * Asks the agent of `node` to open a console; resolves once the agent's ConsoleSession
   * stream for it arrived (attachConsole). Rejects with the agent's refusal as an ApiError
   * (409 ConsoleTaken, …), 503 when the agent is not connected here, 504 on no answer.
   */
  openConsole(node: string, request: ConsoleOpenRequest, timeoutMs = TUNNEL_REQUEST_TIMEOUT_MS): Promise<GatewayConsoleSession> {
    const tunnel = this.#tunnels.get(node);
    if (!tunnel) {
      return Promise.reject(errors.unavailable(`the agent on node ${node} is not connected to this apiserver`));
    }
    const open = this.#sessions.get(node)?.size ?? 0;
    if (open >= MAX_CONSOLE_SESSIONS_PER_NODE) {
      return Promise.reject(
        errors.tooManyRequests(`node ${node} carries ${open} console sessions, the limit is ${MAX_CONSOLE_SESSIONS_PER_NODE}; retry once one has ended`, 5),
      );
    }
    const id = randomUUID();
    const sessionId = randomUUID();
    return new Promise<GatewayConsoleSession>((resolve, reject) => {
      const settle = () => {
        clearTimeout(timer);
        tunnel.pending.delete(id);
        this.#pendingConsoles.delete(sessionId);
      };
      const timer = setTimeout(() => {
        settle();
        reject(new ApiError(504, 'Timeout', `the agent on node ${node} did not open the console within ${timeoutMs} ms`));
      }, timeoutMs);
      tunnel.pending.set(id, {
        answer: (msg) => {
          settle();
          reject(agentError(msg.error?.reason ?? 'InternalError', msg.error?.message ?? 'the agent sent an empty answer'));
        },
        reject: (err) => {
          settle();
          reject(err);
        },
        timer,
      });
      this.#pendingConsoles.set(sessionId, {
        node,
        attach: (call) => {
          settle();
          const sessions = this.#sessions.get(node) ?? new Set<GatewayConsoleSession>();
          this.#sessions.set(node, sessions);
          const session = new GatewayConsoleSession(node, request.kind, call, () => {
            sessions.delete(session);
            if (sessions.size === 0 && this.#sessions.get(node) === sessions) this.#sessions.delete(node);
          });
          sessions.add(session);
          resolve(session);
        },
      });
      const req: Init<TunnelRequest> = { id, openConsole: { sessionId, ...request } };
      tunnel.call.write(req as TunnelRequest);
    });
  }

  /**
   * Serves an agent's ConsoleSession call: its first frame names a session this node was
   * asked to open; any other stream is refused (a node cannot open sessions of its own).
   */
  attachConsole(node: string, call: ServerDuplexStream<ConsoleFrame, ConsoleFrame>): void {
    // An 'error' event ends the call with that status (destroy would drop the status).
    const refuse = (message: string) => void call.emit('error', Object.assign(new Error(message), grpcErrorFromStatus(errors.forbidden(message).toStatus())));
    const timer = setTimeout(() => refuse('the first frame of a console stream must name its session'), TUNNEL_REQUEST_TIMEOUT_MS);
    call.once('data', (frame: ConsoleFrame) => {
      clearTimeout(timer);
      const pending = this.#pendingConsoles.get(frame.sessionId);
      if (!pending || pending.node !== node) return refuse(`node ${node} was not asked to open console session ${JSON.stringify(frame.sessionId)}`);
      pending.attach(call);
    });
    call.on('error', () => clearTimeout(timer));
    call.on('cancelled', () => clearTimeout(timer));
  }

  closeAll(): void {
    for (const [node, tunnel] of this.#tunnels) {
      tunnel.failAll(errors.unavailable(`the gateway is stopping`));
      tunnel.call.end();
      this.#tunnels.delete(node);
    }
  }
}

/** An agent-side failure as an API error (the same reasons the REST API uses). */
export function agentError(reason: string, message: string): ApiError {
  switch (reason) {
    case 'PathEscape':
      return new ApiError(400, 'BadRequest', message, { causes: [{ reason: 'PathEscape', field: 'path', message }] });
    case 'PathNotFound':
      return new ApiError(404, 'NotFound', message, { causes: [{ reason: 'PathNotFound', field: 'path', message }] });
    case 'PoolNotFound':
    case 'PoolInactive':
    case 'HypervisorUnavailable':
      return new ApiError(503, 'ServiceUnavailable', message, { causes: [{ reason, message }] });
    case 'InvalidSpec':
      return new ApiError(400, 'BadRequest', message, { causes: [{ reason, message }] });
    case 'Timeout':
      return new ApiError(504, 'Timeout', message);
    case 'ConsoleTaken':
      return new ApiError(409, 'Conflict', `${message}: another session holds the serial console; open it with force (qxctl console --force) to take it over`, {
        causes: [{ reason, message }],
      });
    case 'ConsoleUnavailable':
      return new ApiError(409, 'Conflict', message, { causes: [{ reason, message }] });
    case 'InvalidState':
    case 'DomainNotFound':
    case 'VMNotFound':
      return new ApiError(409, 'Conflict', message, { causes: [{ reason: 'VMNotRunning', message }] });
    default:
      return new ApiError(500, 'InternalError', message, { causes: [{ reason, message }] });
  }
}
