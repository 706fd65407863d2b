/**
 * The storage contract the API server stands on. Implemented over etcd v3 by
 * `EtcdStore` (etcd-store.ts) and wrapped by the watch cache (`CachedStore`,
 * watch-cache.ts), which serves watches and allowed lists from memory.
 *
 * Objects handed out by a Store (results, list items, watch event objects) must be
 * treated as read-only: CachedStore shares deep-frozen objects between callers (list
 * items served from memory, watch events), so mutating one throws. Copy first
 * (`structuredClone`) when you need to change something. Objects passed *in* are never
 * mutated by the store.
 */
import type { KubeObject, WatchEvent as ApiWatchEvent } from '../../api-types/meta.js';

/** What the storage layer needs to know about one resource. */
export interface StorageResource {
  /** API group; '' for the core group (stored under `core`). */
  group: string;
  /** Plural resource name, e.g. `virtualmachines`. */
  resource: string;
  namespaced: boolean;
  /**
   * Field selector support beyond metadata.name / metadata.namespace:
   * e.g. { 'spec.nodeName': o => o.spec?.nodeName ?? '' }. Unknown fields are rejected.
   */
  selectableFields?: Record<string, (obj: KubeObject) => string>;
  /** Kind and apiVersion stamped on BOOKMARK objects (e.g. `VirtualMachine`, `quantix.io/v1alpha1`). */
  kind?: string;
  apiVersion?: string;
}

export interface GetOptions {
  /** '' (or undefined) = consistent read from etcd; '0' = may be served from the watch cache. */
  resourceVersion?: string;
}

export interface ListOptions {
  /** Omit for all namespaces (or for cluster-scoped resources). */
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  /**
   * Kubernetes semantics: '' (or undefined) = most recent (consistent) read;
   * '0' = any version, may be served from the cache; N = at least as new as N
   * (TooLargeResourceVersionError when etcd itself is older than N).
   * CachedStore: '' and any `continue` go to etcd; '0' is served from memory and ignores
   * `limit` (as the Kubernetes watch cache does); N is served from memory when the cache
   * has reached N and no limit is given, else from etcd.
   */
  resourceVersion?: string;
}

export interface ListResult {
  items: KubeObject[];
  /** The revision the list is consistent at. */
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/**
 * Bad selectors or a malformed resourceVersion make `watch()` throw InvalidRequestError
 * synchronously; everything later (ExpiredError, SlowWatcherError, lost storage) arrives
 * once through the error handler, after which no more events are delivered.
 */
export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * '' / undefined / '0': synthetic ADDED events for the current objects, then changes
   * (as Kubernetes does for both); N: only changes after N (ExpiredError when N is older
   * than etcd's compaction or the cache's window).
   */
  resourceVersion?: string;
  /** BOOKMARK events (object carries only metadata.resourceVersion) periodically. */
  allowBookmarks?: boolean;
  /**
   * Overrides whether initial ADDED events are sent: default true for '' and '0', false
   * for N. `false` with '' starts at the current revision with no initial events (for
   * EtcdStore that revision is read from etcd after watch() returns, so a write racing
   * with the call may or may not be seen; pass N when exactness matters). When
   * initial events are sent and allowBookmarks is set, a BOOKMARK annotated
   * `k8s.io/initial-events-end: "true"` follows them (Kubernetes streaming lists).
   */
  sendInitialEvents?: boolean;
}

/** The API's WatchEvent (api-types/meta.ts) with its serialized form. */
export interface WatchEvent extends ApiWatchEvent<KubeObject> {
  /**
   * The object serialized once, shared by every watcher that receives this event,
   * so fan-out to many HTTP streams does not serialize per watcher.
   */
  readonly json: string;
}

export interface Watch {
  /** Stops delivery and releases the watcher. Idempotent. */
  stop(): void;
}

/**
 * Receives events in revision order. Returning a promise applies backpressure: the next
 * event is held until it settles (a rejection ends the watch with that error). Events
 * that arrive meanwhile wait in a bounded per-watcher buffer; a watcher whose buffer
 * overflows is ended with SlowWatcherError rather than growing memory without bound.
 * A handler that throws ends its watch with that error.
 */
export type WatchHandler = (event: WatchEvent) => void | Promise<void>;
/** Called once if the watch ends abnormally (e.g. ExpiredError, lost etcd). */
export type WatchErrorHandler = (err: Error) => void;

export interface DeleteOptions {
  /** Delete only if uid / resourceVersion still match. */
  preconditions?: { uid?: string; resourceVersion?: string };
  /** Set on the object when the delete only marks it (finalizers pending): the deleting request's correlation id. */
  annotations?: Record<string, string>;
}

export interface DeleteResult {
  object: KubeObject;
  /** true when the key was removed; false when finalizers keep it (deletionTimestamp set). */
  deleted: boolean;
}

/**
 * `tryUpdate` receives a private copy of the current object and returns the desired
 * object, or `null` to write nothing. It is re-run on conflict by guaranteedUpdate.
 */
export type UpdateFn = (current: KubeObject) => KubeObject | null | Promise<KubeObject | null>;

export interface Store {
  readonly resource: StorageResource;
  /** Fails with AlreadyExistsError when the key exists. Sets uid, creationTimestamp, generation=1, resourceVersion. */
  create(obj: KubeObject): Promise<KubeObject>;
  /** Throws NotFoundError. */
  get(namespace: string | undefined, name: string, opts?: GetOptions): Promise<KubeObject>;
  list(opts?: ListOptions): Promise<ListResult>;
  /**
   * Compare-and-swap on obj.metadata.resourceVersion (ConflictError on mismatch; an
   * empty resourceVersion means unconditional). Writes nothing and keeps the revision
   * when the stored object would not change. Bumps generation only when `spec` changes.
   * uid, creationTimestamp, deletionTimestamp and deletionGracePeriodSeconds are kept
   * from the stored object (only delete sets deletionTimestamp). An object with
   * deletionTimestamp and no finalizers left is removed (the result carries the
   * deletion revision).
   */
  update(obj: KubeObject): Promise<KubeObject>;
  /** Read-modify-write with retry on conflict. */
  guaranteedUpdate(namespace: string | undefined, name: string, tryUpdate: UpdateFn): Promise<KubeObject>;
  /**
   * Honors finalizers: sets deletionTimestamp (and bumps generation, as Kubernetes does)
   * when any remain, else removes the key. Preconditions that do not hold → ConflictError.
   * A deleted object is returned with the deletion revision as its resourceVersion.
   */
  delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<DeleteResult>;
  watch(opts: WatchOptions, onEvent: WatchHandler, onError: WatchErrorHandler): Watch;
}
