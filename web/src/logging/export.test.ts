import type { LogRecord } from '../../../lib/logging/record.js';
import { toCsv, toJsonLines, toText } from './export.js';

const records: LogRecord[] = [
  { time: '2026-12-07T08:00:00.000Z', level: 'info', component: 'ui', node: 'cp-1', message: 'vm stop default/web start', correlationId: 'c-1', user: 'admin' },
  { time: '2026-12-07T08:00:01.000Z', level: 'warn', component: 'agent', node: 'hv-1', message: 'said "no", then, later' },
];

describe('log export formats (the shared ones of lib/logging/export.ts)', () => {
  it('CSV: the header, then one row per record, quoted where needed', () => {
    expect(toCsv(records)).toBe(
      'time,level,component,node,correlationId,message\r\n' +
        '2026-12-07T08:00:00.000Z,info,ui,cp-1,c-1,vm stop default/web start\r\n' +
        '2026-12-07T08:00:01.000Z,warn,agent,hv-1,,"said ""no"", then, later"\r\n',
    );
  });

  it('TXT: time level component node [id] message, then the extra fields', () => {
    expect(toText(records)).toBe(
      '2026-12-07T08:00:00.000Z INFO  ui cp-1 [c-1] vm stop default/web start user=admin\n2026-12-07T08:00:01.000Z WARN  agent hv-1 said "no", then, later\n',
    );
  });

  it('JSON: one record per line, all fields', () => {
    expect(
      toJsonLines(records)
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l)),
    ).toEqual(records);
  });
});
