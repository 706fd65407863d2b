import { GiB, vm } from '../testing/fixtures.js';
import { allocatedFor } from './nodeallocation_reconcile.js';

describe('allocatedFor', () => {
  it.each([
    ['no VMs', [], { cpu: 0, memoryBytes: 0, vmCount: 0 }],
    [
      'sums VMs bound to the node',
      [vm('a', { nodeName: 'n1', cpu: 2, memory: '2Gi' }), vm('b', { nodeName: 'n1', cpu: 1, memory: '1Gi' })],
      { cpu: 3, memoryBytes: 3 * GiB, vmCount: 2 },
    ],
    [
      'ignores other nodes and Terminated VMs',
      [vm('a', { nodeName: 'n2' }), vm('b', { nodeName: 'n1', phase: 'Terminated' }), vm('c', { nodeName: 'n1' })],
      { cpu: 1, memoryBytes: GiB, vmCount: 1 },
    ],
  ])('%s', (_label, vms, expected) => {
    expect(allocatedFor('n1', vms)).toEqual(expected);
  });
});
