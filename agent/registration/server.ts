/**
 * The registration API an agent without node credentials serves on its host (issue 16,
 * point 3; protocol in lib/host-join/protocol.ts): HTTPS with its own self-signed
 * certificate, ping without authentication, everything else behind the host token. `join`
 * hands the cluster's bootstrap token and CA hash to the agent's join procedure (a
 * `HostJoiner`, wired by main.ts). Every request is logged with its outcome, never a token.
 */
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { HostJoinError, hostJoinStatus } from '../../lib/host-join/codes.js';
import { REGISTRATION_API_VERSION, REGISTRATION_PATHS, type HostHardware, type JoinRequest, type JoinResponse } from '../../lib/host-join/protocol.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { HostTokenStore } from './host-token.js';

/** The agent's join procedure, as the registration API calls it. Throws HostJoinError on a refusal it can name. */
export interface HostJoiner {
  join(request: JoinRequest): Promise<JoinResponse>;
}

export interface RegistrationServerOptions {
  host?: string;
  port: number;
  certPem: string;
  keyPem: string;
  tokens: HostTokenStore;
  hostname: string;
  agentVersion: string;
  discover: () => Promise<HostHardware>;
  joiner: HostJoiner;
  /** Called once a join succeeded and its answer was sent (the agent stops serving this API). */
  onJoined?: () => void;
  log: Logger;
}

const MAX_BODY_BYTES = 16 * 1024;

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

function sendStatus(res: ServerResponse, code: number, reason: string, message: string): void {
  sendJson(res, code, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', code, reason, message });
}

function bearer(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

async function readBody(req: IncomingMessage): Promise<string> {
  let size = 0;
  const chunks: Buffer[] = [];
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new Error(`body larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Field errors of a join request, in Kubernetes' words. */
function joinRequestErrors(body: unknown): string[] {
  if (!body || typeof body !== 'object') return ['body: Required value: a JSON object {server, bootstrapToken, caCertHash}'];
  const b = body as Record<string, unknown>;
  const errs: string[] = [];
  if (typeof b.server !== 'string' || !/^https:\/\//.test(b.server)) errs.push('server: Invalid value: must be an https:// URL');
  if (typeof b.bootstrapToken !== 'string' || b.bootstrapToken === '') errs.push('bootstrapToken: Required value');
  if (typeof b.caCertHash !== 'string' || !/^sha256:[0-9a-f]{64}$/i.test(b.caCertHash)) errs.push('caCertHash: Invalid value: must be sha256:<64 hex digits>');
  return errs;
}

export class RegistrationServer {
  readonly #o: RegistrationServerOptions;
  #server?: Server;
  /** One join at a time: a second POST while one runs is refused, not run twice. */
  #joining = false;

  constructor(options: RegistrationServerOptions) {
    this.#o = options;
  }

  get port(): number {
    return (this.#server?.address() as AddressInfo | null)?.port ?? 0;
  }

  async start(): Promise<void> {
    const server = createServer({ cert: this.#o.certPem, key: this.#o.keyPem }, (req, res) => {
      this.#handle(req, res).catch((err: unknown) => {
        this.#o.log.error('registration API: request failed', { path: req.url, error: err instanceof Error ? err.message : String(err) });
        if (!res.headersSent) sendStatus(res, 500, 'InternalError', 'internal error');
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.#o.port, this.#o.host ?? '0.0.0.0', () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.#server = server;
  }

  async stop(): Promise<void> {
    const server = this.#server;
    this.#server = undefined;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'https://host');
    const route = `${req.method} ${url.pathname}`;
    const log = (status: number, fields: Record<string, unknown> = {}) =>
      this.#o.log.info('registration API', { request: route, remote: req.socket.remoteAddress, status, ...fields });

    if (route === `GET ${REGISTRATION_PATHS.ping}`) {
      sendJson(res, 200, {
        apiVersion: REGISTRATION_API_VERSION,
        agentVersion: this.#o.agentVersion,
        hostname: this.#o.hostname,
        time: new Date().toISOString(),
      });
      log(200);
      return;
    }
    const known = [`GET ${REGISTRATION_PATHS.token}`, `GET ${REGISTRATION_PATHS.hardware}`, `POST ${REGISTRATION_PATHS.join}`];
    if (!known.includes(route)) {
      sendStatus(res, 404, 'NotFound', `no ${route} in the registration API`);
      log(404);
      return;
    }
    const check = this.#o.tokens.check(bearer(req));
    if (!check.ok) {
      const status = hostJoinStatus(check.code, `host token refused: ${check.code}`);
      sendJson(res, status.code, status);
      log(status.code, { code: check.code });
      return;
    }
    switch (route) {
      case `GET ${REGISTRATION_PATHS.token}`:
        sendJson(res, 200, { valid: true, hostname: this.#o.hostname, expiresAt: check.expiresAt.toISOString() });
        log(200);
        return;
      case `GET ${REGISTRATION_PATHS.hardware}`: {
        const hw = await this.#o.discover();
        sendJson(res, 200, hw);
        log(200, { cpus: hw.cpu.count, memoryBytes: hw.memoryBytes, disks: hw.disks.length, nics: hw.nics.length });
        return;
      }
      default:
        await this.#join(req, res, log);
    }
  }

  async #join(req: IncomingMessage, res: ServerResponse, log: (status: number, fields?: Record<string, unknown>) => void): Promise<void> {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch (err) {
      sendStatus(res, 400, 'BadRequest', `join: ${err instanceof Error ? err.message : String(err)}`);
      log(400);
      return;
    }
    const errs = joinRequestErrors(body);
    if (errs.length > 0) {
      sendStatus(res, 422, 'Invalid', `join request is invalid: ${errs.join(', ')}`);
      log(422, { errors: errs });
      return;
    }
    if (this.#joining) {
      sendStatus(res, 409, 'Conflict', 'a join is already in progress on this host');
      log(409);
      return;
    }
    const request = body as JoinRequest;
    this.#joining = true;
    this.#o.log.info('registration API: joining', { server: request.server, caCertHash: request.caCertHash });
    try {
      const result = await this.#o.joiner.join(request);
      res.once('finish', () => this.#o.onJoined?.());
      sendJson(res, 200, result);
      log(200, { node: result.nodeName });
    } catch (err) {
      if (err instanceof HostJoinError) {
        const status = hostJoinStatus(err.code, err.message);
        sendJson(res, status.code, status);
        log(status.code, { code: err.code, message: err.message });
      } else {
        const message = err instanceof Error ? err.message : String(err);
        sendStatus(res, 502, 'InternalError', `join failed: ${message}`);
        log(502, { message });
      }
    } finally {
      this.#joining = false;
    }
  }
}
