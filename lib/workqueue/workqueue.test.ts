import { FakeClock } from '../clock/clock.js';
import { BucketRateLimiter, ItemExponentialFailureRateLimiter, MaxOfRateLimiter, defaultControllerRateLimiter } from './ratelimiter.js';
import { WorkQueue } from './workqueue.js';

function queue(clock = new FakeClock()) {
  return { clock, q: new WorkQueue<string>({ clock, rateLimiter: defaultControllerRateLimiter(clock) }) };
}

/** Takes a key that must already be queued. */
async function take(q: WorkQueue<string>): Promise<string> {
  const r = await q.get();
  if (r.shutdown) throw new Error('queue shut down');
  return r.key;
}

describe('WorkQueue', () => {
  it('holds a key at most once however often it is added', async () => {
    const { q } = queue();
    q.add('a');
    q.add('b');
    q.add('a');
    q.add('a');
    expect(q.len()).toBe(2);
    expect(await take(q)).toBe('a');
    expect(await take(q)).toBe('b');
    expect(q.len()).toBe(0);
  });

  it('never hands a key being processed to a second worker; re-queues it on done', async () => {
    const { q } = queue();
    q.add('a');
    const first = await take(q);
    q.add('a'); // dirty while processing
    expect(q.len()).toBe(0);
    let second: string | undefined;
    void q.get().then((r) => (second = r.key));
    await Promise.resolve();
    expect(second).toBeUndefined();
    q.done(first);
    await Promise.resolve();
    expect(second).toBe('a');
  });

  it('done without a re-add does not re-queue', async () => {
    const { q } = queue();
    q.add('a');
    q.done(await take(q));
    expect(q.len()).toBe(0);
  });

  it('addAfter adds once the delay passes, and the earliest pending add wins', () => {
    const { q, clock } = queue();
    q.addAfter('a', 1000);
    q.addAfter('a', 200);
    q.addAfter('a', 5000);
    expect(q.len()).toBe(0);
    expect(q.waitingCount()).toBe(1);
    clock.advance(199);
    expect(q.len()).toBe(0);
    clock.advance(1);
    expect(q.len()).toBe(1);
    clock.advance(10_000);
    expect(q.len()).toBe(1);
  });

  it('addAfter with no delay adds at once', () => {
    const { q } = queue();
    q.addAfter('a', 0);
    expect(q.len()).toBe(1);
  });

  it('addRateLimited backs off exponentially per item; forget resets it', async () => {
    const { q, clock } = queue();
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      q.addRateLimited('a');
      let waited = 0;
      while (q.len() === 0 && waited < 10_000) {
        clock.advance(1);
        waited++;
      }
      delays.push(waited);
      q.done(await take(q));
    }
    expect(delays).toEqual([5, 10, 20, 40, 80]);
    expect(q.numRequeues('a')).toBe(5);
    q.forget('a');
    expect(q.numRequeues('a')).toBe(0);
  });

  it('get waits for an add and returns shutdown after shutDown once empty', async () => {
    const { q } = queue();
    const pending = q.get();
    q.add('x');
    expect((await pending).key).toBe('x');
    q.add('y');
    q.shutDown();
    expect((await q.get()).key).toBe('y'); // queued items are still handed out
    expect((await q.get()).shutdown).toBe(true);
    q.add('z');
    expect(q.len()).toBe(0);
  });

  it('shutDown wakes idle getters and cancels delayed adds', async () => {
    const { q, clock } = queue();
    q.addAfter('later', 100);
    const waiting = q.get();
    q.shutDown();
    expect((await waiting).shutdown).toBe(true);
    clock.advance(1000);
    expect(q.len()).toBe(0);
  });

  it('drained resolves once nothing is processing', async () => {
    const { q } = queue();
    q.add('a');
    const key = await take(q);
    let drained = false;
    const p = q.drained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    q.done(key);
    await p;
    expect(drained).toBe(true);
  });

  it('keeps FIFO order across many keys', async () => {
    const { q } = queue();
    const keys = Array.from({ length: 3000 }, (_, i) => `k${i}`);
    for (const k of keys) q.add(k);
    const out: string[] = [];
    for (let i = 0; i < keys.length; i++) {
      const k = await take(q);
      out.push(k);
      q.done(k);
    }
    expect(out).toEqual(keys);
  });
});

describe('rate limiters', () => {
  it.each([
    [0, 5],
    [1, 10],
    [2, 20],
    [10, 5120],
    [30, 1_000_000],
    [2000, 1_000_000],
  ])('item exponential: after %i failures the delay is %i ms', (failures, expected) => {
    const rl = new ItemExponentialFailureRateLimiter<string>(5, 1_000_000);
    for (let i = 0; i < failures; i++) rl.when('a');
    expect(rl.when('a')).toBe(expected);
    expect(rl.when('b')).toBe(5); // per item
  });

  it('bucket: a burst passes, then tokens come at qps', () => {
    const clock = new FakeClock();
    const rl = new BucketRateLimiter<string>(10, 3, clock);
    expect([rl.when('a'), rl.when('b'), rl.when('c')]).toEqual([0, 0, 0]);
    expect(rl.when('d')).toBe(100);
    expect(rl.when('e')).toBe(200);
    clock.advance(1000);
    expect(rl.when('f')).toBe(0);
  });

  it('max-of takes the larger delay', () => {
    const clock = new FakeClock();
    const rl = new MaxOfRateLimiter<string>(new ItemExponentialFailureRateLimiter(5, 1000), new BucketRateLimiter(1, 1, clock));
    expect(rl.when('a')).toBe(5);
    expect(rl.when('b')).toBe(1000);
    expect(rl.numRequeues('a')).toBe(1);
    rl.forget('a');
    expect(rl.numRequeues('a')).toBe(0);
  });
});
