/** The VM cache index by node (spec.nodeName), shared by the scheduler, vm and node-lifecycle controllers. */
import type { VirtualMachine } from '../../api-types/generated/types.js';
import type { Informer } from '../runtime/informer.js';

export const BY_NODE = 'spec.nodeName';

export function indexVmsByNode(vms: Informer<VirtualMachine>): void {
  if (!vms.store.hasIndex(BY_NODE)) vms.store.addIndex(BY_NODE, (vm) => (vm.spec?.nodeName ? [vm.spec.nodeName] : []));
}
