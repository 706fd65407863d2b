import type { Node, StoragePool } from '../../api-types/generated/types.js';
import { GiB, NOW, node, pool, vm } from '../testing/fixtures.js';
import { DEFAULT_SCHEDULER_CONFIG, type NodeUsage } from '../../lib/scheduling/predicates.js';
import { planScheduling, schedule, unschedulableMessage } from './scheduler_reconcile.js';

const none: NodeUsage = { cpu: 0, memoryBytes: 0, vmCount: 0 };

function input(v: ReturnType<typeof vm>, nodes: Node[], pools: StoragePool[], usage: Record<string, Partial<NodeUsage>> = {}) {
  const byName = new Map(nodes.map((n) => [n.metadata.name!, n]));
  return {
    vm: v,
    nodes,
    pools: new Map(pools.map((p) => [p.metadata.name!, p])),
    usage: (n: string) => ({ ...none, ...usage[n] }),
    config: DEFAULT_SCHEDULER_CONFIG,
    nodeByName: (n: string) => byName.get(n),
    now: NOW,
  };
}

const three = [node('n1'), node('n2'), node('n3')];
const fastOn12 = pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' });

describe('schedule: filters', () => {
  it.each([
    ['pool assigned to 2 of 3 nodes: lands on one of them', vm('a'), three, [fastOn12], {}, /^n[12]$/],
    [
      'the spec example: 2 pool not assigned, 1 insufficient memory',
      vm('a', { memory: '12Gi' }),
      three,
      [pool('fast', ['n1'], { n1: 'HEALTHY' })],
      { n1: { memoryBytes: 8 * GiB } },
      '0/3 nodes available: 2 pool "fast" not assigned, 1 insufficient memory',
    ],
    ['pool missing everywhere', vm('a', { pools: ['ghost'] }), three, [fastOn12], {}, '0/3 nodes available: 3 pool "ghost" not found'],
    [
      'pool unhealthy on its only host',
      vm('a'),
      three,
      [pool('fast', ['n1'], { n1: 'UNMOUNTED' })],
      {},
      '0/3 nodes available: 2 pool "fast" not assigned, 1 pool "fast" not healthy',
    ],
    ['pool not reported yet on an assigned node', vm('a'), [node('n1')], [pool('fast', ['n1'], {})], {}, '0/1 nodes available: 1 pool "fast" not healthy'],
    [
      'readiness and cordon',
      vm('a'),
      [node('n1', { ready: 'Unknown' }), node('n2', { ready: 'False' }), node('n3', { unschedulable: true }), node('n4', { ready: 'none' })],
      [pool('fast', ['n1', 'n2', 'n3', 'n4'], { n1: 'HEALTHY', n2: 'HEALTHY', n3: 'HEALTHY', n4: 'HEALTHY' })],
      {},
      '0/4 nodes available: 2 node not ready, 1 node unreachable, 1 node unschedulable',
    ],
    [
      'node selector',
      vm('a', { selector: { zone: 'b' } }),
      [node('n1', { labels: { zone: 'a' } }), node('n2', { labels: { zone: 'b' } })],
      [pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' })],
      {},
      'n2',
    ],
    [
      'cpu with 4x overcommit: 8 cores → 32 vCPUs',
      vm('a', { cpu: 4 }),
      [node('n1', { cpu: 8 })],
      [pool('fast', ['n1'], { n1: 'HEALTHY' })],
      { n1: { cpu: 29 } },
      '0/1 nodes available: 1 insufficient cpu',
    ],
    [
      'memory exactly fits',
      vm('a', { memory: '8Gi' }),
      [node('n1', { memGi: 16 })],
      [pool('fast', ['n1'], { n1: 'HEALTHY' })],
      { n1: { memoryBytes: 8 * GiB } },
      'n1',
    ],
    ['no nodes at all', vm('a'), [], [fastOn12], {}, '0/0 nodes available: no nodes registered'],
    ['a VM without disks needs no pool', vm('a', { pools: [] }), [node('n3')], [], {}, 'n3'],
  ])('%s', (_label, v, nodes, pools, usage, expected) => {
    const d = schedule(input(v, nodes, pools, usage));
    if (typeof expected === 'string' && expected.startsWith('0/')) {
      expect(d).toMatchObject({ kind: 'unschedulable', message: expected });
    } else {
      expect(d.kind).toBe('bind');
      expect(d.kind === 'bind' && d.nodeName).toMatch(expected instanceof RegExp ? expected : new RegExp(`^${expected}$`));
    }
  });
});

describe('schedule: scoring', () => {
  it('prefers the least allocated node', () => {
    const d = schedule(
      input(vm('a'), three, [pool('fast', ['n1', 'n2', 'n3'], { n1: 'HEALTHY', n2: 'HEALTHY', n3: 'HEALTHY' })], {
        n1: { cpu: 4, memoryBytes: 4 * GiB, vmCount: 2 },
        n2: { cpu: 1, memoryBytes: GiB, vmCount: 1 },
        n3: { cpu: 2, memoryBytes: 2 * GiB, vmCount: 1 },
      }),
    );
    expect(d).toEqual({ kind: 'bind', nodeName: 'n2' });
  });
  it('spreads on equal scores (fewer VMs), then by name', () => {
    const p = pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' });
    expect(schedule(input(vm('a'), [node('n2'), node('n1')], [p]))).toEqual({ kind: 'bind', nodeName: 'n1' });
  });
  it('weighs capacity, not just counts: a big node wins over a small empty one', () => {
    const p = pool('fast', ['big', 'small'], { big: 'HEALTHY', small: 'HEALTHY' });
    const d = schedule(
      input(vm('a', { memory: '2Gi' }), [node('big', { cpu: 64, memGi: 256 }), node('small', { cpu: 2, memGi: 4 })], [p], {
        big: { cpu: 8, memoryBytes: 32 * GiB, vmCount: 8 },
      }),
    );
    expect(d).toEqual({ kind: 'bind', nodeName: 'big' });
  });
});

describe('unschedulableMessage', () => {
  it('orders by count, then reason', () => {
    expect(unschedulableMessage(5, { 'insufficient memory': 1, 'pool "fast" not assigned': 2, 'insufficient cpu': 2 })).toBe(
      '0/5 nodes available: 2 insufficient cpu, 2 pool "fast" not assigned, 1 insufficient memory',
    );
  });
});

describe('planScheduling', () => {
  const pools = [fastOn12];
  it.each([
    ['unbound and fits: bind, Scheduled event', vm('a'), { bind: /^n[12]$/, events: ['Normal Scheduled'], status: false }],
    ['being deleted: nothing', vm('a', { deleting: true }), { bind: undefined, events: [], status: false }],
    [
      'unbound, nothing fits: Scheduled=False Unschedulable + FailedScheduling, retried later',
      vm('a', { memory: '64Gi' }),
      {
        bind: undefined,
        events: ['Warning FailedScheduling'],
        status: { reason: 'Unschedulable', message: '0/3 nodes available: 2 insufficient memory, 1 pool "fast" not assigned' },
        requeue: true,
      },
    ],
    [
      'pinned to a node without the pool: NodeNotSuitable',
      vm('a', { nodeName: 'n3' }),
      {
        bind: undefined,
        events: ['Warning FailedScheduling'],
        status: { reason: 'NodeNotSuitable', message: 'node "n3" cannot run the VM: pool "fast" not assigned' },
      },
    ],
    [
      'pinned to a missing node',
      vm('a', { nodeName: 'gone' }),
      { bind: undefined, events: ['Warning FailedScheduling'], status: { reason: 'NodeNotSuitable', message: 'node "gone" not found' } },
    ],
    ['pinned to a good node: nothing to write', vm('a', { nodeName: 'n1' }), { bind: undefined, events: [], status: false }],
    [
      'pinned, flagged before, now fits: flag cleared (Bound)',
      vm('a', { nodeName: 'n1', conditions: [{ type: 'Scheduled', status: 'False', reason: 'NodeNotSuitable', message: 'x', lastTransitionTime: NOW }] }),
      { bind: undefined, events: [], status: { status: 'True', reason: 'Bound', message: 'bound to node n1' } },
    ],
    [
      'already flagged with the same reason: no write, no new event',
      vm('a', {
        nodeName: 'n3',
        conditions: [
          {
            type: 'Scheduled',
            status: 'False',
            reason: 'NodeNotSuitable',
            message: 'node "n3" cannot run the VM: pool "fast" not assigned',
            lastTransitionTime: NOW,
          },
        ],
      }),
      { bind: undefined, events: [], status: false },
    ],
    ['bound and running (agent acted): not re-validated', vm('a', { nodeName: 'n3', phase: 'Running' }), { bind: undefined, events: [], status: false }],
  ])('%s', (_label, v, expected) => {
    const plan = planScheduling(input(v, three, pools));
    if (expected.bind instanceof RegExp) expect(plan.bind).toMatch(expected.bind);
    else expect(plan.bind).toBeUndefined();
    expect(plan.events.map((e) => `${e.type} ${e.reason}`)).toEqual(expected.events);
    if (expected.status === false) expect(plan.status).toBeUndefined();
    else expect(plan.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject(expected.status);
    if ('requeue' in expected) expect(plan.requeueAfterMs).toBeGreaterThan(0);
  });

  it('the Scheduled event names the VM and node', () => {
    const plan = planScheduling(input(vm('web'), [node('n1')], [pool('fast', ['n1'], { n1: 'HEALTHY' })]));
    expect(plan.events[0]!.message).toBe('Successfully assigned default/web to n1');
  });
});

describe('bindPatch', () => {
  it('tests uid and spec, sets nodeName and adds the finalizer when missing', async () => {
    const { bindPatch } = await import('./scheduler_controller.js');
    const v = vm('a');
    expect(bindPatch(v, 'n1')).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-a' },
      { op: 'test', path: '/spec', value: v.spec },
      { op: 'add', path: '/spec/nodeName', value: 'n1' },
      { op: 'add', path: '/metadata/finalizers', value: ['quantix.io/vm-cleanup'] },
    ]);
  });
  it('appends to other finalizers (guarded by a test), or leaves ours alone', async () => {
    const { bindPatch } = await import('./scheduler_controller.js');
    expect(bindPatch(vm('a', { finalizers: ['x.io/keep'] }), 'n1').slice(3)).toEqual([
      { op: 'test', path: '/metadata/finalizers', value: ['x.io/keep'] },
      { op: 'add', path: '/metadata/finalizers/-', value: 'quantix.io/vm-cleanup' },
    ]);
    expect(bindPatch(vm('a', { finalizers: ['quantix.io/vm-cleanup'] }), 'n1')).toHaveLength(3);
  });
});
