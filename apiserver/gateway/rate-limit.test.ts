import * as grpc from '@grpc/grpc-js';
import { REASON_METADATA_KEY, STATUS_METADATA_KEY } from '../../api-types/proto/contract.js';
import { FakeClock } from '../../lib/clock/clock.js';
import { NodeCallRates, rateRefusal, TokenBucket } from './rate-limit.js';

describe('TokenBucket', () => {
  it('lets a burst through, then one call per refill, and says how long until the next', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ burst: 3, perSecond: 2 }, clock);
    expect([bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0]);
    expect(bucket.take()).toBe(500);
    expect(bucket.take()).toBe(500); // a refusal takes nothing
    clock.advance(250);
    expect(bucket.take()).toBe(250);
    clock.advance(250);
    expect(bucket.take()).toBe(0);
    expect(bucket.full).toBe(false);
    clock.advance(10_000);
    expect(bucket.full).toBe(true);
    expect([bucket.take(), bucket.take(), bucket.take(), bucket.take()]).toEqual([0, 0, 0, 500]);
  });
});

describe('NodeCallRates', () => {
  it('limits each node and each class on its own', () => {
    const rates = new NodeCallRates({ heartbeat: { burst: 1, perSecond: 1 }, notification: { burst: 2, perSecond: 10 } }, new FakeClock());
    expect(rates.take('a', 'heartbeat')).toBe(0);
    expect(rates.take('a', 'heartbeat')).toBe(1000);
    expect(rates.take('b', 'heartbeat')).toBe(0);
    expect([rates.take('a', 'notification'), rates.take('a', 'notification'), rates.take('a', 'notification')]).toEqual([0, 0, 100]);
  });

  it('classes the status calls; registration, full syncs and streams are not limited', () => {
    const classOf = (m: string) => NodeCallRates.classOf(`/quantix.gateway.v1.NodeGateway/${m}`);
    expect(['Heartbeat', 'NotifyVMChange', 'NotifyStorageChange', 'ReportImages'].map(classOf)).toEqual([
      'heartbeat',
      'notification',
      'notification',
      'notification',
    ]);
    expect(['RegisterNode', 'SyncFullState', 'WatchDesiredState', 'Tunnel'].map(classOf)).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('forgets buckets that refilled, so nodes that left cost nothing', () => {
    const clock = new FakeClock();
    const rates = new NodeCallRates({ heartbeat: { burst: 1, perSecond: 1 }, notification: { burst: 1, perSecond: 1 } }, clock);
    for (let i = 0; i < 9_999; i++) rates.take(`node-${i}`, 'heartbeat');
    expect(rates.size).toBe(9_999);
    clock.advance(1_000);
    rates.take('node-0', 'heartbeat'); // the 10,000th take prunes first
    expect(rates.size).toBe(1);
  });
});

describe('rateRefusal', () => {
  it('is RESOURCE_EXHAUSTED TooManyRequests with the retry hint in seconds (Status) and milliseconds (gRPC pushback)', () => {
    const status = rateRefusal('/quantix.gateway.v1.NodeGateway/Heartbeat', 'n1', 'heartbeat', { burst: 30, perSecond: 2 }, 1_200);
    expect(status.code).toBe(grpc.status.RESOURCE_EXHAUSTED);
    expect(status.details).toBe('Heartbeat: node "n1" is past its heartbeat rate (2/s, burst 30); retry in 2 s');
    expect(status.metadata.get(REASON_METADATA_KEY)).toEqual(['TooManyRequests']);
    expect(status.metadata.get('grpc-retry-pushback-ms')).toEqual(['1200']);
    const body = JSON.parse((status.metadata.get(STATUS_METADATA_KEY)[0] as Buffer).toString('utf8')) as { details: { retryAfterSeconds: number } };
    expect(body.details.retryAfterSeconds).toBe(2);
  });
});
