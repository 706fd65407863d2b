import type { Network, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import {
  backoffMs,
  capacityFreed,
  type ClusterEvent,
  moves,
  networkEvent,
  nodeEvent,
  poolEvent,
  UnschedulableVms,
  waitingVm,
  type WaitingVm,
} from './scheduling_queue.js';

function node(
  name: string,
  o: { ready?: string; unschedulable?: boolean; fenced?: boolean; labels?: Record<string, string>; cpu?: number; heartbeat?: string } = {},
): Node {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Node',
    metadata: { name, ...(o.labels ? { labels: o.labels } : {}) },
    spec: { unschedulable: o.unschedulable, fenced: o.fenced },
    status: {
      lastHeartbeatTime: o.heartbeat ?? 't0',
      conditions: [{ type: 'Ready', status: o.ready ?? 'True' }],
      allocatable: { cpu: o.cpu ?? 8, memoryBytes: 16 },
    },
  } as Node;
}

function pool(name: string, assigned: string[], health: Record<string, string>): StoragePool {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name },
    spec: { type: 'dir', assignedNodes: assigned },
    status: { hosts: Object.fromEntries(Object.entries(health).map(([n, h]) => [n, { health: h }])) },
  } as StoragePool;
}

function network(name: string, assigned: string[], active: Record<string, boolean>): Network {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name },
    spec: { assignedNodes: assigned },
    status: { hosts: Object.fromEntries(Object.entries(active).map(([n, a]) => [n, { active: a }])) },
  } as Network;
}

function vm(o: { nodeName?: string; phase?: string; cpu?: number; pools?: string[]; nets?: string[] } = {}): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'v', namespace: 'default' },
    spec: {
      cpu: o.cpu ?? 1,
      memory: '1Gi',
      disks: (o.pools ?? ['fast']).map((p, i) => ({ name: `d${i}`, storagePool: p, size: '1Gi' })),
      networks: (o.nets ?? []).map((n) => ({ name: n, type: 'network', source: n })),
      ...(o.nodeName ? { nodeName: o.nodeName } : {}),
    },
    ...(o.phase ? { status: { phase: o.phase } } : {}),
  } as VirtualMachine;
}

const onFast: WaitingVm = { pools: ['fast'], networks: [], reasons: ['pool "fast" not healthy'] };
const onLan: WaitingVm = { pools: ['slow'], networks: ['lan'], reasons: ['network "lan" is not active'] };
const tooBig: WaitingVm = { pools: ['fast'], networks: [], reasons: ['insufficient memory', 'pool "fast" not assigned'] };
const pinnedFull: WaitingVm = { pools: ['fast'], networks: [], reasons: ['node "n1" cannot run the VM: insufficient cpu'] };

describe('which cluster event moves which waiting VM', () => {
  it.each<[string, ClusterEvent, WaitingVm, boolean]>([
    ['a node becoming schedulable: every VM', { kind: 'NodeSchedulable', node: 'n1' }, onFast, true],
    ['its pool becoming HEALTHY somewhere', { kind: 'PoolReady', pool: 'fast' }, onFast, true],
    ['another pool', { kind: 'PoolReady', pool: 'slow' }, onFast, false],
    ['its Network becoming active', { kind: 'NetworkReady', network: 'lan' }, onLan, true],
    ['another Network', { kind: 'NetworkReady', network: 'wan' }, onLan, false],
    ['capacity freed, the VM was refused for capacity', { kind: 'CapacityFreed', node: 'n1' }, tooBig, true],
    ['capacity freed, a pinned VM refused for capacity', { kind: 'CapacityFreed', node: 'n1' }, pinnedFull, true],
    ['capacity freed, the VM waits for its pool only', { kind: 'CapacityFreed', node: 'n1' }, onFast, false],
  ])('%s → %s', (_label, event, waiting, expected) => {
    expect(moves(event, waiting)).toBe(expected);
  });

  it('a VM needs its pools and type-network NICs (bridges are node facts)', () => {
    const v = vm({ pools: ['fast', 'slow', 'fast'], nets: ['lan'] });
    expect(waitingVm(v, ['x'])).toEqual({ pools: ['fast', 'slow'], networks: ['lan'], reasons: ['x'] });
  });
});

describe('cluster events from informer changes', () => {
  it.each<[string, Node | undefined, Node, boolean]>([
    ['node added', undefined, node('n1'), true],
    ['heartbeat only', node('n1'), node('n1', { heartbeat: 't1' }), false],
    ['became Ready', node('n1', { ready: 'Unknown' }), node('n1'), true],
    ['became NotReady', node('n1'), node('n1', { ready: 'False' }), false],
    ['uncordoned', node('n1', { unschedulable: true }), node('n1'), true],
    ['cordoned', node('n1'), node('n1', { unschedulable: true }), false],
    ['unfenced', node('n1', { fenced: true }), node('n1'), true],
    ['labels changed', node('n1'), node('n1', { labels: { zone: 'a' } }), true],
    ['allocatable changed', node('n1'), node('n1', { cpu: 16 }), true],
  ])('node %s → %s', (_label, old, n, expected) => {
    expect(nodeEvent(old, n)).toEqual(expected ? { kind: 'NodeSchedulable', node: 'n1' } : undefined);
  });

  it.each<[string, StoragePool | undefined, StoragePool, boolean]>([
    ['added HEALTHY on a node', undefined, pool('fast', ['n1'], { n1: 'HEALTHY' }), true],
    ['added, healthy nowhere', undefined, pool('fast', ['n1'], { n1: 'UNMOUNTED' }), false],
    [
      'became HEALTHY on a node',
      pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'UNMOUNTED' }),
      pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' }),
      true,
    ],
    [
      'assigned to a node where it is HEALTHY',
      pool('fast', ['n1'], { n1: 'HEALTHY', n2: 'HEALTHY' }),
      pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' }),
      true,
    ],
    ['assigned, not healthy there yet', pool('fast', ['n1'], { n1: 'HEALTHY' }), pool('fast', ['n1', 'n2'], { n1: 'HEALTHY' }), false],
    ['lost health', pool('fast', ['n1'], { n1: 'HEALTHY' }), pool('fast', ['n1'], { n1: 'DEGRADED' }), false],
  ])('pool %s → %s', (_label, old, p, expected) => {
    expect(poolEvent(old, p)).toEqual(expected ? { kind: 'PoolReady', pool: 'fast' } : undefined);
  });

  it.each<[string, Network | undefined, Network, boolean]>([
    ['became active on a node', network('lan', ['n1'], { n1: false }), network('lan', ['n1'], { n1: true }), true],
    ['active on a node it is not assigned to', network('lan', ['n1'], {}), network('lan', ['n1'], { n2: true }), false],
    ['went inactive', network('lan', ['n1'], { n1: true }), network('lan', ['n1'], { n1: false }), false],
  ])('network %s → %s', (_label, old, n, expected) => {
    expect(networkEvent(old, n)).toEqual(expected ? { kind: 'NetworkReady', network: 'lan' } : undefined);
  });

  it.each<[string, VirtualMachine, VirtualMachine | undefined, string | undefined]>([
    ['a bound VM deleted', vm({ nodeName: 'n1' }), undefined, 'n1'],
    ['a bound VM stopped (Terminated)', vm({ nodeName: 'n1', phase: 'Running' }), vm({ nodeName: 'n1', phase: 'Terminated' }), 'n1'],
    ['a VM moved to another node', vm({ nodeName: 'n1' }), vm({ nodeName: 'n2' }), 'n1'],
    ['a VM shrunk', vm({ nodeName: 'n1', cpu: 4 }), vm({ nodeName: 'n1', cpu: 2 }), 'n1'],
    ['a status write', vm({ nodeName: 'n1' }), vm({ nodeName: 'n1', phase: 'Running' }), undefined],
    ['an unbound VM deleted', vm(), undefined, undefined],
    ['a Terminated VM deleted', vm({ nodeName: 'n1', phase: 'Terminated' }), undefined, undefined],
  ])('%s frees capacity on %s', (_label, old, v, freed) => {
    expect(capacityFreed(old, v)).toEqual(freed ? { kind: 'CapacityFreed', node: freed } : undefined);
  });
});

describe('UnschedulableVms', () => {
  it('backs off per VM: 1 s doubling to 10 s', () => {
    expect([1, 2, 3, 4, 5, 50].map(backoffMs)).toEqual([1000, 2000, 4000, 8000, 10_000, 10_000]);
  });

  it('parks a VM until an event that concerns it moves it, after what is left of its backoff', () => {
    const q = new UnschedulableVms();
    expect(q.park('default/a', onFast, 0, q.cycle())).toEqual({ parked: true });
    expect(q.park('default/b', onLan, 0, q.cycle())).toEqual({ parked: true });
    expect(q.move({ kind: 'PoolReady', pool: 'other' }, 100)).toEqual([]);
    expect(q.move({ kind: 'PoolReady', pool: 'fast' }, 400)).toEqual([{ key: 'default/a', delayMs: 600 }]);
    expect(q.isParked('default/a')).toBe(false);
    expect(q.size).toBe(1);
    // Moved once: a second event does not move it again (it is in the work queue).
    expect(q.move({ kind: 'PoolReady', pool: 'fast' }, 500)).toEqual([]);
    expect(q.move({ kind: 'NodeSchedulable', node: 'n9' }, 5000)).toEqual([{ key: 'default/b', delayMs: 0 }]);
  });

  it('a VM failing again waits longer; a bind or delete forgets its history', () => {
    const q = new UnschedulableVms();
    q.park('default/a', onFast, 0, q.cycle());
    q.move({ kind: 'PoolReady', pool: 'fast' }, 0);
    q.park('default/a', onFast, 1000, q.cycle());
    expect(q.move({ kind: 'PoolReady', pool: 'fast' }, 1000)).toEqual([{ key: 'default/a', delayMs: 2000 }]);
    q.forget('default/a');
    q.park('default/a', onFast, 5000, q.cycle());
    expect(q.move({ kind: 'PoolReady', pool: 'fast' }, 5000)).toEqual([{ key: 'default/a', delayMs: 1000 }]);
  });

  it('an event during an attempt is not lost: the VM is retried after its backoff instead of parked', () => {
    const q = new UnschedulableVms();
    const cycle = q.cycle();
    q.move({ kind: 'PoolReady', pool: 'fast' }, 0); // arrives while default/a is being tried
    expect(q.park('default/a', onFast, 0, cycle)).toEqual({ parked: false, retryAfterMs: 1000 });
    expect(q.isParked('default/a')).toBe(false);
  });
});
