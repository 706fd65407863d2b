/**
 * The storage contract the API server stands on. Implemented over etcd v3 by
 * `EtcdStore` (etcd-store.ts) and wrapped by the watch cache (`CachedStore`,
 * watch-cache.ts), which serves watches and allowed lists from memory.
 */
import type { KubeObject, WatchEventType } from '../../api-types/meta.js';

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
   * '0' = any version, may be served from the cache; N = at least as new as N.
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

export interface WatchOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** '' / undefined: start now; '0': synthetic ADDED for current objects then changes; N: changes after N. */
  resourceVersion?: string;
  allowBookmarks?: boolean;
  /** Also send the initial objects as ADDED when resourceVersion is ''. (Kubernetes sends them for '' and '0'.) */
  sendInitialEvents?: boolean;
}

export interface WatchEvent {
  type: WatchEventType;
  object: KubeObject;
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

export type WatchHandler = (event: WatchEvent) => void;
/** Called once if the watch ends abnormally (e.g. ExpiredError, lost etcd). */
export type WatchErrorHandler = (err: Error) => void;

export interface DeleteOptions {
  /** Delete only if uid / resourceVersion still match. */
  preconditions?: { uid?: string; resourceVersion?: string };
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
  get(namespace: string | undefined, name: string): Promise<KubeObject>;
  list(opts?: ListOptions): Promise<ListResult>;
  /**
   * Compare-and-swap on obj.metadata.resourceVersion (ConflictError on mismatch; an
   * empty resourceVersion means unconditional). Writes nothing and keeps the revision
   * when the stored bytes would not change. Bumps generation only when `spec` changes.
   * An object with deletionTimestamp and no finalizers left is removed.
   */
  update(obj: KubeObject): Promise<KubeObject>;
  /** Read-modify-write with retry on conflict. */
  guaranteedUpdate(namespace: string | undefined, name: string, tryUpdate: UpdateFn): Promise<KubeObject>;
  /** Honors finalizers: sets deletionTimestamp when any remain, else removes the key. */
  delete(namespace: string | undefined, name: string, opts?: DeleteOptions): Promise<DeleteResult>;
  watch(opts: WatchOptions, onEvent: WatchHandler, onError: WatchErrorHandler): Watch;
}
