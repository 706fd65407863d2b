/**
 * GET /logs: the log records of the whole cluster in one call (issue 17 contract section 4).
 *
 * Sources, asked in parallel, each bounded by `sourceTimeoutMs`:
 * - this apiserver's --log-dir: every base but `agent` (its own, the controller-manager's,
 *   `ui`, `audit`; the agents answer for theirs, also when they share the directory);
 * - every agent whose Tunnel is on this replica (TunnelRequest.read_logs);
 * - every other replica (tunnel-locator.ts `peers()`), asked the same query with the
 *   caller's bearer token and FORWARDED_HEADER (forward.ts), so it answers for its own host
 *   and agents only and never fans out again;
 * - every Node that none of these answered for is listed `unreachable`.
 * No source is ever silently skipped: each one that fails is in `sources` with a message.
 *
 * Follow (`follow=true`, application/x-ndjson): first the sources and the matching tail in
 * time order, then new records as they are written: this directory is polled from the
 * tail's cursor (query.ts followLogDir), agents are polled through their tunnel with the
 * cursor of their last answer (no stream of their own: one small request per agent and
 * interval), and peers are followed over one streaming request each, which sends a
 * `{"type":"synced"}` line after its tail (only on forwarded requests). A source that fails
 * or comes back is a `{"type":"source"}` line (a peer whose stream ends is not asked again
 * within that follow: the client reconnects). Follows per user are bounded (429); a slow
 * reader holds the polls and the peer streams back instead of being buffered for.
 */
import { request as httpsRequest } from 'node:https';
import type { IncomingMessage } from 'node:http';
import { StringDecoder } from 'node:string_decoder';
import type { Express, Request, Response } from 'express';
import type { Init, LogReadRequest, LogReadResult } from '../../api-types/proto/types.js';
import { CORRELATION_ID_HEADER } from '../../api-types/correlation.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { followLogDir, type LogCursor, type LogFilter, logBasesIn, queryLogDir } from '../../lib/logging/query.js';
import { LogQueryError, logQueryString, parseLogQuery } from '../../lib/logging/query-params.js';
import { fromLogEntry, fromProtoCursor, toLogReadRequest } from '../../lib/logging/query-wire.js';
import type { LogRecord } from '../../lib/logging/record.js';
import { Groups, type UserInfo } from '../auth/identity.js';
import { FORWARDED_HEADER, forwardable, wasForwarded } from '../gateway/forward.js';
import { requestRecordOf } from './access-log.js';
import { sendError, sendJson } from './respond.js';
import { toApiError } from './status.js';

export const LOGS_PATH = '/logs';
export const DEFAULT_LOG_SOURCE_TIMEOUT_MS = 10_000;
export const DEFAULT_MAX_LOG_FOLLOWS_PER_USER = 4;
export const DEFAULT_LOG_FOLLOW_POLL_MS = 1_000;

export interface LogSource {
  component: string;
  node: string;
  state: 'ok' | 'unreachable' | 'error';
  message?: string;
}

export interface LogList {
  kind: 'LogList';
  apiVersion: 'v1';
  items: LogRecord[];
  sources: LogSource[];
}

/** What the route reads from; index.ts binds it to the gateway's tunnels and locator. */
export interface LogsRouteSources {
  /** This apiserver's --log-dir (undefined: it writes no files, and says so in `sources`). */
  logDir: string | undefined;
  /** This host's name, the node of its records. */
  nodeName: string;
  connectedNodes(): string[];
  readAgentLogs(node: string, request: Init<LogReadRequest>, timeoutMs: number): Promise<LogReadResult>;
  /** The other replicas' URLs. */
  peers(): Promise<string[]>;
  /** Every Node's name: each should answer, through some replica. */
  nodeNames(): Promise<string[]>;
  /** The cluster CA (verifies the peers) and this replica's id (FORWARDED_HEADER); undefined: peers cannot be asked. */
  peerTls(): { caPem: string; replica: string } | undefined;
}

export interface LogsRouteOptions {
  sourceTimeoutMs?: number;
  maxFollowsPerUser?: number;
  followPollMs?: number;
}

interface Gathered {
  records: LogRecord[];
  sources: LogSource[];
  localCursor?: LogCursor;
  agentCursors: Map<string, LogCursor>;
}

const AGENT = 'agent';

function wantsAgents(filter: LogFilter): boolean {
  return !filter.components?.length || filter.components.includes(AGENT);
}

function newest(records: LogRecord[], limit: number): LogRecord[] {
  // Stable: records of one source keep their order within a millisecond.
  const sorted = records.map((r, i) => ({ r, i, ms: Date.parse(r.time) })).sort((a, b) => a.ms - b.ms || a.i - b.i);
  return sorted.slice(Math.max(0, sorted.length - limit)).map((x) => x.r);
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new ApiError(504, 'Timeout', `${what} did not answer within ${ms} ms`)), ms);
    }),
  ]);
}

function stateOf(err: unknown): 'unreachable' | 'error' {
  const code = err instanceof ApiError ? err.code : 0;
  return code === 503 || code === 504 ? 'unreachable' : 'error';
}

/** A request to a peer replica, as the caller (bearer token), marked forwarded. */
function peerGet(peerUrl: string, path: string, req: Request, tls: { caPem: string; replica: string }, signal: AbortSignal): Promise<IncomingMessage> {
  return new Promise((resolve, reject) => {
    const peer = new URL(peerUrl);
    const headers: Record<string, string> = { authorization: String(req.headers.authorization), [FORWARDED_HEADER]: tls.replica, accept: 'application/json' };
    const requestId = req.headers[CORRELATION_ID_HEADER.toLowerCase()];
    if (typeof requestId === 'string') headers[CORRELATION_ID_HEADER] = requestId;
    const upstream = httpsRequest(
      { hostname: peer.hostname, port: peer.port || 443, path, method: 'GET', headers, ca: tls.caPem, agent: false, signal },
      resolve,
    );
    upstream.on('error', (err) => reject(errors.unavailable(`the apiserver replica ${peerUrl} cannot be reached: ${err.message}`)));
    upstream.end();
  });
}

async function readBody(res: IncomingMessage, maxBytes: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > maxBytes) throw new Error(`the answer is larger than ${maxBytes} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function peerFailure(res: IncomingMessage, body: string, peerUrl: string): ApiError {
  try {
    const status = JSON.parse(body) as { message?: string };
    return new ApiError(res.statusCode ?? 500, 'PeerError', `the apiserver replica ${peerUrl} answered ${res.statusCode}: ${status.message ?? body}`);
  } catch {
    return new ApiError(res.statusCode ?? 500, 'PeerError', `the apiserver replica ${peerUrl} answered ${res.statusCode}`);
  }
}

export function mountLogsRoute(app: Express, sources: LogsRouteSources, options: LogsRouteOptions = {}): void {
  const timeoutMs = options.sourceTimeoutMs ?? DEFAULT_LOG_SOURCE_TIMEOUT_MS;
  const maxFollows = options.maxFollowsPerUser ?? DEFAULT_MAX_LOG_FOLLOWS_PER_USER;
  const pollMs = options.followPollMs ?? DEFAULT_LOG_FOLLOW_POLL_MS;
  const follows = new Map<string, number>();

  async function localTail(filter: LogFilter, limit: number, out: Gathered): Promise<void> {
    const wanted = (component: string) => !filter.components?.length || filter.components.includes(component);
    if (!sources.logDir) {
      if (wanted('apiserver')) {
        out.sources.push({
          component: 'apiserver',
          node: sources.nodeName,
          state: 'error',
          message: 'this apiserver was started without --log-dir: it has no log files to read',
        });
      }
      return;
    }
    const bases = logBasesIn(sources.logDir).filter((b) => b !== AGENT);
    try {
      const result = await queryLogDir(sources.logDir, filter, limit, { node: sources.nodeName, excludeBases: [AGENT] });
      out.records.push(...result.records);
      out.localCursor = result.cursor;
      for (const base of bases.length ? bases : ['apiserver']) {
        if (!wanted(base) && base !== 'apiserver') continue;
        out.sources.push({
          component: base,
          node: sources.nodeName,
          state: 'ok',
          ...(result.brokenLines ? { message: `${result.brokenLines} lines that are not log records were skipped` } : {}),
        });
      }
    } catch (err) {
      out.sources.push({
        component: 'apiserver',
        node: sources.nodeName,
        state: 'error',
        message: `reading ${sources.logDir} failed: ${(err as Error).message}`,
      });
    }
  }

  async function agentTail(node: string, filter: LogFilter, limit: number, out: Gathered): Promise<void> {
    try {
      const result = await sources.readAgentLogs(node, toLogReadRequest(filter, limit), timeoutMs);
      if (result.noLogDir) {
        out.sources.push({
          component: AGENT,
          node,
          state: 'error',
          message: `the agent on node ${node} was started without --log-dir: it has no log files to read`,
        });
        return;
      }
      out.records.push(...result.records.map(fromLogEntry));
      const cursor = fromProtoCursor(result.cursor);
      if (cursor) out.agentCursors.set(node, cursor);
      out.sources.push({ component: AGENT, node, state: 'ok' });
    } catch (err) {
      out.sources.push({ component: AGENT, node, state: stateOf(err), message: (err as Error).message });
    }
  }

  async function peerTail(peerUrl: string, req: Request, filter: LogFilter, limit: number, out: Gathered): Promise<void> {
    const tls = sources.peerTls();
    const fail = (state: LogSource['state'], message: string) => out.sources.push({ component: 'apiserver', node: peerUrl, state, message });
    if (!tls) return void fail('error', 'this replica cannot verify its peers (no cluster CA)');
    if (!forwardable(req)) return void fail('error', `a client certificate cannot be forwarded to the replica ${peerUrl}: ask it directly`);
    const abort = new AbortController();
    try {
      const list = await withTimeout(
        (async () => {
          const res = await peerGet(peerUrl, `${LOGS_PATH}?${logQueryString(filter, limit)}`, req, tls, abort.signal);
          const body = await readBody(res, 64 * 1024 * 1024);
          if (res.statusCode !== 200) throw peerFailure(res, body, peerUrl);
          return JSON.parse(body) as LogList;
        })(),
        timeoutMs,
        `the apiserver replica ${peerUrl}`,
      );
      out.records.push(...list.items);
      out.sources.push(...list.sources);
    } catch (err) {
      abort.abort();
      fail(err instanceof ApiError && err.reason === 'PeerError' ? 'error' : 'unreachable', (err as Error).message);
    }
  }

  /** Nodes nobody answered for (agent not connected anywhere, or its replica is down). */
  async function missingAgents(filter: LogFilter, out: Gathered): Promise<void> {
    const listed = new Set(out.sources.filter((s) => s.component === AGENT).map((s) => s.node));
    let names: string[];
    try {
      names = await withTimeout(sources.nodeNames(), timeoutMs, 'the Node list');
    } catch (err) {
      out.sources.push({ component: AGENT, node: '*', state: 'error', message: `the Nodes could not be listed: ${(err as Error).message}` });
      return;
    }
    for (const node of names) {
      if (listed.has(node) || (filter.node !== undefined && filter.node !== node)) continue;
      out.sources.push({
        component: AGENT,
        node,
        state: 'unreachable',
        message: `the agent on node ${node} is not connected to any reachable apiserver replica`,
      });
    }
  }

  function agentNodes(filter: LogFilter): string[] {
    if (!wantsAgents(filter)) return [];
    return sources.connectedNodes().filter((n) => filter.node === undefined || filter.node === n);
  }

  app.get(LOGS_PATH, async (req: Request, res: Response) => {
    const user = res.locals.user as UserInfo;
    Object.assign(requestRecordOf(res), { verb: 'get', resource: 'logs' });
    try {
      if (!user.groups.includes(Groups.admins) && !user.groups.includes(Groups.viewers)) {
        throw errors.forbidden(`User "${user.name}" cannot get logs: only admins and viewers may read the cluster's logs`);
      }
      let query: ReturnType<typeof parseLogQuery>;
      try {
        query = parseLogQuery(new URL(req.originalUrl, 'http://localhost').searchParams);
      } catch (err) {
        if (err instanceof LogQueryError) throw errors.badRequest(err.message, [{ field: err.parameter, message: err.message }]);
        throw err;
      }
      const { filter, limit } = query;
      const forwarded = wasForwarded(req);
      const followUser = user.name;
      if (query.follow) {
        const open = follows.get(followUser) ?? 0;
        if (open >= maxFollows) {
          throw errors.tooManyRequests(`user "${user.name}" already follows ${open} log streams (at most ${maxFollows}); close one`, 5);
        }
      }

      const out: Gathered = { records: [], sources: [], agentCursors: new Map() };
      const peers = forwarded ? [] : await sources.peers().catch(() => []);
      const followStarted = Date.now();
      const streams: PeerStream[] = [];
      const abort = new AbortController();
      const tails: Promise<void>[] = [...agentNodes(filter).map((node) => agentTail(node, filter, limit, out))];
      if (query.follow) for (const peer of peers) streams.push(openPeerStream(peer, req, filter, limit, abort.signal, out));
      else for (const peer of peers) tails.push(peerTail(peer, req, filter, limit, out));
      await Promise.all([localTail(filter, limit, out), ...tails, ...streams.map((s) => s.synced)]);
      if (!forwarded && wantsAgents(filter)) await missingAgents(filter, out);
      const items = newest(out.records, limit);

      if (!query.follow) {
        const body: LogList = { kind: 'LogList', apiVersion: 'v1', items, sources: out.sources };
        return void sendJson(res, 200, body);
      }

      // Follow from here on.
      follows.set(followUser, (follows.get(followUser) ?? 0) + 1);
      res.statusCode = 200;
      res.setHeader('Content-Type', 'application/x-ndjson');
      res.setHeader('Cache-Control', 'no-cache');
      const write = (line: unknown) => {
        if (!res.writableEnded) res.write(`${JSON.stringify(line)}\n`);
      };
      for (const source of out.sources) write({ type: 'source', source });
      for (const record of items) write({ type: 'record', record });
      if (forwarded) write({ type: 'synced' });
      const timers: NodeJS.Timeout[] = [];
      res.on('close', () => {
        abort.abort();
        for (const t of timers) clearInterval(t);
        const n = (follows.get(followUser) ?? 1) - 1;
        if (n > 0) follows.set(followUser, n);
        else follows.delete(followUser);
      });
      // A slow reader holds the sources back (their cursors wait) rather than filling this process's memory.
      const held = () => res.writableNeedDrain;
      const drained = () => (res.writableNeedDrain ? new Promise<void>((resolve) => res.once('drain', resolve).once('close', resolve)) : Promise.resolve());
      for (const stream of streams) stream.live(write, drained);
      if (sources.logDir && out.localCursor) {
        followLogDir(
          sources.logDir,
          out.localCursor,
          filter,
          { node: sources.nodeName, excludeBases: [AGENT], intervalMs: pollMs, held },
          (records) => {
            for (const record of records) write({ type: 'record', record });
          },
          abort.signal,
        );
      }
      if (wantsAgents(filter)) timers.push(pollAgents(filter, limit, out.agentCursors, followStarted, write, held));
    } catch (err) {
      sendError(res, err instanceof ApiError ? err : toApiError(err));
    }
  });

  /** Polls the agents connected here for records written after their cursor; tells when one fails or comes back. */
  function pollAgents(
    filter: LogFilter,
    limit: number,
    cursors: Map<string, LogCursor>,
    since: number,
    write: (line: unknown) => void,
    held: () => boolean,
  ): NodeJS.Timeout {
    const busy = new Set<string>();
    const failing = new Set<string>();
    return setInterval(() => {
      if (held()) return;
      const connected = new Set(agentNodes(filter));
      for (const node of cursors.keys()) {
        if (connected.has(node) || failing.has(node)) continue;
        failing.add(node);
        write({
          type: 'source',
          source: { component: AGENT, node, state: 'unreachable', message: `the agent on node ${node} disconnected from this apiserver` },
        });
      }
      for (const node of connected) {
        if (busy.has(node)) continue;
        busy.add(node);
        const cursor = cursors.get(node);
        // An agent that connected after the start: its records since the start, then on from its cursor.
        const request = cursor
          ? toLogReadRequest(filter, limit, cursor)
          : toLogReadRequest({ ...filter, sinceMs: Math.max(filter.sinceMs ?? 0, since) }, limit);
        sources
          .readAgentLogs(node, request, timeoutMs)
          .then((result) => {
            if (result.noLogDir) return;
            const next = fromProtoCursor(result.cursor);
            if (next) cursors.set(node, next);
            if (failing.delete(node)) write({ type: 'source', source: { component: AGENT, node, state: 'ok' } });
            for (const entry of result.records) write({ type: 'record', record: fromLogEntry(entry) });
          })
          .catch((err: Error) => {
            if (failing.has(node)) return;
            failing.add(node);
            write({ type: 'source', source: { component: AGENT, node, state: stateOf(err), message: err.message } });
          })
          .finally(() => busy.delete(node));
      }
    }, pollMs);
  }

  interface PeerStream {
    /** Resolves once the peer's tail is in `out` (or it failed, listed in `out.sources`). */
    synced: Promise<void>;
    /** Sends what the peer sends after its tail; `drained` resolves when the reader can take more. */
    live(write: (line: unknown) => void, drained: () => Promise<void>): void;
  }

  function openPeerStream(peerUrl: string, req: Request, filter: LogFilter, limit: number, signal: AbortSignal, out: Gathered): PeerStream {
    const pending: unknown[] = [];
    let writer: ((line: unknown) => void) | undefined;
    let drained: () => Promise<void> = () => Promise.resolve();
    let isSynced = false;
    let markSynced: () => void = () => undefined;
    const synced = new Promise<void>((resolve) => {
      markSynced = resolve;
    });
    const emit = (line: unknown) => (writer ? writer(line) : pending.push(line));
    const fail = (state: LogSource['state'], message: string) => {
      const source: LogSource = { component: 'apiserver', node: peerUrl, state, message };
      if (isSynced) emit({ type: 'source', source });
      else out.sources.push(source);
      isSynced = true;
      markSynced();
    };
    const tls = sources.peerTls();
    if (!tls) fail('error', 'this replica cannot verify its peers (no cluster CA)');
    else if (!forwardable(req)) fail('error', `a client certificate cannot be forwarded to the replica ${peerUrl}: ask it directly`);
    else {
      const timer = setTimeout(() => {
        if (!isSynced) fail('unreachable', `the apiserver replica ${peerUrl} did not answer within ${timeoutMs} ms`);
      }, timeoutMs);
      signal.addEventListener('abort', () => clearTimeout(timer), { once: true });
      peerGet(peerUrl, `${LOGS_PATH}?${logQueryString(filter, limit, true)}`, req, tls, signal)
        .then(async (res) => {
          if (res.statusCode !== 200) throw peerFailure(res, await readBody(res, 1024 * 1024), peerUrl);
          const decoder = new StringDecoder('utf8');
          let rest = '';
          for await (const chunk of res) {
            rest += decoder.write(chunk as Buffer);
            const lines = rest.split('\n');
            rest = lines.pop() ?? '';
            for (const text of lines) {
              if (!text) continue;
              const line = JSON.parse(text) as { type: string; record?: LogRecord; source?: LogSource };
              if (line.type === 'synced') {
                isSynced = true;
                clearTimeout(timer);
                markSynced();
              } else if (!isSynced) {
                if (line.type === 'record' && line.record) out.records.push(line.record);
                else if (line.type === 'source' && line.source) out.sources.push(line.source);
              } else emit(line);
            }
            // The peer's stream waits (TCP flow control) while our reader is slow.
            if (writer) await drained();
          }
          if (!signal.aborted) fail('unreachable', `the apiserver replica ${peerUrl} ended the stream`);
        })
        .catch((err: Error) => {
          if (signal.aborted) return;
          fail(err instanceof ApiError && err.reason === 'PeerError' ? 'error' : 'unreachable', err.message);
        });
    }
    return {
      synced,
      live(write, whenDrained) {
        writer = write;
        drained = whenDrained;
        for (const line of pending.splice(0)) write(line);
      },
    };
  }
}
