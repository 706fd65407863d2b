/**
 * `qxctl node revoke NAME`:
 *
 *   POST /apis/quantix.io/v1alpha1/nodes/NAME/revoke
 *
 * Every credential of the node stops working at once, in this apiserver (its cache is
 * dropped) and in others within their cache's few seconds: its certificates and bearer
 * secrets are struck from its record. The host cannot recreate its Node with them; it
 * must join again with a bootstrap token (an admin's consent). Admins only (authorized as
 * `create` on `nodes/revoke`).
 */
import type { Express, Request, Response } from 'express';
import { authorize, describeRefusal, type RequestAttributes } from '../auth/authorizer.js';
import type { UserInfo } from '../auth/identity.js';
import { requestRecordOf } from '../http/access-log.js';
import { sendError, sendJson } from '../http/respond.js';
import { toApiError } from '../http/status.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { createLogger } from '../../lib/logging/logger.js';
import type { NodeCredentialAuthenticator } from './credentials.js';

export const REVOKE_PATH = '/apis/quantix.io/v1alpha1/nodes/:name/revoke';
const log = createLogger('apiserver').child({ subsystem: 'gateway' });

export function mountNodeRevokeRoute(app: Express, credentials: NodeCredentialAuthenticator): void {
  app.post(REVOKE_PATH, async (req: Request, res: Response) => {
    const user = res.locals.user as UserInfo;
    const name = String(req.params.name);
    Object.assign(requestRecordOf(res), { verb: 'create', resource: 'nodes/revoke' });
    try {
      const attrs: RequestAttributes = { verb: 'create', apiGroup: 'quantix.io', resource: 'nodes', subresource: 'revoke', name };
      const decision = authorize(user, attrs);
      if (!decision.allowed)
        throw errors.forbidden(describeRefusal(user, attrs, decision.reason), { group: 'quantix.io', resource: 'nodes', kind: 'Node', name });
      const revoked = await credentials.store.revoke(name, new Date());
      credentials.forget(name);
      if (!revoked) throw errors.notFound({ group: 'quantix.io', resource: 'nodes', kind: 'Node', name });
      log.info('node credentials revoked', { nodeName: name, by: user.name });
      sendJson(res, 200, {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Success',
        message: `the credentials of node "${name}" are revoked; it can join again only with a bootstrap token`,
        details: { name, group: 'quantix.io', kind: 'nodes' },
      });
    } catch (err) {
      sendError(res, err instanceof ApiError ? err : toApiError(err));
    }
  });
}
