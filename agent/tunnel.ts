/**
 * The agent's end of the gateway tunnel: holds the Tunnel stream open (reconnecting with
 * backoff) and answers the control plane's requests: listing files of a pool assigned to
 * this node (the driver refuses paths that leave the pool root), opening console
 * sessions (console-sessions.ts; their bytes go on streams of their own), and reading its
 * own log records for GET /logs (its --log-dir, base `agent`, lines of this node; with a
 * cursor, the records written since: the apiserver follows by polling).
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { HypervisorDriver } from './hypervisor/driver.js';
import { isHypervisorError } from './hypervisor/errors.js';
import type { Init, LogReadResult, TunnelRequest, TunnelResponse } from '../api-types/proto/types.js';
import type { Logger } from '../lib/logging/logger.js';
import type { GatewayClient } from './gateway-client.js';
import type { ConsoleSessions } from './console-sessions.js';
import { queryLogDir, readNewRecords } from '../lib/logging/query.js';
import { fromLogReadRequest, toLogReadResult } from '../lib/logging/query-wire.js';
import { MAX_LOG_LIMIT } from '../lib/logging/query-params.js';

/** Where this agent's own log records are, for GET /logs. */
export interface AgentLogSource {
  /** The agent's --log-dir; undefined when it writes no files. */
  dir: string | undefined;
  /** The Node name: a directory shared by several agents holds lines of each. */
  nodeName(): string;
}

const DEFAULT_LIMIT = 1000;

export class TunnelClient {
  #stream: ClientDuplexStream<TunnelResponse, TunnelRequest> | undefined;
  #stopped = true;
  #backoffMs = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly client: GatewayClient,
    private readonly driver: HypervisorDriver,
    /** Whether a pool is assigned to this node (only those are browsable). */
    private readonly poolAssigned: (name: string) => boolean,
    private readonly log: Logger,
    private readonly consoles?: ConsoleSessions,
    private readonly logs?: AgentLogSource,
  ) {}

  start(): void {
    this.#stopped = false;
    this.#open();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#stream?.cancel();
    this.#stream = undefined;
  }

  reconnect(): void {
    this.#stream?.cancel();
  }

  #open(): void {
    if (this.#stopped) return;
    const stream = this.client.tunnel();
    this.#stream = stream;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (this.#stream === stream) this.#stream = undefined;
      if (this.#stopped) return;
      this.#backoffMs = Math.min(Math.max(this.#backoffMs * 2, 250), 5_000);
      this.#timer = setTimeout(() => this.#open(), this.#backoffMs);
    };
    stream.on('data', (req: TunnelRequest) => {
      this.#backoffMs = 0;
      void this.#answer(req).then((res) => {
        if (res && !ended) stream.write(res as TunnelResponse);
      });
    });
    stream.on('error', end);
    stream.on('end', end);
    // The first message opens the tunnel on the gateway's side.
    stream.write({ id: '' } as TunnelResponse);
  }

  /** The answer to send back; undefined when there is none (a console that opened answers with its own stream). */
  async #answer(req: TunnelRequest): Promise<Init<TunnelResponse> | undefined> {
    if (req.openConsole) {
      if (!this.consoles) return { id: req.id, error: { reason: 'Unsupported', message: 'this agent serves no consoles' } };
      const refusal = await this.consoles.open(req.openConsole);
      return refusal ? { id: req.id, error: refusal } : undefined;
    }
    if (req.readLogs) {
      try {
        return { id: req.id, logs: await this.#readLogs(req.readLogs) };
      } catch (err) {
        return { id: req.id, error: { reason: 'LogReadFailed', message: `reading the agent's log files failed: ${(err as Error).message}` } };
      }
    }
    if (!req.listFiles) return { id: req.id, error: { reason: 'Unsupported', message: 'unknown tunnel request' } };
    const { pool, path, limit } = req.listFiles;
    try {
      if (!this.poolAssigned(pool)) {
        return { id: req.id, error: { reason: 'PoolNotFound', message: `storage pool ${pool} is not assigned to this node` } };
      }
      const info = await this.driver.getPool(pool);
      if (info.state !== 'Running' && info.state !== 'Degraded') {
        return { id: req.id, error: { reason: 'PoolInactive', message: `storage pool ${pool} is not running on this node (${info.state})` } };
      }
      const listing = await this.driver.listFiles(info.targetPath, path, { limit: limit > 0 ? limit : DEFAULT_LIMIT });
      return {
        id: req.id,
        listing: {
          path: listing.path,
          mountPath: info.targetPath,
          truncated: listing.truncated,
          entries: listing.entries.map((e) => ({ name: e.name, type: e.type, sizeBytes: e.sizeBytes, modifiedAtMs: e.modifiedAt })),
        },
      };
    } catch (err) {
      const reason = isHypervisorError(err) ? err.reason : 'InternalError';
      this.log.debug('file listing refused', { pool, path, reason });
      return { id: req.id, error: { reason, message: err instanceof Error ? err.message : String(err) } };
    }
  }

  /** A query reads backwards and stops at a full page; between chunks the agent goes on with its other work. */
  async #readLogs(request: NonNullable<TunnelRequest['readLogs']>): Promise<LogReadResult> {
    const dir = this.logs?.dir;
    if (!dir) return { records: [], brokenLines: 0, cursor: null, noLogDir: true };
    const { filter, limit, cursor } = fromLogReadRequest(request);
    const node = this.logs!.nodeName();
    const options = { node, bases: ['agent'] };
    const ownFilter = { ...filter, node };
    const result = cursor
      ? readNewRecords(dir, cursor, ownFilter, options)
      : await queryLogDir(dir, ownFilter, Math.min(Math.max(limit, 1), MAX_LOG_LIMIT), options);
    return toLogReadResult(result.records, result.brokenLines, result.cursor);
  }
}
