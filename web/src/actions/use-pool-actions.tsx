/** Assign / unassign a storage pool to nodes (useAssignNodes), with what the agent does there. */
import { useCallback } from 'react';
import type { StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { StoragePools } from '../api/resources.js';
import { useAssignNodes } from './use-assign-nodes.js';

export function useAssignPool(): (pool: StoragePool, node: string, assign: boolean, vmsUsing: readonly VirtualMachine[]) => Promise<boolean> {
  const assignNodes = useAssignNodes();
  return useCallback(
    (pool, node, assign, vmsUsing) => {
      const name = pool.metadata.name!;
      return assignNodes(StoragePools, pool, node, assign, {
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
        danger: !assign && vmsUsing.length > 0,
      });
    },
    [assignNodes],
  );
}
