import type { Lease, Node } from '../../api-types/generated/types.js';
import { ChangeClock, lastHeartbeatStated, nodeLivenessToken, probeTime, vouchingLeaseName } from './liveness.js';

const node = (lastHeartbeatTime?: string): Node =>
  ({ apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'n1' }, status: { lastHeartbeatTime } }) as Node;
const lease = (holderIdentity: string, renewTime: string, name = 'n1'): Lease => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name },
  spec: { holderIdentity, renewTime },
});

describe('node liveness from its Lease, the vouching replica Lease and status.lastHeartbeatTime', () => {
  it('the replica Lease that vouches: the one the node Lease names as holder, none when released or held by another kind of holder', () => {
    expect(vouchingLeaseName(lease('gateway/abc-1', '2026-12-07T08:00:00.000Z'))).toBe('gateway-abc-1');
    expect(vouchingLeaseName(lease('', '2026-12-07T08:00:00.000Z'))).toBeUndefined();
    expect(vouchingLeaseName(lease('someone-else', '2026-12-07T08:00:00.000Z'))).toBeUndefined();
    expect(vouchingLeaseName(undefined)).toBeUndefined();
  });

  it('the probe moves when the node Lease, the status or the vouching Lease changes, on the observer clock', () => {
    const clock = new ChangeClock();
    const n = node('2026-12-07T08:00:00Z');
    const held = lease('gateway/r1', '2026-12-07T08:00:00.000Z');
    expect(clock.observe('n1', nodeLivenessToken(n, held), 1_000)).toBe(1_000);
    // Nothing changed: the node's own token keeps its time.
    expect(clock.observe('n1', nodeLivenessToken(n, held), 5_000)).toBe(1_000);
    // The replica renews: the probe is the later of the two.
    expect(clock.observe('replica:gateway-r1', '2026-12-07T08:00:04.000Z', 5_000)).toBe(5_000);
    expect(probeTime(1_000, clock.changedAt('replica:gateway-r1'))).toBe(5_000);
    // Released (holder cleared, renewTime = the last heartbeat): a change of the node's token.
    const released = lease('', '2026-12-07T08:00:01.000Z');
    expect(clock.observe('n1', nodeLivenessToken(n, released), 9_000)).toBe(9_000);
    // A status-only writer (hollow nodes): status.lastHeartbeatTime alone moves the probe.
    expect(clock.observe('n1', nodeLivenessToken(node('2026-12-07T08:00:10Z'), undefined), 12_000)).toBe(12_000);
  });

  it('without a vouching Lease the probe is the node token time alone', () => {
    expect(probeTime(7_000, undefined)).toBe(7_000);
    expect(probeTime(7_000, 3_000)).toBe(7_000);
  });

  it('the last heartbeat shown is the latest time any source states', () => {
    const n = node('2026-12-07T08:00:00Z');
    expect(lastHeartbeatStated(n, undefined, undefined)).toBe('2026-12-07T08:00:00Z');
    expect(lastHeartbeatStated(n, lease('gateway/r1', '2026-12-07T08:01:00.000Z'), lease('gateway/r1', '2026-12-07T08:04:30.250Z', 'gateway-r1'))).toBe(
      '2026-12-07T08:04:30Z',
    );
    expect(lastHeartbeatStated(node(), undefined, undefined)).toBeUndefined();
  });
});
