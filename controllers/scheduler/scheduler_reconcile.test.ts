import type { Network, Node, StoragePool } from '../../api-types/generated/types.js';
import { GiB, NOW, network, node, pool, vm } from '../testing/fixtures.js';
import { DEFAULT_SCHEDULER_CONFIG, type NodeUsage } from '../../lib/scheduling/predicates.js';
import { feasibleNodesToFind, planScheduling, schedule, unschedulableMessage } from './scheduler_reconcile.js';

const none: NodeUsage = { cpu: 0, memoryBytes: 0, vmCount: 0 };

function input(v: ReturnType<typeof vm>, nodes: Node[], pools: StoragePool[], usage: Record<string, Partial<NodeUsage>> = {}, networks: Network[] = []) {
  const byName = new Map(nodes.map((n) => [n.metadata.name!, n]));
  return {
    vm: v,
    nodes,
    pools: new Map(pools.map((p) => [p.metadata.name!, p])),
    networks: new Map(networks.map((n) => [n.metadata.name!, n])),
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
      'fenced (an admin said the node is down), even when Ready',
      vm('a'),
      [{ ...node('n1'), spec: { fenced: true } }, node('n2')],
      [pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' })],
      {},
      'n2',
    ],
    [
      'only fenced nodes',
      vm('a'),
      [{ ...node('n1'), spec: { fenced: true } }],
      [pool('fast', ['n1'], { n1: 'HEALTHY' })],
      {},
      '0/1 nodes available: 1 node fenced',
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

describe('schedule: networks', () => {
  const onAll = pool('fast', ['node-a', 'node-b', 'node-c'], { 'node-a': 'HEALTHY', 'node-b': 'HEALTHY', 'node-c': 'HEALTHY' });
  const nodes = [node('node-a', { bridges: ['br0'] }), node('node-b'), node('node-c', { bridges: ['br0', 'br1'] })];
  const lan = (hosts: Record<string, boolean>, assigned = ['node-a', 'node-b']) => network('lan', assigned, hosts);
  const nic = (type: 'network' | 'bridge' | 'user', source?: string) => ({ name: `nic-${type}`, type, ...(source ? { source } : {}) });

  it.each([
    ['user networking needs nothing of a node', [nic('user')], [], /^node-[abc]$/],
    ['a Network active on one assigned node: lands there', [nic('network', 'lan')], [lan({ 'node-a': false, 'node-b': true })], 'node-b'],
    [
      'a Network that does not exist: every node counted under it',
      [nic('network', 'ghost')],
      [lan({ 'node-a': true })],
      '0/3 nodes available: 3 Network "ghost" does not exist',
    ],
    [
      'not active where assigned, not assigned elsewhere: the nodes named per reason',
      [nic('network', 'lan')],
      [lan({ 'node-a': false })],
      '0/3 nodes available: 2 network "lan" is not active (node-a, node-b), 1 network "lan" is not assigned (node-c)',
    ],
    ['a host bridge present on two nodes: lands on one of them', [nic('bridge', 'br0')], [], /^node-[ac]$/],
    ['a host bridge on one node only', [nic('bridge', 'br1')], [], 'node-c'],
    ['a host bridge on no node: each node named', [nic('bridge', 'br9')], [], '0/3 nodes available: 3 bridge "br9" does not exist (node-a, node-b, node-c)'],
    [
      'a Network and a bridge: a node must meet both (the first unmet one counts)',
      [nic('network', 'lan'), nic('bridge', 'br0')],
      [lan({ 'node-a': true, 'node-b': true })],
      'node-a',
    ],
    [
      'a Network and a bridge met on different nodes only: no node',
      [nic('bridge', 'br1'), nic('network', 'lan')],
      [lan({ 'node-a': true, 'node-b': true })],
      '0/3 nodes available: 2 bridge "br1" does not exist (node-a, node-b), 1 network "lan" is not assigned (node-c)',
    ],
  ] as const)('%s', (_label, nics, networks, expected) => {
    const d = schedule(input(vm('a', { networks: [...nics] }), nodes, [onAll], {}, [...networks]));
    if (typeof expected === 'string' && expected.startsWith('0/')) {
      expect(d).toMatchObject({ kind: 'unschedulable', message: expected });
    } else {
      expect(d.kind).toBe('bind');
      expect(d.kind === 'bind' && d.nodeName).toMatch(expected instanceof RegExp ? expected : new RegExp(`^${expected}$`));
    }
  });

  it('checks network needs before resources: a full node without the bridge is named for the bridge', () => {
    const d = schedule(input(vm('a', { networks: [nic('bridge', 'br1')], memory: '64Gi' }), nodes, [onAll], {}, []));
    expect(d).toMatchObject({ message: '0/3 nodes available: 2 bridge "br1" does not exist (node-a, node-b), 1 insufficient memory' });
  });

  it('names at most five nodes per reason', () => {
    const many = Array.from({ length: 7 }, (_, i) => node(`n${i}`));
    const p = pool(
      'fast',
      many.map((n) => n.metadata.name!),
      Object.fromEntries(many.map((n) => [n.metadata.name!, 'HEALTHY' as const])),
    );
    const d = schedule(input(vm('a', { networks: [nic('bridge', 'br0')] }), many, [p]));
    expect(d).toMatchObject({ message: '0/7 nodes available: 7 bridge "br0" does not exist (n0, n1, n2, n3, n4, +2 more)' });
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

describe('schedule: a share of the nodes in large clusters', () => {
  it('looks at every node up to 100, then a shrinking share, never under 100', () => {
    expect([3, 100, 101, 250, 1000, 5000, 100_000].map(feasibleNodesToFind)).toEqual([3, 100, 100, 120, 420, 500, 5000]);
  });
  it('stops after that many feasible nodes, starting at startIndex; an unschedulable VM still sees every node', () => {
    const nodes = Array.from({ length: 300 }, (_, i) => node(`n${String(i).padStart(3, '0')}`));
    const onAll = pool(
      'fast',
      nodes.map((n) => n.metadata.name!),
      Object.fromEntries(nodes.map((n) => [n.metadata.name!, 'HEALTHY'])),
    );
    const from = (startIndex: number) => schedule({ ...input(vm('a'), nodes, [onAll]), startIndex });
    // 300 nodes: 48 % (144) feasible are enough; equal scores, so the first by name among those seen.
    expect(from(0)).toEqual({ kind: 'bind', nodeName: 'n000', evaluated: 144 });
    expect(from(250)).toEqual({ kind: 'bind', nodeName: 'n000', evaluated: 144 });
    expect(from(100)).toEqual({ kind: 'bind', nodeName: 'n100', evaluated: 144 });
    const d = schedule({ ...input(vm('a', { memory: '64Gi' }), nodes, [onAll]), startIndex: 42 });
    expect(d).toMatchObject({ kind: 'unschedulable', message: '0/300 nodes available: 300 insufficient memory' });
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
        waits: ['insufficient memory', 'pool "fast" not assigned'],
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
    if ('waits' in expected) expect(plan.unschedulable?.reasons.sort()).toEqual(expected.waits);
  });

  it('the Scheduled event names the VM and node, and the node acceleration when reported', () => {
    const p = pool('fast', ['n1'], { n1: 'HEALTHY' });
    expect(planScheduling(input(vm('web'), [node('n1')], [p])).events[0]!.message).toBe('Successfully assigned default/web to n1');
    expect(planScheduling(input(vm('web'), [node('n1', { acceleration: 'tcg' })], [p])).events[0]!.message).toBe(
      'Successfully assigned default/web to n1 (tcg)',
    );
  });

  it('pinned to a node where its network is not active: NodeNotSuitable naming the node and network', () => {
    const plan = planScheduling(
      input(vm('a', { nodeName: 'n1', networks: [{ name: 'eth0', type: 'network', source: 'lan' }] }), three, pools, {}, [
        network('lan', ['n1'], { n1: false }),
      ]),
    );
    expect(plan.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({
      status: 'False',
      reason: 'NodeNotSuitable',
      message: 'node "n1" cannot run the VM: network "lan" is not active',
    });
    expect(plan.events.map((e) => e.reason)).toEqual(['FailedScheduling']);
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
