/**
 * `qxctl vm clone SRC DST`:
 *
 *   POST /apis/quantix.io/v1alpha1/namespaces/NS/virtualmachines/SRC/clone
 *   {"apiVersion": "quantix.io/v1alpha1", "kind": "VirtualMachineCloneOptions", "name": "DST"}
 *
 * Creates DST (201, the new VM) from SRC as api-types/vm-clone.ts describes (why a
 * subresource, why the source must be stopped). The new VM goes through the same defaulting,
 * validation and finalizer as any create. Authorized as `create` on `virtualmachines/clone`
 * (admins; viewers and nodes are refused with a 403 that says who was refused what).
 * Errors: 404 no SRC, 409 AlreadyExists DST, 409 Conflict (cause VMNotStopped) SRC not shut
 * off, 422 Invalid for a bad DST name; nothing is written then.
 */
import type { Express, Request, Response } from 'express';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { cloneRefusal, clonedVirtualMachine, VM_NOT_STOPPED } from '../../api-types/vm-clone.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { authorize, describeRefusal, type RequestAttributes } from '../auth/authorizer.js';
import type { UserInfo } from '../auth/identity.js';
import { withManagedFields } from '../patch/managed-fields.js';
import type { StructuralSchema } from '../patch/schema.js';
import { prepareForCreate } from '../registry/strategy.js';
import type { ServedResource } from '../registry/served-resource.js';
import { NotFoundError } from '../storage/errors.js';
import { requestRecordOf } from './access-log.js';
import { bodyTypeOf, parseBody } from './negotiation.js';
import { resourceError } from './resource-handler.js';
import { sendError, sendJson } from './respond.js';

export const CLONE_PATH = '/apis/quantix.io/v1alpha1/namespaces/:namespace/virtualmachines/:name/clone';

/** The new VM's name from the request body (400 when it is not there). */
function cloneName(body: unknown): string {
  const name = (body as { name?: unknown } | null)?.name;
  if (body === null || typeof body !== 'object' || Array.isArray(body) || typeof name !== 'string' || name === '') {
    throw errors.badRequest('the body must be a VirtualMachineCloneOptions object naming the new VM: {"name": "NEW-NAME"}', [
      { reason: 'FieldValueRequired', field: 'name', message: 'Required value: the name of the new VM' },
    ]);
  }
  return name;
}

export function mountCloneRoute(app: Express, served: Map<ResourceDefinition, ServedResource>, readBody: (req: Request) => Promise<string>): void {
  const sr = served.get(virtualMachineDefinition as unknown as ResourceDefinition);
  if (!sr) return;
  app.post(CLONE_PATH, async (req: Request, res: Response) => {
    const user = res.locals.user as UserInfo;
    const namespace = String(req.params.namespace);
    const name = String(req.params.name);
    Object.assign(requestRecordOf(res), { verb: 'create', resource: 'virtualmachines/clone' });
    const ref = { group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine' };
    try {
      const attrs: RequestAttributes = { verb: 'create', apiGroup: 'quantix.io', resource: 'virtualmachines', subresource: 'clone', namespace, name };
      const decision = authorize(user, attrs);
      if (!decision.allowed) throw errors.forbidden(describeRefusal(user, attrs, decision.reason), { ...ref, name });
      const type = bodyTypeOf(req.headers['content-type']);
      if (type !== 'json' && type !== 'yaml') {
        throw errors.unsupportedMediaType(String(req.headers['content-type'] ?? ''), ['application/json', 'application/yaml']);
      }
      const newName = cloneName(parseBody(await readBody(req), type));
      let src: VirtualMachine;
      try {
        src = (await sr.store.get(namespace, name)) as unknown as VirtualMachine;
      } catch (err) {
        if (err instanceof NotFoundError) throw errors.notFound({ ...ref, name });
        throw err;
      }
      const refusal = cloneRefusal(src);
      if (refusal) {
        throw new ApiError(409, 'Conflict', `cannot clone virtualmachines.quantix.io "${name}": ${refusal}`, {
          name,
          group: 'quantix.io',
          kind: 'virtualmachines',
          causes: [{ reason: VM_NOT_STOPPED, message: refusal }],
        });
      }
      const ctx = { fieldValidation: 'Strict' as const, warnings: [] };
      let obj = prepareForCreate(sr, clonedVirtualMachine(src, newName), namespace, ctx);
      const manager =
        String(req.headers['user-agent'] ?? 'unknown')
          .split('/')[0]!
          .slice(0, 128) || 'unknown';
      obj = withManagedFields(undefined, obj, manager, { schema: sr.def.schema as StructuralSchema });
      // Storage errors (AlreadyExists for the new name) are named after the resource.
      const created = await sr.store.create(obj).catch((err: unknown) => {
        throw resourceError(err, sr);
      });
      sendJson(res, 201, created);
    } catch (err) {
      sendError(res, err instanceof ApiError ? err : resourceError(err, sr));
    }
  });
}
