import type { LogRecord } from '../../../lib/logging/record.js';
import { toCsv, toJsonLines, toText } from './export.js';

const records: LogRecord[] = [
  { time: '2026-12-07T08:00:00.000Z', level: 'info', component: 'ui', node: 'cp-1', message: 'vm stop default/web start', correlationId: 'c-1', user: 'admin' },
  { time: '2026-12-07T08:00:01.000Z', level: 'warn', component: 'agent', node: 'hv-1', message: 'said "no", then, later\nyes' },
];

describe('log export formats', () => {
  it('CSV: the header, then one row per record, quoted where needed', () => {
    expect(toCsv(records)).toBe(
      'time,level,component,node,correlationId,message\n' +
        '2026-12-07T08:00:00.000Z,info,ui,cp-1,c-1,vm stop default/web start\n' +
        '2026-12-07T08:00:01.000Z,warn,agent,hv-1,,"said ""no"", then, later\nyes"\n',
    );
    expect(toCsv([])).toBe('time,level,component,node,correlationId,message\n');
  });

  it('TXT: time level component node [id] message', () => {
    expect(toText(records)).toBe(
      '2026-12-07T08:00:00.000Z info ui cp-1 [c-1] vm stop default/web start\n2026-12-07T08:00:01.000Z warn agent hv-1 said "no", then, later\nyes\n',
    );
  });

  it('JSON: one record per line, all fields', () => {
    const lines = toJsonLines(records).trimEnd().split('\n');
    expect(lines.map((l) => JSON.parse(l))).toEqual(records);
  });
});
