/**
 * How the gateway writes objects: through the same write strategy as the REST API
 * (validation of /status, defaults, managedFields under the manager `quantix-gateway`),
 * straight into the apiserver's stores. Every status write is a read-modify-write with
 * retry on conflict that writes nothing when the status would not change (statusChanged:
 * the gateway's one answer to "did the status change?").
 */
import type { KubeObject } from '../../api-types/meta.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import { withManagedFields } from '../patch/managed-fields.js';
import type { StructuralSchema } from '../patch/schema.js';
import type { ServedResource } from '../registry/served-resource.js';
import { prepareForCreate, prepareForUpdate } from '../registry/strategy.js';
import { NotFoundError } from '../storage/errors.js';
import type { ApiserverContext } from '../server.js';

export const GATEWAY_FIELD_MANAGER = 'quantix-gateway';

/** Sentinel a status mutator returns to write nothing. */
export const NO_CHANGE = Symbol('no-change');

/**
 * Whether writing `next` would change the stored status. The one place the gateway
 * decides it: ObjectWriter.updateStatus asks before every status write. Key order
 * counts, as in the stored bytes (mutators start from the stored status, so unchanged
 * fields keep their order).
 */
export function statusChanged(next: unknown, stored: unknown): boolean {
  return JSON.stringify(next) !== JSON.stringify(stored);
}

type StatusMutator = (current: KubeObject) => KubeObject['status'] | typeof NO_CHANGE;

interface PendingStatusWrite {
  mutate: StatusMutator;
  resolve: (obj: KubeObject | undefined) => void;
  reject: (err: unknown) => void;
}

interface StatusQueue {
  pending: PendingStatusWrite[];
  running: boolean;
}

export class ObjectWriter {
  /** Status writes waiting for the one in flight to the same object (updateStatus). */
  readonly #statusQueues = new Map<string, StatusQueue>();

  constructor(private readonly context: Pick<ApiserverContext, 'served'>) {}

  served(def: ResourceDefinition): ServedResource {
    const sr = this.context.served.get(def);
    if (!sr) throw new Error(`resource ${def.plural} is not served`);
    return sr;
  }

  /**
   * Replaces the status of an object with `mutate(current)`'s result. `current` is the
   * store's own copy (never the watch cache's frozen object), so it is not copied again
   * here; mutators copy what they change all the same, to stay pure. Returns the stored
   * object, or undefined when it does not exist.
   * Throws the strategy's ApiError when the new status is invalid.
   *
   * Writes to one object are coalesced: while one is in flight, later mutators wait and then
   * go out together in one read-modify-write, applied in arrival order as if written one
   * after another (each caller gets the object that write stored). Without this, the 50
   * agents sharing a pool each compare-and-swapped the same StoragePool: under load, 360 pool
   * txns/s reached etcd, most of them conflicts, and every write waited 3 s there (the
   * 300-node scale run of session 16).
   */
  updateStatus<T extends KubeObject>(
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    mutate: (current: T) => T['status'] | typeof NO_CHANGE,
  ): Promise<T | undefined> {
    const key = `${def.plural}/${namespace ?? ''}/${name}`;
    let queue = this.#statusQueues.get(key);
    if (!queue) {
      queue = { pending: [], running: false };
      this.#statusQueues.set(key, queue);
    }
    const entry = queue;
    return new Promise<T | undefined>((resolve, reject) => {
      entry.pending.push({ mutate: mutate as StatusMutator, resolve: resolve as (obj: KubeObject | undefined) => void, reject });
      if (!entry.running) void this.#drain(def, namespace, name, key, entry);
    });
  }

  async #drain(def: ResourceDefinition, namespace: string | undefined, name: string, key: string, queue: StatusQueue): Promise<void> {
    queue.running = true;
    while (queue.pending.length > 0) {
      const batch = queue.pending.splice(0);
      await this.#writeBatch(def, namespace, name, batch);
    }
    queue.running = false;
    this.#statusQueues.delete(key);
  }

  /** One read-modify-write for a batch; when the combined status is refused, each mutator alone, so one bad report fails only its caller. */
  async #writeBatch(def: ResourceDefinition, namespace: string | undefined, name: string, batch: PendingStatusWrite[]): Promise<void> {
    let failed = new Map<PendingStatusWrite, unknown>();
    try {
      const sr = this.served(def);
      const stored = await sr.store.guaranteedUpdate(namespace, name, (current) => {
        // A conflict retry runs this again on the newer object: start over.
        failed = new Map();
        let next: KubeObject = current;
        for (const write of batch) {
          try {
            const status = write.mutate(next);
            if (status !== NO_CHANGE) next = { ...next, status };
          } catch (err) {
            failed.set(write, err);
          }
        }
        if (next === current || !statusChanged(next.status, current.status)) return null;
        const prepared = prepareForUpdate(sr, current, next, { fieldValidation: 'Ignore', warnings: [], subresource: 'status' });
        return withManagedFields(current, prepared, GATEWAY_FIELD_MANAGER, { subresource: 'status', schema: sr.def.schema as StructuralSchema });
      });
      for (const write of batch) {
        if (failed.has(write)) write.reject(failed.get(write));
        else write.resolve(stored);
      }
    } catch (err) {
      if (err instanceof NotFoundError) {
        for (const write of batch) write.resolve(undefined);
      } else if (batch.length > 1 && err instanceof ApiError) {
        // The combined status was refused (validation): find whose it was.
        for (const write of batch) await this.#writeBatch(def, namespace, name, [write]);
      } else {
        for (const write of batch) write.reject(failed.get(write) ?? err);
      }
    }
  }

  /**
   * Replaces an object (no status: the gateway's Leases) with `mutate(current)`'s result, or
   * writes nothing when it returns NO_CHANGE or the same object. Returns the stored object,
   * or undefined when it does not exist.
   */
  async update<T extends KubeObject>(
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    mutate: (current: T) => T | typeof NO_CHANGE,
  ): Promise<T | undefined> {
    const sr = this.served(def);
    try {
      return (await sr.store.guaranteedUpdate(namespace, name, (current) => {
        const next = mutate(current as T);
        if (next === NO_CHANGE || !statusChanged(next, current)) return null;
        const prepared = prepareForUpdate(sr, current, next, { fieldValidation: 'Ignore', warnings: [] });
        return withManagedFields(current, prepared, GATEWAY_FIELD_MANAGER, { schema: sr.def.schema as StructuralSchema });
      })) as T;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Creates an object with a status (the gateway's own objects: host-discovered VMs, Nodes). */
  async createWithStatus<T extends KubeObject>(def: ResourceDefinition, obj: T): Promise<T> {
    const sr = this.served(def);
    const ctx = { fieldValidation: 'Strict' as const, warnings: [] };
    let prepared = prepareForCreate(sr, obj, obj.metadata.namespace, ctx);
    if (obj.status !== undefined) {
      // prepareForCreate drops status (as REST create does); validate it as a /status write would.
      const withStatus = { ...prepared, status: structuredClone(obj.status) };
      prepared = prepareForUpdate(sr, prepared, withStatus, { fieldValidation: 'Strict', warnings: [], subresource: 'status' });
    }
    prepared = withManagedFields(undefined, prepared, GATEWAY_FIELD_MANAGER, { schema: sr.def.schema as StructuralSchema });
    return (await sr.store.create(prepared)) as T;
  }
}
