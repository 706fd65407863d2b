/**
 * The controller-manager's client of the Quantix API (any Kubernetes-conformant server
 * holding our resources would do).
 *
 * Built on @kubernetes/client-node: `KubeConfig` resolves the server, CA, client
 * certificates and credentials (tokens, exec plugins), and watches run on its `Watch`
 * class. Plain requests go through one keep-alive `https.Agent` instead of the generated
 * API classes: client-node 2.x builds a new undici Agent (a new TLS connection) for every
 * generated call, which costs a handshake per write; the scheduler's throughput target
 * (≥ 200 binds/s on 2 cores) needs connection reuse. Merge patches also need their own
 * content type, which the generated classes make awkward.
 *
 * Paths, query parameters, patch content types and Status decoding come from the shared
 * client core (lib/apiclient, lib/apimachinery), as for qxctl and the UI; the transport
 * (this agent, client-node's Watch) is this client's own.
 */
import https from 'node:https';
import http from 'node:http';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import type { KubeObject, WatchEvent } from '../../api-types/meta.js';
import { apiVersionOf, resourcePath } from '../../api-types/group-version.js';
import { errorFromResponse } from '../../lib/apimachinery/status-error.js';
import {
  buildRequest,
  listQuery,
  listResultOf,
  PATCH_CONTENT_TYPES,
  watchQuery,
  type ListOptions,
  type ListResult,
  type PatchType,
  type WatchOptions,
} from '../../lib/apiclient/request.js';
import type { ResourceRef } from './resources.js';
import { TokenBucket } from '../../lib/workqueue/tokenbucket.js';
import type { Logger } from '../../lib/logging/logger.js';

export interface WatchHandle {
  abort(): void;
}

/** What controllers need from the API; tests may substitute a fake. */
export interface ApiClient {
  get<T extends KubeObject>(r: ResourceRef, namespace: string | undefined, name: string): Promise<T>;
  list<T extends KubeObject>(r: ResourceRef, options?: ListOptions): Promise<ListResult<T>>;
  create<T extends KubeObject>(r: ResourceRef, obj: T): Promise<T>;
  update<T extends KubeObject>(r: ResourceRef, obj: T, subresource?: 'status'): Promise<T>;
  patch<T extends KubeObject>(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options?: { type?: PatchType; subresource?: 'status' },
  ): Promise<T>;
  delete(r: ResourceRef, namespace: string | undefined, name: string, options?: { preconditions?: { uid?: string; resourceVersion?: string } }): Promise<void>;
  watch<T extends KubeObject>(r: ResourceRef, options: WatchOptions, onEvent: (e: WatchEvent<T>) => void, onDone: (err: unknown) => void): Promise<WatchHandle>;
  /**
   * The same client, sending `correlationId` as X-Request-Id on every request (a reconcile's
   * writes keep the id of the user action they follow from); itself when it is undefined.
   */
  withCorrelationId(correlationId: string | undefined): ApiClient;
}

export interface HttpApiClientOptions {
  /** Identifies the client in the server's logs and managedFields. */
  userAgent?: string;
  /** Field manager for writes (default: the user agent). */
  fieldManager?: string;
  /** Concurrent connections to the server (default 32). */
  maxSockets?: number;
  /** Per-request timeout (default 30 s). */
  requestTimeoutMs?: number;
  /** Watch inactivity timeout (default 90 s; the server's bookmarks keep a quiet watch alive). */
  watchInactivityTimeoutMs?: number;
  /**
   * Client-side rate limit on requests (not watches), client-go's QPS/burst: protects the
   * apiserver from a runaway loop and gives each component a fair share. Unlimited when unset.
   */
  qps?: number;
  burst?: number;
  /**
   * Logs, at info, every write a correlation-scoped view (withCorrelationId) makes: the
   * controller's step of a user action's chain (`qxctl logs --correlation-id`), Events included
   * (for a stop, the Stopped Event may be the controller's only write).
   */
  writeLog?: Logger;
  /**
   * Called right before each write is sent (after the rate limit's wait); it throws to refuse
   * the write. The controller-manager fences its controllers' writes with its leader lease.
   */
  writeFence?: () => void;
}

/** What a client and its correlation-scoped views share: connections, rate limit, credentials. */
interface SharedTransport {
  watch: Watch;
  bucket?: TokenBucket;
  auth: { headers: Record<string, string>; at: number };
}

/** The ApiClient over HTTPS, configured from a kubeconfig. */
export class HttpApiClient implements ApiClient {
  readonly #kc: KubeConfig;
  readonly #server: URL;
  readonly #agent: http.Agent;
  readonly #watch: Watch;
  readonly #options: Required<Omit<HttpApiClientOptions, 'qps' | 'burst' | 'writeLog' | 'writeFence'>>;
  readonly #rawOptions: HttpApiClientOptions;
  readonly #bucket?: TokenBucket;
  readonly #auth: SharedTransport['auth'];
  readonly #requestId?: string;

  private constructor(
    kc: KubeConfig,
    agent: http.Agent,
    headers: Record<string, string>,
    options: HttpApiClientOptions,
    scoped?: SharedTransport & { requestId: string },
  ) {
    this.#kc = kc;
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig: no current cluster');
    this.#server = new URL(cluster.server);
    this.#agent = agent;
    this.#rawOptions = options;
    this.#auth = scoped?.auth ?? { headers, at: Date.now() };
    this.#requestId = scoped?.requestId;
    const userAgent = options.userAgent ?? 'quantix-controller-manager';
    this.#options = {
      userAgent,
      fieldManager: options.fieldManager ?? userAgent,
      maxSockets: options.maxSockets ?? 32,
      requestTimeoutMs: options.requestTimeoutMs ?? 30_000,
      watchInactivityTimeoutMs: options.watchInactivityTimeoutMs ?? 90_000,
    };
    if (scoped) {
      this.#bucket = scoped.bucket;
      this.#watch = scoped.watch;
      return;
    }
    if (options.qps) this.#bucket = new TokenBucket(options.qps, options.burst ?? Math.max(1, Math.ceil(options.qps * 2)));
    this.#watch = new Watch(kc);
    // The inactivity timeout is private in the typings but meant to be tuned (public in the JS).
    (this.#watch as unknown as { requestTimeoutMs: number }).requestTimeoutMs = this.#options.watchInactivityTimeoutMs;
  }

  static async fromKubeConfig(kc: KubeConfig, options: HttpApiClientOptions = {}): Promise<HttpApiClient> {
    const { agent, headers } = await agentFor(kc, options.maxSockets ?? 32);
    return new HttpApiClient(kc, agent, headers, options);
  }

  static async fromFile(path: string, options: HttpApiClientOptions = {}): Promise<HttpApiClient> {
    const kc = new KubeConfig();
    kc.loadFromFile(path);
    return HttpApiClient.fromKubeConfig(kc, options);
  }

  withCorrelationId(correlationId: string | undefined): ApiClient {
    if (!correlationId || correlationId === this.#requestId) return this;
    return new HttpApiClient(this.#kc, this.#agent, this.#auth.headers, this.#rawOptions, {
      watch: this.#watch,
      bucket: this.#bucket,
      auth: this.#auth,
      requestId: correlationId,
    });
  }

  get kubeConfig(): KubeConfig {
    return this.#kc;
  }

  /** Closes idle connections (call on shutdown). */
  close(): void {
    this.#agent.destroy();
  }

  async get<T extends KubeObject>(r: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    return (await this.#request('GET', resourcePath(r, namespace, name))) as T;
  }

  async list<T extends KubeObject>(r: ResourceRef, options: ListOptions = {}): Promise<ListResult<T>> {
    return listResultOf<T>(await this.#request('GET', resourcePath(r, options.namespace), undefined, listQuery(options)));
  }

  async create<T extends KubeObject>(r: ResourceRef, obj: T): Promise<T> {
    const query = new URLSearchParams({ fieldManager: this.#options.fieldManager });
    return (await this.#request('POST', resourcePath(r, obj.metadata.namespace), withGVK(r, obj), query)) as T;
  }

  async update<T extends KubeObject>(r: ResourceRef, obj: T, subresource?: 'status'): Promise<T> {
    const query = new URLSearchParams({ fieldManager: this.#options.fieldManager });
    const path = resourcePath(r, obj.metadata.namespace, obj.metadata.name, subresource);
    return (await this.#request('PUT', path, withGVK(r, obj), query)) as T;
  }

  async patch<T extends KubeObject>(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options: { type?: PatchType; subresource?: 'status' } = {},
  ): Promise<T> {
    const query = new URLSearchParams({ fieldManager: this.#options.fieldManager });
    const path = resourcePath(r, namespace, name, options.subresource);
    return (await this.#request('PATCH', path, patch, query, PATCH_CONTENT_TYPES[options.type ?? 'merge'])) as T;
  }

  async delete(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
    options: { preconditions?: { uid?: string; resourceVersion?: string } } = {},
  ): Promise<void> {
    const body = options.preconditions ? { apiVersion: 'v1', kind: 'DeleteOptions', preconditions: options.preconditions } : undefined;
    await this.#request('DELETE', resourcePath(r, namespace, name), body);
  }

  async watch<T extends KubeObject>(
    r: ResourceRef,
    options: WatchOptions,
    onEvent: (e: WatchEvent<T>) => void,
    onDone: (err: unknown) => void,
  ): Promise<WatchHandle> {
    const controller = await this.#watch.watch(
      resourcePath(r, options.namespace),
      watchQuery(options),
      (type: string, object: T) => onEvent({ type: type as WatchEvent['type'], object }),
      onDone,
    );
    return { abort: () => controller.abort() };
  }

  async #authHeaders(): Promise<Record<string, string>> {
    // Exec and OIDC credentials expire: refresh the headers every minute.
    if (Date.now() - this.#auth.at > 60_000) {
      this.#auth.headers = (await authHeaders(this.#kc)).headers;
      this.#auth.at = Date.now();
    }
    return this.#auth.headers;
  }

  async #request(method: string, path: string, body?: unknown, query?: URLSearchParams, contentType = 'application/json'): Promise<unknown> {
    if (this.#bucket) await this.#bucket.take();
    if (method !== 'GET') this.#rawOptions.writeFence?.();
    const built = buildRequest({
      path,
      query,
      body: body === undefined ? undefined : JSON.stringify(body),
      contentType,
      userAgent: this.#options.userAgent,
      requestId: this.#requestId,
    });
    const url = new URL(this.#server.pathname.replace(/\/$/, '') + built.target, this.#server);
    const payload = built.body === undefined ? undefined : Buffer.from(built.body);
    const headers: Record<string, string | number> = { ...(await this.#authHeaders()), ...built.headers };
    if (payload) headers['Content-Length'] = payload.length;
    const transport = url.protocol === 'http:' ? http : https;
    return new Promise((resolve, reject) => {
      const req = transport.request(url, { method, headers, agent: this.#agent, timeout: this.#options.requestTimeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const code = res.statusCode ?? 0;
          if (code >= 200 && code < 300) {
            if (method !== 'GET' && this.#requestId && this.#rawOptions.writeLog) {
              this.#rawOptions.writeLog.info('API write', { verb: method, path, code, correlationId: this.#requestId });
            }
            let parsed: unknown;
            try {
              parsed = text ? JSON.parse(text) : undefined;
            } catch {
              parsed = undefined;
            }
            resolve(parsed);
            return;
          }
          reject(errorFromResponse(code, text));
        });
      });
      req.on('timeout', () => req.destroy(new Error(`${method} ${path}: timed out after ${this.#options.requestTimeoutMs} ms`)));
      req.on('error', reject);
      req.end(payload);
    });
  }
}

function withGVK<T extends KubeObject>(r: ResourceRef, obj: T): T {
  return { ...obj, apiVersion: apiVersionOf(r), kind: r.kind };
}

/** The credentials of the kubeconfig's current user as request headers (token, basic auth, exec/OIDC plugins). */
async function authHeaders(kc: KubeConfig): Promise<{ headers: Record<string, string>; tls: https.RequestOptions }> {
  const opts: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(opts);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) headers[k] = String(v);
  if (opts.auth) headers.Authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
  return { headers, tls: opts };
}

/** One keep-alive agent for every request of this client (TLS from the kubeconfig). */
async function agentFor(kc: KubeConfig, maxSockets: number): Promise<{ agent: http.Agent; headers: Record<string, string> }> {
  const { headers, tls } = await authHeaders(kc);
  const server = kc.getCurrentCluster()?.server ?? '';
  const agent = server.startsWith('http:')
    ? new http.Agent({ keepAlive: true, maxSockets })
    : new https.Agent({
        keepAlive: true,
        maxSockets,
        ca: tls.ca,
        cert: tls.cert,
        key: tls.key,
        rejectUnauthorized: tls.rejectUnauthorized,
        servername: tls.servername,
      });
  return { agent, headers };
}
