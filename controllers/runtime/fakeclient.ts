/**
 * An in-memory ApiClient for unit tests (events, leader election, controller wiring):
 * resourceVersions, 404/409 errors, merge and JSON patches (with `test`), and a `calls`
 * log to assert on writes. Watches are not supported: integration tests use the real
 * apiserver.
 */
import { isDeepStrictEqual } from 'node:util';
import type { KubeObject } from '../../api-types/meta.js';
import type { ApiClient, WatchHandle } from './client.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import type { ListOptions, ListResult, PatchType } from '../../lib/apiclient/request.js';
import { applyMergePatch } from './committer.js';
import type { ResourceRef } from './resources.js';

export interface Call {
  verb: 'create' | 'update' | 'patch' | 'delete';
  resource: string;
  name: string;
  namespace?: string;
  subresource?: string;
  body: unknown;
  /** The X-Request-Id the call was sent with (withCorrelationId). */
  requestId?: string;
}

export class FakeApiClient implements ApiClient {
  readonly objects = new Map<string, KubeObject>();
  readonly calls: Call[] = [];
  #rv = 100;
  /** Makes the next write of `verb` fail with this error (once). */
  failNext?: { verb: Call['verb']; error: ApiError };

  #key(r: ResourceRef, namespace: string | undefined, name: string): string {
    return `${r.plural}/${r.namespaced ? (namespace ?? '') : ''}/${name}`;
  }

  #fail(verb: Call['verb']): void {
    if (this.failNext?.verb === verb) {
      const e = this.failNext.error;
      this.failNext = undefined;
      throw e;
    }
  }

  seed<T extends KubeObject>(r: ResourceRef, obj: T): T {
    const stored = structuredClone(obj);
    stored.metadata.resourceVersion = String(++this.#rv);
    stored.metadata.uid ??= `uid-${stored.metadata.name}`;
    this.objects.set(this.#key(r, obj.metadata.namespace, obj.metadata.name!), stored);
    return structuredClone(stored);
  }

  async get<T extends KubeObject>(r: ResourceRef, namespace: string | undefined, name: string): Promise<T> {
    const o = this.objects.get(this.#key(r, namespace, name));
    if (!o) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    return structuredClone(o) as T;
  }

  async list<T extends KubeObject>(r: ResourceRef, options: ListOptions = {}): Promise<ListResult<T>> {
    const prefix = `${r.plural}/${options.namespace ?? ''}`;
    const items = [...this.objects.entries()]
      .filter(([k]) => k.startsWith(r.namespaced && options.namespace ? prefix + '/' : `${r.plural}/`))
      .map(([, o]) => structuredClone(o) as T);
    return { items, resourceVersion: String(this.#rv) };
  }

  async create<T extends KubeObject>(r: ResourceRef, obj: T): Promise<T> {
    this.calls.push({ verb: 'create', resource: r.plural, name: obj.metadata.name!, namespace: obj.metadata.namespace, body: structuredClone(obj) });
    this.#fail('create');
    const key = this.#key(r, obj.metadata.namespace, obj.metadata.name!);
    if (this.objects.has(key)) throw new ApiError(409, 'AlreadyExists', `${r.plural} "${obj.metadata.name}" already exists`);
    return this.seed(r, obj);
  }

  async update<T extends KubeObject>(r: ResourceRef, obj: T, subresource?: 'status'): Promise<T> {
    this.calls.push({
      verb: 'update',
      resource: r.plural,
      name: obj.metadata.name!,
      namespace: obj.metadata.namespace,
      subresource,
      body: structuredClone(obj),
    });
    this.#fail('update');
    const key = this.#key(r, obj.metadata.namespace, obj.metadata.name!);
    const cur = this.objects.get(key);
    if (!cur) throw new ApiError(404, 'NotFound', `${r.plural} "${obj.metadata.name}" not found`);
    if (obj.metadata.resourceVersion && obj.metadata.resourceVersion !== cur.metadata.resourceVersion) {
      throw new ApiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
    }
    const next = structuredClone(obj);
    next.metadata = { ...next.metadata, uid: cur.metadata.uid, resourceVersion: String(++this.#rv) };
    this.objects.set(key, next);
    return structuredClone(next);
  }

  async patch<T extends KubeObject>(
    r: ResourceRef,
    namespace: string | undefined,
    name: string,
    patch: unknown,
    options: { type?: PatchType; subresource?: 'status' } = {},
  ): Promise<T> {
    this.calls.push({ verb: 'patch', resource: r.plural, name, namespace, subresource: options.subresource, body: structuredClone(patch) });
    this.#fail('patch');
    const key = this.#key(r, namespace, name);
    const cur = this.objects.get(key);
    if (!cur) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
    let next: KubeObject;
    if ((options.type ?? 'merge') === 'merge') {
      const rv = (patch as { metadata?: { resourceVersion?: string } }).metadata?.resourceVersion;
      if (rv && rv !== cur.metadata.resourceVersion) throw new ApiError(409, 'Conflict', 'the object has been modified');
      next = applyMergePatch(cur, patch) as KubeObject;
    } else {
      next = applyJsonPatch(cur, patch as JsonOp[]);
    }
    next.metadata = { ...next.metadata, uid: cur.metadata.uid, resourceVersion: String(++this.#rv) };
    this.objects.set(key, next);
    return structuredClone(next) as T;
  }

  async delete(r: ResourceRef, namespace: string | undefined, name: string): Promise<void> {
    this.calls.push({ verb: 'delete', resource: r.plural, name, namespace, body: undefined });
    this.#fail('delete');
    if (!this.objects.delete(this.#key(r, namespace, name))) throw new ApiError(404, 'NotFound', `${r.plural} "${name}" not found`);
  }

  async watch(): Promise<WatchHandle> {
    throw new Error('FakeApiClient does not watch');
  }

  /** A view whose writes are recorded with `requestId` (the same objects and calls). */
  withCorrelationId(correlationId: string | undefined): ApiClient {
    if (!correlationId) return this;
    // Each method records its call synchronously, before its first await: tag that call.
    const tagged =
      <A extends unknown[], R>(method: (...args: A) => Promise<R>) =>
      (...args: A): Promise<R> => {
        const before = this.calls.length;
        const result = method.apply(this, args);
        for (const call of this.calls.slice(before)) call.requestId = correlationId;
        return result;
      };
    return {
      get: (r, namespace, name) => this.get(r, namespace, name),
      list: (r, options) => this.list(r, options),
      create: tagged(this.create) as ApiClient['create'],
      update: tagged(this.update) as ApiClient['update'],
      patch: tagged(this.patch) as ApiClient['patch'],
      delete: tagged(this.delete),
      watch: () => this.watch(),
      withCorrelationId: (id) => this.withCorrelationId(id),
    };
  }

  writes(resource?: string): Call[] {
    return this.calls.filter((c) => !resource || c.resource === resource);
  }
}

type JsonOp = { op: 'test' | 'add' | 'replace' | 'remove'; path: string; value?: unknown };

function applyJsonPatch(doc: KubeObject, ops: JsonOp[]): KubeObject {
  const out = structuredClone(doc) as unknown as Record<string, unknown>;
  for (const op of ops) {
    const parts = op.path
      .split('/')
      .slice(1)
      .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
    const last = parts.pop()!;
    let parent: Record<string, unknown> = out;
    for (const p of parts) {
      const child = parent[p];
      if (typeof child !== 'object' || child === null) throw new ApiError(422, 'Invalid', `the patch could not be applied: path ${op.path} not found`);
      parent = child as Record<string, unknown>;
    }
    if (op.op === 'test') {
      if (!isDeepStrictEqual(parent[last], op.value)) throw new ApiError(422, 'Invalid', `the patch could not be applied: test failed at ${op.path}`);
    } else if (op.op === 'remove') {
      delete parent[last];
    } else if (Array.isArray(parent) && last === '-') {
      (parent as unknown[]).push(op.value);
    } else {
      parent[last] = structuredClone(op.value);
    }
  }
  return out as unknown as KubeObject;
}
