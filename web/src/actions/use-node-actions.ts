/** Cordon / uncordon a node: spec.unschedulable, with confirmation and progress. */
import { useCallback } from 'react';
import type { Node } from '../../../api-types/generated/types.js';
import { Nodes, objectPath } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useActivity } from '../ui/activity.js';
import { useConfirm } from '../ui/confirm.js';

export function useCordon(): (node: Node, cordon: boolean) => Promise<boolean> {
  const { client } = useSession();
  const { run } = useActivity();
  const confirm = useConfirm();
  return useCallback(
    async (node, cordon) => {
      const name = node.metadata.name!;
      const ok = await confirm({
        title: cordon ? 'Cordon node' : 'Uncordon node',
        body: cordon
          ? `Keep new VMs off ${name}? VMs already there keep running (spec.unschedulable: true).`
          : `Let the scheduler place VMs on ${name} again (spec.unschedulable: false)?`,
        confirmLabel: cordon ? 'Cordon' : 'Uncordon',
      });
      if (!ok) return false;
      return run(
        `${cordon ? 'Cordoning' : 'Uncordoning'} ${name}`,
        async (actionId) => {
          await client.patch(objectPath(Nodes, undefined, name), { spec: { unschedulable: cordon } }, 'merge', { actionId });
          return cordon ? `${name} is cordoned: no new VMs.` : `${name} accepts new VMs.`;
        },
        { category: 'node', action: cordon ? 'cordon' : 'uncordon', target: name },
      );
    },
    [client, run, confirm],
  );
}
