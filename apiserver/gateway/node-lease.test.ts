import type { Lease } from '../../api-types/generated/types.js';
import type { HeartbeatRequest } from '../../api-types/proto/types.js';
import { heartbeatStatus, heartbeatStatusWrite, NODE_STATUS_REFRESH_MS } from './node-status.js';
import {
  DEAD_REPLICA_LEASE_AGE_MS,
  deadReplicaLeases,
  heldLeaseSpec,
  lapseAfterMs,
  lapsedNodes,
  NODE_LEASE_REFRESH_MS,
  nodeLeaseWrite,
  releasedLeaseSpec,
} from './node-lease.js';
import { NO_CHANGE } from './writes.js';

const NOW = new Date('2026-12-07T08:00:00Z');
const T = NOW.getTime();
const HOLDER = 'gateway/r1';
const beat = (over: Partial<HeartbeatRequest> = {}): HeartbeatRequest => ({
  stateHash: 'h',
  pools: [],
  capacity: { cpu: 4, memoryBytes: 8 * 1024 ** 3 },
  allocatable: null,
  nodeInfo: null,
  hypervisorReady: true,
  hypervisorMessage: '',
  addresses: ['10.0.0.5'],
  acceleration: 'tcg',
  accelerationSource: 'probe',
  bridges: ['br0'],
  networks: [],
  telemetry: null,
  vmTelemetry: [],
  selfFencing: null,
  ...over,
});
const lease = (holder: string, resourceVersion: string, renewTime = '2026-12-07T07:59:00.000Z'): Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name: 'n1', namespace: 'quantix-node-lease', resourceVersion },
  spec: { holderIdentity: holder, renewTime, leaseDurationSeconds: 40 },
});

describe('which heartbeats write Node status', () => {
  const stored = heartbeatStatus(undefined, beat(), 'n1', undefined, 'h', ['p1'], NOW);

  it('the same report a moment later: nothing to write (only the heartbeat times would move)', () => {
    expect(heartbeatStatusWrite(stored, beat(), 'n1', undefined, 'h', ['p1'], new Date(T + 10_000))).toBe(NO_CHANGE);
    expect(heartbeatStatusWrite(stored, beat(), 'n1', undefined, 'h', ['p1'], new Date(T + NODE_STATUS_REFRESH_MS - 1_000))).toBe(NO_CHANGE);
  });

  it('the same report after the refresh period: written, with the new heartbeat time', () => {
    const later = new Date(T + NODE_STATUS_REFRESH_MS);
    const out = heartbeatStatusWrite(stored, beat(), 'n1', undefined, 'h', ['p1'], later);
    expect(out).not.toBe(NO_CHANGE);
    expect(out !== NO_CHANGE && out.lastHeartbeatTime).toBe('2026-12-07T08:05:00Z');
  });

  it.each<[string, Partial<HeartbeatRequest>, string[], string]>([
    ['the hypervisor became unreachable', { hypervisorReady: false, hypervisorMessage: 'libvirtd down' }, ['p1'], 'h'],
    ['capacity changed', { capacity: { cpu: 8, memoryBytes: 8 * 1024 ** 3 } }, ['p1'], 'h'],
    ['bridges changed', { bridges: ['br0', 'br1'] }, ['p1'], 'h'],
    ['self-fencing turned on', { selfFencing: { enabled: true, timeoutSeconds: 60 } }, ['p1'], 'h'],
    ['another pool assigned', {}, ['p1', 'p2'], 'h'],
    ['a new state hash acknowledged', {}, ['p1'], 'h2'],
  ])('%s: written', (_why, over, pools, hash) => {
    const out = heartbeatStatusWrite(stored, beat(over), 'n1', undefined, hash, pools, new Date(T + 10_000));
    expect(out).not.toBe(NO_CHANGE);
    expect(out !== NO_CHANGE && out.lastHeartbeatTime).toBe('2026-12-07T08:00:10Z');
  });

  it('a node without status (just registered): written', () => {
    expect(heartbeatStatusWrite(undefined, beat(), 'n1', undefined, '', [], NOW)).not.toBe(NO_CHANGE);
  });
});

describe('node Lease writes per heartbeat', () => {
  const session = { leaseWrittenMs: T, leaseResourceVersion: '10' };

  it('no session here, no Lease, or the Lease names another holder or none: take it', () => {
    expect(nodeLeaseWrite(lease(HOLDER, '10'), HOLDER, undefined, T)).toBe('take');
    expect(nodeLeaseWrite(undefined, HOLDER, session, T)).toBe('take');
    expect(nodeLeaseWrite(lease('gateway/r2', '12'), HOLDER, session, T + 1_000)).toBe('take');
    expect(nodeLeaseWrite(lease('', '11'), HOLDER, session, T + 1_000)).toBe('take');
  });

  it('held here: nothing, until the refresh period', () => {
    expect(nodeLeaseWrite(lease(HOLDER, '10'), HOLDER, session, T + 1_000)).toBeUndefined();
    expect(nodeLeaseWrite(lease(HOLDER, '10'), HOLDER, session, T + NODE_LEASE_REFRESH_MS)).toBe('refresh');
  });

  it('a cache older than what this replica wrote is not taken for another holder', () => {
    expect(nodeLeaseWrite(lease('gateway/r2', '9'), HOLDER, session, T + 1_000)).toBeUndefined();
  });

  it('taking a Lease from another holder counts a transition and a new acquire time; renewing keeps them', () => {
    const taken = heldLeaseSpec({ holderIdentity: 'gateway/r2', acquireTime: '2026-12-07T07:00:00.000Z', leaseTransitions: 3 }, HOLDER, T);
    expect(taken).toEqual({
      holderIdentity: HOLDER,
      leaseDurationSeconds: 40,
      acquireTime: '2026-12-07T08:00:00.000Z',
      renewTime: '2026-12-07T08:00:00.000Z',
      leaseTransitions: 4,
    });
    const renewed = heldLeaseSpec(taken, HOLDER, T + 60_000);
    expect(renewed).toMatchObject({ acquireTime: '2026-12-07T08:00:00.000Z', renewTime: '2026-12-07T08:01:00.000Z', leaseTransitions: 4 });
    expect(heldLeaseSpec(undefined, HOLDER, T).leaseTransitions).toBe(0);
  });

  it('released by its holder: holder cleared, renewTime = the last heartbeat received; by another replica: left alone', () => {
    const held = heldLeaseSpec(undefined, HOLDER, T);
    expect(releasedLeaseSpec(held, HOLDER, T + 3_000)).toEqual({ ...held, holderIdentity: '', renewTime: '2026-12-07T08:00:03.000Z' });
    expect(releasedLeaseSpec(held, 'gateway/r2', T + 3_000)).toBe(NO_CHANGE);
    expect(releasedLeaseSpec(undefined, HOLDER, T)).toBe(NO_CHANGE);
  });
});

describe('lapse detection', () => {
  it('two heartbeat intervals and two seconds, within 5 s and 30 s; the agent default before the interval is known', () => {
    expect(lapseAfterMs({ intervalMs: 10_000 })).toBe(22_000);
    expect(lapseAfterMs({ intervalMs: 1_000 })).toBe(5_000);
    expect(lapseAfterMs({ intervalMs: 60_000 })).toBe(30_000);
    expect(lapseAfterMs({})).toBe(22_000);
  });

  it('lists the sessions silent for longer than their lapse', () => {
    const sessions = new Map([
      ['fast-alive', { lastHeartbeatMs: T - 4_000, intervalMs: 1_000 }],
      ['fast-silent', { lastHeartbeatMs: T - 5_001, intervalMs: 1_000 }],
      ['slow-alive', { lastHeartbeatMs: T - 20_000, intervalMs: 10_000 }],
      ['new-silent', { lastHeartbeatMs: T - 23_000 }],
    ]);
    expect(lapsedNodes(sessions, T)).toEqual(['fast-silent', 'new-silent']);
  });
});

describe('dead replica Leases', () => {
  it('gateway-* Leases not renewed for an hour are collected; live ones and other Leases are not', () => {
    const at = (name: string, ageMs: number) => ({ ...lease('', '1', new Date(T - ageMs).toISOString()), metadata: { name, namespace: 'quantix-system' } });
    const leases = [at('gateway-old', DEAD_REPLICA_LEASE_AGE_MS), at('gateway-live', 5_000), at('quantix-controller-manager', 2 * DEAD_REPLICA_LEASE_AGE_MS)];
    expect(deadReplicaLeases(leases, T).map((l) => l.metadata.name)).toEqual(['gateway-old']);
  });
});
