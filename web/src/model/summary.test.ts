import type { Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { clusterCapacity, countBy, nodeReadiness, vmPhaseOf } from './summary.js';

const GiB = 1024 ** 3;

describe('dashboard aggregates', () => {
  const nodes: Node[] = [
    {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Node',
      metadata: { name: 'a' },
      status: { conditions: [{ type: 'Ready', status: 'True' }], allocatable: { cpu: 8, memoryBytes: 16 * GiB } },
    },
    {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Node',
      metadata: { name: 'b' },
      status: { conditions: [{ type: 'Ready', status: 'Unknown' }], capacity: { cpu: 4, memoryBytes: 8 * GiB } },
    },
    { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'c' } },
  ];
  const vms: VirtualMachine[] = [
    {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'x' },
      spec: { memory: '2Gi', cpu: 2, nodeName: 'a' },
      status: { phase: 'Running' },
    },
    { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: { name: 'y' }, spec: { memory: '1Gi' } },
  ];
  const pools: StoragePool[] = [
    {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'p' },
      spec: { type: 'dir' },
      status: { capacity: { totalBytes: 100, usedBytes: 40 } },
    },
  ];

  it('counts VMs by phase, unset phase as Pending', () => {
    expect(Object.fromEntries(countBy(vms, vmPhaseOf))).toEqual({ Running: 1, Pending: 1 });
  });

  it('counts nodes by readiness; never-reported nodes are Unknown', () => {
    expect(Object.fromEntries(nodeReadiness(nodes))).toEqual({ Ready: 1, Unknown: 2 });
  });

  it('sums capacity (allocatable, else capacity) and what bound VMs take', () => {
    expect(clusterCapacity(nodes, pools, vms)).toEqual({
      cpu: { used: 2, total: 12 },
      memoryBytes: { used: 2 * GiB, total: 24 * GiB },
      storageBytes: { used: 40, total: 100 },
    });
  });
});
