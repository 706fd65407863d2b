/** Cordon / uncordon a node (spec.unschedulable) and fence / unfence it (spec.fenced), with confirmation and progress. */
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

/**
 * Fence / unfence a node: spec.fenced, an admin's word that the host is down and stays down
 * (docs/fencing.md). Once the node is not heartbeating, its runStrategy Always VMs on shared
 * storage are started on other nodes, so the confirmation says what a wrong fence costs.
 */
export function useFence(): (node: Node, fence: boolean) => Promise<boolean> {
  const { client } = useSession();
  const { run } = useActivity();
  const confirm = useConfirm();
  return useCallback(
    async (node, fence) => {
      const name = node.metadata.name!;
      const ok = await confirm({
        title: fence ? 'Fence node' : 'Unfence node',
        body: fence
          ? `Declare ${name} down and staying down (powered off or cut off from its storage)? Once it stops heartbeating, its runStrategy Always VMs on shared storage are started on other nodes. Fence only a host that cannot run them: a VM running on two hosts corrupts its disks (spec.fenced: true).`
          : `Take the fence off ${name} (spec.fenced: false)? The scheduler may place VMs there again once it is Ready and not cordoned.`,
        confirmLabel: fence ? 'Fence' : 'Unfence',
        danger: fence,
      });
      if (!ok) return false;
      return run(
        `${fence ? 'Fencing' : 'Unfencing'} ${name}`,
        async (actionId) => {
          await client.patch(objectPath(Nodes, undefined, name), { spec: { fenced: fence } }, 'merge', { actionId });
          return fence
            ? `${name} is fenced: its Always VMs on shared storage are recovered on other nodes once it is not heartbeating.`
            : `${name} is no longer fenced.`;
        },
        { category: 'node', action: fence ? 'fence' : 'unfence', target: name },
      );
    },
    [client, run, confirm],
  );
}
