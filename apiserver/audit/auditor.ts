/**
 * The audit log: one `audit.k8s.io/v1` Event JSON line per stage of each request the policy
 * audits, as kube-apiserver writes them (apiserver/audit/README.md).
 *
 * How a request flows through it (server.ts calls these):
 * - `track` when the request arrives (HTTP) or `trackUpgrade` (WebSocket upgrades): the
 *   auditID (unique per request, also the Audit-Id header), the correlation id (X-Request-Id)
 *   and the time it was received;
 * - `authenticated` once the user is known: the policy decides the level and the stages, and
 *   RequestReceived is written. A request that never authenticates (401, /healthz) is decided
 *   when it ends, without a user;
 * - ResponseStarted when a long-running request (watch, a `follow` stream, an upgraded
 *   console) sends its headers; ResponseComplete when the response ends or the connection
 *   closes; Panic in its place when serving it threw unexpectedly.
 *
 * Cheap by construction: nothing is parsed, copied or serialised for a request the policy
 * gives None; at Metadata level an Event is one small object and one JSON.stringify; bodies are
 * kept only at Request (the request's) and RequestResponse (the response's too), and parsed and
 * redacted (redact.ts) only when their Event is written. Lines go to a buffered sink
 * (lib/logging/files.ts RotatingFile), which writes once per event-loop turn.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { parse as parseYaml } from 'yaml';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import type { Status } from '../../api-types/meta.js';
import type { UserInfo } from '../auth/identity.js';
import { bodyTypeOf } from '../http/negotiation.js';
import { parseResourcePath, type ResourceRequest } from '../http/request-info.js';
import { type AuditAttributes, type AuditDecision, type AuditPolicy, type AuditStage, evaluatePolicy, levelAtLeast } from './policy.js';
import { bearerTokenOf, redactObject, scrubSecrets } from './redact.js';

/** Where Event lines go: a RotatingFile, or stdout for `--audit-log-path -`. */
export interface AuditSink {
  write(line: string): void;
  close(): Promise<void>;
}

export interface AuditObjectRef {
  resource?: string;
  namespace?: string;
  name?: string;
  apiGroup?: string;
  apiVersion?: string;
  subresource?: string;
}

/** audit.k8s.io/v1 Event (the fields Quantix fills). */
export interface AuditEvent {
  kind: 'Event';
  apiVersion: 'audit.k8s.io/v1';
  level: string;
  auditID: string;
  stage: AuditStage;
  requestURI: string;
  verb: string;
  user: { username?: string; uid?: string; groups?: string[] };
  sourceIPs?: string[];
  userAgent?: string;
  objectRef?: AuditObjectRef;
  responseStatus?: Partial<Status> & { metadata: Record<string, never>; code: number };
  requestObject?: unknown;
  responseObject?: unknown;
  requestReceivedTimestamp: string;
  stageTimestamp: string;
  annotations?: Record<string, string>;
}

interface RequestAudit {
  auditID: string;
  correlationId: string;
  receivedAt: string;
  req: IncomingMessage;
  res?: ServerResponse;
  /** The parsed resource path; null for a non-resource request; undefined until needed. */
  request?: ResourceRequest | null;
  user?: UserInfo;
  decision?: AuditDecision;
  longRunning: boolean;
  requestBody?: Buffer;
  responseBody?: string | Buffer;
  /** The Status of an error answer (sendError), for responseStatus. */
  status?: Status;
  /** The name of a created object (the URL of a create does not have it). */
  createdName?: string;
  /** Code of an upgrade's answer (101, or the refusal's), read from the socket. */
  upgradeCode?: number;
  started: boolean;
  done: boolean;
}

// Keyed by request: the body reader and the error writer (server.ts, respond.ts) know the
// request but not which apiserver's Auditor serves it.
const audits = new WeakMap<IncomingMessage, RequestAudit>();

/** Keeps a request body for the audit when the request's level records it (server.ts readBodyBytes). */
export function noteRequestBody(req: IncomingMessage, body: Buffer): void {
  const audit = audits.get(req);
  if (audit?.decision && levelAtLeast(audit.decision.level, 'Request')) audit.requestBody = body;
}

/** The Status an error answer carries (respond.ts sendError), for the Event's responseStatus. */
export function noteResponseStatus(res: ServerResponse, status: Status): void {
  const audit = res.req ? audits.get(res.req) : undefined;
  if (audit) audit.status = status;
}

/** The name of the object a create made (objectRef.name, which its URL does not carry). */
export function noteCreatedName(req: IncomingMessage, name: string | undefined): void {
  const audit = audits.get(req);
  if (audit && name) audit.createdName = name;
}

/** The audit of one node-gateway call. */
export interface GatewayCallAudit {
  /** The caller is known (RequestReceived). */
  authenticated(user: UserInfo): void;
  /** A streaming call sent its headers (ResponseStarted). */
  started(): void;
  /** The call ended with this status (HTTP code from its gRPC status). */
  complete(status: { code: number; message?: string; reason?: string }): void;
}

export class Auditor {
  readonly #policy: AuditPolicy;
  readonly #sink: AuditSink;

  constructor(policy: AuditPolicy, sink: AuditSink) {
    this.#policy = policy;
    this.#sink = sink;
  }

  /** Starts auditing an HTTP request. `request` is its parsed resource path when the caller has it. */
  track(req: IncomingMessage, res: ServerResponse, ids: { auditID: string; correlationId: string }, request?: ResourceRequest | null): void {
    const audit = this.#newAudit(req, ids, request);
    audit.res = res;
    audits.set(req, audit);
    if (audit.longRunning) {
      // ResponseStarted as the headers go out (writeHead is also what an implicit header calls).
      const writeHead = res.writeHead;
      res.writeHead = ((...args: Parameters<typeof writeHead>) => {
        res.writeHead = writeHead;
        const result = writeHead.apply(res, args);
        this.#responseStarted(audit, res.statusCode);
        return result;
      }) as typeof writeHead;
    }
    res.once('close', () => this.#complete(audit, 'ResponseComplete'));
  }

  /** Starts auditing an upgrade request (console, VNC); the answer's code is read from the socket. */
  trackUpgrade(req: IncomingMessage, socket: Duplex, ids: { auditID: string; correlationId: string }): void {
    const audit = this.#newAudit(req, ids, undefined);
    audit.longRunning = true;
    audits.set(req, audit);
    // The first bytes written to the socket are the status line (ws' 101, a refusal, a peer's answer when forwarded).
    const write = socket.write;
    const end = socket.end;
    const sniff = (chunk: unknown) => {
      socket.write = write;
      socket.end = end;
      const head = typeof chunk === 'string' ? chunk.slice(0, 16) : Buffer.isBuffer(chunk) ? chunk.subarray(0, 16).toString('latin1') : '';
      const code = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      if (code) audit.upgradeCode = code;
      if (code === 101) this.#responseStarted(audit, 101);
    };
    socket.write = ((chunk: unknown, ...rest: unknown[]) => {
      sniff(chunk);
      return (write as (...a: unknown[]) => boolean).call(socket, chunk, ...rest);
    }) as typeof socket.write;
    socket.end = ((chunk?: unknown, ...rest: unknown[]) => {
      sniff(chunk);
      return (end as (...a: unknown[]) => Duplex).call(socket, chunk, ...rest);
    }) as typeof socket.end;
    socket.once('close', () => this.#complete(audit, 'ResponseComplete'));
  }

  /** The request's user is known: the policy decides, and RequestReceived is written. */
  authenticated(req: IncomingMessage, user: UserInfo): void {
    const audit = audits.get(req);
    if (!audit || audit.decision) return;
    audit.user = user;
    this.#decide(audit);
    if (audit.decision!.level === 'None') return;
    if (levelAtLeast(audit.decision!.level, 'RequestResponse') && audit.res && !audit.longRunning) this.#keepResponseBody(audit, audit.res);
    this.#emit(audit, 'RequestReceived', audit.receivedAt);
  }

  /** Serving the request threw unexpectedly (the apiserver answers 500): a Panic Event in place of ResponseComplete. */
  panic(req: IncomingMessage, err: unknown): void {
    const audit = audits.get(req);
    if (!audit || audit.done) return;
    audit.status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: `APIServer panic'd: ${err instanceof Error ? err.message : String(err)}`,
      reason: 'InternalError',
      code: 500,
    } as Status;
    this.#complete(audit, 'Panic');
  }

  /**
   * Audits one node-gateway gRPC call (audit/grpc.ts) as a non-resource request: requestURI the
   * method's path, verb `post`. At most Metadata: the messages carry node credentials
   * (RegisterNode answers with a node certificate and token), so they are never recorded.
   */
  gatewayCall(call: { path: string; sourceIPs: string[]; userAgent?: string; correlationId: string; longRunning: boolean }): GatewayCallAudit {
    const receivedAt = new Date().toISOString();
    const auditID = randomUUID();
    let decision: AuditDecision | undefined;
    let user: UserInfo | undefined;
    let started = false;
    let done = false;
    const decide = () => {
      decision ??= evaluatePolicy(this.#policy, { user, verb: 'post', path: call.path });
      return decision;
    };
    const emit = (stage: AuditStage, stageTimestamp: string, status?: { code: number; message?: string; reason?: string }) => {
      const d = decide();
      if (d.level === 'None' || d.omitStages.has(stage)) return;
      const event = {
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        level: 'Metadata',
        auditID,
        stage,
        requestURI: call.path,
        verb: 'post',
        user: user ? { username: user.name, uid: user.uid, groups: user.groups } : {},
        sourceIPs: call.sourceIPs,
        userAgent: call.userAgent,
      } as AuditEvent;
      if (status) {
        event.responseStatus =
          status.code >= 400
            ? { metadata: {}, status: 'Failure', message: status.message, reason: status.reason, code: status.code }
            : { metadata: {}, code: status.code };
      }
      event.requestReceivedTimestamp = receivedAt;
      event.stageTimestamp = stageTimestamp;
      event.annotations = { [CORRELATION_ID_ANNOTATION]: call.correlationId };
      this.#write(JSON.stringify(event));
    };
    return {
      authenticated: (who) => {
        if (decision || done) return;
        user = who;
        emit('RequestReceived', receivedAt);
      },
      started: () => {
        if (started || done || !call.longRunning) return;
        started = true;
        if (!decision) emit('RequestReceived', receivedAt);
        emit('ResponseStarted', new Date().toISOString(), { code: 200 });
      },
      complete: (status) => {
        if (done) return;
        done = true;
        if (!decision) emit('RequestReceived', receivedAt);
        emit('ResponseComplete', new Date().toISOString(), status);
      },
    };
  }

  close(): Promise<void> {
    return this.#sink.close();
  }

  /** A sink that fails (full disk) must not fail the request: said once on stderr, then per 1,000 lost lines. */
  #write(line: string): void {
    try {
      this.#sink.write(line);
    } catch (err) {
      if (this.#lost++ % 1000 === 0) process.stderr.write(`audit log: cannot write an Event (${this.#lost} lost): ${(err as Error).message}\n`);
    }
  }

  #lost = 0;

  #newAudit(req: IncomingMessage, ids: { auditID: string; correlationId: string }, request: ResourceRequest | null | undefined): RequestAudit {
    const url = req.url ?? '/';
    return {
      auditID: ids.auditID,
      correlationId: ids.correlationId,
      receivedAt: new Date().toISOString(),
      req,
      request,
      longRunning: request?.verb === 'watch' || /[?&]follow=(true|1)(&|$)/.test(url),
      started: false,
      done: false,
    };
  }

  #resourceRequest(audit: RequestAudit): ResourceRequest | null {
    if (audit.request !== undefined) return audit.request;
    const path = audit.req.url ?? '/';
    try {
      const url = new URL(path, 'https://localhost');
      audit.request = path.startsWith('/api') ? (parseResourcePath(audit.req.method ?? 'GET', url.pathname, url.searchParams) ?? null) : null;
    } catch {
      audit.request = null;
    }
    return audit.request;
  }

  #decide(audit: RequestAudit): void {
    const request = this.#resourceRequest(audit);
    const attrs: AuditAttributes = {
      user: audit.user,
      verb: request ? request.verb : (audit.req.method ?? 'GET').toLowerCase(),
      path: (audit.req.url ?? '/').split('?')[0]!,
    };
    if (request) {
      attrs.resource = {
        apiGroup: request.group,
        resource: request.resource,
        subresource: request.subresource,
        namespace: request.namespace,
        name: request.name,
      };
    }
    audit.decision = evaluatePolicy(this.#policy, attrs);
  }

  #keepResponseBody(audit: RequestAudit, res: ServerResponse): void {
    const end = res.end;
    res.end = ((chunk?: unknown, ...rest: unknown[]) => {
      res.end = end;
      if (typeof chunk === 'string' || Buffer.isBuffer(chunk)) audit.responseBody = chunk;
      return (end as (...a: unknown[]) => ServerResponse).call(res, chunk, ...rest);
    }) as typeof res.end;
  }

  #responseStarted(audit: RequestAudit, code: number): void {
    if (audit.started || audit.done) return;
    audit.started = true;
    if (!audit.decision) this.#decide(audit);
    if (audit.decision!.level === 'None') return;
    this.#emit(audit, 'ResponseStarted', new Date().toISOString(), code);
  }

  #complete(audit: RequestAudit, stage: 'ResponseComplete' | 'Panic'): void {
    if (audit.done) return;
    audit.done = true;
    audits.delete(audit.req);
    if (!audit.decision) {
      // Never authenticated: decided now, without a user; RequestReceived is written for it too.
      this.#decide(audit);
      if (audit.decision!.level === 'None') return;
      this.#emit(audit, 'RequestReceived', audit.receivedAt);
    }
    if (audit.decision!.level === 'None') return;
    const code = stage === 'Panic' ? 500 : (audit.upgradeCode ?? audit.res?.statusCode ?? 0);
    this.#emit(audit, stage, new Date().toISOString(), code);
  }

  #emit(audit: RequestAudit, stage: AuditStage, stageTimestamp: string, code?: number): void {
    const decision = audit.decision!;
    if (decision.omitStages.has(stage)) return;
    const line = JSON.stringify(this.#event(audit, stage, stageTimestamp, code));
    // A body may hold a token in free text (a message, a script): scrubbed as the UI log scrubs its entries.
    this.#write(levelAtLeast(decision.level, 'Request') ? scrubSecrets(line, bearerTokenOf(audit.req.headers.authorization)) : line);
  }

  #event(audit: RequestAudit, stage: AuditStage, stageTimestamp: string, code: number | undefined): AuditEvent {
    const { req, decision } = audit;
    const request = audit.request ?? null;
    const user = audit.user;
    // The timestamps and annotations are set last, where Kubernetes writes them in an Event.
    const event = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: decision!.level,
      auditID: audit.auditID,
      stage,
      requestURI: scrubSecrets(req.url ?? '/', bearerTokenOf(req.headers.authorization)),
      verb: request ? request.verb : (req.method ?? 'GET').toLowerCase(),
      user: user ? { username: user.name, uid: user.uid, groups: user.groups } : {},
      sourceIPs: sourceIPs(req),
      userAgent: req.headers['user-agent'],
    } as AuditEvent;
    if (request) {
      const ref: AuditObjectRef = { resource: request.resource };
      if (request.namespace !== undefined) ref.namespace = request.namespace;
      const name = request.name ?? audit.createdName;
      if (name !== undefined) ref.name = name;
      ref.apiGroup = request.group;
      ref.apiVersion = request.version;
      if (request.subresource) ref.subresource = request.subresource;
      event.objectRef = ref;
    }
    if (stage !== 'RequestReceived' && code !== undefined) {
      const status = audit.status;
      event.responseStatus = status
        ? {
            metadata: {},
            status: status.status,
            message: status.message,
            reason: status.reason,
            ...(status.details ? { details: status.details } : {}),
            code: status.code || code,
          }
        : { metadata: {}, code };
    }
    if (stage !== 'RequestReceived' && levelAtLeast(decision!.level, 'Request') && audit.requestBody && audit.requestBody.length > 0) {
      const body = parseBody(audit.requestBody, req.headers['content-type']);
      if (body !== undefined) event.requestObject = redactObject(body, { omitManagedFields: decision!.omitManagedFields });
    }
    if ((stage === 'ResponseComplete' || stage === 'Panic') && decision!.level === 'RequestResponse' && audit.responseBody !== undefined) {
      const type = String(audit.res?.getHeader('content-type') ?? '');
      const body = parseBody(audit.responseBody, type);
      if (body !== undefined) event.responseObject = redactObject(body, { omitManagedFields: decision!.omitManagedFields });
    }
    event.requestReceivedTimestamp = audit.receivedAt;
    event.stageTimestamp = stageTimestamp;
    event.annotations = { [CORRELATION_ID_ANNOTATION]: audit.correlationId };
    return event;
  }
}

/** A body as an object, when it is JSON or YAML; undefined otherwise (protobuf, text, unparseable). */
function parseBody(body: string | Buffer, contentType: string | undefined): unknown {
  const type = bodyTypeOf(contentType);
  try {
    const text = typeof body === 'string' ? body : body.toString('utf8');
    if (type === 'yaml' || type === 'apply-patch') return parseYaml(text) as unknown;
    if (type === 'json' || type === 'merge-patch' || type === 'json-patch' || type === 'strategic-merge-patch') return JSON.parse(text) as unknown;
  } catch {
    // Not what the header said: no requestObject (the Event records that the request was made).
  }
  return undefined;
}

/** As Kubernetes: X-Forwarded-For, then X-Real-Ip, then the peer address, each once. */
export function sourceIPs(req: IncomingMessage): string[] {
  const ips: string[] = [];
  const add = (ip: string | undefined) => {
    const clean = ip?.trim().replace(/^::ffff:/, '');
    if (clean && !ips.includes(clean)) ips.push(clean);
  };
  const forwarded = req.headers['x-forwarded-for'];
  if (typeof forwarded === 'string') for (const ip of forwarded.split(',')) add(ip);
  const realIp = req.headers['x-real-ip'];
  if (typeof realIp === 'string') add(realIp);
  add(req.socket?.remoteAddress);
  return ips;
}
