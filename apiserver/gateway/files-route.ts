/**
 * The pool file browser subresource:
 *
 *   GET /apis/quantix.io/v1alpha1/storagepools/NAME/files?node=N&path=P[&limit=L]
 *
 * Lists the directory P (relative to the pool root; default the root) of pool NAME as
 * node N sees it, by asking N's agent through its tunnel. Authorized as `get` on
 * `storagepools/files`. Errors are Kubernetes Status objects: 404 for an unknown pool or
 * path, 400 for a path leaving the pool or a node the pool is not assigned to, 503 when
 * the agent is not connected or the pool is not running there, 504 when it does not answer.
 * When the node's tunnel is on another apiserver replica, the request is forwarded there
 * once (forward.ts), which checks it all again.
 */
import type { Express, Request, Response } from 'express';
import type { StoragePool } from '../../api-types/generated/types.js';
import { storagePoolDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { authorize, describeRefusal, type RequestAttributes } from '../auth/authorizer.js';
import type { UserInfo } from '../auth/identity.js';
import { requestRecordOf } from '../http/access-log.js';
import { sendError, sendJson } from '../http/respond.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { toApiError } from '../http/status.js';
import type { ApiserverContext } from '../server.js';
import { NotFoundError } from '../storage/errors.js';
import type { TunnelRegistry } from './tunnel.js';
import { type Forwarding, forwardable, wasForwarded } from './forward.js';

export const FILES_PATH = '/apis/quantix.io/v1alpha1/storagepools/:name/files';
const MAX_LIMIT = 10_000;

export interface PoolFileList {
  kind: 'StoragePoolFileList';
  apiVersion: 'quantix.io/v1alpha1';
  pool: string;
  node: string;
  /** The listed directory relative to the pool root ("" = root). */
  path: string;
  mountPath?: string;
  items: { name: string; type: string; sizeBytes: number; modifiedTime: string }[];
  truncated: boolean;
}

export function mountPoolFilesRoute(app: Express, context: ApiserverContext, tunnels: TunnelRegistry, forwarding?: Forwarding): void {
  const def = storagePoolDefinition as unknown as ResourceDefinition;
  app.get(FILES_PATH, async (req: Request, res: Response) => {
    const user = res.locals.user as UserInfo;
    const name = String(req.params.name);
    Object.assign(requestRecordOf(res), { verb: 'get', resource: 'storagepools/files' });
    try {
      const attrs: RequestAttributes = { verb: 'get', apiGroup: 'quantix.io', resource: 'storagepools', subresource: 'files', name };
      const decision = authorize(user, attrs);
      if (!decision.allowed)
        throw errors.forbidden(describeRefusal(user, attrs, decision.reason), { group: 'quantix.io', resource: 'storagepools', kind: 'StoragePool', name });
      const node = typeof req.query.node === 'string' ? req.query.node : '';
      const path = typeof req.query.path === 'string' ? req.query.path : '';
      const limitText = typeof req.query.limit === 'string' ? req.query.limit : '';
      if (!node)
        throw errors.badRequest('the query parameter "node" is required: the node whose view of the pool to list', [
          { field: 'node', message: 'Required value' },
        ]);
      const limit = limitText ? Number(limitText) : 1000;
      if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
        throw errors.badRequest(`limit: must be an integer between 1 and ${MAX_LIMIT}`, [{ field: 'limit', message: 'Invalid value' }]);
      }
      let pool: StoragePool;
      try {
        pool = (await context.stores.get(def).get(undefined, name)) as StoragePool;
      } catch (err) {
        if (err instanceof NotFoundError) throw errors.notFound({ group: 'quantix.io', resource: 'storagepools', kind: 'StoragePool', name });
        throw err;
      }
      if (decision.objectFilter && !decision.objectFilter(pool)) {
        throw errors.forbidden(describeRefusal(user, attrs, decision.filterDescription ? `only ${decision.filterDescription}` : undefined));
      }
      if (!(pool.spec?.assignedNodes ?? []).includes(node)) {
        throw errors.badRequest(
          `storage pool "${name}" is not assigned to node "${node}" (assigned: ${(pool.spec?.assignedNodes ?? []).join(', ') || 'none'})`,
          [{ field: 'node', message: 'the pool is not assigned to this node' }],
        );
      }
      if (!tunnels.connected(node) && !wasForwarded(req)) {
        // The node's tunnel is on another replica: that one answers (forward.ts).
        const peer = await forwarding?.peerFor(node);
        if (peer && forwardable(req)) return void (await forwarding!.forwardRequest(req, res, peer));
        if (peer)
          throw errors.unavailable(`the agent on node ${node} is connected to the apiserver at ${peer}; a client certificate cannot be forwarded: ask there`);
      }
      const listing = await tunnels.listFiles(node, name, path, limit);
      const body: PoolFileList = {
        kind: 'StoragePoolFileList',
        apiVersion: 'quantix.io/v1alpha1',
        pool: name,
        node,
        path: listing.path,
        ...(listing.mountPath ? { mountPath: listing.mountPath } : {}),
        items: listing.entries.map((e) => ({ name: e.name, type: e.type, sizeBytes: e.sizeBytes, modifiedTime: new Date(e.modifiedAtMs).toISOString() })),
        truncated: listing.truncated,
      };
      sendJson(res, 200, body);
    } catch (err) {
      sendError(res, err instanceof ApiError ? err : toApiError(err));
    }
  });
}
