/**
 * How the gateway writes objects: through the same write strategy as the REST API
 * (validation of /status, defaults, managedFields under the manager `quantix-gateway`),
 * straight into the apiserver's stores. Every status write is a read-modify-write with
 * retry on conflict that writes nothing when the status would not change (statusChanged:
 * the gateway's one answer to "did the status change?").
 */
import type { KubeObject } from '../../api-types/meta.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
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

export class ObjectWriter {
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
   */
  async updateStatus<T extends KubeObject>(
    def: ResourceDefinition,
    namespace: string | undefined,
    name: string,
    mutate: (current: T) => T['status'] | typeof NO_CHANGE,
  ): Promise<T | undefined> {
    const sr = this.served(def);
    try {
      return (await sr.store.guaranteedUpdate(namespace, name, (current) => {
        const status = mutate(current as T);
        if (status === NO_CHANGE || !statusChanged(status, current.status)) return null;
        const next = prepareForUpdate(sr, current, { ...current, status }, { fieldValidation: 'Ignore', warnings: [], subresource: 'status' });
        return withManagedFields(current, next, GATEWAY_FIELD_MANAGER, { subresource: 'status', schema: sr.def.schema as StructuralSchema });
      })) as T;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
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
