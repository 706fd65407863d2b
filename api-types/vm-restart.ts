/**
 * A restart of a running VM, as every client asks for it (qxctl vm restart, the UI's Restart):
 * the annotation below set to the current time. The agent restarts the domain gracefully (the
 * VM's stop grace, then power-off) whenever the value is newer than the last it honoured,
 * applies spec changes that wait for a restart (RestartRequired), and counts it in
 * status.restartCount.
 */
import type { VirtualMachine } from './generated/types.js';

export const RESTART_ANNOTATION = 'quantix.io/restart-requested-at';

/** The merge patch that asks for a restart at `now`. */
export function restartRequestPatch(now: Date): { metadata: { annotations: Record<string, string> } } {
  return { metadata: { annotations: { [RESTART_ANNOTATION]: now.toISOString() } } };
}

/** Whether the agent has restarted the VM since it counted `priorRestartCount`, and it runs again. */
export function restartedSince(vm: VirtualMachine | undefined, priorRestartCount: number): boolean {
  return (vm?.status?.restartCount ?? 0) > priorRestartCount && vm?.status?.phase === 'Running';
}
