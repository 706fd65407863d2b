/**
 * Assign / unassign a pool to nodes: spec.assignedNodes. The merge patch carries the
 * resourceVersion the user saw, so a concurrent edit of the list is refused (409) rather
 * than silently overwritten.
 */
import { useCallback } from 'react';
import type { StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { objectPath, StoragePools } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useActivity } from '../ui/activity.js';
import { useConfirm } from '../ui/confirm.js';

export function nextAssignment(current: readonly string[] | undefined, node: string, assign: boolean): string[] {
  const set = new Set(current ?? []);
  if (assign) set.add(node);
  else set.delete(node);
  return [...set].sort();
}

export function useAssignPool(): (pool: StoragePool, node: string, assign: boolean, vmsUsing: readonly VirtualMachine[]) => Promise<boolean> {
  const { client } = useSession();
  const { run } = useActivity();
  const confirm = useConfirm();
  return useCallback(
    async (pool, node, assign, vmsUsing) => {
      const name = pool.metadata.name!;
      const ok = await confirm({
        title: assign ? 'Assign pool to node' : 'Unassign pool from node',
        body: assign ? (
          `Define pool ${name} on ${node}? Its agent creates (dir) or mounts (nfs) it and reports its health.`
        ) : (
          <>
            <p>
              Stop using pool {name} on {node}? The agent undefines the pool there; files stay on disk.
            </p>
            {vmsUsing.length > 0 && (
              <p className="warn-note">
                {vmsUsing.length} VM(s) on {node} have disks in this pool: {vmsUsing.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(', ')}.
              </p>
            )}
          </>
        ),
        confirmLabel: assign ? 'Assign' : 'Unassign',
        danger: !assign && vmsUsing.length > 0,
      });
      if (!ok) return false;
      return run(`${assign ? 'Assigning' : 'Unassigning'} ${name} ${assign ? 'to' : 'from'} ${node}`, async (actionId) => {
        const assignedNodes = nextAssignment(pool.spec.assignedNodes, node, assign);
        await client.patch(
          objectPath(StoragePools, undefined, name),
          { metadata: { resourceVersion: pool.metadata.resourceVersion }, spec: { assignedNodes } },
          'merge',
          { actionId },
        );
        return `assignedNodes: ${assignedNodes.join(', ') || 'none'}`;
      });
    },
    [client, run, confirm],
  );
}
