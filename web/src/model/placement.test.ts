import type { Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { placementFor, usageByNode } from './placement.js';

const GiB = 1024 ** 3;

function node(name: string, o: { ready?: 'True' | 'False' | 'Unknown'; cordoned?: boolean; cpu?: number; memGi?: number } = {}): Node {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Node',
    metadata: { name },
    spec: { unschedulable: o.cordoned },
    status: { conditions: [{ type: 'Ready', status: o.ready ?? 'True' }], allocatable: { cpu: o.cpu ?? 4, memoryBytes: (o.memGi ?? 8) * GiB } },
  };
}

function pool(name: string, hosts: Record<string, 'HEALTHY' | 'ERROR'>): StoragePool {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name },
    spec: { type: 'dir', dir: { path: `/p/${name}` }, assignedNodes: Object.keys(hosts) },
    status: { phase: 'Ready', hosts: Object.fromEntries(Object.entries(hosts).map(([n, health]) => [n, { health }])) },
  };
}

function vm(name: string, o: { memory?: string; cpu?: number; pools?: string[]; node?: string; phase?: string } = {}): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: {
      memory: o.memory ?? '1Gi',
      cpu: o.cpu ?? 1,
      disks: (o.pools ?? []).map((p, i) => ({ name: `d${i}`, storagePool: p, size: '1Gi' })),
      nodeName: o.node,
    },
    status: o.phase ? { phase: o.phase as never } : undefined,
  };
}

describe('placementFor', () => {
  const nodes = [node('a'), node('b', { cordoned: true }), node('c', { ready: 'Unknown' }), node('d', { memGi: 2 }), node('e')];
  const pools = [pool('fast', { a: 'HEALTHY', b: 'HEALTHY', c: 'HEALTHY', d: 'HEALTHY', e: 'ERROR' })];

  it('gives the scheduler’s reason for every node that cannot take the VM', () => {
    const existing = [vm('big', { memory: '1536Mi', node: 'd' })];
    const fits = placementFor(vm('new', { pools: ['fast'] }), nodes, pools, existing);
    expect(fits.map((f) => [f.node, f.fits, f.reason])).toEqual([
      ['a', true, undefined],
      ['b', false, 'node unschedulable'],
      ['c', false, 'node unreachable'],
      ['d', false, 'insufficient memory'],
      ['e', false, 'pool "fast" not healthy'],
    ]);
  });

  it('names a pool that is not assigned to a node', () => {
    const fits = placementFor(vm('new', { pools: ['other'] }), [node('a')], [...pools, pool('other', { z: 'HEALTHY' })], []);
    expect(fits[0]).toMatchObject({ fits: false, reason: 'pool "other" not assigned' });
  });

  it('counts what bound VMs take, except Terminated ones', () => {
    const u = usageByNode([vm('x', { node: 'a', cpu: 2 }), vm('y', { node: 'a', phase: 'Terminated', cpu: 8 }), vm('z')]);
    expect(u.get('a')).toEqual({ cpu: 2, memoryBytes: GiB, vmCount: 1 });
    expect(u.size).toBe(1);
  });
});
