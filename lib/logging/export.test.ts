import { csvCell, toCsv, toJsonLines, toText } from './export.js';
import { LOG_RECORD_COLUMNS, type LogRecord } from './record.js';

const records: LogRecord[] = [
  {
    time: '2026-12-07T08:00:01.000Z',
    level: 'info',
    component: 'agent',
    node: 'n1',
    message: 'libvirt call',
    correlationId: 'c-1',
    procedure: 'DOMAIN_SHUTDOWN',
    durationMs: 4,
  },
  { time: '2026-12-07T08:00:02.000Z', level: 'error', component: 'ui', node: 'cp1', message: 'said "no", then\nleft' },
];

describe('export', () => {
  it('CSV: a header of LOG_RECORD_COLUMNS, then one properly quoted row per record', () => {
    const csv = toCsv(records);
    const rows = csv.split('\r\n');
    expect(rows[0]).toBe(LOG_RECORD_COLUMNS.join(','));
    expect(rows[1]).toBe('2026-12-07T08:00:01.000Z,info,agent,n1,c-1,libvirt call');
    // Quotes doubled, the newline kept inside the quoted cell; an absent correlation id is empty.
    expect(csv).toContain('2026-12-07T08:00:02.000Z,error,ui,cp1,,"said ""no"", then\nleft"\r\n');
    expect(csv.endsWith('\r\n')).toBe(true);
    expect(toCsv([])).toBe(`${LOG_RECORD_COLUMNS.join(',')}\r\n`);
  });

  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['x"y', '"x""y"'],
    ['l1\r\nl2', '"l1\r\nl2"'],
    [undefined, ''],
    [42, '42'],
  ])('csvCell(%j) = %j', (value, expected) => {
    expect(csvCell(value)).toBe(expected);
  });

  it('JSON lines: one object per record, every field kept', () => {
    const lines = toJsonLines(records).trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(records);
  });

  it('text: time level component node [cid] message, extra fields after, one line per record', () => {
    expect(toText(records)).toBe(
      '2026-12-07T08:00:01.000Z INFO  agent n1 [c-1] libvirt call procedure=DOMAIN_SHUTDOWN durationMs=4\n' +
        '2026-12-07T08:00:02.000Z ERROR ui cp1 said "no", then\\nleft\n',
    );
  });
});
