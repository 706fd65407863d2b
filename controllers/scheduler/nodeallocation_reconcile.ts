/**
 * Node allocation as a pure function: the VMs bound to a node → `status.allocated`
 * (cpu, memoryBytes, vmCount), what `kubectl get qn` shows next to allocatable. Terminated
 * VMs take nothing (the same rule as the scheduler's accounting).
 */
import type { NodeAllocated, VirtualMachine } from '../../api-types/generated/types.js';
import { requestOf } from '../../lib/scheduling/predicates.js';

export function allocatedFor(nodeName: string, vms: readonly VirtualMachine[]): NodeAllocated {
  const out: NodeAllocated = { cpu: 0, memoryBytes: 0, vmCount: 0 };
  for (const vm of vms) {
    if (vm.spec?.nodeName !== nodeName || vm.status?.phase === 'Terminated') continue;
    const r = requestOf(vm);
    out.cpu! += r.cpu;
    out.memoryBytes! += r.memoryBytes;
    out.vmCount! += 1;
  }
  return out;
}
