/** Assign / unassign a network to nodes (useAssignNodes), with what the agent does there. */
import { useCallback } from 'react';
import type { Network, VirtualMachine } from '../../../api-types/generated/types.js';
import { Networks } from '../api/resources.js';
import { useAssignNodes } from './use-assign-nodes.js';

export function useAssignNetwork(): (network: Network, node: string, assign: boolean, vmsUsing: readonly VirtualMachine[]) => Promise<boolean> {
  const assignNodes = useAssignNodes();
  return useCallback(
    (network, node, assign, vmsUsing) => {
      const name = network.metadata.name!;
      return assignNodes(Networks, network, node, assign, {
        body: assign ? (
          `Define network ${name} on ${node}? Its agent defines and starts it in libvirt (creating its bridge) and reports it.`
        ) : (
          <>
            <p>
              Stop network {name} on {node}? The agent stops and undefines it there; its bridge goes away.
            </p>
            {vmsUsing.length > 0 && (
              <p className="warn-note">
                {vmsUsing.length} VM(s) on {node} have an interface on this network:{' '}
                {vmsUsing.map((v) => `${v.metadata.namespace}/${v.metadata.name}`).join(', ')}.
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
