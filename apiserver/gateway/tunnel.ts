/**
 * Tunnels: each connected agent holds one bidirectional stream open; the apiserver sends
 * requests down it (list files of a pool) and the agent answers on the same stream, so the
 * control plane never dials into hosts (no agent port, no agent certificates, works
 * through NAT).
 *
 * A node's tunnel lives in the apiserver replica the agent is connected to; with several
 * replicas, a request reaching another replica gets 503 (see agent/README.md).
 */
import { randomUUID } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { FileListing, Init, TunnelRequest, TunnelResponse } from '../../api-types/proto/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';

export const TUNNEL_REQUEST_TIMEOUT_MS = 15_000;

interface Pending {
  resolve(listing: FileListing): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
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

export class TunnelRegistry {
  readonly #tunnels = new Map<string, Tunnel>();

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
    call.on('data', (msg: TunnelResponse) => {
      if (!msg.id) return;
      const p = tunnel.pending.get(msg.id);
      if (!p) return;
      tunnel.pending.delete(msg.id);
      clearTimeout(p.timer);
      if (msg.listing) p.resolve(msg.listing);
      else p.reject(agentError(msg.error?.reason ?? 'InternalError', msg.error?.message ?? 'the agent sent an empty answer'));
    });
    const end = () => {
      if (this.#tunnels.get(node) === tunnel) this.#tunnels.delete(node);
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
      tunnel.pending.set(id, { resolve, reject, timer });
      const req: Init<TunnelRequest> = { id, listFiles: { pool, path, limit } };
      tunnel.call.write(req as TunnelRequest);
    });
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
    default:
      return new ApiError(500, 'InternalError', message, { causes: [{ reason, message }] });
  }
}
