/**
 * Creating an object from a form: the create call as an action (toast, correlation id),
 * and when the server refuses it, its Status causes by form input (so each message lands
 * next to its field) and the whole Status in one line.
 */
import { useCallback, useState } from 'react';
import type { KubeObject } from '../../../api-types/meta.js';
import { resourcePath } from '../../../api-types/group-version.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import type { ResourceRef } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { errorsByInput } from '../model/form-errors.js';
import { useActivity } from '../ui/activity.js';

export interface CreateState {
  /** The server's messages by input id (`form` for fields no input shows). */
  serverErrors: Record<string, string>;
  /** The refused create's Status in one line. */
  summary?: string;
  busy: boolean;
  /** Creates `obj`; true when stored. */
  create(obj: KubeObject, what: string, outcome: string): Promise<boolean>;
  /** Forgets the server's verdict (the user changed the form). */
  clear(): void;
}

export function useCreate(ref: ResourceRef, inputForField: (field: string) => string): CreateState {
  const { client } = useSession();
  const { run } = useActivity();
  const [serverErrors, setServerErrors] = useState<Record<string, string>>({});
  const [summary, setSummary] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);

  const create = useCallback(
    async (obj: KubeObject, what: string, outcome: string) => {
      setSummary(undefined);
      setBusy(true);
      const ok = await run(
        `Creating ${what}`,
        async (actionId) => {
          try {
            await client.create(resourcePath(ref, obj.metadata.namespace), obj, { actionId });
          } catch (err) {
            const apiErr = asApiError(err);
            setServerErrors(errorsByInput(apiErr.causes, inputForField));
            setSummary(apiErr.describe());
            throw err;
          }
          return outcome;
        },
        { action: 'create', target: obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name ?? ''}` : obj.metadata.name },
      );
      setBusy(false);
      return ok;
    },
    [client, run, ref, inputForField],
  );
  const clear = useCallback(() => setServerErrors((e) => (Object.keys(e).length ? {} : e)), []);
  return { serverErrors, summary, busy, create, clear };
}
