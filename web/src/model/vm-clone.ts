/**
 * The Clone action of the VM page (pure): whether it is offered, why not, and the name the
 * dialog proposes. The server decides (virtualmachines/NAME/clone, api-types/vm-clone.ts);
 * this only mirrors its rule so the button says why it is disabled.
 */
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { cloneRefusal } from '../../../api-types/vm-clone.js';

export interface CloneOption {
  enabled: boolean;
  /** Why it is disabled (the server's own words), or what it does. */
  title: string;
}

export function cloneOption(vm: VirtualMachine): CloneOption {
  const refusal = cloneRefusal(vm);
  if (refusal) return { enabled: false, title: refusal };
  return { enabled: true, title: 'A new VM on the same node with copies of the disks, its own uid, MAC addresses and host name' };
}

/** `NAME-clone`, kept a DNS-1123 label (at most 63 characters, no trailing dash). */
export function defaultCloneName(name: string): string {
  const suffix = '-clone';
  return `${name.slice(0, 63 - suffix.length).replace(/-+$/, '')}${suffix}`;
}
