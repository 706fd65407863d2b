import { chunkBySize, sessionIdFrom, UiLogger, type SendResult } from './ui-logger.js';
import type { UiLogBatch } from './ui-log-entry.js';
import { categoryForRoute } from './ui-log-entry.js';

/** A logger with a manual clock and timers, and a transport that records what it was given. */
function harness(answers: (SendResult | Error)[] = [], options: { batchSize?: number; maxBuffered?: number; keepaliveChunkBytes?: number } = {}) {
  let now = Date.parse('2026-12-07T08:00:00.000Z');
  const timers: { fn: () => void; at: number }[] = [];
  const sent: { batch: UiLogBatch; token: string; keepalive: boolean }[] = [];
  const storage = new Map<string, string>();
  const logger = new UiLogger({
    now: () => now,
    setTimer: (fn, ms) => {
      const t = { fn, at: now + ms };
      timers.push(t);
      return t;
    },
    clearTimer: (t) => {
      const i = timers.indexOf(t as (typeof timers)[number]);
      if (i >= 0) timers.splice(i, 1);
    },
    storage: { getItem: (k) => storage.get(k) ?? null, setItem: (k, v) => void storage.set(k, v) },
    transport: async (body, token, keepalive) => {
      sent.push({ batch: JSON.parse(body) as UiLogBatch, token, keepalive });
      const answer = answers.shift() ?? { status: 204 };
      if (answer instanceof Error) throw answer;
      return answer;
    },
    route: () => '/ui/vms',
    random: () => 0,
    ...options,
  });
  /** Advances the clock, firing due timers (and letting their flushes settle). */
  const advance = async (ms: number) => {
    now += ms;
    for (;;) {
      const due = timers.filter((t) => t.at <= now);
      if (!due.length) break;
      for (const t of due) {
        timers.splice(timers.indexOf(t), 1);
        t.fn();
      }
      for (let i = 0; i < 10; i++) await Promise.resolve();
    }
  };
  return { logger, sent, timers, storage, advance };
}

const click = (action: string) => ({ category: 'vm', action, target: 'default/web', result: 'info' as const });

describe('UiLogger', () => {
  it('stamps time, level and route, and sends entries as one batch after the interval', async () => {
    const h = harness();
    h.logger.setToken('t0ken');
    h.logger.log(click('stop'));
    h.logger.log({ category: 'vm', action: 'stop', result: 'error', message: 'refused', correlationId: 'c-1' });
    expect(h.sent).toHaveLength(0);
    await h.advance(2_000);
    expect(h.sent).toHaveLength(1);
    const { batch, token, keepalive } = h.sent[0]!;
    expect(token).toBe('t0ken');
    expect(keepalive).toBe(false);
    expect(batch.sessionId).toBe(h.logger.sessionId);
    expect(batch.entries).toEqual([
      { category: 'vm', action: 'stop', target: 'default/web', result: 'info', time: '2026-12-07T08:00:00.000Z', level: 'info', route: '/ui/vms' },
      {
        category: 'vm',
        action: 'stop',
        result: 'error',
        message: 'refused',
        correlationId: 'c-1',
        time: '2026-12-07T08:00:00.000Z',
        level: 'error',
        route: '/ui/vms',
      },
    ]);
    expect(h.logger.buffered).toBe(0);
  });

  it('sends at once when a batch is full, in batches of batchSize', async () => {
    const h = harness([], { batchSize: 3 });
    h.logger.setToken('t');
    for (let i = 0; i < 7; i++) h.logger.log(click(`a${i}`));
    await h.advance(0);
    expect(h.sent.map((s) => s.batch.entries.map((e) => e.action))).toEqual([['a0', 'a1', 'a2'], ['a3', 'a4', 'a5'], ['a6']]);
  });

  it('keeps entries while signed out and sends them once a token is set', async () => {
    const h = harness();
    h.logger.log({ category: 'auth', action: 'sign-in', result: 'start' });
    await h.advance(5_000);
    expect(h.sent).toHaveLength(0);
    expect(h.logger.buffered).toBe(1);
    h.logger.setToken('t');
    await h.advance(0);
    expect(h.sent.map((s) => s.batch.entries[0]!.action)).toEqual(['sign-in']);
  });

  it('on 429 keeps the batch and waits Retry-After before the next try', async () => {
    const h = harness([{ status: 429, retryAfterSeconds: 7 }]);
    h.logger.setToken('t');
    h.logger.log(click('one'));
    await h.advance(2_000);
    expect(h.sent).toHaveLength(1);
    expect(h.logger.buffered).toBe(1);
    h.logger.log(click('two'));
    await h.advance(6_000);
    expect(h.sent).toHaveLength(1); // still blocked
    await h.advance(1_000);
    expect(h.sent).toHaveLength(2);
    expect(h.sent[1]!.batch.entries.map((e) => e.action)).toEqual(['one', 'two']);
    expect(h.logger.buffered).toBe(0);
  });

  it('backs off exponentially on network failures and 5xx', async () => {
    const h = harness([new Error('offline'), { status: 503 }]);
    h.logger.setToken('t');
    h.logger.log(click('one'));
    await h.advance(2_000); // fails: next try after 500 ms (random 0: half of 1 s)
    expect(h.sent).toHaveLength(1);
    await h.advance(499);
    expect(h.sent).toHaveLength(1);
    await h.advance(1); // 503: next after 1 s
    expect(h.sent).toHaveLength(2);
    await h.advance(999);
    expect(h.sent).toHaveLength(2);
    await h.advance(1);
    expect(h.sent).toHaveLength(3);
    expect(h.logger.buffered).toBe(0);
    expect(h.logger.dropped).toBe(0);
  });

  it('drops a batch the server refuses as such (400), and counts it', async () => {
    const h = harness([{ status: 400 }]);
    h.logger.setToken('t');
    h.logger.log(click('bad'));
    await h.advance(2_000);
    expect(h.logger.buffered).toBe(0);
    expect(h.logger.dropped).toBe(1);
  });

  it('bounds the buffer, dropping the oldest', () => {
    const h = harness([], { maxBuffered: 3, batchSize: 100 });
    for (let i = 0; i < 5; i++) h.logger.log(click(`a${i}`));
    expect(h.logger.buffered).toBe(3);
    expect(h.logger.dropped).toBe(2);
  });

  it('on page hide hands everything to keepalive requests under the size bound', async () => {
    const h = harness([], { keepaliveChunkBytes: 1_000, batchSize: 100 });
    h.logger.setToken('t');
    for (let i = 0; i < 20; i++) h.logger.log(click(`a${i}`));
    h.logger.flushAll();
    await h.advance(0);
    expect(h.sent.length).toBeGreaterThan(1);
    expect(h.sent.every((s) => s.keepalive)).toBe(true);
    expect(h.sent.every((s) => JSON.stringify(s.batch).length <= 1_000)).toBe(true);
    expect(h.sent.flatMap((s) => s.batch.entries.map((e) => e.action))).toEqual(Array.from({ length: 20 }, (_, i) => `a${i}`));
    expect(h.logger.buffered).toBe(0);
    expect(h.timers).toHaveLength(0);
  });
});

describe('sessionIdFrom', () => {
  it('keeps one id per tab in storage', () => {
    const store = new Map<string, string>();
    const storage = { getItem: (k: string) => store.get(k) ?? null, setItem: (k: string, v: string) => void store.set(k, v) };
    const a = sessionIdFrom(storage);
    expect(a).toMatch(/^[0-9a-f-]{36}$/);
    expect(sessionIdFrom(storage)).toBe(a);
    expect(sessionIdFrom(undefined)).not.toBe(a);
  });
});

describe('chunkBySize', () => {
  it('cuts by count and by size; an oversize entry goes alone', () => {
    const size = (s: string) => s.length;
    expect(chunkBySize(['aa', 'bb', 'cc', 'dd', 'ee'], 2, 100, size)).toEqual([['aa', 'bb'], ['cc', 'dd'], ['ee']]);
    expect(chunkBySize(['aaaa', 'b', 'cccccccccc', 'd'], 10, 7, size, 1)).toEqual([['aaaa'], ['b'], ['cccccccccc'], ['d']]);
    expect(chunkBySize([], 10, 10, size)).toEqual([]);
  });
});

describe('categoryForRoute', () => {
  it('names the part of the UI', () => {
    expect(categoryForRoute('/ui/vms/default/web')).toBe('vm');
    expect(categoryForRoute('/ui/')).toBe('dashboard');
    expect(categoryForRoute('/ui/logs')).toBe('logs');
    expect(categoryForRoute('/pools/local')).toBe('pool');
  });
});
