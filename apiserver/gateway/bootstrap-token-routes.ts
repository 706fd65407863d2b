/**
 * Bootstrap tokens on the API, for `qxctl token create|list|delete` (admins only):
 *
 *   POST   /apis/quantix.io/v1alpha1/bootstraptokens        spec {ttlSeconds, description, singleUse}
 *   GET    /apis/quantix.io/v1alpha1/bootstraptokens
 *   GET    /apis/quantix.io/v1alpha1/bootstraptokens/ID
 *   DELETE /apis/quantix.io/v1alpha1/bootstraptokens/ID
 *
 * The objects are views of the records in bootstrap-tokens.ts, never a stored API object:
 * the secret exists only in the create response (`status.token`), next to the CA pin
 * (`status.caCertHash`) the join command needs.
 */
import type { Express, Request, Response } from 'express';
import { requestRecordOf } from '../http/access-log.js';
import { sendError, sendJson } from '../http/respond.js';
import { toApiError } from '../http/status.js';
import { readBodyBytes } from '../server.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { authorize, describeRefusal, type RequestAttributes, type Verb } from '../auth/authorizer.js';
import type { UserInfo } from '../auth/identity.js';
import { type BootstrapTokenRecord, type BootstrapTokens, MAX_TTL_SECONDS } from './bootstrap-tokens.js';

export const BOOTSTRAP_TOKENS_RESOURCE = 'quantix.io/bootstraptokens';
const COLLECTION = '/apis/quantix.io/v1alpha1/bootstraptokens';
const GROUP_RESOURCE = { group: 'quantix.io', resource: 'bootstraptokens', kind: 'BootstrapToken' };
const MAX_DESCRIPTION = 256;

export interface BootstrapTokenObject {
  apiVersion: 'quantix.io/v1alpha1';
  kind: 'BootstrapToken';
  metadata: { name: string; creationTimestamp: string };
  spec: { description: string; expiration: string; singleUse: boolean };
  status: { usedBy?: string; usedAt?: string; token?: string; caCertHash?: string };
}

export function tokenObject(record: BootstrapTokenRecord, extra: { token?: string; caCertHash?: string } = {}): BootstrapTokenObject {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'BootstrapToken',
    metadata: { name: record.id, creationTimestamp: record.createdAt },
    spec: { description: record.description, expiration: record.expiration, singleUse: record.singleUse },
    status: {
      ...(record.usedBy ? { usedBy: record.usedBy, usedAt: record.usedAt } : {}),
      ...(extra.token ? { token: extra.token } : {}),
      ...(extra.caCertHash ? { caCertHash: extra.caCertHash } : {}),
    },
  };
}

/** The create request's spec, validated field by field (422 naming each bad field). */
export function parseCreateSpec(body: unknown): { ttlSeconds?: number; description?: string; singleUse?: boolean } {
  const spec = (body as { spec?: unknown } | undefined)?.spec ?? {};
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw errors.invalid({ ...GROUP_RESOURCE, name: '' }, [{ reason: 'FieldValueInvalid', field: 'spec', message: 'Invalid value: must be an object' }]);
  }
  const { ttlSeconds, description, singleUse } = spec as Record<string, unknown>;
  const causes: { reason: string; field: string; message: string }[] = [];
  if (ttlSeconds !== undefined && (typeof ttlSeconds !== 'number' || !Number.isInteger(ttlSeconds) || ttlSeconds < 1 || ttlSeconds > MAX_TTL_SECONDS)) {
    causes.push({
      reason: 'FieldValueInvalid',
      field: 'spec.ttlSeconds',
      message: `Invalid value: ${JSON.stringify(ttlSeconds)}: a whole number of seconds from 1 to ${MAX_TTL_SECONDS} (7 days)`,
    });
  }
  if (description !== undefined && (typeof description !== 'string' || description.length > MAX_DESCRIPTION)) {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.description', message: `Invalid value: a string of at most ${MAX_DESCRIPTION} characters` });
  }
  if (singleUse !== undefined && typeof singleUse !== 'boolean') {
    causes.push({ reason: 'FieldValueInvalid', field: 'spec.singleUse', message: 'Invalid value: true or false' });
  }
  if (causes.length > 0) throw errors.invalid({ ...GROUP_RESOURCE, name: '' }, causes);
  return {
    ...(ttlSeconds !== undefined ? { ttlSeconds: ttlSeconds as number } : {}),
    ...(description !== undefined ? { description: description as string } : {}),
    ...(singleUse !== undefined ? { singleUse: singleUse as boolean } : {}),
  };
}

function authorizeOrThrow(user: UserInfo, verb: Verb, name?: string): void {
  const attrs: RequestAttributes = { verb, apiGroup: 'quantix.io', resource: 'bootstraptokens', ...(name ? { name } : {}) };
  const decision = authorize(user, attrs);
  if (!decision.allowed) throw errors.forbidden(describeRefusal(user, attrs, decision.reason), { ...GROUP_RESOURCE, ...(name ? { name } : {}) });
}

export function mountBootstrapTokenRoutes(app: Express, tokens: BootstrapTokens, caCertHash: () => string | undefined): void {
  const handle =
    (verb: Verb, serve: (req: Request, res: Response, user: UserInfo) => Promise<void>) =>
    async (req: Request, res: Response): Promise<void> => {
      const user = res.locals.user as UserInfo;
      Object.assign(requestRecordOf(res), { verb, resource: 'bootstraptokens' });
      try {
        authorizeOrThrow(user, verb, typeof req.params.id === 'string' ? req.params.id : undefined);
        await serve(req, res, user);
      } catch (err) {
        sendError(res, err instanceof ApiError ? err : toApiError(err));
      }
    };

  app.post(
    COLLECTION,
    handle('create', async (req, res, user) => {
      const bytes = await readBodyBytes(req);
      let body: unknown;
      try {
        body = bytes.length ? JSON.parse(bytes.toString('utf8')) : {};
      } catch (err) {
        throw errors.badRequest(`the request body is not JSON: ${(err as Error).message}`);
      }
      const { record, token } = await tokens.create(parseCreateSpec(body), user.name);
      sendJson(res, 201, tokenObject(record, { token, caCertHash: caCertHash() }));
    }),
  );
  app.get(
    COLLECTION,
    handle('list', async (_req, res) => {
      const items = (await tokens.list()).map((r) => tokenObject(r));
      sendJson(res, 200, { apiVersion: 'quantix.io/v1alpha1', kind: 'BootstrapTokenList', metadata: {}, items });
    }),
  );
  app.get(
    `${COLLECTION}/:id`,
    handle('get', async (req, res) => {
      const record = await tokens.get(String(req.params.id));
      if (!record) throw errors.notFound({ ...GROUP_RESOURCE, name: String(req.params.id) });
      sendJson(res, 200, tokenObject(record));
    }),
  );
  app.delete(
    `${COLLECTION}/:id`,
    handle('delete', async (req, res) => {
      const id = String(req.params.id);
      if (!(await tokens.revoke(id))) throw errors.notFound({ ...GROUP_RESOURCE, name: id });
      sendJson(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', details: { ...GROUP_RESOURCE, name: id } });
    }),
  );
}
