/** Runs a VM action: confirmation, then the writes, with progress and outcome in a toast. */
import { useCallback } from 'react';
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { restartedSince, restartRequestPatch } from '../../../api-types/vm-restart.js';
import { objectPath, VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { useActivity } from '../ui/activity.js';
import { useConfirm } from '../ui/confirm.js';
import { patchFor, type ActionOption } from './vm-actions.js';
import { waitForObject } from './wait-for.js';

const PROGRESS = { start: 'Starting', stop: 'Stopping', restart: 'Restarting', pause: 'Pausing', resume: 'Resuming', delete: 'Deleting' } as const;
export const RESTART_TIMEOUT_MS = 120_000;

export function useVmActions(): (vm: VirtualMachine, option: ActionOption) => Promise<boolean> {
  const { client, manager } = useSession();
  const { run } = useActivity();
  const confirm = useConfirm();
  return useCallback(
    async (vm, option) => {
      const ok = await confirm({ title: `${option.label} virtual machine`, body: option.confirm, confirmLabel: option.label, danger: option.danger });
      if (!ok) return false;
      const ns = vm.metadata.namespace;
      const name = vm.metadata.name!;
      const ref = `${ns}/${name}`;
      const path = objectPath(VirtualMachines, ns, name);
      return run(
        `${PROGRESS[option.action]} ${ref}`,
        async (actionId, progress) => {
          switch (option.action) {
            case 'delete':
              await client.delete(path, { actionId });
              return `Deletion of ${ref} accepted; it disappears once its domain and volumes are cleaned up.`;
            case 'restart': {
              // The same request as `qxctl vm restart`: the agent shuts the guest down gracefully
              // (the VM's grace period, then power-off), applies cpu/memory changes waiting for a
              // restart, starts it again and counts it.
              const prior = vm.status?.restartCount ?? 0;
              await client.patch(path, restartRequestPatch(new Date()), 'merge', { actionId });
              progress('Waiting for the agent to restart it (the guest shuts down first)…');
              let gone = false;
              await waitForObject(
                manager,
                VirtualMachines,
                vm.metadata.uid!,
                (v) => {
                  gone = !v;
                  return gone || restartedSince(v, prior);
                },
                RESTART_TIMEOUT_MS,
                `${ref} restarting`,
              );
              if (gone) throw new Error(`${ref} was deleted before it restarted.`);
              return `${ref} restarted and running again (restart ${prior + 1}).`;
            }
            default: {
              const patch = patchFor(option.action);
              await client.patch(path, patch, 'merge', { actionId });
              return `${ref}: ${JSON.stringify(patch.spec)} applied; the agent converges the domain.`;
            }
          }
        },
        { category: 'vm', action: option.action, target: ref },
      );
    },
    [client, manager, run, confirm],
  );
}
