import { network, NOW_MS } from '../testing/fixtures.js';
import { planNetwork } from './network_reconcile.js';

const refused = { defined: true, active: false, message: 'internal error: Network is already in use by interface eth0' };

describe('planNetwork', () => {
  it.each([
    [
      'nothing reported: Pending',
      network('lan', ['n1', 'n2']),
      { phase: 'Pending', ready: 'False', message: 'active on 0/2 assigned nodes; n1: not reported; n2: not reported' },
    ],
    ['not assigned anywhere: Pending', network('lan', []), { phase: 'Pending', ready: 'False', message: 'not assigned to any node' }],
    [
      'active on every assigned host: Ready',
      network('lan', ['n1', 'n2'], { n1: true, n2: true }),
      { phase: 'Ready', ready: 'True', message: 'active on 2/2 assigned nodes' },
    ],
    [
      'active on one, refused on the other: Degraded, naming the host and libvirt message',
      network('lan', ['n1', 'n2'], { n1: true, n2: refused }),
      { phase: 'Degraded', ready: 'False', message: `active on 1/2 assigned nodes; n2: not active (${refused.message})` },
    ],
    [
      'active on one, the other not reported yet: Degraded',
      network('lan', ['n1', 'n2'], { n1: true }),
      { phase: 'Degraded', ready: 'False', message: 'active on 1/2 assigned nodes; n2: not reported' },
    ],
    [
      'reported but active nowhere: Error',
      network('lan', ['n1', 'n2'], { n1: refused, n2: { defined: false, active: false, message: 'bridge name in use' } }),
      { phase: 'Error', ready: 'False', message: `active on 0/2 assigned nodes; n1: not active (${refused.message}); n2: not defined (bridge name in use)` },
    ],
    [
      'entries of unassigned nodes are dropped and do not count',
      network('lan', ['n1'], { n1: true, old: false }),
      { phase: 'Ready', ready: 'True', message: 'active on 1/1 assigned nodes', hosts: ['n1'] },
    ],
    [
      'only an unassigned node reported: Pending (its entry dropped)',
      network('lan', ['n1'], { old: true }),
      { phase: 'Pending', ready: 'False', message: 'active on 0/1 assigned nodes; n1: not reported', hosts: [] },
    ],
  ] as const)('%s', (_label, net, expected) => {
    const { status } = planNetwork(net, NOW_MS);
    expect(status.phase).toBe(expected.phase);
    expect(status.conditions).toEqual([
      { type: 'Ready', status: expected.ready, reason: expected.phase, message: expected.message, lastTransitionTime: new Date(NOW_MS).toISOString() },
    ]);
    if ('hosts' in expected) expect(Object.keys(status.hosts ?? {})).toEqual(expected.hosts);
    expect(status.observedGeneration).toBe(1);
  });

  it.each([
    ['Ready → Degraded: NetworkDegraded warning', 'Ready', { n1: true, n2: refused }, ['Warning NetworkDegraded']],
    ['Degraded → Error: NetworkError warning', 'Degraded', { n1: refused, n2: refused }, ['Warning NetworkError']],
    ['Degraded → Ready: NetworkReady', 'Degraded', { n1: true, n2: true }, ['Normal NetworkReady']],
    ['first Ready: no event', undefined, { n1: true, n2: true }, []],
    ['no change: no event', 'Degraded', { n1: true, n2: refused }, []],
  ] as const)('%s', (_label, before, hosts, expected) => {
    const n = network('lan', ['n1', 'n2'], hosts);
    n.status!.phase = before;
    expect(planNetwork(n, NOW_MS).events.map((e) => `${e.type} ${e.reason}`)).toEqual(expected);
  });

  it('is a fixed point: a second pass changes nothing, emits nothing', () => {
    const n = network('lan', ['n1', 'n2'], { n1: true, n2: refused });
    const first = planNetwork(n, NOW_MS);
    const second = planNetwork({ ...n, status: first.status }, NOW_MS + 5000);
    expect(second.status).toEqual(first.status);
    expect(second.events).toEqual([]);
  });

  it('does not modify the object it was given', () => {
    const n = network('lan', ['n1'], { n1: true, old: false });
    const before = structuredClone(n);
    planNetwork(n, NOW_MS);
    expect(n).toEqual(before);
  });
});
