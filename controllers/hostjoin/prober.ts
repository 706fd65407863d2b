/**
 * The client of a host's registration API (lib/host-join/protocol.ts), used by the hostjoin
 * controller: every call pins the host's certificate by its SHA-256 fingerprint before it
 * sends anything, is bounded by a timeout, and every failure is classified into a host-join
 * code (lib/host-join/codes.ts). The classification is pure (`classifyError`,
 * `classifyResponse`) and unit-tested; the socket work is tested against real servers.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { HostJoinError, hostJoinCodeOf, type HostJoinErrorCode } from '../../lib/host-join/codes.js';
import {
  compareVersions,
  formatFingerprint,
  MIN_AGENT_VERSION,
  normalizeFingerprint,
  REGISTRATION_API_VERSION,
  REGISTRATION_PATHS,
  type HostHardware,
  type JoinRequest,
  type JoinResponse,
  type PingResponse,
  type TokenCheckResponse,
} from '../../lib/host-join/protocol.js';

export const DEFAULT_PROBE_TIMEOUT_MS = 10_000;
const MAX_RESPONSE_BYTES = 1024 * 1024;

export interface ProbeTarget {
  /** https://HOST:PORT of the registration API. */
  url: string;
  /** The fingerprint the admin confirmed (any form normalizeFingerprint takes); none: only ping may run. */
  fingerprint?: string;
}

export interface ProbeOptions {
  /** Bound on each call, connect to last byte. */
  timeoutMs?: number;
  /** The oldest agent accepted (version-skew policy). */
  minAgentVersion?: string;
}

/** What a call saw, besides its result: what the phase log and status show. */
export interface CallRecord {
  call: string;
  /** The certificate the host presented (sha256:AB:…), once the TLS handshake finished. */
  presentedFingerprint?: string;
  httpStatus?: number;
  contentType?: string;
}

/** A failure with its code and what was seen of the call. */
export class ProbeError extends HostJoinError {
  constructor(
    code: HostJoinErrorCode,
    message: string,
    readonly record?: CallRecord,
  ) {
    super(code, message);
    this.name = 'ProbeError';
  }
}

/** Marks the timeout we impose, so it is not confused with the kernel's ETIMEDOUT (also a timeout). */
class DeadlineExceeded extends Error {}

/** A socket or TLS failure → its code. */
export function classifyError(err: unknown): HostJoinErrorCode {
  if (err instanceof DeadlineExceeded) return 'CONNECTION_TIMEOUT';
  const code = (err as { code?: unknown } | undefined)?.code;
  switch (code) {
    case 'ETIMEDOUT':
      return 'CONNECTION_TIMEOUT';
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
    case 'ENETDOWN':
    case 'EHOSTDOWN':
      return 'NETWORK_UNREACHABLE';
    case 'ECONNREFUSED':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EADDRNOTAVAIL':
      return 'HOST_CONNECTION_FAILED';
    default:
      break;
  }
  if (typeof code === 'string' && (code.startsWith('ERR_SSL') || code.startsWith('ERR_TLS') || code === 'EPROTO' || code.includes('CERT'))) return 'TLS_ERROR';
  return 'HOST_CONNECTION_FAILED';
}

/**
 * An HTTP answer → its JSON body, or the code saying why it is not the answer expected:
 * 404 → HOST_API_NOT_AVAILABLE (nothing at the API path); a Status naming a host-join code
 * → that code; 401/403 without one → TOKEN_INVALID; other non-2xx → HOST_API_NOT_AVAILABLE;
 * a 2xx that is not JSON (an HTML page, say) → INVALID_RESPONSE.
 */
export function classifyResponse(
  status: number,
  contentType: string | undefined,
  body: string,
): { ok: true; json: unknown } | { ok: false; code: HostJoinErrorCode; message: string } {
  let json: unknown;
  let parsed = false;
  try {
    json = JSON.parse(body);
    parsed = true;
  } catch {
    parsed = false;
  }
  const isJson = parsed && /\bjson\b/i.test(contentType ?? '');
  if (status >= 200 && status < 300) {
    if (isJson && json !== null && typeof json === 'object') return { ok: true, json };
    const start = body.trimStart().slice(0, 40).replace(/\s+/g, ' ');
    return { ok: false, code: 'INVALID_RESPONSE', message: `expected JSON, got ${contentType || 'no content type'} starting with ${JSON.stringify(start)}` };
  }
  if (status === 404) return { ok: false, code: 'HOST_API_NOT_AVAILABLE', message: 'the host answered 404: no registration API at this address' };
  const named = isJson ? hostJoinCodeOf(json as { reason?: string }) : undefined;
  const serverMessage = isJson && typeof (json as { message?: unknown }).message === 'string' ? (json as { message: string }).message : `HTTP ${status}`;
  if (named) return { ok: false, code: named, message: serverMessage };
  if (status === 401 || status === 403) return { ok: false, code: 'TOKEN_INVALID', message: serverMessage };
  return { ok: false, code: 'HOST_API_NOT_AVAILABLE', message: `the host answered ${status}: ${serverMessage}` };
}

/** A ping answer → the code when the host cannot be added as it is (old agent, other API). */
export function checkPing(
  ping: unknown,
  minAgentVersion = MIN_AGENT_VERSION,
): { ok: true; ping: PingResponse } | { ok: false; code: HostJoinErrorCode; message: string } {
  const p = ping as Partial<PingResponse>;
  if (typeof p.apiVersion !== 'string' || typeof p.agentVersion !== 'string' || typeof p.hostname !== 'string') {
    return { ok: false, code: 'INVALID_RESPONSE', message: 'the ping answer lacks apiVersion, agentVersion or hostname' };
  }
  if (p.apiVersion !== REGISTRATION_API_VERSION) {
    return { ok: false, code: 'HOST_API_NOT_AVAILABLE', message: `the host speaks ${p.apiVersion}, not ${REGISTRATION_API_VERSION}` };
  }
  if (compareVersions(p.agentVersion, minAgentVersion) < 0) {
    return { ok: false, code: 'HOST_FIRMWARE_OUTDATED', message: `the host runs quantix-agent ${p.agentVersion}; at least ${minAgentVersion} is required` };
  }
  return { ok: true, ping: p as PingResponse };
}

export class RegistrationProber {
  readonly #timeoutMs: number;
  readonly #minAgentVersion: string;

  constructor(options: ProbeOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_PROBE_TIMEOUT_MS;
    this.#minAgentVersion = options.minAgentVersion ?? MIN_AGENT_VERSION;
  }

  /** Ping (no token). Runs without a confirmed fingerprint: it sends nothing secret and tells what the host presents. */
  async ping(target: ProbeTarget): Promise<{ ping: PingResponse; record: CallRecord }> {
    const { json, record } = await this.#call(target, 'GET', REGISTRATION_PATHS.ping, { requireFingerprint: false });
    const checked = checkPing(json, this.#minAgentVersion);
    if (!checked.ok) throw new ProbeError(checked.code, checked.message, record);
    return { ping: checked.ping, record };
  }

  async checkToken(target: ProbeTarget, token: string): Promise<{ check: TokenCheckResponse; record: CallRecord }> {
    const { json, record } = await this.#call(target, 'GET', REGISTRATION_PATHS.token, { token });
    return { check: json as TokenCheckResponse, record };
  }

  async hardware(target: ProbeTarget, token: string): Promise<{ hardware: HostHardware; record: CallRecord }> {
    const { json, record } = await this.#call(target, 'GET', REGISTRATION_PATHS.hardware, { token });
    const hw = json as Partial<HostHardware>;
    if (typeof hw.hostname !== 'string' || typeof hw.cpu !== 'object' || typeof hw.memoryBytes !== 'number') {
      throw new ProbeError('INVALID_RESPONSE', 'the hardware answer lacks hostname, cpu or memoryBytes', record);
    }
    return { hardware: hw as HostHardware, record };
  }

  async join(target: ProbeTarget, token: string, request: JoinRequest, timeoutMs?: number): Promise<{ result: JoinResponse; record: CallRecord }> {
    const { json, record } = await this.#call(target, 'POST', REGISTRATION_PATHS.join, { token, body: JSON.stringify(request), timeoutMs });
    const r = json as Partial<JoinResponse>;
    if (typeof r.nodeName !== 'string') throw new ProbeError('INVALID_RESPONSE', 'the join answer lacks nodeName', record);
    return { result: r as JoinResponse, record };
  }

  async #call(
    target: ProbeTarget,
    method: 'GET' | 'POST',
    path: string,
    o: { token?: string; body?: string; requireFingerprint?: boolean; timeoutMs?: number },
  ): Promise<{ json: unknown; record: CallRecord }> {
    const url = new URL(path, target.url);
    const record: CallRecord = { call: `${method} ${url.pathname}` };
    const expected = target.fingerprint ? normalizeFingerprint(target.fingerprint) : undefined;
    if (o.requireFingerprint !== false && !expected) {
      throw new ProbeError('TLS_ERROR', 'the host certificate was not confirmed: pass its fingerprint', record);
    }
    const timeoutMs = o.timeoutMs ?? this.#timeoutMs;
    let socket: TLSSocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceeded(`no answer within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      const work = (async () => {
        socket = await this.#connect(url, record);
        if (expected && normalizeFingerprint(record.presentedFingerprint ?? '') !== expected) {
          throw new ProbeError(
            'TLS_ERROR',
            `the host presented certificate ${record.presentedFingerprint}, not the expected ${formatFingerprint(expected)}`,
            record,
          );
        }
        const res = await this.#request(socket, url, method, o.token, o.body);
        record.httpStatus = res.status;
        record.contentType = res.contentType;
        const classified = classifyResponse(res.status, res.contentType, res.body);
        if (!classified.ok) throw new ProbeError(classified.code, classified.message, record);
        return classified.json;
      })();
      const json = await Promise.race([work, deadline]);
      return { json, record };
    } catch (err) {
      if (err instanceof ProbeError) throw err;
      const code = classifyError(err);
      const message = err instanceof DeadlineExceeded ? `${record.call}: no answer within ${timeoutMs} ms` : `${record.call}: ${(err as Error).message}`;
      throw new ProbeError(code, message, record);
    } finally {
      clearTimeout(timer);
      (socket as TLSSocket | undefined)?.destroy();
    }
  }

  /**
   * The TLS connection, not yet verified: a registration certificate is self-signed, so
   * trust comes from the fingerprint the caller compares before anything is sent.
   */
  #connect(url: URL, record: CallRecord): Promise<TLSSocket> {
    return new Promise((resolve, reject) => {
      const host = url.hostname.replace(/^\[|\]$/g, '');
      const socket = tlsConnect({ host, port: Number(url.port || 443), servername: /^[\d.]+$|:/.test(host) ? undefined : host, rejectUnauthorized: false });
      socket.once('secureConnect', () => {
        const der = socket.getPeerCertificate()?.fingerprint256;
        if (der) record.presentedFingerprint = formatFingerprint(der.replace(/:/g, ''));
        socket.off('error', reject);
        resolve(socket);
      });
      socket.once('error', reject);
      // Destroyed by #call on the deadline: then this promise never settles, which the race covers.
    });
  }

  #request(
    socket: TLSSocket,
    url: URL,
    method: string,
    token: string | undefined,
    body: string | undefined,
  ): Promise<{ status: number; contentType?: string; body: string }> {
    return new Promise((resolve, reject) => {
      const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'quantix-controller-manager/hostjoin' };
      if (token !== undefined) headers.authorization = `Bearer ${token}`;
      if (body !== undefined) {
        headers['content-type'] = 'application/json';
        headers['content-length'] = String(Buffer.byteLength(body));
      }
      // node:http over the already verified TLS socket: node:https would verify the chain again.
      const req = httpRequest({ method, host: url.hostname, port: url.port, path: url.pathname, headers, createConnection: () => socket });
      req.once('error', reject);
      req.once('response', (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            res.destroy();
            reject(new ProbeError('INVALID_RESPONSE', `answer larger than ${MAX_RESPONSE_BYTES} bytes`));
            return;
          }
          chunks.push(c);
        });
        res.once('error', reject);
        res.once('end', () => resolve({ status: res.statusCode ?? 0, contentType: res.headers['content-type'], body: Buffer.concat(chunks).toString('utf8') }));
      });
      req.end(body);
    });
  }
}
