/**
 * quantix-apiserver: the Kubernetes-style API for quantix.io (and the core Events and
 * coordination Leases it needs), over HTTPS with bearer tokens. Stateless: everything
 * lives in etcd, so any number of replicas can serve one etcd cluster.
 */
import { randomUUID } from 'node:crypto';
import { createServer as createHttpsServer, type Server } from 'node:https';
import { STATUS_CODES, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import express, { type Express } from 'express';
import { Etcd3 } from 'etcd3';
import { RESOURCES, resourceFor } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { createLogger, newCorrelationId, type Logger } from '../lib/logging/logger.js';
import type { Authenticator, CertificateAuthenticator, UserInfo } from './auth/identity.js';
import type { TLSSocket } from 'node:tls';
import { AGGREGATED_DISCOVERY_CONTENT_TYPE, Discovery, wantsAggregatedDiscovery } from './discovery/discovery.js';
import { OpenApi } from './discovery/openapi.js';
import { ApiserverMetrics } from './http/metrics.js';
import { requestRecordOf, trackRequest, type RequestRecord } from './http/access-log.js';
import { parseResourcePath, type ResourceRequest } from './http/request-info.js';
import { handleResource, resourceError } from './http/resource-handler.js';
import { mountCloneRoute } from './http/clone-route.js';
import { sendError, sendJson } from './http/respond.js';
import { ApiError, errors } from '../lib/apimachinery/status-error.js';
import { buildStores, type StoreSet } from './registry/stores.js';
import { etcd3Options, type EtcdClientTls } from './storage/etcd-store.js';
import { createKvClient, type LeanKvClient } from './etcd-client/etcd-kv.js';
import {
  activeAlarms,
  compactor,
  DEFAULT_COMPACTION_INTERVAL_MS,
  DEFRAG_REV_KEY,
  defragmentMembers,
  PeriodicClaim,
  reclaimSpace,
  type SpaceReport,
} from './storage/etcd-maintenance.js';
import { NOSPACE_REMEDY } from './http/status.js';
import type { ServedResource } from './registry/served-resource.js';
import { apiVersionOf } from '../api-types/group-version.js';
import { REVIEW_RESOURCES, type ReviewResource, reviewResourceAt, selfSubjectAccessReview, selfSubjectReview } from './auth/self-review.js';
import { decodeSelfSubjectAccessReview, PROTOBUF_CONTENT_TYPE } from './auth/review-protobuf.js';
import { InflightLimiter } from './http/inflight-limit.js';
import { WatchLimiter } from './http/watch-limit.js';
import { type Auditor, noteRequestBody } from './audit/auditor.js';
import { mountUiLogRoute, type UiLogOptions } from './http/ui-log.js';

/**
 * The web UI's pages: only its own scripts, styles and API (the bundle has no inline script or
 * style element; React sets style properties, which CSP allows), never inside a frame
 * (clickjacking), and no MIME sniffing.
 */
const UI_SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  'X-Frame-Options': 'DENY',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

export const MAX_BODY_BYTES = 3 * 1024 * 1024;
export const SERVER_VERSION = {
  major: '1',
  minor: '32',
  gitVersion: 'v1.32.0-quantix.0.1.0',
  gitCommit: 'quantix',
  gitTreeState: 'clean',
  buildDate: '2026-11-23T00:00:00Z',
  goVersion: 'node' + process.versions.node,
  compiler: 'tsc',
  platform: `${process.platform}/${process.arch}`,
};

export interface ApiserverOptions {
  etcdEndpoints: string[];
  /** TLS to etcd (https:// endpoints): etcd's CA and the apiserver's client certificate. */
  etcdTls?: EtcdClientTls;
  /** Measurement only: 'etcd3' serves the stores with etcd3's client instead of the lean one. */
  etcdKvClient?: 'lean' | 'etcd3';
  /**
   * Compact etcd's history every this many ms, to the revision recorded one interval
   * earlier, one replica per interval (storage/etcd-maintenance.ts); default 5 minutes
   * (kube-apiserver's); 0 disables.
   */
  etcdCompactionIntervalMs?: number;
  /** Defragment every etcd member, one at a time, this often (one replica per interval); default 0 = off. */
  etcdDefragIntervalMs?: number;
  /** HTTPS port (0 = any free port). */
  port: number;
  host?: string;
  tls: { certPem: string; keyPem: string };
  authenticator: Authenticator;
  /**
   * Client certificates: the server asks for one (without requiring it) and one that the
   * CA verifies authenticates through `authenticator` (nodes); others use bearer tokens.
   */
  clientCertificates?: { caPem: string; authenticator: CertificateAuthenticator };
  /** Static files of the web UI, served at /ui/ when present. */
  webRoot?: string;
  /** Extra routes mounted by other components hosted in this process (e.g. pool files). */
  extraRoutes?: (app: Express, context: ApiserverContext) => void;
  /** `group/plural` of resources the extra routes serve (not stored API objects), e.g. quantix.io/bootstraptokens. */
  routedResources?: string[];
  /** Open watch streams per user; default DEFAULT_MAX_WATCHES_PER_USER (http/watch-limit.ts). */
  maxWatchesPerUser?: number;
  /** Requests in flight per user, watches apart; default DEFAULT_MAX_REQUESTS_INFLIGHT_PER_USER (http/inflight-limit.ts). */
  maxRequestsInflightPerUser?: number;
  /** The audit log (--audit-policy-file, --audit-log-path): every request, and the node gateway's calls. None without it. */
  audit?: Auditor;
  /** POST /logs/ui: where UI action records go (<log-dir>/ui.log) and the bounds (http/ui-log.ts). */
  uiLog?: UiLogOptions;
}

/**
 * Serves a WebSocket upgrade request (`Upgrade: websocket`); true when it took the request
 * (it then answers or upgrades it, errors included), false to let the next handler try.
 */
export type UpgradeHandler = (req: IncomingMessage, socket: Duplex, head: Buffer) => boolean;

export interface ApiserverContext {
  etcd: Etcd3;
  stores: StoreSet;
  served: Map<ResourceDefinition, ServedResource>;
  metrics: ApiserverMetrics;
  authenticate(req: IncomingMessage): Promise<UserInfo>;
  /** Requests in flight per user (http/inflight-limit.ts): upgrade handlers take their place here too. */
  inflight: InflightLimiter;
  /** Serves upgrade requests (extra routes add theirs: virtualmachines/NAME/console). Others get 404. */
  addUpgradeHandler(handler: UpgradeHandler): void;
  log: Logger;
  /** The audit log, when enabled: the node gateway audits its calls through it too (audit/grpc.ts). */
  audit?: Auditor;
}

export interface RunningApiserver {
  url: string;
  port: number;
  context: ApiserverContext;
  server: Server;
  stop(): Promise<void>;
}

function bearerToken(req: IncomingMessage): string | undefined {
  const header = req.headers.authorization;
  if (!header) return undefined;
  const match = /^Bearer\s+(.+)$/i.exec(header);
  return match?.[1]?.trim();
}

export async function readBody(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<string> {
  return (await readBodyBytes(req, limit)).toString('utf8');
}

/**
 * A body past the limit is answered 413. The rest of it is read and dropped, up to
 * DISCARD_BYTES more, so the client is still reading when the 413 arrives: closing the
 * connection at once would reset it, and the client would see a reset instead of the
 * Status. Past that bound the connection is closed.
 */
const DISCARD_BYTES = 16 * 1024 * 1024;

export function readBodyBytes(req: IncomingMessage, limit = MAX_BODY_BYTES): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let refused = false;
    const refuse = () => {
      refused = true;
      chunks.length = 0;
      reject(errors.tooLarge(limit));
    };
    if (Number(req.headers['content-length'] ?? 0) > limit) refuse();
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (refused) {
        if (size > limit + DISCARD_BYTES) req.destroy();
        return;
      }
      if (size > limit) return refuse();
      chunks.push(chunk);
    });
    req.on('end', () => {
      if (refused) return;
      const body = Buffer.concat(chunks);
      noteRequestBody(req, body); // kept only when the request's audit level records bodies
      resolve(body);
    });
    req.on('error', reject);
  });
}

export async function startApiserver(options: ApiserverOptions): Promise<RunningApiserver> {
  const log = createLogger('apiserver');
  const metrics = new ApiserverMetrics();
  const etcd = new Etcd3(etcd3Options(options.etcdEndpoints, options.etcdTls));
  // The caches retry until etcd answers; their timers do not hold the process open, so
  // this one does (and says what the start is waiting for).
  const waitingSince = Date.now();
  const waiting = setInterval(() => {
    log.warn('waiting for etcd', { endpoints: options.etcdEndpoints.join(','), seconds: Math.round((Date.now() - waitingSince) / 1000) });
  }, 5_000);
  let stores: StoreSet;
  try {
    stores = await buildStores(etcd, { endpoints: options.etcdEndpoints, tls: options.etcdTls, kvClient: options.etcdKvClient }, RESOURCES, metrics);
  } finally {
    clearInterval(waiting);
  }
  // etcd upkeep (storage/etcd-maintenance.ts) on a lean client of its own: compaction, alarms
  // for /readyz, defragmentation (one client per member, made when needed).
  const clientTls = options.etcdTls && { ca: options.etcdTls.caPem, cert: options.etcdTls.certPem, key: options.etcdTls.keyPem };
  const maintenance: LeanKvClient = createKvClient(options.etcdEndpoints, { tls: clientTls });
  const memberClient = (endpoint: string) => createKvClient([endpoint], { tls: clientTls });
  const compaction = compactor({
    kv: maintenance,
    intervalMs: options.etcdCompactionIntervalMs ?? DEFAULT_COMPACTION_INTERVAL_MS,
    log: log.child({ task: 'etcd-compaction' }),
  });
  const defragmentation = new PeriodicClaim({
    kv: maintenance,
    key: `/registry/${DEFRAG_REV_KEY}`,
    intervalMs: options.etcdDefragIntervalMs ?? 0,
    name: 'defragmentation',
    log,
    run: async () => void (await defragmentMembers(options.etcdEndpoints, memberClient, log)),
  });
  const served = new Map<ResourceDefinition, ServedResource>();
  for (const def of RESOURCES) served.set(def, { def, store: stores.get(def), apiVersion: apiVersionOf(def), lister: stores.lister });
  const discovery = new Discovery([...RESOURCES], REVIEW_RESOURCES);
  const watches = new WatchLimiter(options.maxWatchesPerUser);
  const inflight = new InflightLimiter(options.maxRequestsInflightPerUser);
  const openapi = new OpenApi([...RESOURCES]);

  const authenticate = async (req: IncomingMessage): Promise<UserInfo> => {
    const socket = req.socket as TLSSocket;
    if (options.clientCertificates && socket.authorized) {
      const cert = socket.getPeerX509Certificate();
      const user = cert && (await options.clientCertificates.authenticator.authenticateCertificate(cert).catch(() => undefined));
      if (user) {
        options.audit?.authenticated(req, user);
        return user;
      }
    }
    const token = bearerToken(req);
    if (!token) throw errors.unauthorized('Unauthorized: no bearer token was presented');
    const user = await options.authenticator.authenticate(token);
    if (!user) throw errors.unauthorized('Unauthorized: the bearer token is not valid');
    options.audit?.authenticated(req, user);
    return user;
  };
  const upgradeHandlers: UpgradeHandler[] = [];
  const context: ApiserverContext = {
    etcd,
    stores,
    served,
    metrics,
    authenticate,
    inflight,
    addUpgradeHandler: (handler) => void upgradeHandlers.push(handler),
    log,
    audit: options.audit,
  };

  const app = express();
  app.disable('x-powered-by');
  app.disable('etag');
  app.set('query parser', 'simple');

  const unauthenticated = (path: string) => ['/healthz', '/livez', '/readyz', '/version'].includes(path);
  const publicUi = (path: string) => path === '/' || path === '/ui' || path.startsWith('/ui/');

  app.get('/healthz', (_req, res) => void res.type('text/plain').send('ok'));
  app.get('/livez', (_req, res) => void res.type('text/plain').send('ok'));
  // Readiness checks, reported as kube-apiserver does: "ok", or one [+] / [-] line per check
  // (always with ?verbose) and "readyz check failed"; ?exclude=NAME skips one.
  const readyChecks: [string, () => Promise<void>][] = [
    ['etcd', async () => void (await etcd.get('/quantix/readyz-probe').string())],
    [
      'etcd-nospace',
      async () => {
        const raised = (await activeAlarms(maintenance)).filter((a) => a.alarm === 'Nospace');
        if (raised.length === 0) return;
        throw new Error(
          `etcd alarm NOSPACE raised on member(s) ${raised.map((a) => a.memberID).join(', ')}: etcd's space quota is exhausted and it refuses every write; ${NOSPACE_REMEDY}`,
        );
      },
    ],
  ];
  const withTimeout = (check: () => Promise<void>) => {
    let timer: NodeJS.Timeout | undefined;
    return Promise.race([
      check(),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('etcd did not answer within 2s')), 2000);
      }),
    ]).finally(() => clearTimeout(timer));
  };
  app.get('/readyz', async (req, res) => {
    const exclude = new Set(String(req.query.exclude ?? '').split(','));
    const results = await Promise.all(
      readyChecks
        .filter(([name]) => !exclude.has(name))
        .map(async ([name, check]) => {
          try {
            await withTimeout(check);
            return { name, error: undefined };
          } catch (err) {
            return { name, error: err instanceof Error ? err.message : String(err) };
          }
        }),
    );
    const failed = results.some((r) => r.error !== undefined);
    if (!failed && req.query.verbose === undefined) return void res.type('text/plain').send('ok');
    const lines = results.map((r) => (r.error === undefined ? `[+]${r.name} ok` : `[-]${r.name} failed: ${r.error}`));
    lines.push(failed ? 'readyz check failed' : 'readyz check passed');
    res
      .status(failed ? 503 : 200)
      .type('text/plain')
      .send(`${lines.join('\n')}\n`);
  });
  app.get('/version', (_req, res) => void sendJson(res, 200, SERVER_VERSION));

  if (options.webRoot) {
    app.get('/', (_req, res) => res.redirect('/ui/'));
    app.use('/ui', (_req, res, next) => {
      for (const [name, value] of Object.entries(UI_SECURITY_HEADERS)) res.setHeader(name, value);
      next();
    });
    app.use('/ui', express.static(options.webRoot, { index: 'index.html', fallthrough: true }));
    // Client-side routes: any other /ui/* path gets the app shell.
    app.get(/^\/ui(\/.*)?$/, (_req, res) => res.sendFile('index.html', { root: options.webRoot }));
  }

  // Everything below requires a bearer token.
  app.use(async (req, res, next) => {
    if (unauthenticated(req.path) || (options.webRoot && publicUi(req.path))) return next();
    try {
      const user = await authenticate(req);
      res.locals.user = user;
      requestRecordOf(res).user = user.name;
      inflight.admit(user, res);
      next();
    } catch (err) {
      sendError(res, err instanceof ApiError ? err : errors.unauthorized());
    }
  });

  app.get('/metrics', async (_req, res) => {
    const user = res.locals.user as UserInfo;
    if (!user.groups.includes('quantix:admins') && !user.groups.includes('quantix:viewers')) {
      return sendError(res, errors.forbidden(`User "${user.name}" cannot get path "/metrics"`));
    }
    for (const [def, store] of stores.lagByResource()) metrics.watchCacheLag.set({ resource: def.plural }, store);
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  // etcd space on demand (admins): defragment every member one at a time; ?compact=true first
  // compacts to the current revision, ?disarm=true then disarms NOSPACE alarms. This is the
  // recovery from NOSPACE (507 InsufficientStorage on writes, /readyz etcd-nospace).
  let reclaiming: Promise<SpaceReport> | undefined;
  app.post('/admin/etcd/defragment', async (req, res) => {
    const user = res.locals.user as UserInfo;
    if (!user.groups.includes('quantix:admins')) {
      return sendError(res, errors.forbidden(`User "${user.name}" cannot post path "/admin/etcd/defragment"`));
    }
    if (reclaiming) return sendError(res, new ApiError(409, 'Conflict', 'an etcd defragmentation is already running on this apiserver'));
    const flag = (name: string) => ['true', '1', ''].includes(String(req.query[name] ?? 'false'));
    try {
      reclaiming = reclaimSpace({
        kv: maintenance,
        endpoints: options.etcdEndpoints,
        connect: memberClient,
        compact: flag('compact'),
        disarm: flag('disarm'),
        log,
      });
      sendJson(res, 200, await reclaiming);
    } catch (err) {
      sendError(res, errors.unavailable(`etcd defragmentation failed: ${err instanceof Error ? err.message : String(err)}`));
    } finally {
      reclaiming = undefined;
    }
  });

  app.get('/api', (req, res) => {
    if (wantsAggregatedDiscovery(req.headers.accept)) {
      res.setHeader('Content-Type', AGGREGATED_DISCOVERY_CONTENT_TYPE);
      return void res.send(JSON.stringify(discovery.aggregated(true)));
    }
    sendJson(res, 200, discovery.coreVersions());
  });
  app.get('/apis', (req, res) => {
    if (wantsAggregatedDiscovery(req.headers.accept)) {
      res.setHeader('Content-Type', AGGREGATED_DISCOVERY_CONTENT_TYPE);
      return void res.send(JSON.stringify(discovery.aggregated(false)));
    }
    sendJson(res, 200, discovery.groupList());
  });
  app.get('/api/:version', (req, res) => {
    const list = discovery.resourceList('', req.params.version);
    if (!list) return sendError(res, errors.pathNotFound(req.path));
    sendJson(res, 200, list);
  });
  app.get('/apis/:group', (req, res) => {
    const group = discovery.group(req.params.group);
    if (!group) return sendError(res, errors.pathNotFound(req.path));
    sendJson(res, 200, group);
  });
  app.get('/apis/:group/:version', (req, res) => {
    const list = discovery.resourceList(req.params.group, req.params.version);
    if (!list) return sendError(res, errors.pathNotFound(req.path));
    sendJson(res, 200, list);
  });
  app.get('/openapi/v3', (_req, res) => sendJson(res, 200, openapi.index()));
  app.get(/^\/openapi\/v3\/(apis\/[^/]+\/[^/]+|api\/v1)$/, (req, res) => {
    const doc = openapi.document(String((req.params as Record<string, string>)[0]));
    if (!doc) return sendError(res, errors.pathNotFound(req.path));
    res.setHeader('Cache-Control', 'no-cache');
    sendJson(res, 200, doc);
  });
  // No /openapi/v2: with it, kubectl would build strategic merge patches for our kinds.

  mountCloneRoute(app, served, (req) => readBody(req));
  mountUiLogRoute(app, (req, limit) => readBodyBytes(req, limit), options.uiLog);
  options.extraRoutes?.(app, context);

  // Anything else under /api and /apis that the fast path below did not take.
  app.use((req: express.Request, res: express.Response) => sendError(res, errors.pathNotFound(req.path)));
  // A route that threw: a Status (not express' HTML page), and a Panic in the audit log.
  app.use((err: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    log.error('request error', { requestId: requestRecordOf(res).requestId, error: err instanceof Error ? err.stack : String(err) });
    options.audit?.panic(req, err);
    sendError(res, err instanceof ApiError ? err : errors.internal(err instanceof Error ? err.message : String(err)));
  });

  /**
   * Resource requests (the hot path: every get, list, watch and write) are served without
   * express: its router costs more per request than all of our own routing.
   */
  const serveResource = async (req: IncomingMessage, res: ServerResponse, record: RequestRecord, url: URL, request: ResourceRequest) => {
    let sr: ServedResource | undefined;
    try {
      const user = await authenticate(req).catch((err: unknown) => {
        throw err instanceof ApiError ? err : errors.unauthorized();
      });
      record.user = user.name;
      record.verb = request.verb;
      if (request.verb !== 'watch') inflight.admit(user, res);
      const def = resourceFor(request.group, request.resource);
      sr = def && def.version === request.version ? served.get(def) : undefined;
      // A metric label only for a served resource: any other name from the path would make a new series.
      record.resource = sr ? request.resource : 'unknown';
      if (!sr) throw errors.pathNotFound(url.pathname);
      await handleResource({ req, res, user, request, query: url.searchParams, sr, readBody: () => readBody(req), metrics, watches });
    } catch (err) {
      const apiError = resourceError(err, sr);
      if (apiError.code >= 500) log.error('request error', { correlationId: record.requestId, error: err instanceof Error ? err.stack : String(err) });
      // Not an API or storage error: a bug, what Kubernetes records as a Panic.
      if (!(err instanceof ApiError) && apiError.reason === 'InternalError') options.audit?.panic(req, err);
      sendError(res, apiError);
    }
  };

  /** `kubectl auth whoami` and `kubectl auth can-i`: answered for the caller, nothing stored. */
  const serveReview = async (req: IncomingMessage, res: ServerResponse, record: RequestRecord, review: ReviewResource) => {
    record.verb = 'create';
    record.resource = review.plural;
    try {
      if (req.method !== 'POST') throw errors.methodNotAllowed(req.method ?? '', review.plural);
      const user = await authenticate(req).catch((err: unknown) => {
        throw err instanceof ApiError ? err : errors.unauthorized();
      });
      record.user = user.name;
      inflight.admit(user, res);
      const bytes = await readBodyBytes(req);
      let body: unknown;
      try {
        // kubectl sends its questions about built-in types as protobuf.
        if (String(req.headers['content-type'] ?? '').startsWith(PROTOBUF_CONTENT_TYPE)) body = decodeSelfSubjectAccessReview(bytes);
        else body = bytes.length ? JSON.parse(bytes.toString('utf8')) : {};
      } catch (err) {
        throw errors.badRequest(`the request body cannot be read as ${review.kind}: ${(err as Error).message}`);
      }
      sendJson(res, 201, review.kind === 'SelfSubjectReview' ? selfSubjectReview(user) : selfSubjectAccessReview(user, body));
    } catch (err) {
      sendError(res, resourceError(err, undefined));
    }
  };

  const routedResources = new Set(options.routedResources ?? []);
  const audit = options.audit;
  const listener = (req: IncomingMessage, res: ServerResponse) => {
    const record = trackRequest(req, res, metrics, log);
    const ids = audit && { auditID: record.auditId, correlationId: record.requestId };
    const path = req.url ?? '/';
    const review = path.startsWith('/apis/') ? reviewResourceAt(path.split('?')[0]!) : undefined;
    if (review) {
      audit?.track(req, res, ids!);
      void serveReview(req, res, record, review); // answers every error itself
      return;
    }
    let request: ResourceRequest | undefined;
    if (path.startsWith('/apis/') || path.startsWith('/api/')) {
      let url: URL;
      try {
        url = new URL(path, 'https://localhost');
        request = parseResourcePath(req.method ?? 'GET', url.pathname, url.searchParams);
      } catch {
        audit?.track(req, res, ids!, null);
        return sendError(res, errors.badRequest(`the request path is not a valid URL path: ${JSON.stringify(path.slice(0, 200))}`));
      }
      audit?.track(req, res, ids!, request ?? null);
      // Other subresources (storagepools/NAME/files) are extra routes mounted on express.
      if (request && !routedResources.has(`${request.group}/${request.resource}`) && (request.subresource === undefined || request.subresource === 'status')) {
        void serveResource(req, res, record, url, request); // answers every error itself
        return;
      }
    } else audit?.track(req, res, ids!, null);
    app(req, res);
  };

  const server = createHttpsServer(
    {
      cert: options.tls.certPem,
      key: options.tls.keyPem,
      ...(options.clientCertificates ? { ca: options.clientCertificates.caPem, requestCert: true, rejectUnauthorized: false } : {}),
    },
    listener,
  );
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    audit?.trackUpgrade(req, socket, { auditID: randomUUID(), correlationId: String(req.headers['x-request-id'] ?? '') || newCorrelationId() });
    if (upgradeHandlers.some((handle) => handle(req, socket, head))) return;
    const path = (req.url ?? '/').split('?')[0]!;
    writeUpgradeRefusal(socket, errors.pathNotFound(path));
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
  server.requestTimeout = 0; // watches are long-lived
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  compaction.start();
  defragmentation.start();
  const url = `https://127.0.0.1:${port}`;
  log.info('apiserver listening', { url, etcd: options.etcdEndpoints.join(',') });

  return {
    url,
    port,
    context,
    server,
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      compaction.stop();
      defragmentation.stop();
      maintenance.close();
      stores.stop();
      etcd.close();
    },
  };
}

/** Answers an upgrade request that is not upgraded: an HTTP response with the Status JSON, then the connection closes. */
export function writeUpgradeRefusal(socket: Duplex, err: ApiError): void {
  if (socket.destroyed) return;
  const body = JSON.stringify(err.toStatus());
  const headers = [
    `HTTP/1.1 ${err.code} ${STATUS_CODES[err.code] ?? 'Error'}`,
    'Content-Type: application/json',
    `Content-Length: ${Buffer.byteLength(body)}`,
    ...(err.details?.retryAfterSeconds !== undefined ? [`Retry-After: ${err.details.retryAfterSeconds}`] : []),
    'Connection: close',
  ];
  socket.end(`${headers.join('\r\n')}\r\n\r\n${body}`);
}
