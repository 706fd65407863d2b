/**
 * What makes a VM row special, with the words the UI shows on hover. The definitions follow
 * DESIGN.md: unmanaged (host-discovered) domains are never destroyed or changed by Quantix;
 * Lost means the host reports a managed domain missing; Unknown means its host went silent.
 */
import type { VirtualMachine } from '../../../api-types/generated/types.js';

export interface VmFlag {
  kind: 'unmanaged' | 'lost' | 'unknown' | 'terminated';
  label: string;
  explanation: string;
}

export function isUnmanaged(vm: VirtualMachine): boolean {
  return vm.status?.managed === false || vm.status?.origin === 'host-discovered';
}

export function vmFlags(vm: VirtualMachine): VmFlag[] {
  const flags: VmFlag[] = [];
  const s = vm.status;
  if (isUnmanaged(vm)) {
    flags.push({
      kind: 'unmanaged',
      label: 'unmanaged',
      explanation:
        `Found running on ${s?.nodeName ?? 'a host'} by its agent, not created by Quantix (origin ${s?.origin ?? 'unknown'}). ` +
        'Quantix reports it but never starts, stops, destroys or undefines it.',
    });
  }
  if (s?.phase === 'Lost') {
    flags.push({
      kind: 'lost',
      label: 'lost',
      explanation:
        `The host ${s.nodeName ?? ''} reports this managed VM missing${s.lostReason ? `: ${s.lostReason}` : ''}` +
        `${s.lostAt ? ` (since ${s.lostAt})` : ''}. It was removed outside Quantix; nothing restarts it elsewhere until an admin decides (delete it, or start it again).`,
    });
  }
  if (s?.phase === 'Unknown') {
    flags.push({
      kind: 'unknown',
      label: 'unknown',
      explanation: `The node ${s.nodeName ?? vm.spec.nodeName ?? ''} stopped heartbeating: the VM may still be running. Quantix neither deletes nor moves it.`,
    });
  }
  if (s?.phase === 'Terminated') {
    flags.push({ kind: 'terminated', label: 'terminated', explanation: 'An unmanaged domain that disappeared from its host.' });
  }
  return flags;
}
