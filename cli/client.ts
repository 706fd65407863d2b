/**
 * qxctl's connection to the API server, on @kubernetes/client-node: `KubeConfig` loads
 * the kubeconfig exactly as kubectl does (KUBECONFIG with several files merged, or
 * ~/.kube/config; --kubeconfig; --context) and authenticates each request (bearer token,
 * client certificates, exec plugins, the cluster CA). Requests go through undici — the
 * transport client-node itself uses — as raw REST calls, because qxctl needs what the
 * typed clients do not offer: Table output, apply/merge patches with field managers,
 * subresources (/status, /files), /version, and watches of Tables.
 *
 * client-node takes a while to import, so it is imported lazily, only by verbs that talk
 * to a server (`qxctl version --client`, `--help` and `completion` never load it).
 */
import type { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject, WatchEvent } from '../api-types/meta.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { resourcePath } from '../api-types/group-version.js';
import { isNotFound } from '../lib/apimachinery/status-error.js';
import { buildRequest, PATCH_CONTENT_TYPES, type Query } from '../lib/apiclient/request.js';
import { watchEvents } from '../lib/apiclient/watch-events.js';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { DEFAULT_CHUNK_SIZE, type ListPage, mergeListPages, pageQuery } from './list-pages.js';
import { clientVersion, REPO_ROOT } from './version-info.js';
import { CliError, ConnectionError, ExitCode, errorFromResponse, UsageError } from './errors.js';

export const TABLE_ACCEPT = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';
export const FIELD_MANAGER = 'qxctl';

export interface ClientOptions {
  kubeconfig?: string;
  context?: string;
  /** -n; when unset the context's namespace, else `default`. */
  namespace?: string;
  /** Per-request timeout (not for watches). */
  requestTimeoutMs?: number;
  /** Sent as X-Request-Id on every request: one id per command (a new one when unset). */
  requestId?: string;
}

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  contentType?: string;
  accept?: string;
  signal?: AbortSignal;
  timeoutMs?: number;
}

export interface Response<T> {
  status: number;
  body: T;
}

/**
 * Which kubeconfig to load when --kubeconfig is not given: `KUBECONFIG` (client-node
 * merges its files, as kubectl does), else ~/.kube/config, else — only when kubectl
 * would find nothing at all — the local cluster's `.quantix/kubeconfig` (written by
 * `make up`) in this checkout. Undefined when there is none.
 */
export function defaultKubeconfigPath(env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (env.KUBECONFIG) return 'KUBECONFIG';
  const home = env.HOME || env.USERPROFILE;
  if (home && existsSync(join(home, '.kube', 'config'))) return join(home, '.kube', 'config');
  const local = join(REPO_ROOT, '.quantix', 'kubeconfig');
  return existsSync(local) ? local : undefined;
}

/**
 * KUBECONFIG with several files, merged the way kubectl merges them (client-node's own
 * merge rejects duplicate names and lets the last file pick the context): files that do
 * not exist are skipped, the first file to define a cluster, user or context by name
 * wins, and the first file that sets current-context sets it.
 */
export function loadKubeconfigList(k8s: typeof import('@kubernetes/client-node'), kc: KubeConfig, paths: string[]): void {
  const files = paths.filter((p) => p && existsSync(p));
  if (files.length === 0) throw new CliError(`none of the KUBECONFIG files exist (${paths.filter(Boolean).join(', ')})`, ExitCode.Usage);
  const clusters = new Map<string, KubeConfig['clusters'][number]>();
  const users = new Map<string, KubeConfig['users'][number]>();
  const contexts = new Map<string, KubeConfig['contexts'][number]>();
  let currentContext = '';
  for (const file of files) {
    const one = new k8s.KubeConfig();
    one.loadFromFile(file);
    for (const c of one.clusters) if (!clusters.has(c.name)) clusters.set(c.name, c);
    for (const u of one.users) if (!users.has(u.name)) users.set(u.name, u);
    for (const c of one.contexts) if (!contexts.has(c.name)) contexts.set(c.name, c);
    currentContext ||= one.currentContext;
  }
  kc.loadFromOptions({ clusters: [...clusters.values()], users: [...users.values()], contexts: [...contexts.values()], currentContext });
}

function connectionMessage(server: string, err: unknown): string {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const detail = cause?.message ?? (err as Error)?.message ?? String(err);
  const code = cause?.code;
  if (code === 'ECONNREFUSED') return `cannot connect to the server at ${server}: connection refused — is it running? (check KUBECONFIG / --kubeconfig)`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot resolve the server ${server}: ${detail}`;
  if (code && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) return `TLS error talking to ${server}: ${detail}`;
  return `cannot reach the server at ${server}: ${detail}`;
}

export class Client {
  #dispatcher: unknown;
  #fetchImpl?: typeof import('undici').fetch;

  private constructor(
    readonly kc: KubeConfig,
    private readonly k8s: typeof import('@kubernetes/client-node'),
    readonly server: string,
    /** The namespace namespaced commands use (-n, else the context's, else `default`). */
    readonly namespace: string,
    readonly requestTimeoutMs: number,
    /** The X-Request-Id of every request of this run. */
    readonly requestId: string,
  ) {}

  static async create(opts: ClientOptions = {}): Promise<Client> {
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    try {
      const path = opts.kubeconfig ?? defaultKubeconfigPath();
      if (!path) {
        throw new CliError(
          'no kubeconfig: set KUBECONFIG or pass --kubeconfig (`make up` writes .quantix/kubeconfig), or create ~/.kube/config',
          ExitCode.Usage,
        );
      }
      if (path === 'KUBECONFIG') loadKubeconfigList(k8s, kc, (process.env.KUBECONFIG ?? '').split(delimiter));
      else kc.loadFromFile(path);
    } catch (err) {
      if (err instanceof CliError) throw err;
      const e = err as NodeJS.ErrnoException;
      const where = opts.kubeconfig ?? process.env.KUBECONFIG ?? '~/.kube/config';
      if (e.code === 'ENOENT')
        throw new CliError(`kubeconfig ${e.path ?? where} does not exist (run \`make up\`, or set KUBECONFIG / --kubeconfig)`, ExitCode.Usage);
      throw new CliError(`cannot load kubeconfig ${where}: ${e.message}`, ExitCode.Usage);
    }
    if (opts.context) {
      if (!kc.getContextObject(opts.context)) {
        const known = kc.getContexts().map((c) => c.name);
        throw new UsageError(`context "${opts.context}" does not exist in the kubeconfig (contexts: ${known.join(', ') || 'none'})`);
      }
      kc.setCurrentContext(opts.context);
    }
    const cluster = kc.getCurrentCluster();
    if (!cluster?.server) {
      throw new CliError('no cluster in the kubeconfig: set KUBECONFIG or pass --kubeconfig (after `make up` it is .quantix/kubeconfig)', ExitCode.Usage);
    }
    const contextNamespace = kc.getContextObject(kc.getCurrentContext())?.namespace;
    return new Client(
      kc,
      k8s,
      cluster.server.replace(/\/+$/, ''),
      opts.namespace || contextNamespace || 'default',
      opts.requestTimeoutMs ?? 30_000,
      opts.requestId ?? randomUUID(),
    );
  }

  /** Headers (authentication) and the TLS dispatcher for one request. */
  async #auth(url: URL, method: string): Promise<{ headers: Record<string, string>; dispatcher: unknown }> {
    const { RequestContext, HttpMethod } = this.k8s;
    const ctx = new RequestContext(url.toString(), HttpMethod[method as keyof typeof HttpMethod]);
    try {
      await this.kc.applySecurityAuthentication(ctx);
    } catch (err) {
      throw new CliError(`cannot authenticate with the kubeconfig's user: ${(err as Error).message}`, ExitCode.Unauthorized);
    }
    // One connection pool for the whole run (client-node makes a new agent per request).
    this.#dispatcher ??= ctx.getDispatcher();
    return { headers: ctx.getHeaders(), dispatcher: this.#dispatcher };
  }

  async #fetch(method: string, path: string, opts: RequestOptions, stream: boolean) {
    if (!this.#fetchImpl) {
      // undici is CommonJS: bundled, its exports may sit under `default`.
      const mod = (await import('undici')) as typeof import('undici') & { default?: typeof import('undici') };
      this.#fetchImpl = mod.fetch ?? mod.default!.fetch;
    }
    const built = buildRequest({
      path,
      query: opts.query,
      body: opts.body,
      contentType: opts.contentType,
      accept: opts.accept,
      userAgent: `qxctl/${clientVersion()} (node ${process.version})`,
      requestId: this.requestId,
    });
    const url = new URL(this.server + built.target);
    const auth = await this.#auth(url, method);
    const { dispatcher } = auth;
    const headers = { ...auth.headers, ...built.headers };
    const body = built.body;
    const signals = [opts.signal, stream ? undefined : AbortSignal.timeout(opts.timeoutMs ?? this.requestTimeoutMs)].filter((s): s is AbortSignal =>
      Boolean(s),
    );
    const signal = signals.length > 1 ? AbortSignal.any(signals) : signals[0];
    try {
      return await this.#fetchImpl(url, { method, headers, body, signal, dispatcher: dispatcher as never });
    } catch (err) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? err;
      if ((err as Error)?.name === 'TimeoutError') {
        throw new CliError(
          `the request ${method} ${url.pathname} timed out after ${Math.round((opts.timeoutMs ?? this.requestTimeoutMs) / 1000)}s`,
          ExitCode.Timeout,
        );
      }
      throw new ConnectionError(connectionMessage(this.server, err));
    }
  }

  /** One request; non-2xx answers throw ApiStatusError (the server's Status). */
  async request<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', path: string, opts: RequestOptions = {}): Promise<Response<T>> {
    const res = await this.#fetch(method, path, opts, false);
    const text = await res.text();
    if (res.status < 200 || res.status >= 300) throw errorFromResponse(res.status, text);
    let body: unknown = text;
    if (text && (res.headers.get('content-type') ?? '').includes('json')) {
      try {
        body = JSON.parse(text);
      } catch {
        body = text;
      }
    }
    return { status: res.status, body: body as T };
  }

  get<T = KubeObject>(path: string, opts: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, opts).then((r) => r.body);
  }

  /**
   * Lists a collection (a list or, with TABLE_ACCEPT, a Table) in pages of `chunkSize`
   * (cli/list-pages.ts; 0: one request) and returns them merged.
   */
  async list<L extends ListPage>(path: string, opts: RequestOptions & { chunkSize?: number } = {}): Promise<L> {
    const { chunkSize = DEFAULT_CHUNK_SIZE, ...rest } = opts;
    const pages: L[] = [];
    let continueToken: string | undefined;
    do {
      const page = await this.get<L>(path, { ...rest, query: { ...rest.query, ...pageQuery(chunkSize, continueToken) } });
      pages.push(page);
      continueToken = page.metadata?.continue || undefined;
    } while (continueToken);
    return mergeListPages(pages);
  }

  /**
   * Opens a watch and yields its events until the server closes the stream (or `signal`
   * aborts). ERROR events are yielded (the caller decides: 410 Expired means relist).
   */
  async *watch<T = unknown>(path: string, query: Query, opts: { accept?: string; signal?: AbortSignal } = {}): AsyncGenerator<WatchEvent<T>> {
    const res = await this.#fetch('GET', path, { query: { ...query, watch: 'true' }, accept: opts.accept, signal: opts.signal }, true);
    if (res.status !== 200) throw errorFromResponse(res.status, await res.text());
    if (!res.body) return;
    try {
      // Undecodable lines are skipped: one bad line must not end a long watch.
      yield* watchEvents<T>(res.body as AsyncIterable<Uint8Array>, { skipUndecodable: true });
    } catch (err) {
      if (opts.signal?.aborted) return;
      // A dropped connection ends the stream; the caller reconnects.
      if ((err as Error)?.name === 'AbortError') return;
      throw new ConnectionError(connectionMessage(this.server, err));
    }
  }

  /**
   * A streaming GET (`qxctl logs -f`: application/x-ndjson): yields the body's lines until
   * the server ends it or `signal` aborts. A non-200 answer throws ApiStatusError.
   */
  async *lines(path: string, query: Query, opts: { signal?: AbortSignal } = {}): AsyncGenerator<string> {
    const res = await this.#fetch('GET', path, { query, signal: opts.signal }, true);
    if (res.status !== 200) throw errorFromResponse(res.status, await res.text());
    if (!res.body) return;
    const decoder = new TextDecoder();
    let rest = '';
    try {
      for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
        rest += decoder.decode(chunk, { stream: true });
        const lines = rest.split('\n');
        rest = lines.pop() ?? '';
        for (const line of lines) if (line) yield line;
      }
    } catch (err) {
      if (opts.signal?.aborted || (err as Error)?.name === 'AbortError') return;
      throw new ConnectionError(connectionMessage(this.server, err));
    }
    if (rest) yield rest;
  }

  /**
   * Opens a WebSocket (RFC 6455 upgrade) to `path`, authenticated and verified with the
   * kubeconfig exactly as every other request (client-node's `applyToHTTPSOptions`: bearer
   * token or exec plugin, client certificate, the cluster CA, insecure-skip-tls-verify).
   * Resolves once upgraded. An answer other than the upgrade throws ApiStatusError with the
   * server's Status (403 Forbidden, 409 VMNotRunning, …); no answer throws ConnectionError.
   */
  async openWebSocket(path: string, opts: { query?: Query; protocols: string[] }): Promise<import('ws').WebSocket> {
    const mod = (await import('ws')) as typeof import('ws') & { default?: typeof import('ws') };
    const WebSocketClass = mod.WebSocket ?? mod.default!.WebSocket;
    const built = buildRequest({ path, query: opts.query, userAgent: `qxctl/${clientVersion()} (node ${process.version})`, requestId: this.requestId });
    const url = new URL(this.server + built.target);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    const options: import('ws').ClientOptions & { headers: Record<string, string> } = { headers: {} };
    try {
      await this.kc.applyToHTTPSOptions(options);
    } catch (err) {
      throw new CliError(`cannot authenticate with the kubeconfig's user: ${(err as Error).message}`, ExitCode.Unauthorized);
    }
    options.headers = { ...options.headers, ...built.headers };
    options.handshakeTimeout = this.requestTimeoutMs;
    // Frames carry terminal bytes and RFB: compressing them only adds latency.
    options.perMessageDeflate = false;
    const socket = new WebSocketClass(url, opts.protocols, options);
    return new Promise((resolve, reject) => {
      socket.once('open', () => {
        socket.removeAllListeners('error');
        resolve(socket);
      });
      socket.once('unexpected-response', (req, res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          req.destroy();
          reject(errorFromResponse(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
        });
        res.on('error', (err) => reject(new ConnectionError(connectionMessage(this.server, err))));
      });
      socket.once('error', (err: NodeJS.ErrnoException) => {
        if (/handshake has timed out/i.test(err.message)) {
          reject(new CliError(`opening ${url.pathname} timed out after ${Math.round(this.requestTimeoutMs / 1000)}s`, ExitCode.Timeout));
        } else if (/subprotocol/i.test(err.message)) {
          reject(new CliError(`the server at ${this.server} does not speak ${opts.protocols.join(', ')} on ${url.pathname}: ${err.message}`));
        } else reject(new ConnectionError(connectionMessage(this.server, { cause: err })));
      });
    });
  }

  /** GET an object; undefined when it does not exist. */
  async getObject<T extends KubeObject = KubeObject>(def: ResourceDefinition, namespace: string | undefined, name: string): Promise<T | undefined> {
    try {
      return await this.get<T>(resourcePath(def, namespace, name));
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** A merge patch of the main resource (or a subresource), as field manager `qxctl`. */
  async mergePatch<T extends KubeObject = KubeObject>(
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    subresource?: string,
  ): Promise<T> {
    const res = await this.request<T>('PATCH', resourcePath(def, namespace, name, subresource), {
      body: patch,
      contentType: PATCH_CONTENT_TYPES.merge,
      query: { fieldManager: FIELD_MANAGER },
    });
    return res.body;
  }

  /** The namespace an object of `def` goes to: explicit, else the default (cluster-scoped: none). */
  namespaceFor(def: Pick<ResourceDefinition, 'namespaced'>, explicit?: string): string | undefined {
    return def.namespaced ? explicit || this.namespace : undefined;
  }
}

/** `virtualmachine.quantix.io` — how kubectl names a kind in messages. */
export function qualifiedKind(def: Pick<ResourceDefinition, 'kind' | 'group'>): string {
  return def.group ? `${def.kind.toLowerCase()}.${def.group}` : def.kind.toLowerCase();
}
