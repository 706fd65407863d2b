/**
 * `EtcdStore`: the storage contract (interface.ts) over etcd v3, following
 * k8s.io/apiserver/pkg/storage/etcd3:
 *
 * - key layout `/registry/<group or 'core'>/<resource>/<namespace>/<name>` (no namespace
 *   segment for cluster-scoped resources); values are the object's JSON without
 *   `metadata.resourceVersion`, which is the key's etcd mod revision;
 * - create is a transaction that requires the key not to exist (mod revision 0);
 * - update is compare-and-swap on the mod revision in one transaction whose failure
 *   branch reads the current value, so a conflict costs no extra round trip and
 *   guaranteedUpdate retries with what etcd returned;
 * - lists page through etcd at one revision (continue token = revision + next key).
 *
 * It reads and writes through a `KvClient` (../etcd-client/etcd-kv.ts): Range and Txn with etcd3's
 * low-level request / response shapes (etcd3's builders add per-call overhead and cannot
 * compare on mod revision or range at a revision). The apiserver passes the lean HTTP/2
 * client (`createKvClient`); by default it is etcd3's own `client.kv`. Watches open their
 * etcd Watch streams through the same `KvClient`.
 *
 * Objects returned by its methods are fresh and owned by the caller.
 */
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { randomUUID } from 'node:crypto';
import type { Etcd3, IKeyValue, IOptions, IRangeResponse, IRequestOp, ITxnRequest, ITxnResponse } from 'etcd3';
import type { KubeObject, ObjectMeta } from '../../api-types/meta.js';
import {
  AlreadyExistsError,
  ConflictError,
  ExpiredError,
  InsufficientStorageError,
  InvalidRequestError,
  isEtcdNoSpace,
  NotFoundError,
  TooLargeResourceVersionError,
} from './errors.js';
import { etcd3Kv, type KvClient } from '../etcd-client/etcd-kv.js';
import type { DeleteOptions, DeleteResult, GetOptions, ListOptions, ListResult, StorageResource, Store, UpdateFn } from './interface.js';
import { ObjectSelector } from './selectors.js';

/**
 * gRPC channel options to create the etcd3 client with (`new Etcd3({ hosts, grpcOptions:
 * ETCD_GRPC_OPTIONS })`): keepalive pings (as the Kubernetes apiserver's etcd client) so a
 * watch on a silently dead connection fails and reconnects instead of hanging forever
 * (30 s is above etcd's default 5 s minimum ping interval; no pings without calls, which
 * etcd would answer with GOAWAY), and no cap on response size for large lists. The lean
 * KV client (../etcd-client/etcd-kv.ts) does not use these: it has no size cap by default, a per-call
 * deadline, and its own pings while a watch stream is open.
 */
export const ETCD_GRPC_OPTIONS = {
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.max_receive_message_length': -1,
} as const;

/** TLS to etcd (PEM): the CA that signed etcd's serving certificate, and our client certificate. */
export interface EtcdClientTls {
  caPem: string;
  certPem?: string;
  keyPem?: string;
}

/** The lean etcd client's TLS options (apiserver/etcd-client) for the same PEMs as etcd3Options. */
export function leanKvTls(tls: EtcdClientTls): { ca: string; cert?: string; key?: string } {
  return { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem };
}

/** Options for `new Etcd3(...)`: the endpoints, ETCD_GRPC_OPTIONS and, for https:// ones, `tls`. */
export function etcd3Options(endpoints: readonly string[], tls?: EtcdClientTls): IOptions {
  return {
    hosts: [...endpoints],
    grpcOptions: ETCD_GRPC_OPTIONS,
    ...(tls && {
      credentials: {
        rootCertificate: Buffer.from(tls.caPem),
        ...(tls.certPem !== undefined && { certChain: Buffer.from(tls.certPem) }),
        ...(tls.keyPem !== undefined && { privateKey: Buffer.from(tls.keyPem) }),
      },
    }),
  };
}

export interface EtcdStoreOptions {
  /** Key prefix; default '/registry'. */
  prefix?: string;
  /** Objects per etcd range request when listing without a limit; default 1000. */
  listChunkSize?: number;
  /** guaranteedUpdate gives up (with the last ConflictError) after this many attempts; default 1000. */
  maxUpdateAttempts?: number;
  /** Clock for creationTimestamp / deletionTimestamp. */
  now?: () => Date;
  /**
   * Client for range / txn and watch streams, e.g. one `createKvClient(endpoints)` shared by
   * all stores (not closed by the store); default: the etcd3 client's `kv` and watch client.
   */
  kv?: KvClient;
}

/** A stored object: its etcd key, decoded object, raw value (when at hand) and mod revision. */
export interface StoredObject {
  key: string;
  obj: KubeObject;
  raw?: Buffer;
  modRevision: string;
}

/**
 * Server-owned metadata: only the server sets these, and what a request says about them is
 * ignored. The storage layer owns them: `createdMetadata` and `updatedMetadata` below are
 * what EtcdStore writes (resourceVersion is etcd's mod revision, never stored), and delete
 * sets the deletion fields. The write strategy only drops a request's values before
 * validating it (apiserver/registry/strategy.ts); a dry run shows what these would store.
 */
export const SERVER_OWNED_METADATA = [
  'uid',
  'resourceVersion',
  'generation',
  'creationTimestamp',
  'deletionTimestamp',
  'deletionGracePeriodSeconds',
] as const satisfies readonly (keyof ObjectMeta)[];

/** A copy of `meta` without the server-owned fields. */
export function withoutServerOwnedMetadata(meta: ObjectMeta): ObjectMeta {
  const out = { ...meta };
  for (const field of SERVER_OWNED_METADATA) delete out[field];
  return out;
}

/** A new object's metadata: a new uid, creationTimestamp `now`, generation 1; no resourceVersion nor deletion fields. */
export function createdMetadata(meta: ObjectMeta, now: Date): ObjectMeta {
  const metadata: ObjectMeta = { ...meta, uid: randomUUID(), creationTimestamp: isoSeconds(now), generation: 1 };
  if (metadata.resourceVersion !== undefined) delete metadata.resourceVersion;
  if (metadata.deletionTimestamp !== undefined) delete metadata.deletionTimestamp;
  if (metadata.deletionGracePeriodSeconds !== undefined) delete metadata.deletionGracePeriodSeconds;
  return metadata;
}

/**
 * The metadata an update of `current` to `desired` stores: desired's, with uid,
 * creationTimestamp and the deletion fields carried over from current, generation + 1 when
 * `spec` changed; no resourceVersion.
 */
export function updatedMetadata(desired: KubeObject, current: KubeObject): ObjectMeta {
  const cm = current.metadata;
  const { resourceVersion: _rv, ...rest } = desired.metadata;
  const metadata: ObjectMeta = {
    ...rest,
    uid: cm.uid,
    creationTimestamp: cm.creationTimestamp,
    generation: jsonEqual(desired.spec, current.spec) ? cm.generation : (cm.generation ?? 0) + 1,
    deletionTimestamp: cm.deletionTimestamp,
    deletionGracePeriodSeconds: cm.deletionGracePeriodSeconds,
  };
  for (const k of ['uid', 'creationTimestamp', 'generation', 'deletionTimestamp', 'deletionGracePeriodSeconds'] as const) {
    if (metadata[k] === undefined) delete metadata[k];
  }
  return metadata;
}

/** Kubernetes-style resourceVersion parameter: '' | '0' | positive integer. */
export function parseResourceVersion(rv: string | undefined, what = 'resourceVersion'): number {
  if (rv === undefined || rv === '') return 0;
  if (!/^\d+$/.test(rv) || rv.length > 15) {
    throw new InvalidRequestError(`invalid ${what} "${rv}": must be a non-negative integer`, what);
  }
  return Number(rv);
}

/** The end of etcd's range for every key starting with `prefix`. */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i]!++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Structural equality of JSON values; properties holding `undefined` count as absent. */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== 'object' || typeof b !== 'object') return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!jsonEqual(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  const ao = a as Record<string, unknown>;
  const bo = b as Record<string, unknown>;
  let na = 0;
  for (const k in ao) {
    if (ao[k] === undefined) continue;
    na++;
    if (!jsonEqual(ao[k], bo[k])) return false;
  }
  let nb = 0;
  for (const k in bo) if (bo[k] !== undefined) nb++;
  return na === nb;
}

interface ContinueToken {
  rv: number;
  start: string;
}

function encodeContinue(t: ContinueToken): string {
  return Buffer.from(JSON.stringify({ v: 'quantix/v1', rv: t.rv, start: t.start })).toString('base64url');
}

function decodeContinue(token: string): ContinueToken {
  try {
    const t = JSON.parse(Buffer.from(token, 'base64url').toString('utf8')) as { v?: string; rv?: unknown; start?: unknown };
    if (t.v === 'quantix/v1' && typeof t.rv === 'number' && t.rv > 0 && typeof t.start === 'string') {
      return { rv: t.rv, start: t.start };
    }
  } catch {
    /* fall through */
  }
  throw new InvalidRequestError('continue token is invalid: it must be the value returned by a previous list', 'continue');
}

export const isCompacted = (err: unknown): boolean => /required revision has been compacted/i.test(String((err as Error)?.message));
const isFutureRevision = (err: unknown): boolean => /required revision is a future revision/i.test(String((err as Error)?.message));
/** A response above the client's size cap (RESOURCE_EXHAUSTED too, but not etcd's NOSPACE, which only writes get). */
const isTooLarge = (err: unknown): boolean => /RESOURCE_EXHAUSTED|larger than max/i.test(String((err as Error)?.message)) && !isEtcdNoSpace(err);

type WriteResult = { kind: 'written'; obj: KubeObject } | { kind: 'noop'; obj: KubeObject } | { kind: 'conflict'; current: StoredObject | undefined };

type CasResult = { ok: true; revision: string } | { ok: false; current: StoredObject | undefined };

/**
 * Everything of the Store contract but watch: the apiserver serves watches from CachedStore
 * (one etcd watch per resource, watch-cache.ts). A watch straight from etcd, for the
 * contract tests only, is in etcd-store-watch.test-support.ts.
 */
export class EtcdStore implements Omit<Store, 'watch'> {
  readonly #kv: KvClient;
  readonly #prefix: string;
  readonly #listChunk: number;
  readonly #maxAttempts: number;
  readonly #now: () => Date;

  constructor(
    client: Etcd3,
    readonly resource: StorageResource,
    opts: EtcdStoreOptions = {},
  ) {
    this.#kv = opts.kv ?? etcd3Kv(client);
    const root = (opts.prefix ?? '/registry').replace(/\/+$/, '');
    this.#prefix = `${root}/${resource.group || 'core'}/${resource.resource}/`;
    this.#listChunk = opts.listChunkSize ?? 1000;
    this.#maxAttempts = opts.maxUpdateAttempts ?? 1000;
    this.#now = opts.now ?? (() => new Date());
  }

  /** The client for range / txn and watch streams (for the watch cache's etcd watch). */
  get kv(): KvClient {
    return this.#kv;
  }

  /** `/registry/<group>/<resource>/`: every key of this resource starts with it. */
  get keyPrefix(): string {
    return this.#prefix;
  }

  // ---------------------------------------------------------------- keys & codec

  /** The etcd key of an object; validates namespace and name. */
  keyFor(namespace: string | undefined, name: string | undefined): string {
    checkSegment('metadata.name', name);
    if (this.resource.namespaced) {
      checkSegment('metadata.namespace', namespace);
      return `${this.#prefix}${namespace}/${name}`;
    }
    return `${this.#prefix}${name}`;
  }

  /** Decodes a key-value into a fresh object with resourceVersion = mod revision. */
  decode(kv: IKeyValue): KubeObject {
    const obj = JSON.parse(kv.value.toString('utf8')) as KubeObject;
    if (obj === null || typeof obj !== 'object' || typeof obj.metadata !== 'object' || obj.metadata === null) {
      throw new Error(`corrupt object at ${kv.key.toString()}: not a JSON object with metadata`);
    }
    obj.metadata.resourceVersion = String(kv.mod_revision);
    return obj;
  }

  #stored(kv: IKeyValue): StoredObject {
    return { key: kv.key.toString('utf8'), obj: this.decode(kv), raw: kv.value, modRevision: String(kv.mod_revision) };
  }

  /** Serialized form: the object without metadata.resourceVersion. */
  #encode(obj: KubeObject): Buffer {
    const { resourceVersion: _rv, ...metadata } = obj.metadata;
    return Buffer.from(JSON.stringify({ ...obj, metadata }));
  }

  // ---------------------------------------------------------------- reads

  /** Reads one key from etcd (linearizable). */
  async readStored(key: string): Promise<StoredObject | undefined> {
    const res = await this.#kv.range({ key: Buffer.from(key) });
    const kv = res.kvs[0];
    return kv ? this.#stored(kv) : undefined;
  }

  /**
   * Whether `key` is still at `modRevision` (linearizable): its mod revision alone (keys_only),
   * no value to send or decode. The same mod revision is the same stored bytes. Confirms a
   * no-op decided on the watch cache; the agents' reports are mostly such no-ops, and reading
   * each whole object back cost a decode of up to tens of KB apiece under load.
   */
  async #stillAt(key: string, modRevision: string): Promise<boolean> {
    const res = await this.#kv.range({ key: Buffer.from(key), keys_only: true });
    const kv = res.kvs[0];
    return kv !== undefined && String(kv.mod_revision) === modRevision;
  }

  async get(namespace: string | undefined, name: string, _opts?: GetOptions): Promise<KubeObject> {
    const key = this.keyFor(this.resource.namespaced ? namespace : undefined, name);
    const cur = await this.readStored(key);
    if (!cur) throw new NotFoundError(key, name);
    return cur.obj;
  }

  /** The current etcd revision (a cheap linearizable read of one absent key). */
  async currentRevision(): Promise<number> {
    const res = await this.#kv.range({ key: Buffer.from(this.#prefix), limit: 1 });
    return Number(res.header.revision);
  }

  /**
   * Every object under the resource prefix at one revision (current when `revision` is 0),
   * read in chunks. Used by the watch cache for its initial list and relists; values that
   * do not decode are reported through `onCorrupt` and left out (else the list throws).
   */
  async listAllStored(revision = 0, onCorrupt?: (key: string, err: Error) => void): Promise<{ items: StoredObject[]; revision: number }> {
    const items: StoredObject[] = [];
    const end = prefixEnd(Buffer.from(this.#prefix));
    let key = Buffer.from(this.#prefix);
    let rev = revision;
    for (;;) {
      const res = await this.#range(key, end, this.#listChunk, rev);
      if (rev === 0) rev = Number(res.header.revision);
      for (const kv of res.kvs) {
        try {
          items.push(this.#stored(kv));
        } catch (err) {
          if (!onCorrupt) throw err;
          onCorrupt(kv.key.toString('utf8'), err as Error);
        }
      }
      if (!res.more || res.kvs.length === 0) break;
      key = Buffer.concat([res.kvs[res.kvs.length - 1]!.key, Buffer.from([0])]);
    }
    return { items, revision: rev };
  }

  /** One range request; halves the chunk when a response would exceed gRPC's message size. */
  async #range(key: Buffer, end: Buffer, limit: number, revision: number): Promise<IRangeResponse> {
    for (;;) {
      try {
        return await this.#kv.range({ key, range_end: end, limit, revision });
      } catch (err) {
        if (isTooLarge(err) && limit > 1) {
          limit = Math.max(1, Math.floor(limit / 2));
          continue;
        }
        throw err;
      }
    }
  }

  async list(opts: ListOptions = {}): Promise<ListResult> {
    const selector = new ObjectSelector(this.resource, opts.labelSelector, opts.fieldSelector);
    const minRevision = parseResourceVersion(opts.resourceVersion);
    if (opts.limit !== undefined && (!Number.isInteger(opts.limit) || opts.limit < 0)) {
      throw new InvalidRequestError(`invalid limit ${opts.limit}: must be a non-negative integer`, 'limit');
    }
    const limit = opts.limit ?? 0;
    let namespace: string | undefined;
    if (this.resource.namespaced) {
      namespace = opts.namespace || selector.namespace || undefined;
      if (namespace !== undefined) checkSegment('metadata.namespace', namespace);
    }
    const prefix = namespace !== undefined ? `${this.#prefix}${namespace}/` : this.#prefix;
    let start = Buffer.from(prefix);
    let end = prefixEnd(start);
    // metadata.name=<x> with a known namespace (or cluster-scoped): one key.
    if (selector.name !== undefined && (namespace !== undefined || !this.resource.namespaced) && !selector.name.includes('/')) {
      start = Buffer.from(prefix + selector.name);
      end = Buffer.concat([start, Buffer.from([0])]);
    }
    let revision = 0;
    if (opts.continue) {
      if (opts.resourceVersion && opts.resourceVersion !== '0') {
        throw new InvalidRequestError('specifying resourceVersion is not allowed when using continue', 'resourceVersion');
      }
      const token = decodeContinue(opts.continue);
      revision = token.rv;
      const from = Buffer.from(prefix + token.start);
      if (Buffer.compare(from, start) > 0) start = from;
    }

    const items: KubeObject[] = [];
    let fetch = limit > 0 ? limit : this.#listChunk;
    let next: Buffer | undefined; // first key not yet examined, when more may follow
    let remaining: number | undefined;
    let key = start;
    try {
      for (;;) {
        const res = await this.#range(key, end, fetch, revision);
        if (revision === 0) revision = Number(res.header.revision);
        const kvs = res.kvs;
        let i = 0;
        for (; i < kvs.length; i++) {
          const obj = this.decode(kvs[i]!);
          if (!selector.matches(obj)) continue;
          items.push(obj);
          if (limit > 0 && items.length === limit) {
            i++;
            break;
          }
        }
        const consumedAll = i >= kvs.length;
        const more = !consumedAll || res.more;
        if (limit > 0 && items.length === limit) {
          if (more) {
            next = Buffer.concat([kvs[i - 1]!.key, Buffer.from([0])]);
            if (selector.empty && consumedAll) remaining = Number(res.count) - kvs.length;
          }
          break;
        }
        if (!res.more || kvs.length === 0) break;
        key = Buffer.concat([kvs[kvs.length - 1]!.key, Buffer.from([0])]);
        if (limit > 0) fetch = Math.min(Math.max(fetch * 2, limit), 10_000);
      }
    } catch (err) {
      if (isCompacted(err)) {
        throw new ExpiredError(
          String(revision),
          'the continue token is too old: the revision it lists at has been compacted; start a new list without continue',
        );
      }
      if (isFutureRevision(err)) throw new InvalidRequestError('continue token is invalid: its revision is in the future', 'continue');
      throw err;
    }
    if (!opts.continue && minRevision > 0 && revision < minRevision) {
      throw new TooLargeResourceVersionError(String(minRevision), String(revision));
    }
    const result: ListResult = { items, resourceVersion: String(revision) };
    if (next) {
      result.continue = encodeContinue({ rv: revision, start: next.subarray(Buffer.byteLength(prefix)).toString('utf8') });
      if (remaining !== undefined) result.remainingItemCount = remaining;
    }
    return result;
  }

  // ---------------------------------------------------------------- writes

  async create(input: KubeObject): Promise<KubeObject> {
    const name = input.metadata?.name;
    const namespace = input.metadata?.namespace;
    if (!this.resource.namespaced && namespace) {
      throw new InvalidRequestError(`metadata.namespace: must be empty: ${this.resource.resource} are cluster-scoped`, 'metadata.namespace');
    }
    const key = this.keyFor(namespace, name);
    const metadata = createdMetadata(input.metadata, this.#now());
    const obj: KubeObject = { ...input, metadata };
    const keyBuf = Buffer.from(key);
    const res = await this.#txn(key, {
      compare: [{ key: keyBuf, target: 'Mod', result: 'Equal', mod_revision: 0 }],
      success: [{ request_put: { key: keyBuf, value: Buffer.from(JSON.stringify(obj)) } }],
      failure: [],
    });
    if (!res.succeeded) throw new AlreadyExistsError(key, name!);
    metadata.resourceVersion = String(res.header.revision);
    return obj;
  }

  /** A write transaction on `key`; etcd's NOSPACE refusal becomes InsufficientStorageError (507). */
  async #txn(key: string, req: ITxnRequest): Promise<ITxnResponse> {
    try {
      return await this.#kv.txn(req);
    } catch (err) {
      if (isEtcdNoSpace(err)) throw new InsufficientStorageError(key);
      throw err;
    }
  }

  /** Compare-and-swap: put (or delete, when `value` is undefined) if the mod revision is still `expected`. */
  async #cas(key: string, expected: string, value: Buffer | undefined): Promise<CasResult> {
    const keyBuf = Buffer.from(key);
    const op: IRequestOp = value ? { request_put: { key: keyBuf, value } } : { request_delete_range: { key: keyBuf } };
    const res = await this.#txn(key, {
      compare: [{ key: keyBuf, target: 'Mod', result: 'Equal', mod_revision: expected }],
      success: [op],
      failure: [{ request_range: { key: keyBuf } }],
    });
    if (res.succeeded) return { ok: true, revision: String(res.header.revision) };
    const kv = res.responses[0]?.response_range?.kvs[0];
    return { ok: false, current: kv ? this.#stored(kv) : undefined };
  }

  async update(obj: KubeObject): Promise<KubeObject> {
    const key = this.keyFor(obj.metadata?.namespace, obj.metadata?.name);
    if (!obj.metadata.resourceVersion) {
      // Unconditional: retried on conflict like guaranteedUpdate.
      return this.guaranteedUpdateFrom(obj.metadata.namespace, obj.metadata.name!, () => obj, undefined);
    }
    const current = await this.readStored(key);
    return this.updateFrom(obj, current, key);
  }

  /**
   * update() against a known current state (the watch cache passes its copy when it is
   * at exactly the caller's resourceVersion, saving the read). A stale `current` is safe:
   * the compare-and-swap fails and the caller gets a ConflictError.
   */
  async updateFrom(obj: KubeObject, current: StoredObject | undefined, key = this.keyFor(obj.metadata?.namespace, obj.metadata?.name)): Promise<KubeObject> {
    const name = obj.metadata.name!;
    if (!current) throw new NotFoundError(key, name);
    const rv = obj.metadata.resourceVersion;
    if (rv && rv !== current.modRevision) throw new ConflictError(key, name, rv, current.modRevision);
    const r = await this.#write(key, obj, current);
    if (r.kind === 'conflict') {
      if (!r.current) throw new NotFoundError(key, name);
      throw new ConflictError(key, name, current.modRevision, r.current.modRevision);
    }
    return r.obj;
  }

  /**
   * Writes `desired` over `current` with CAS on current's mod revision: carries over the
   * system fields, bumps generation on spec change, skips unchanged writes and removes
   * an object whose deletion has no finalizers left.
   */
  async #write(key: string, desired: KubeObject, current: StoredObject): Promise<WriteResult> {
    const cm = current.obj.metadata;
    const dm = desired.metadata;
    if (dm.name !== cm.name || (this.resource.namespaced && dm.namespace !== cm.namespace)) {
      throw new InvalidRequestError('metadata.name and metadata.namespace cannot change', 'metadata.name');
    }
    const metadata = updatedMetadata(desired, current.obj);
    if (!this.resource.namespaced) delete metadata.namespace;
    const next: KubeObject = { ...desired, metadata };
    const value = this.#encode(next);
    if ((current.raw && value.equals(current.raw)) || this.#sameStored(next, current.obj)) {
      return { kind: 'noop', obj: this.#fresh(current) };
    }
    const remove = metadata.deletionTimestamp !== undefined && (metadata.finalizers?.length ?? 0) === 0;
    const r = await this.#cas(key, current.modRevision, remove ? undefined : value);
    if (!r.ok) return { kind: 'conflict', current: r.current };
    metadata.resourceVersion = r.revision;
    return { kind: 'written', obj: next };
  }

  /** Equal as stored (ignoring resourceVersion). */
  #sameStored(next: KubeObject, cur: KubeObject): boolean {
    const { resourceVersion: _a, ...cm } = cur.metadata;
    return jsonEqual(next, { ...cur, metadata: cm });
  }

  /** A caller-owned copy of a stored object (decoded objects are already private; cached ones are frozen). */
  #fresh(s: StoredObject): KubeObject {
    return Object.isFrozen(s.obj) ? structuredClone(s.obj) : s.obj;
  }

  async guaranteedUpdate(namespace: string | undefined, name: string, tryUpdate: UpdateFn): Promise<KubeObject> {
    return this.guaranteedUpdateFrom(namespace, name, tryUpdate, undefined);
  }

  /**
   * guaranteedUpdate starting from `cached` (possibly stale) when given. If the update
   * turns out to be a no-op against a cached state, or `tryUpdate` throws on it, the state
   * is re-read from etcd before concluding, so a stale cache never hides a needed write
   * nor causes a refusal.
   */
  async guaranteedUpdateFrom(namespace: string | undefined, name: string, tryUpdate: UpdateFn, cached: StoredObject | undefined): Promise<KubeObject> {
    const key = this.keyFor(this.resource.namespaced ? namespace : undefined, name);
    let current = cached ?? (await this.readStored(key));
    let fromCache = cached !== undefined;
    let lastConflict: ConflictError | undefined;
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (!current) throw new NotFoundError(key, name);
      const copy = current.raw ? this.decodeRaw(current) : structuredClone(current.obj);
      let desired: KubeObject | null;
      try {
        desired = await tryUpdate(copy);
      } catch (err) {
        if (!fromCache) throw err;
        // A stale cached state can fail a precondition or check that the current one
        // passes: decide again on the state read from etcd.
        current = await this.readStored(key);
        fromCache = false;
        continue;
      }
      if (desired === null) {
        if (!fromCache) return this.#fresh(current);
        // Nothing to write, decided on the cached state: confirm it is current.
        if (await this.#stillAt(key, current.modRevision)) return this.#fresh(current);
        current = await this.readStored(key);
        fromCache = false;
        continue;
      }
      const r = await this.#write(key, { ...desired, metadata: { ...desired.metadata, resourceVersion: current.modRevision } }, current);
      if (r.kind === 'written') return r.obj;
      if (r.kind === 'noop') {
        if (!fromCache || (await this.#stillAt(key, current.modRevision))) return r.obj;
        current = await this.readStored(key);
        fromCache = false;
        continue;
      }
      lastConflict = new ConflictError(key, name, current.modRevision, r.current?.modRevision ?? '');
      current = r.current;
      fromCache = false;
    }
    throw lastConflict ?? new ConflictError(key, name, '', '');
  }

  /** A private decoded copy of a stored object with a raw value. */
  decodeRaw(s: StoredObject): KubeObject {
    const obj = JSON.parse(s.raw!.toString('utf8')) as KubeObject;
    obj.metadata.resourceVersion = s.modRevision;
    return obj;
  }

  async delete(namespace: string | undefined, name: string, opts: DeleteOptions = {}): Promise<DeleteResult> {
    const key = this.keyFor(this.resource.namespaced ? namespace : undefined, name);
    let current = await this.readStored(key);
    for (let attempt = 0; attempt < this.#maxAttempts; attempt++) {
      if (!current) throw new NotFoundError(key, name);
      const m = current.obj.metadata;
      const pre = opts.preconditions;
      if (pre?.uid && pre.uid !== m.uid) {
        throw new ConflictError(
          key,
          name,
          pre.resourceVersion ?? '',
          current.modRevision,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${m.uid ?? ''}`,
        );
      }
      if (pre?.resourceVersion && pre.resourceVersion !== current.modRevision) {
        throw new ConflictError(
          key,
          name,
          pre.resourceVersion,
          current.modRevision,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${current.modRevision}`,
        );
      }
      if ((m.finalizers?.length ?? 0) > 0) {
        if (m.deletionTimestamp) return { object: this.#fresh(current), deleted: false };
        const { resourceVersion: _rv, ...rest } = m;
        const metadata: ObjectMeta = {
          ...rest,
          ...(opts.annotations ? { annotations: { ...rest.annotations, ...opts.annotations } } : {}),
          deletionTimestamp: isoSeconds(this.#now()),
          deletionGracePeriodSeconds: 0,
          ...(m.generation !== undefined ? { generation: m.generation + 1 } : {}),
        };
        const next: KubeObject = { ...this.#fresh(current), metadata };
        const r = await this.#cas(key, current.modRevision, this.#encode(next));
        if (r.ok) {
          metadata.resourceVersion = r.revision;
          return { object: next, deleted: false };
        }
        current = r.current;
        continue;
      }
      const r = await this.#cas(key, current.modRevision, undefined);
      if (r.ok) {
        const object = this.#fresh(current);
        object.metadata.resourceVersion = r.revision;
        return { object, deleted: true };
      }
      current = r.current;
    }
    throw new ConflictError(key, name, '', current?.modRevision ?? '', `delete of ${key} kept conflicting; giving up`);
  }
}

export function checkSegment(field: string, value: string | undefined): void {
  if (!value) throw new InvalidRequestError(`${field}: Required value`, field);
  if (value.includes('/') || value === '.' || value === '..' || value.includes('\0')) {
    throw new InvalidRequestError(`${field}: Invalid value "${value}": may not contain "/", NUL, or be "." or ".."`, field);
  }
}
