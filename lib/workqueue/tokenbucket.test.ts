import { FakeClock } from '../clock/clock.js';
import { TokenBucket } from './tokenbucket.js';

const flush = () => new Promise((r) => setImmediate(r));

describe('TokenBucket', () => {
  it('passes a burst at once, then one token per 1/qps, in order', async () => {
    const clock = new FakeClock();
    const b = new TokenBucket(10, 2, clock);
    const done: number[] = [];
    for (let i = 0; i < 5; i++) void b.take().then(() => done.push(i));
    await flush();
    expect(done).toEqual([0, 1]);
    clock.advance(100);
    await flush();
    expect(done).toEqual([0, 1, 2]);
    clock.advance(200);
    await flush();
    expect(done).toEqual([0, 1, 2, 3, 4]);
    expect(b.waiting).toBe(0);
  });
  it('refills up to the burst only', async () => {
    const clock = new FakeClock();
    const b = new TokenBucket(100, 3, clock);
    clock.advance(60_000);
    const done: number[] = [];
    for (let i = 0; i < 4; i++) void b.take().then(() => done.push(i));
    await flush();
    expect(done).toEqual([0, 1, 2]);
  });
  it('rejects nonsense limits', () => {
    expect(() => new TokenBucket(0, 1)).toThrow();
  });
});
