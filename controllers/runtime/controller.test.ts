import { setLogSink } from '../../lib/logging/logger.js';
import { FakeClock } from '../../lib/clock/clock.js';
import { Controller, TerminalError, done, requeueAfter, type ReconcileContext } from './controller.js';
import { ItemExponentialFailureRateLimiter } from '../../lib/workqueue/ratelimiter.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));
const lines: string[] = [];
beforeAll(() => setLogSink((l) => lines.push(l)));
beforeEach(() => (lines.length = 0));

function make(
  reconcile: (ctx: ReconcileContext) => unknown,
  extra: { workers?: number; resyncPeriodMs?: number; listKeys?: () => string[]; correlationIdOf?: (key: string) => string | undefined } = {},
) {
  const clock = new FakeClock();
  const c = new Controller({
    name: 'test',
    reconcile: reconcile as never,
    clock,
    rateLimiter: new ItemExponentialFailureRateLimiter(5, 1000),
    ...extra,
  });
  return { c, clock };
}

describe('Controller', () => {
  it('done: forgets the key and does not requeue', async () => {
    const calls: string[] = [];
    const { c } = make((ctx) => {
      calls.push(ctx.key);
      return done();
    });
    await c.processOne('ns/a');
    expect(calls).toEqual(['ns/a']);
    expect(c.queue.len() + c.queue.waitingCount()).toBe(0);
  });

  it("runs a reconcile under the object's correlation id: in its context and on every line it logs", async () => {
    const seen: (string | undefined)[] = [];
    const { c } = make(
      (ctx) => {
        seen.push(ctx.correlationId);
        ctx.log.warn('acting');
        return done();
      },
      { correlationIdOf: (key) => (key === 'ns/a' ? 'cid-a' : undefined) },
    );
    await c.processOne('ns/a');
    await c.processOne('ns/b');
    expect(seen).toEqual(['cid-a', undefined]);
    const acting = lines.filter((l) => l.includes('"acting"')).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(acting.map((r) => [r.key, r.correlationId])).toEqual([
      ['ns/a', 'cid-a'],
      ['ns/b', undefined],
    ]);
  });

  it('requeueAfter: adds the key again after the delay', async () => {
    const { c, clock } = make(() => requeueAfter(500));
    await c.processOne('a');
    expect(c.queue.waitingCount()).toBe(1);
    clock.advance(499);
    expect(c.queue.len()).toBe(0);
    clock.advance(1);
    expect(c.queue.len()).toBe(1);
    expect(c.stats.requeues).toBe(1);
  });

  it('error: retries with per-key exponential backoff', async () => {
    const { c, clock } = make(() => {
      throw new Error('boom');
    });
    await c.processOne('a');
    expect(c.queue.numRequeues('a')).toBe(1);
    clock.advance(5);
    expect(c.queue.len()).toBe(1);
    await c.processOne('a');
    expect(c.queue.numRequeues('a')).toBe(2);
    expect(c.stats.errors).toBe(2);
    expect(lines.some((l) => l.includes('reconcile failed; retrying') && l.includes('"key":"a"') && l.includes('reconcileId'))).toBe(true);
  });

  it('terminal error: logged, not retried', async () => {
    const { c, clock } = make(() => {
      throw new TerminalError('spec cannot work');
    });
    await c.processOne('a');
    clock.advance(10_000);
    expect(c.queue.len() + c.queue.waitingCount()).toBe(0);
    expect(c.stats.terminal).toBe(1);
    expect(lines.some((l) => l.includes('terminal') && l.includes('spec cannot work'))).toBe(true);
  });

  it('a panic (TypeError) is recovered, logged with its stack and retried', async () => {
    const { c } = make(() => {
      const o: { x?: { y: number } } = {};
      return o.x!.y;
    });
    await c.processOne('a');
    expect(c.stats.panics).toBe(1);
    expect(c.queue.waitingCount()).toBe(1);
    expect(lines.some((l) => l.includes('panicked') && l.includes('stack'))).toBe(true);
  });

  it('a synchronous throw is handled like an async one', async () => {
    const { c } = make(() => {
      throw new Error('sync');
    });
    await expect(c.processOne('a')).resolves.toBeUndefined();
    expect(c.stats.errors).toBe(1);
  });

  it('success after failures resets the backoff', async () => {
    let fail = true;
    const { c } = make(() => {
      if (fail) throw new Error('x');
      return done();
    });
    await c.processOne('a');
    await c.processOne('a');
    expect(c.queue.numRequeues('a')).toBe(2);
    fail = false;
    await c.processOne('a');
    expect(c.queue.numRequeues('a')).toBe(0);
  });

  it('workers never reconcile the same key concurrently; a re-add during processing runs once more after', async () => {
    let active = 0;
    let maxActive = 0;
    const runs: string[] = [];
    const gates: (() => void)[] = [];
    const { c } = make(
      async (ctx) => {
        active++;
        maxActive = Math.max(maxActive, active);
        runs.push(ctx.key);
        await new Promise<void>((r) => gates.push(r));
        active--;
      },
      { workers: 4 },
    );
    c.start();
    c.enqueue('a');
    await flush();
    c.enqueue('a');
    c.enqueue('a');
    await flush();
    expect(runs).toEqual(['a']);
    gates.shift()!();
    await flush();
    expect(runs).toEqual(['a', 'a']);
    gates.shift()!();
    await flush();
    expect(maxActive).toBe(1);
    await c.stop();
  });

  it('different keys run in parallel on several workers', async () => {
    let active = 0;
    let maxActive = 0;
    const gates: (() => void)[] = [];
    const { c } = make(
      async () => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise<void>((r) => gates.push(r));
        active--;
      },
      { workers: 3 },
    );
    c.start();
    for (const k of ['a', 'b', 'c', 'd']) c.enqueue(k);
    await flush();
    expect(maxActive).toBe(3);
    while (gates.length) {
      gates.shift()!();
      await flush();
    }
    await c.stop();
  });

  it('periodic resync enqueues every key', async () => {
    const seen: string[] = [];
    const { c, clock } = make((ctx) => void seen.push(ctx.key), { resyncPeriodMs: 1000, listKeys: () => ['x', 'y'] });
    c.start();
    clock.advance(1100);
    await flush();
    expect(seen.sort()).toEqual(['x', 'y']);
    clock.advance(1100);
    await flush();
    expect(seen.length).toBe(4);
    expect(c.stats.resyncs).toBe(2);
    await c.stop();
  });

  it('stop waits for in-flight reconciles', async () => {
    let finished = false;
    let release!: () => void;
    const { c } = make(async () => {
      await new Promise<void>((r) => (release = r));
      finished = true;
    });
    c.start();
    c.enqueue('a');
    await flush();
    const stopping = c.stop();
    release();
    await stopping;
    expect(finished).toBe(true);
  });
});
