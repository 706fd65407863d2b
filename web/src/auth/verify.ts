/**
 * Checking a token at sign-in: can it read (list nodes), and may it write? Writes are probed
 * with a dry-run create (`dryRun=All`, nothing is stored): the apiserver authorizes before it
 * validates, so 403 means read-only and anything else (the empty body's 4xx) means allowed.
 * The UI hides write buttons for read-only tokens; the server enforces it either way.
 */
import type { ApiClient } from '../api/client.js';
import { Nodes, VirtualMachines } from '../api/resources.js';
import { resourcePath } from '../../../api-types/group-version.js';
import { ApiError } from '../../../lib/apimachinery/status-error.js';

export interface Access {
  canWrite: boolean;
}

export async function verifyToken(client: ApiClient): Promise<Access> {
  await client.get(resourcePath(Nodes), { query: { limit: '1' } });
  try {
    await client.fetch('POST', resourcePath(VirtualMachines, 'default'), { query: { dryRun: 'All' }, body: '{}', contentType: 'application/json' });
    return { canWrite: true };
  } catch (err) {
    if (err instanceof ApiError && (err.isForbidden || err.isUnauthorized)) return { canWrite: false };
    return { canWrite: true };
  }
}
