import { LogQueryError, logQueryString, parseLogQuery } from './query-params.js';

const NOW = Date.parse('2026-12-07T08:00:00.000Z');
const parse = (q: string) => parseLogQuery(new URLSearchParams(q), NOW);

describe('parseLogQuery', () => {
  it('reads every parameter: repeated and comma-listed components, durations and RFC 3339 times', () => {
    expect(
      parse('component=agent,ui&component=audit&node=n1&level=warn&since=10m&until=2026-12-07T07:59:00Z&correlationId=c1&grep=boot&limit=50&follow=true'),
    ).toEqual({
      filter: {
        components: ['agent', 'ui', 'audit'],
        node: 'n1',
        level: 'warn',
        sinceMs: NOW - 600_000,
        untilMs: Date.parse('2026-12-07T07:59:00Z'),
        correlationId: 'c1',
        grep: 'boot',
      },
      limit: 50,
      follow: true,
    });
    expect(parse('')).toEqual({ filter: {}, limit: 1000, follow: false });
    expect(parse('since=2h').filter.sinceMs).toBe(NOW - 7_200_000);
    expect(parse('since=2026-12-07T09:00:00.123%2B01:00').filter.sinceMs).toBe(Date.parse('2026-12-07T08:00:00.123Z'));
  });

  it.each([
    ['level=verbose', 'level'],
    ['limit=0', 'limit'],
    ['limit=10001', 'limit'],
    ['limit=1e3', 'limit'],
    ['since=yesterday', 'since'],
    ['until=2026-12-07', 'until'],
    ['since=5m&until=1h', 'until'],
    ['node=a&node=b', 'node'],
    ['follow=yes', 'follow'],
    ['pods=x', 'pods'],
  ])('%s is refused naming %s', (query, parameter) => {
    let error: unknown;
    try {
      parse(query);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(LogQueryError);
    expect((error as LogQueryError).parameter).toBe(parameter);
  });

  it('logQueryString is read back by parseLogQuery', () => {
    const filter = { components: ['agent'], level: 'error' as const, sinceMs: NOW - 1000, correlationId: 'x y', grep: 'a&b' };
    expect(parseLogQuery(new URLSearchParams(logQueryString(filter, 20, true)), NOW)).toEqual({ filter, limit: 20, follow: true });
  });
});
