/** Whether a VM is stopped as restore needs it (browser-safe: the web UI shares the rule). */
import type { VirtualMachine } from './generated/types.js';

/** The agent reports Stopped and libvirt shut off: no QEMU process holds the disks (qemu-img may revert them). */
export function vmIsStopped(vm: VirtualMachine): boolean {
  return vm.status?.phase === 'Stopped' && (vm.status?.powerState ?? 'shutoff') === 'shutoff';
}
