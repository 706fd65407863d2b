/**
 * What every Quantix API client sends, whatever carries it (Node https, undici, the
 * browser's fetch): query strings, patch content types, the request-id header, list and
 * watch parameters. Browser-safe; each transport stays with its client (see README.md).
 */
export type PatchType = 'merge' | 'json';

export const PATCH_CONTENT_TYPES: Readonly<Record<PatchType, string>> = {
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
};

/** The header carrying a call's correlation id; the apiserver logs it as requestId. */
export const REQUEST_ID_HEADER = 'X-Request-Id';

/** Query parameters; undefined and '' are left out. */
export type Query = Record<string, string | number | boolean | undefined>;

/** `query` as URLSearchParams, without the undefined and empty values. */
export function queryParams(query: Query | undefined): URLSearchParams {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== '') params.set(key, String(value));
  }
  return params;
}

/** One API call, before a transport carries it. */
export interface ApiRequest {
  path: string;
  query?: Query | URLSearchParams;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  /** Of the body (default application/json); PATCH_CONTENT_TYPES for patches. */
  contentType?: string;
  /** Default application/json (qxctl asks for Tables). */
  accept?: string;
  userAgent?: string;
  /** Sent as X-Request-Id, so the apiserver's log line of this call can be found. */
  requestId?: string;
}

/** The parts every transport sends: the path with its query, the headers, the body text. */
export interface BuiltRequest {
  target: string;
  headers: Record<string, string>;
  body?: string;
}

/** An ApiRequest as path, headers and body (authentication headers are the transport's). */
export function buildRequest(request: ApiRequest): BuiltRequest {
  const headers: Record<string, string> = { Accept: request.accept ?? 'application/json' };
  if (request.userAgent) headers['User-Agent'] = request.userAgent;
  if (request.requestId) headers[REQUEST_ID_HEADER] = request.requestId;
  const query = request.query instanceof URLSearchParams ? request.query.toString() : queryParams(request.query).toString();
  const built: BuiltRequest = { target: query ? `${request.path}?${query}` : request.path, headers };
  if (request.body !== undefined) {
    built.body = typeof request.body === 'string' ? request.body : JSON.stringify(request.body);
    headers['Content-Type'] = request.contentType ?? 'application/json';
  }
  return built;
}

export interface ListOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion?: string;
  limit?: number;
  continue?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
}

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  resourceVersion: string;
  /** Default true: bookmarks keep a quiet watch's resourceVersion current. */
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

/** The query of a list call (resourceVersion '' is sent: "most recent", as the caller asked). */
export function listQuery(options: ListOptions): URLSearchParams {
  const query = new URLSearchParams();
  if (options.labelSelector) query.set('labelSelector', options.labelSelector);
  if (options.fieldSelector) query.set('fieldSelector', options.fieldSelector);
  if (options.resourceVersion !== undefined) query.set('resourceVersion', options.resourceVersion);
  if (options.limit) query.set('limit', String(options.limit));
  if (options.continue) query.set('continue', options.continue);
  return query;
}

/** The query of a watch call (without `watch=true`, which some transports add themselves). */
export function watchQuery(options: WatchOptions): Record<string, string> {
  const query: Record<string, string> = { resourceVersion: options.resourceVersion };
  if (options.allowWatchBookmarks !== false) query.allowWatchBookmarks = 'true';
  if (options.timeoutSeconds) query.timeoutSeconds = String(options.timeoutSeconds);
  if (options.labelSelector) query.labelSelector = options.labelSelector;
  if (options.fieldSelector) query.fieldSelector = options.fieldSelector;
  return query;
}

/** A list response body as items, resourceVersion and continue token. */
export function listResultOf<T>(body: unknown): ListResult<T> {
  const list = body as { items?: T[]; metadata?: { resourceVersion?: string; continue?: string } } | undefined;
  return { items: list?.items ?? [], resourceVersion: list?.metadata?.resourceVersion ?? '', continue: list?.metadata?.continue || undefined };
}
