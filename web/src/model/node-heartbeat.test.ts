import type { Lease, Node } from '../../../api-types/generated/types.js';
import { lastHeartbeatOf } from './node-heartbeat.js';

const node = { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, status: { lastHeartbeatTime: '2026-12-07T08:00:00Z' } } as Node;
const lease = (namespace: string, name: string, holderIdentity: string, renewTime: string): Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { namespace, name },
  spec: { holderIdentity, renewTime },
});

describe('lastHeartbeatOf', () => {
  it('held: the vouching replica Lease renewal counts', () => {
    const leases = [
      lease('quantix-node-lease', 'n1', 'gateway/r1', '2026-12-07T08:01:00.000Z'),
      lease('quantix-system', 'gateway-r1', 'gateway/r1', '2026-12-07T08:04:59.500Z'),
    ];
    expect(lastHeartbeatOf(node, leases)).toBe('2026-12-07T08:04:59Z');
  });

  it('released: the replica Lease no longer counts, the node Lease renewTime (its last heartbeat) does', () => {
    const leases = [
      lease('quantix-node-lease', 'n1', '', '2026-12-07T08:02:00.000Z'),
      lease('quantix-system', 'gateway-r1', 'gateway/r1', '2026-12-07T08:04:59.000Z'),
    ];
    expect(lastHeartbeatOf(node, leases)).toBe('2026-12-07T08:02:00Z');
  });

  it('no Lease (nodes that write only status, or Leases not readable): status alone; nothing at all: undefined', () => {
    expect(lastHeartbeatOf(node, [])).toBe('2026-12-07T08:00:00Z');
    expect(lastHeartbeatOf({ ...node, status: {} }, [])).toBeUndefined();
  });
});
