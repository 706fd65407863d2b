import { DEFAULT_FILTER, filterFromSearch, logsPathFor, logsQuery, searchFromFilter, type LogsFilter } from './logs-filter.js';

describe('the Logs page filter', () => {
  it('round-trips through the page URL, keeping only what is set', () => {
    const f: LogsFilter = {
      components: ['agent', 'audit'],
      userActions: false,
      level: 'warn',
      since: '10m',
      until: '2026-12-07T08:00:00Z',
      correlationId: 'c-1',
      grep: 'shutdown',
      lines: 100_000,
      follow: true,
    };
    expect(filterFromSearch(searchFromFilter(f))).toEqual(f);
    expect(searchFromFilter(DEFAULT_FILTER).toString()).toBe('');
    expect(filterFromSearch(new URLSearchParams())).toEqual(DEFAULT_FILTER);
  });

  it('ignores what it does not know and bounds the line count', () => {
    const f = filterFromSearch(new URLSearchParams('level=loud&lines=5000000&component=ui&component=agent,%20audit&grep=%20%20'));
    expect(f.level).toBeUndefined();
    expect(f.lines).toBe(100_000);
    expect(f.components).toEqual(['ui', 'agent', 'audit']);
    expect(f.grep).toBeUndefined();
    expect(filterFromSearch(new URLSearchParams('lines=-3')).lines).toBe(1_000);
  });

  it('links a correlation id to its chain', () => {
    expect(logsPathFor('4f1c-9')).toBe('/logs?correlationId=4f1c-9');
  });

  it('builds the GET /logs query: User Actions narrows to ui, pages cap at 10,000, follow drops until', () => {
    const f: LogsFilter = { ...DEFAULT_FILTER, components: ['agent'], level: 'info', since: '1h', until: '5m', correlationId: 'c', grep: 'x' };
    expect(logsQuery(f, { limit: 1_000 })).toEqual({
      component: 'agent',
      level: 'info',
      since: '1h',
      until: '5m',
      correlationId: 'c',
      grep: 'x',
      limit: '1000',
      follow: undefined,
    });
    expect(logsQuery({ ...f, userActions: true }, { limit: 50_000, until: '2026-12-07T08:00:00.000Z' })).toMatchObject({
      component: 'ui',
      limit: '10000',
      until: '2026-12-07T08:00:00.000Z',
    });
    expect(logsQuery(f, { limit: 10, follow: true, since: '2026-12-07T08:00:00.000Z' })).toMatchObject({
      follow: 'true',
      until: undefined,
      since: '2026-12-07T08:00:00.000Z',
    });
    expect(logsQuery(DEFAULT_FILTER, { limit: 10 }).component).toBeUndefined();
  });
});
