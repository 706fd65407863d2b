/**
 * The YAML editor's Apply on a detail page: a replace of the object as an action (toast,
 * correlation id). A refusal is thrown on, so the editor shows the server's message and keeps
 * the text.
 */
import { useCallback } from 'react';
import type { KubeObject } from '../../../api-types/meta.js';
import { objectPath, type ResourceRef } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useActivity } from '../ui/activity.js';

/** `what` names the object in the action log ("image debian", "default/web"). */
export function useApplyYaml(ref: ResourceRef, namespace: string | undefined, name: string, what: string): (obj: KubeObject) => Promise<void> {
  const { client } = useSession();
  const { run } = useActivity();
  return useCallback(
    async (obj: KubeObject) => {
      let failure: unknown;
      const ok = await run(
        `Applying YAML to ${what}`,
        async (actionId) => {
          try {
            await client.replace(objectPath(ref, namespace, name), obj, { actionId });
          } catch (err) {
            failure = err;
            throw err;
          }
          return 'Stored.';
        },
        { action: 'apply-yaml', target: namespace ? `${namespace}/${name}` : name },
      );
      if (!ok) throw failure;
    },
    [client, run, ref, namespace, name, what],
  );
}
