/**
 * Deleting an object, with confirmation. The outcome is returned as well as toasted, so the
 * page can keep the server's refusal next to the button (a 403, an admission's 409/422
 * naming what still uses it); a deletion the server accepts but a finalizer holds shows on
 * the object itself (metadata.deletionTimestamp, see DeletionNote).
 */
import { useCallback, type ReactNode } from 'react';
import type { KubeObject } from '../../../api-types/meta.js';
import { asApiError, type ApiError } from '../../../lib/apimachinery/status-error.js';
import { objectPath, type ResourceRef } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useActivity } from '../ui/activity.js';
import { useConfirm } from '../ui/confirm.js';

export type DeleteOutcome = { state: 'cancelled' } | { state: 'accepted' } | { state: 'refused'; error: ApiError };

export function useDelete(): (ref: ResourceRef, obj: KubeObject, body: ReactNode) => Promise<DeleteOutcome> {
  const { client } = useSession();
  const { run } = useActivity();
  const confirm = useConfirm();
  return useCallback(
    async (ref, obj, body) => {
      const name = obj.metadata.name!;
      const what = `${ref.kind.toLowerCase()} ${ref.namespaced ? `${obj.metadata.namespace}/` : ''}${name}`;
      const ok = await confirm({ title: `Delete ${ref.kind.toLowerCase()}`, body, confirmLabel: 'Delete', danger: true });
      if (!ok) return { state: 'cancelled' };
      let error: ApiError | undefined;
      const accepted = await run(
        `Deleting ${what}`,
        async (actionId) => {
          await client.delete(objectPath(ref, obj.metadata.namespace, name), { actionId }).catch((err) => {
            error = asApiError(err);
            throw err;
          });
          return `Deletion of ${what} accepted.`;
        },
        { action: 'delete', target: ref.namespaced ? `${obj.metadata.namespace ?? 'default'}/${name}` : name },
      );
      return accepted ? { state: 'accepted' } : { state: 'refused', error: error ?? asApiError(new Error('delete failed')) };
    },
    [client, run, confirm],
  );
}
