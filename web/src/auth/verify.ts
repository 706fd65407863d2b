/**
 * Checking a token at sign-in: can it read (list nodes), and may it write? The apiserver
 * answers the second itself — a SelfSubjectAccessReview, what `kubectl auth can-i create
 * virtualmachines` asks — through the authorizer every request goes through; nothing is stored.
 * The UI hides write buttons for read-only tokens; the server enforces it either way.
 */
import type { ApiClient } from '../api/client.js';
import { Nodes } from '../api/resources.js';
import { resourcePath } from '../../../api-types/group-version.js';

export interface Access {
  canWrite: boolean;
}

const ACCESS_REVIEWS = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';

export async function verifyToken(client: ApiClient): Promise<Access> {
  await client.get(resourcePath(Nodes), { query: { limit: '1' } });
  const question = {
    apiVersion: 'authorization.k8s.io/v1',
    kind: 'SelfSubjectAccessReview',
    spec: { resourceAttributes: { verb: 'create', group: 'quantix.io', resource: 'virtualmachines', namespace: 'default' } },
  };
  const answer = (await (await client.fetch('POST', ACCESS_REVIEWS, { body: JSON.stringify(question), contentType: 'application/json' })).json()) as {
    status?: { allowed?: boolean };
  };
  return { canWrite: answer.status?.allowed === true };
}
