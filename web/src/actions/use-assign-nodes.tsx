/**
 * Assign / unassign a cluster-scoped object to nodes (spec.assignedNodes): storage pools
 * and networks. The merge patch carries the resourceVersion the user saw, so a concurrent
 * edit of the list is refused (409) rather than silently overwritten.
 */
import { useCallback, type ReactNode } from 'react';
import type { KubeObject } from '../../../api-types/meta.js';
import { objectPath, type ResourceRef } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useActivity } from '../ui/activity.js';
import { useConfirm } from '../ui/confirm.js';

export function nextAssignment(current: readonly string[] | undefined, node: string, assign: boolean): string[] {
  const set = new Set(current ?? []);
  if (assign) set.add(node);
  else set.delete(node);
  return [...set].sort();
}

export interface Assignable extends KubeObject {
  spec: { assignedNodes?: string[] };
}

export interface AssignQuestion {
  /** What the node's agent does, in the confirmation. */
  body: ReactNode;
  /** Red button: something on the node still uses it. */
  danger?: boolean;
}

export function useAssignNodes(): (ref: ResourceRef, obj: Assignable, node: string, assign: boolean, question: AssignQuestion) => Promise<boolean> {
  const { client } = useSession();
  const { run } = useActivity();
  const confirm = useConfirm();
  return useCallback(
    async (ref, obj, node, assign, question) => {
      const name = obj.metadata.name!;
      const kind = ref.kind === 'StoragePool' ? 'pool' : ref.kind.toLowerCase();
      const ok = await confirm({
        title: assign ? `Assign ${kind} to node` : `Unassign ${kind} from node`,
        body: question.body,
        confirmLabel: assign ? 'Assign' : 'Unassign',
        danger: question.danger,
      });
      if (!ok) return false;
      return run(
        `${assign ? 'Assigning' : 'Unassigning'} ${name} ${assign ? 'to' : 'from'} ${node}`,
        async (actionId) => {
          const assignedNodes = nextAssignment(obj.spec.assignedNodes, node, assign);
          await client.patch(
            objectPath(ref, undefined, name),
            { metadata: { resourceVersion: obj.metadata.resourceVersion }, spec: { assignedNodes } },
            'merge',
            { actionId },
          );
          return `assignedNodes: ${assignedNodes.join(', ') || 'none'}`;
        },
        { action: assign ? 'assign' : 'unassign', target: `${name} ${node}` },
      );
    },
    [client, run, confirm],
  );
}
