/** What the gateway writes into Network and Node status from a heartbeat (pure functions). */
import type { Network, NodeStatus } from '../../api-types/generated/types.js';
import type { HeartbeatRequest, NetworkHostReport } from '../../api-types/proto/types.js';
import { NETWORK_REPORT_REFRESH_MS, networkStatusWithReport } from './network-status.js';
import { heartbeatStatus } from './node-status.js';
import { NO_CHANGE } from './writes.js';

const NOW = new Date('2026-03-01T12:00:00Z');
const LATER = new Date(NOW.getTime() + 10_000);
const MUCH_LATER = new Date(NOW.getTime() + NETWORK_REPORT_REFRESH_MS);

function net(assignedNodes: string[], hosts?: NonNullable<Network['status']>['hosts']): Network {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name: 'lan', generation: 1 },
    spec: { mode: 'isolated', assignedNodes },
    ...(hosts ? { status: { phase: 'Ready', hosts } } : {}),
  };
}

const rep = (over: Partial<NetworkHostReport> = {}): NetworkHostReport => ({
  name: 'lan',
  defined: true,
  active: true,
  bridgeName: 'qx-1a2b3c4d',
  dhcpRange: '10.213.7.10-10.213.7.200',
  message: '',
  removed: false,
  ...over,
});

const ACTIVE_ENTRY = { defined: true, active: true, bridgeName: 'qx-1a2b3c4d', dhcpRange: '10.213.7.10-10.213.7.200', lastReported: '2026-03-01T12:00:00Z' };

describe('networkStatusWithReport', () => {
  const withEntry = net(['n1', 'n2'], { n1: ACTIVE_ENTRY, n2: { defined: true, active: false, message: 'x', lastReported: '2026-03-01T11:59:00Z' } });

  it.each([
    ['first report of an assigned node: its entry, with lastReported', net(['n1', 'n2']), 'n1', rep(), NOW, { hosts: { n1: ACTIVE_ENTRY } }],
    ['a network not assigned to the node: nothing written', net(['n2']), 'n1', rep(), NOW, NO_CHANGE],
    ['same report 10 s later: nothing written (only lastReported would move)', withEntry, 'n1', rep(), LATER, NO_CHANGE],
    [
      'same report after the refresh period: lastReported refreshed',
      withEntry,
      'n1',
      rep(),
      MUCH_LATER,
      { phase: 'Ready', hosts: { n1: { ...ACTIVE_ENTRY, lastReported: MUCH_LATER.toISOString().replace('.000Z', 'Z') }, n2: withEntry.status!.hosts!.n2 } },
    ],
    [
      'start failed: inactive with libvirt message; the other entry kept',
      withEntry,
      'n1',
      rep({ active: false, bridgeName: '', dhcpRange: '', message: 'internal error: Network is already in use by interface eth0' }),
      LATER,
      {
        phase: 'Ready',
        hosts: {
          n1: { defined: true, active: false, message: 'internal error: Network is already in use by interface eth0', lastReported: '2026-03-01T12:00:10Z' },
          n2: withEntry.status!.hosts!.n2,
        },
      },
    ],
    ['removed: the entry dropped', withEntry, 'n1', rep({ removed: true }), LATER, { phase: 'Ready', hosts: { n2: withEntry.status!.hosts!.n2 } }],
    ['removed without an entry: nothing written', net(['n1']), 'n1', rep({ removed: true }), LATER, NO_CHANGE],
    [
      'removed for a node no longer assigned: its stale entry dropped all the same',
      net(['n2'], { n1: ACTIVE_ENTRY }),
      'n1',
      rep({ removed: true }),
      LATER,
      { phase: 'Ready', hosts: {} },
    ],
  ] as const)('%s', (_label, network, node, report, now, expected) => {
    const out = networkStatusWithReport(network, node, report, now);
    if (expected === NO_CHANGE) expect(out).toBe(NO_CHANGE);
    else expect(out).toEqual(expected);
  });

  it('does not modify the object it was given', () => {
    const before = structuredClone(withEntry);
    networkStatusWithReport(withEntry, 'n1', rep({ removed: true }), LATER);
    networkStatusWithReport(withEntry, 'n1', rep({ active: false }), LATER);
    expect(withEntry).toEqual(before);
  });

  it('refuses a report without a name, naming the field', () => {
    expect(() => networkStatusWithReport(net(['n1']), 'n1', rep({ name: '' }), NOW)).toThrow(/networks\[\]\.name: required/);
  });
});

describe('heartbeatStatus: acceleration and bridges', () => {
  const beat = (over: Partial<HeartbeatRequest>): HeartbeatRequest => ({
    stateHash: 'h',
    pools: [],
    capacity: null,
    allocatable: null,
    nodeInfo: null,
    hypervisorReady: true,
    hypervisorMessage: '',
    addresses: ['10.0.0.5'],
    acceleration: '',
    accelerationSource: '',
    bridges: [],
    networks: [],
    telemetry: null,
    vmTelemetry: [],
    selfFencing: null,
    ...over,
  });

  it.each([
    [
      'acceleration and its source, bridges sorted without repeats',
      {},
      { acceleration: 'tcg', accelerationSource: 'probe', bridges: ['br1', 'br0', 'br1'] },
      { acceleration: 'tcg', accelerationSource: 'probe', bridges: ['br0', 'br1'] },
    ],
    [
      'no acceleration reported: none claimed; no bridges: the field removed',
      { acceleration: 'kvm', accelerationSource: 'flag', bridges: ['br0'] },
      {},
      { acceleration: undefined, accelerationSource: undefined, bridges: undefined },
    ],
    [
      'acceleration without a source: the old source dropped',
      { acceleration: 'tcg', accelerationSource: 'probe' },
      { acceleration: 'kvm' },
      { acceleration: 'kvm', accelerationSource: undefined },
    ],
  ] as const)('%s', (_label, current, req, expected) => {
    const status = heartbeatStatus(current as NodeStatus, beat(req as Partial<HeartbeatRequest>), 'n1', undefined, '', [], NOW);
    for (const [k, v] of Object.entries(expected)) expect(status[k as keyof NodeStatus]).toEqual(v);
  });

  it('refuses an acceleration that is not kvm or tcg, naming the field', () => {
    expect(() => heartbeatStatus(undefined, beat({ acceleration: 'hvf' }), 'n1', undefined, '', [], NOW)).toThrow(/acceleration: "hvf" is not one of kvm, tcg/);
  });
});
