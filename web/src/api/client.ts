/**
 * The one HTTP client of the UI: same origin (the apiserver serves the UI), the signed-in
 * bearer token on every call, `X-Request-Id` on every call, Status objects turned into
 * ApiError. Query strings, patch content types, the request-id header and Status decoding
 * are the shared client core's (lib/apiclient, lib/apimachinery); the transport is the
 * browser's fetch.
 */
import type { KubeObject } from '../../../api-types/meta.js';
import { newActionId } from './request-id.js';
import { errorFromResponse, networkError } from '../../../lib/apimachinery/status-error.js';
import { buildRequest, PATCH_CONTENT_TYPES, type PatchType } from '../../../lib/apiclient/request.js';

export interface CallOptions {
  /** Correlation id of the user action this call belongs to (a fresh one otherwise). */
  actionId?: string;
  signal?: AbortSignal;
  query?: Record<string, string | undefined>;
}

export class ApiClient {
  constructor(
    readonly token: string,
    readonly baseUrl = '',
  ) {}

  /** A raw fetch with auth and request id; throws ApiError on failure, returns the Response. */
  async fetch(method: string, path: string, init: { body?: string; contentType?: string } & CallOptions = {}): Promise<Response> {
    // Every call of one user action carries the action's id (contract: one correlation id per action).
    const requestId = init.actionId ?? newActionId();
    const built = buildRequest({ path, query: init.query, body: init.body, contentType: init.contentType, requestId });
    const headers = { Authorization: `Bearer ${this.token}`, ...built.headers };
    let res: Response;
    try {
      res = await fetch(this.baseUrl + built.target, { method, headers, body: built.body, signal: init.signal, cache: 'no-store' });
    } catch (err) {
      if ((err as { name?: string }).name === 'AbortError') throw err;
      throw networkError(err, requestId);
    }
    if (!res.ok) throw errorFromResponse(res.status, await res.text().catch(() => ''), requestId);
    return res;
  }

  async get<T>(path: string, options: CallOptions = {}): Promise<T> {
    return (await this.fetch('GET', path, options)).json() as Promise<T>;
  }

  async create<T extends KubeObject>(path: string, obj: T, options: CallOptions = {}): Promise<T> {
    const res = await this.fetch('POST', path, { ...options, body: JSON.stringify(obj), contentType: 'application/json' });
    return res.json() as Promise<T>;
  }

  async replace<T extends KubeObject>(path: string, obj: T, options: CallOptions = {}): Promise<T> {
    const res = await this.fetch('PUT', path, { ...options, body: JSON.stringify(obj), contentType: 'application/json' });
    return res.json() as Promise<T>;
  }

  async patch<T extends KubeObject>(path: string, patch: unknown, type: PatchType = 'merge', options: CallOptions = {}): Promise<T> {
    const res = await this.fetch('PATCH', path, { ...options, body: JSON.stringify(patch), contentType: PATCH_CONTENT_TYPES[type] });
    return res.json() as Promise<T>;
  }

  async delete(path: string, options: CallOptions = {}): Promise<void> {
    await this.fetch('DELETE', path, options);
  }
}
