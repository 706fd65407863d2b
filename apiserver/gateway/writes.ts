/**
 * How the gateway writes objects: through the same write strategy as the REST API
 * (validation of /status, defaults, managedFields under the manager `quantix-gateway`),
 * straight into the apiserver's stores. Every status write is a read-modify-write with
 * retry on conflict that writes nothing when the status would not change.
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

export class ObjectWriter {
  constructor(private readonly context: Pick<ApiserverContext, 'served'>) {}

  served(def: ResourceDefinition): ServedResource {
    const sr = this.context.served.get(def);
    if (!sr) throw new Error(`resource ${def.plural} is not served`);
    return sr;
  }

  /**
   * Replaces the status of an object with `mutate(current)`'s result (the current object
   * is a private copy). Returns the stored object, or undefined when it does not exist.
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
        const copy = structuredClone(current) as T;
        const status = mutate(copy);
        if (status === NO_CHANGE) return null;
        if (JSON.stringify(status) === JSON.stringify(current.status)) return null;
        const next = prepareForUpdate(sr, current, { ...copy, status }, { fieldValidation: 'Ignore', warnings: [], subresource: 'status' });
        return withManagedFields(current, next, GATEWAY_FIELD_MANAGER, { subresource: 'status', schema: sr.def.schema as StructuralSchema });
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
