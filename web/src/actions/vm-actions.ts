/**
 * VM lifecycle actions as spec changes (the API has no imperative verbs): start and stop set
 * spec.runStrategy (Always / Halted), pause and resume set spec.paused, delete deletes.
 * Restart asks the agent for one, as qxctl does (api-types/vm-restart.ts): the guest shuts
 * down gracefully and starts again, and the run strategy is never touched.
 */
import type { RunStrategy, VirtualMachine } from '../../../api-types/generated/types.js';
import { isUnmanaged } from '../model/vm-flags.js';

export type VmAction = 'start' | 'stop' | 'restart' | 'pause' | 'resume' | 'delete';

export interface ActionOption {
  action: VmAction;
  label: string;
  enabled: boolean;
  /** Why it is disabled (shown on hover). */
  why?: string;
  danger?: boolean;
  /** The confirmation question. */
  confirm: string;
}

const LABELS: Record<VmAction, string> = { start: 'Start', stop: 'Stop', restart: 'Restart', pause: 'Pause', resume: 'Resume', delete: 'Delete' };

export function runStrategyOf(vm: VirtualMachine): RunStrategy {
  return vm.spec.runStrategy ?? 'Always';
}

export function actionsFor(vm: VirtualMachine): ActionOption[] {
  const ref = `${vm.metadata.namespace}/${vm.metadata.name}`;
  const strategy = runStrategyOf(vm);
  const phase = vm.status?.phase;
  const paused = vm.spec.paused === true || phase === 'Paused';
  const deleting = Boolean(vm.metadata.deletionTimestamp);
  const unmanaged = isUnmanaged(vm);
  const lifecycle = (action: Exclude<VmAction, 'delete'>, enabled: boolean, why: string, confirm: string): ActionOption => {
    if (deleting) return { action, label: LABELS[action], enabled: false, why: 'The VM is being deleted.', confirm };
    if (unmanaged) return { action, label: LABELS[action], enabled: false, why: 'Unmanaged (host-discovered): Quantix does not act on this domain.', confirm };
    return { action, label: LABELS[action], enabled, why: enabled ? undefined : why, confirm };
  };
  return [
    lifecycle('start', strategy === 'Halted' || strategy === 'Manual', `runStrategy is already ${strategy}.`, `Start ${ref}? (spec.runStrategy: Always)`),
    lifecycle('stop', strategy !== 'Halted', 'runStrategy is already Halted.', `Stop ${ref}? The guest is shut down (spec.runStrategy: Halted).`),
    lifecycle(
      'restart',
      strategy !== 'Halted' && (phase === 'Running' || phase === 'Paused'),
      'Only a running VM can be restarted.',
      `Restart ${ref}? The guest is shut down (then powered off after its grace period) and started again; cpu and memory changes waiting for a restart apply.`,
    ),
    paused
      ? lifecycle('resume', true, '', `Resume ${ref}? (spec.paused: false)`)
      : lifecycle('pause', phase === 'Running', 'Only a running VM can be paused.', `Pause ${ref}? (spec.paused: true)`),
    {
      action: 'delete',
      label: LABELS.delete,
      enabled: !deleting,
      why: deleting ? 'The VM is being deleted.' : undefined,
      danger: true,
      confirm: unmanaged
        ? `Delete the record of ${ref}? The domain is unmanaged: it keeps running on its host.`
        : `Delete ${ref}? The domain is destroyed and its volumes removed.`,
    },
  ];
}

/** The merge patch for a single-write action. */
export function patchFor(action: 'start' | 'stop' | 'pause' | 'resume'): { spec: Partial<VirtualMachine['spec']> } {
  switch (action) {
    case 'start':
      return { spec: { runStrategy: 'Always' } };
    case 'stop':
      return { spec: { runStrategy: 'Halted' } };
    case 'pause':
      return { spec: { paused: true } };
    case 'resume':
      return { spec: { paused: false } };
  }
}
