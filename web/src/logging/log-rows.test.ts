import type { LogRecord } from '../../../lib/logging/record.js';
import { MAX_PAGE } from './logs-filter.js';
import { appendFollowed, loadPages, ndjsonSplitter, prependOlder, troubledSources, type LogList } from './log-rows.js';

const rec = (second: number, message: string, component = 'agent'): LogRecord => ({
  time: `2026-12-07T08:00:${String(second).padStart(2, '0')}.000Z`,
  level: 'info',
  component,
  node: 'hv-1',
  message,
});

describe('prependOlder', () => {
  it('puts the older page first and drops the boundary records already shown', () => {
    const rows = [rec(5, 'b'), rec(6, 'c')];
    expect(prependOlder(rows, [rec(4, 'a'), rec(5, 'b'), rec(5, 'b2')]).map((r) => r.message)).toEqual(['a', 'b2', 'b', 'c']);
    expect(prependOlder([], [rec(1, 'x')]).map((r) => r.message)).toEqual(['x']);
  });
});

describe('appendFollowed', () => {
  it('appends in time order, skips repeats, and keeps at most cap rows', () => {
    const rows = [rec(1, 'a'), rec(3, 'c')];
    const out = appendFollowed(rows, [rec(3, 'c'), rec(2, 'b'), rec(4, 'd'), rec(3, 'c2')], 10);
    expect(out.map((r) => r.message)).toEqual(['a', 'b', 'c', 'c2', 'd']);
    expect(appendFollowed(out, [rec(9, 'z')], 3).map((r) => r.message)).toEqual(['c2', 'd', 'z']);
  });
});

describe('troubledSources', () => {
  it('names each source that did not answer once, forgetting one that came back', () => {
    expect(
      troubledSources([
        { component: 'agent', node: 'hv-2', state: 'unreachable', message: 'no tunnel' },
        { component: 'agent', node: 'hv-1', state: 'ok' },
        { component: 'agent', node: 'hv-2', state: 'unreachable', message: 'no tunnel' },
        { component: 'apiserver', node: 'cp-2', state: 'error', message: 'boom' },
        { component: 'apiserver', node: 'cp-2', state: 'ok' },
      ]),
    ).toEqual([{ component: 'agent', node: 'hv-2', state: 'unreachable', message: 'no tunnel' }]);
  });
});

describe('loadPages', () => {
  /** A server holding `total` records one second apart, answering like GET /logs (newest `limit` up to `until`, inclusive). */
  const server = (total: number) => {
    const all = Array.from({ length: total }, (_, i) => ({ ...rec(0, `m${i}`), time: new Date(Date.UTC(2026, 11, 7) + i * 1000).toISOString() }));
    const calls: { limit: number; until?: string }[] = [];
    const fetchPage = async (limit: number, until: string | undefined): Promise<LogList> => {
      calls.push({ limit, until });
      const upTo = until ? all.filter((r) => r.time <= until) : all;
      return { kind: 'LogList', items: upTo.slice(Math.max(0, upTo.length - limit)), sources: [{ component: 'agent', node: 'hv-1', state: 'ok' }] };
    };
    return { all, calls, fetchPage };
  };

  it('pages backwards in pages of at most 10,000 until it has what it wants', async () => {
    const s = server(25_000);
    const { rows } = await loadPages(s.fetchPage, 25_000);
    expect(rows).toHaveLength(25_000);
    expect(rows.map((r) => r.message)).toEqual(s.all.map((r) => r.message));
    expect(s.calls.every((c) => c.limit <= MAX_PAGE)).toBe(true);
    expect(s.calls[1]!.until).toBe(s.all[15_000]!.time);
  });

  it('stops when the server has no more', async () => {
    const s = server(1_500);
    const { rows, sources } = await loadPages(s.fetchPage, 100_000);
    expect(rows).toHaveLength(1_500);
    expect(s.calls).toHaveLength(1);
    expect(sources).toHaveLength(1);
  });
});

describe('ndjsonSplitter', () => {
  it('parses lines split across chunks', () => {
    const s = ndjsonSplitter();
    expect(s.push('{"type":"record","a":1}\n{"type":')).toEqual([{ type: 'record', a: 1 }]);
    expect(s.push('"source"}\n\n')).toEqual([{ type: 'source' }]);
    expect(s.push('{"x":2}')).toEqual([]);
    expect(s.end()).toEqual([{ x: 2 }]);
  });
});
