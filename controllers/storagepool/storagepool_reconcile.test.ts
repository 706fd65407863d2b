import { GiB, NOW_MS, pool } from '../testing/fixtures.js';
import { planPool, planPoolFinalizer } from './storagepool_reconcile.js';

const h = (health: 'HEALTHY' | 'DEGRADED' | 'ERROR' | 'UNMOUNTED', totalGi = 100, usedGi = 40, extra: { message?: string; lastReported?: string } = {}) => ({
  health,
  totalBytes: totalGi * GiB,
  usedBytes: usedGi * GiB,
  availableBytes: (totalGi - usedGi) * GiB,
  ...extra,
});

describe('planPool', () => {
  it.each([
    ['nothing reported: Pending, no capacity', pool('p', ['n1', 'n2']), { phase: 'Pending', total: undefined, ready: 'False' }],
    ['not assigned anywhere: Pending', pool('p', []), { phase: 'Pending', total: undefined, ready: 'False' }],
    [
      'every host HEALTHY: Ready, dir capacity summed',
      pool('p', ['n1', 'n2'], { n1: h('HEALTHY'), n2: h('HEALTHY') }),
      { phase: 'Ready', total: 200, ready: 'True' },
    ],
    [
      'one host UNMOUNTED: Degraded, capacity of the healthy one',
      pool('p', ['n1', 'n2'], { n1: h('HEALTHY'), n2: h('UNMOUNTED') }),
      { phase: 'Degraded', total: 100, ready: 'False' },
    ],
    ['one host not reported yet: Degraded', pool('p', ['n1', 'n2'], { n1: h('HEALTHY') }), { phase: 'Degraded', total: 100, ready: 'False' }],
    ['none HEALTHY: Error', pool('p', ['n1', 'n2'], { n1: h('ERROR'), n2: h('UNMOUNTED') }), { phase: 'Error', total: undefined, ready: 'False' }],
    [
      'DEGRADED host: pool Degraded (Error if alone), its capacity still counts',
      pool('p', ['n1', 'n2'], { n1: h('HEALTHY'), n2: h('DEGRADED', 50, 45) }),
      { phase: 'Degraded', total: 150, ready: 'False' },
    ],
    [
      'nfs: capacity counted once (freshest report)',
      pool(
        'p',
        ['n1', 'n2'],
        { n1: h('HEALTHY', 1000, 100, { lastReported: '2026-01-01T00:00:00Z' }), n2: h('HEALTHY', 1000, 120, { lastReported: '2026-01-01T00:00:10Z' }) },
        'nfs',
      ),
      { phase: 'Ready', total: 1000, used: 120, ready: 'True' },
    ],
    [
      'entries of unassigned nodes are dropped and do not count',
      pool('p', ['n1'], { n1: h('HEALTHY'), old: h('ERROR') }),
      { phase: 'Ready', total: 100, ready: 'True', hosts: ['n1'] },
    ],
  ] as const)('%s', (_label, p, expected) => {
    const { status } = planPool(p, NOW_MS);
    expect(status.phase).toBe(expected.phase);
    expect(status.capacity?.totalBytes).toBe(expected.total === undefined ? undefined : expected.total * GiB);
    if ('used' in expected) expect(status.capacity?.usedBytes).toBe(expected.used * GiB);
    expect(status.conditions?.find((c) => c.type === 'Ready')?.status).toBe(expected.ready);
    if ('hosts' in expected) expect(Object.keys(status.hosts ?? {})).toEqual(expected.hosts);
    expect(status.observedGeneration).toBe(1);
  });

  it('names the hosts with problems and their messages', () => {
    const { status } = planPool(
      pool('p', ['n1', 'n2', 'n3'], { n1: h('HEALTHY'), n2: h('UNMOUNTED', 0, 0, { message: 'mount.nfs: Connection refused' }) }),
      NOW_MS,
    );
    expect(status.conditions?.[0]?.message).toBe('healthy on 1/3 assigned nodes; n2: UNMOUNTED (mount.nfs: Connection refused); n3: not reported');
  });

  it.each([
    ['Ready → Degraded: PoolDegraded warning', 'Ready', { n1: h('HEALTHY'), n2: h('ERROR') }, ['Warning PoolDegraded']],
    ['Degraded → Error: PoolError warning', 'Degraded', { n1: h('ERROR'), n2: h('ERROR') }, ['Warning PoolError']],
    ['Degraded → Ready: PoolReady', 'Degraded', { n1: h('HEALTHY'), n2: h('HEALTHY') }, ['Normal PoolReady']],
    ['first Ready: no event', undefined, { n1: h('HEALTHY'), n2: h('HEALTHY') }, []],
    ['no change: no event', 'Degraded', { n1: h('HEALTHY'), n2: h('ERROR') }, []],
  ] as const)('%s', (_label, before, hosts, expected) => {
    const p = pool('p', ['n1', 'n2'], hosts);
    p.status!.phase = before;
    expect(planPool(p, NOW_MS).events.map((e) => `${e.type} ${e.reason}`)).toEqual(expected);
  });

  it('is a fixed point', () => {
    const p = pool('p', ['n1', 'n2'], { n1: h('HEALTHY'), n2: h('UNMOUNTED') });
    const first = planPool(p, NOW_MS);
    const second = planPool({ ...p, status: first.status }, NOW_MS + 5000);
    expect(second.status).toEqual(first.status);
    expect(second.events).toEqual([]);
  });
});

describe('planPoolFinalizer', () => {
  const F = 'quantix.io/pool-in-use';
  const withMeta = (o: { finalizers?: string[]; deleting?: boolean }) => {
    const p = pool('fast', ['n1']);
    return { ...p, metadata: { ...p.metadata, finalizers: o.finalizers, deletionTimestamp: o.deleting ? '2026-01-12T10:00:00Z' : undefined } };
  };
  it.each([
    ['used, no finalizer: add it (kept apart from others)', withMeta({ finalizers: ['other.io/x'] }), ['default/web'], ['other.io/x', F]],
    ['used, has it: nothing', withMeta({ finalizers: [F] }), ['default/web'], undefined],
    ['unused, has it: remove it', withMeta({ finalizers: ['other.io/x', F] }), [], ['other.io/x']],
    ['unused, none: nothing', withMeta({}), [], undefined],
    ['deleting and used: kept (the delete waits)', withMeta({ finalizers: [F], deleting: true }), ['default/web'], undefined],
    ['deleting, no longer used: released', withMeta({ finalizers: [F], deleting: true }), [], []],
    ['deleting without it: never added (the API refuses new finalizers)', withMeta({ deleting: true }), ['default/web'], undefined],
  ])('%s', (_name, p, usedBy, want) => {
    expect(planPoolFinalizer(p, usedBy)).toEqual(want);
  });
});
