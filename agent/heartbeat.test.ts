import { GatewayError } from '../api-types/proto/errors.js';
import type { HeartbeatRequest } from '../api-types/proto/types.js';
import { createLogger } from '../lib/logging/logger.js';
import { Heartbeat, type HeartbeatDeps } from './heartbeat.js';

/** A heartbeat whose gateway answers with `answer` (or throws it); what it did is recorded. */
function heartbeatWith(answer: () => Promise<unknown>, extra: Partial<HeartbeatDeps> = {}) {
  const calls = { heartbeats: 0, reregistered: 0, fullSyncs: 0 };
  const sent: HeartbeatRequest[] = [];
  const session = {
    controlPlaneReachable: true,
    nodeFacts: async () => ({ nodeInfo: { hypervisor: 'sim' }, capacity: { cpu: 1, memoryBytes: 1 } }),
    addresses: () => [],
    reregister: async () => void calls.reregistered++,
  };
  const deps = {
    client: {
      heartbeat: async (req: HeartbeatRequest) => {
        calls.heartbeats++;
        sent.push(req);
        return answer();
      },
    },
    session,
    reporter: { hash: { digest: () => 'h' }, pools: new Map(), needsFullSync: false },
    domains: { hypervisorUp: true },
    fullSync: { initialDone: true, run: async () => void calls.fullSyncs++ },
    intervalMs: 10,
    log: createLogger('heartbeat-test'),
    running: () => true,
    ...extra,
  } as unknown as HeartbeatDeps;
  return { heartbeat: new Heartbeat(deps), session, calls, sent };
}

const tooMany = (retryAfterSeconds?: number) =>
  new GatewayError('TooManyRequests', 'Heartbeat: node "n" is past its heartbeat rate', 8, {
    apiVersion: 'v1',
    kind: 'Status',
    metadata: {},
    status: 'Failure',
    reason: 'TooManyRequests',
    code: 429,
    ...(retryAfterSeconds ? { details: { retryAfterSeconds } } : {}),
  });

describe('Heartbeat refused as too many (the gateway per-node rate)', () => {
  it('keeps the control plane reachable, registers nothing, asks no full sync, and waits as long as the gateway asked', async () => {
    const { heartbeat, session, calls } = heartbeatWith(() => Promise.reject(tooMany(7)));
    const before = Date.now();
    await heartbeat.beat();
    expect(calls).toEqual({ heartbeats: 1, reregistered: 0, fullSyncs: 0 });
    expect(session.controlPlaneReachable).toBe(true);
    // The interval (10 ms) and soon() give way to the gateway's 7 s.
    heartbeat.schedule(10);
    expect(heartbeat.nextBeatAt).toBeGreaterThanOrEqual(before + 7_000);
    heartbeat.soon();
    expect(heartbeat.nextBeatAt).toBeGreaterThanOrEqual(before + 7_000);
    heartbeat.stop();
  });

  it('waits a second when the refusal names no time', async () => {
    const { heartbeat } = heartbeatWith(() => Promise.reject(tooMany()));
    const before = Date.now();
    await heartbeat.beat();
    heartbeat.schedule(0);
    expect(heartbeat.nextBeatAt).toBeGreaterThanOrEqual(before + 1_000);
    heartbeat.stop();
  });

  it('still marks the control plane unreachable when a heartbeat fails otherwise', async () => {
    const { heartbeat, session } = heartbeatWith(() => Promise.reject(new GatewayError('ServiceUnavailable', 'connection refused', 14)));
    await heartbeat.beat();
    expect(session.controlPlaneReachable).toBe(false);
    heartbeat.schedule(10);
    expect(heartbeat.nextBeatAt).toBeLessThanOrEqual(Date.now() + 10);
    heartbeat.stop();
  });
});

describe('Heartbeat and self-fencing', () => {
  const selfFence = () => {
    const renewals: number[] = [];
    return { renewals, report: () => ({ enabled: true, timeoutSeconds: 60 }), renewed: (at: number) => void renewals.push(at) };
  };

  it('carries the self-fencing report, and tells an accepted heartbeat with the time it was sent', async () => {
    const fence = selfFence();
    const { heartbeat, sent } = heartbeatWith(() => Promise.resolve({ requestFullSync: false }), { selfFence: fence });
    const before = Date.now();
    await heartbeat.beat();
    expect(sent[0]!.selfFencing).toEqual({ enabled: true, timeoutSeconds: 60 });
    expect(fence.renewals).toHaveLength(1);
    expect(fence.renewals[0]).toBeGreaterThanOrEqual(before);
    expect(fence.renewals[0]).toBeLessThanOrEqual(Date.now());
  });

  it.each([
    ['failed', new GatewayError('ServiceUnavailable', 'connection refused', 14)],
    ['refused as too many', tooMany(1)],
  ])('a heartbeat %s renews nothing', async (_name, err) => {
    const fence = selfFence();
    const { heartbeat } = heartbeatWith(() => Promise.reject(err), { selfFence: fence });
    await heartbeat.beat();
    expect(fence.renewals).toEqual([]);
  });
});
