import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import { auditEventToRecord, logBasesIn, queryLogDir, readNewRecords, recordMatches } from './query.js';
import type { LogRecord } from './record.js';

const T0 = Date.parse('2026-12-07T08:00:00.000Z');
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const line = (s: number, fields: Record<string, unknown> = {}) =>
  `${JSON.stringify({ time: at(s), level: 'info', component: 'apiserver', node: 'cp1', message: `m${s}`, ...fields })}\n`;

describe('queryLogDir', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qx-logq-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const opts = { node: 'cp1' };
  const messages = (records: LogRecord[]) => records.map((r) => r.message);

  it('returns the newest `limit` records in time order, across rotated files, with small chunks', async () => {
    // .2 is oldest, then .1, then the current file.
    writeFileSync(join(dir, 'apiserver.log.2'), [0, 1, 2].map((s) => line(s)).join(''));
    writeFileSync(join(dir, 'apiserver.log.1'), [3, 4, 5].map((s) => line(s)).join(''));
    writeFileSync(join(dir, 'apiserver.log'), [6, 7].map((s) => line(s)).join(''));
    // 17-byte chunks: every line straddles chunk boundaries.
    const result = await queryLogDir(dir, {}, 4, { ...opts, chunkBytes: 17 });
    expect(messages(result.records)).toEqual(['m4', 'm5', 'm6', 'm7']);
    const all = await queryLogDir(dir, {}, 100, { ...opts, chunkBytes: 17 });
    expect(messages(all.records)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'm5', 'm6', 'm7']);
    expect(all.brokenLines).toBe(0);
  });

  it('merges bases in time order and keeps the newest across them', async () => {
    writeFileSync(join(dir, 'apiserver.log'), [1, 3, 5].map((s) => line(s)).join(''));
    writeFileSync(join(dir, 'controller-manager.log'), [2, 4, 6].map((s) => line(s, { component: 'controller-manager' })).join(''));
    const result = await queryLogDir(dir, {}, 4, opts);
    expect(messages(result.records)).toEqual(['m3', 'm4', 'm5', 'm6']);
    expect(result.records.map((r) => r.component)).toEqual(['apiserver', 'controller-manager', 'apiserver', 'controller-manager']);
    expect(logBasesIn(dir)).toEqual(['apiserver', 'controller-manager']);
  });

  it('skips and counts broken lines, never throws, and does not read a line still being written', async () => {
    writeFileSync(join(dir, 'apiserver.log'), `${line(1)}not json\n{"no":"time"}\n[1,2]\n\n${line(2)}{"time":"2026-12-07T08:00:09.000Z","mess`);
    const result = await queryLogDir(dir, {}, 10, opts);
    expect(messages(result.records)).toEqual(['m1', 'm2']);
    expect(result.brokenLines).toBe(3);
  });

  it.each([
    ['component', { components: ['controller-manager'] }, ['m2']],
    ['node', { node: 'cp2' }, ['m3']],
    ['minimum level', { level: 'warn' as const }, ['m1', 'm4']],
    ['since', { sinceMs: T0 + 3000 }, ['m3', 'm4', 'm5']],
    ['until', { untilMs: T0 + 2000 }, ['m1', 'm2']],
    ['since and until', { sinceMs: T0 + 2000, untilMs: T0 + 4000 }, ['m2', 'm3', 'm4']],
    ['correlation id', { correlationId: 'c-42' }, ['m2', 'm5']],
    ['grep in a field, any case', { grep: 'DOMAIN_SHUTDOWN' }, ['m5']],
    ['grep in the message', { grep: 'M3' }, ['m3']],
    ['grep with a quote', { grep: 'say "hi"' }, ['m4']],
  ])('filters by %s', async (_name, filter, expected) => {
    writeFileSync(
      join(dir, 'apiserver.log'),
      [
        line(1, { level: 'error' }),
        line(3, { node: 'cp2' }),
        line(4, { level: 'warn', note: 'say "hi"' }),
        line(5, { correlationId: 'c-42', procedure: 'domain_shutdown' }),
      ].join(''),
    );
    writeFileSync(join(dir, 'controller-manager.log'), line(2, { component: 'controller-manager', correlationId: 'c-42' }));
    expect(messages((await queryLogDir(dir, filter, 100, opts)).records)).toEqual(expected);
  });

  it('skips a rotated file whose first record is after `until`, and stops at `since`', async () => {
    writeFileSync(join(dir, 'apiserver.log.1'), [1, 2].map((s) => line(s)).join(''));
    // Not JSON beyond its first line: if the query read it, it would count broken lines.
    writeFileSync(join(dir, 'apiserver.log'), `${line(10)}garbage\n${line(11)}`);
    const result = await queryLogDir(dir, { untilMs: T0 + 5000 }, 10, opts);
    expect(messages(result.records)).toEqual(['m1', 'm2']);
    // The current file is always read (it is still being written), so its broken line counts.
    expect(result.brokenLines).toBe(1);
    writeFileSync(join(dir, 'apiserver.log.2'), 'broken everywhere\n');
    const since = await queryLogDir(dir, { sinceMs: T0 + 2000 }, 10, opts);
    expect(messages(since.records)).toEqual(['m2', 'm10', 'm11']);
    // .2 is older than `since`: never read.
    expect(since.brokenLines).toBe(1);
  });

  it('turns audit Events into records with component audit', async () => {
    const event = {
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: 'a-1',
      stage: 'ResponseComplete',
      requestURI: '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/web',
      verb: 'update',
      user: { username: 'admin', groups: ['system:masters'] },
      objectRef: { resource: 'virtualmachines', namespace: 'default', name: 'web', apiGroup: 'quantix.io' },
      responseStatus: { code: 200 },
      requestReceivedTimestamp: '2026-12-07T08:00:01.000000Z',
      stageTimestamp: '2026-12-07T08:00:01.250000Z',
      annotations: { [CORRELATION_ID_ANNOTATION]: 'c-9' },
    };
    writeFileSync(join(dir, 'audit.log'), `${JSON.stringify(event)}\n${JSON.stringify({ ...event, auditID: 'a-2', responseStatus: { code: 409 } })}\n`);
    const result = await queryLogDir(dir, { components: ['audit'], grep: 'virtualmachines default/web' }, 10, opts);
    expect(result.records).toEqual([
      {
        time: '2026-12-07T08:00:01.250Z',
        level: 'info',
        component: 'audit',
        node: 'cp1',
        message: 'update virtualmachines default/web → 200',
        correlationId: 'c-9',
        user: 'admin',
        verb: 'update',
        code: 200,
        auditID: 'a-1',
        stage: 'ResponseComplete',
        requestURI: event.requestURI,
      },
      expect.objectContaining({ level: 'warn', auditID: 'a-2', message: 'update virtualmachines default/web → 409' }),
    ]);
    // A one-word grep is looked for in the raw Event line first: still found, in any case.
    expect((await queryLogDir(dir, { grep: 'WEB' }, 10, opts)).records.map((r) => r.auditID)).toEqual(['a-1', 'a-2']);
    expect((await queryLogDir(dir, { grep: '409' }, 10, opts)).records.map((r) => r.auditID)).toEqual(['a-2']);
    expect(auditEventToRecord({ verb: 'list', requestURI: '/api', stageTimestamp: 'nope' }, 'cp1')).toBeUndefined();
    expect(auditEventToRecord({ verb: 'list', requestURI: '/api/v1/nodes', stage: 'RequestReceived', stageTimestamp: at(3) }, 'cp1')).toMatchObject({
      message: 'list /api/v1/nodes',
      level: 'info',
    });
  });

  it('reads records written after the cursor, across a rotation, and a base that appears later', async () => {
    writeFileSync(join(dir, 'apiserver.log'), line(1));
    const first = await queryLogDir(dir, {}, 10, opts);
    expect(messages(first.records)).toEqual(['m1']);
    appendFileSync(join(dir, 'apiserver.log'), `${line(2)}{"time":"${at(3)}","level":"info",`);
    const second = readNewRecords(dir, first.cursor, {}, opts);
    expect(messages(second.records)).toEqual(['m2']);
    // The partial line is finished, then the file rotates and a new one starts.
    appendFileSync(join(dir, 'apiserver.log'), '"message":"m3"}\n');
    renameSync(join(dir, 'apiserver.log'), join(dir, 'apiserver.log.1'));
    writeFileSync(join(dir, 'apiserver.log'), line(4));
    writeFileSync(join(dir, 'ui.log'), line(5, { component: 'ui' }));
    const third = readNewRecords(dir, second.cursor, {}, opts);
    expect(messages(third.records)).toEqual(['m3', 'm4', 'm5']);
    const fourth = readNewRecords(dir, third.cursor, {}, opts);
    expect(fourth.records).toEqual([]);
  });

  it('applies the filter on follow and bounds the bytes read per call', async () => {
    writeFileSync(join(dir, 'apiserver.log'), '');
    const start = await queryLogDir(dir, {}, 10, opts);
    appendFileSync(join(dir, 'apiserver.log'), [1, 2, 3, 4].map((s) => line(s, { level: s % 2 ? 'error' : 'info' })).join(''));
    const bytesPerLine = line(1, { level: 'error' }).length;
    const firstCall = readNewRecords(dir, start.cursor, { level: 'error' }, { ...opts, maxBytes: bytesPerLine * 2 + 1 });
    expect(messages(firstCall.records)).toEqual(['m1']);
    const secondCall = readNewRecords(dir, firstCall.cursor, { level: 'error' }, { ...opts, maxBytes: bytesPerLine * 2 + 1 });
    expect(messages(secondCall.records)).toEqual(['m3']);
  });

  it('the minimum level of audit records follows their response code (also when found by the raw-line test)', async () => {
    const event = (code: number, s: number) =>
      JSON.stringify({
        kind: 'Event',
        apiVersion: 'audit.k8s.io/v1',
        level: 'Metadata',
        verb: 'get',
        requestURI: `/x/${code}`,
        responseStatus: { code },
        stageTimestamp: at(s),
      });
    writeFileSync(join(dir, 'audit.log'), `${[event(200, 1), event(404, 2), event(503, 3), event(201, 4)].join('\n')}\n`);
    writeFileSync(join(dir, 'apiserver.log'), [line(5, { level: 'warn' }), line(6, { level: 'error' }), line(7, { level: 'debug' })].join(''));
    expect(messages((await queryLogDir(dir, { level: 'error' }, 10, opts)).records)).toEqual(['get /x/503 → 503', 'm6']);
    expect(messages((await queryLogDir(dir, { level: 'warn' }, 10, opts)).records)).toEqual(['get /x/404 → 404', 'get /x/503 → 503', 'm5', 'm6']);
    expect((await queryLogDir(dir, { level: 'info' }, 10, opts)).records).toHaveLength(6);
  });

  it('finds rare lines in big chunks by their text, newest first, and stops at the page', async () => {
    const lines: string[] = [];
    for (let s = 0; s < 3000; s++) lines.push(line(s, s % 500 === 0 ? { correlationId: 'rare', note: 'Needle' } : { correlationId: `c${s}` }));
    writeFileSync(join(dir, 'apiserver.log'), lines.join(''));
    expect(messages((await queryLogDir(dir, { correlationId: 'rare' }, 10, { ...opts, chunkBytes: 4096 })).records)).toEqual([
      'm0',
      'm500',
      'm1000',
      'm1500',
      'm2000',
      'm2500',
    ]);
    expect(messages((await queryLogDir(dir, { grep: 'needle', correlationId: 'rare' }, 2, opts)).records)).toEqual(['m2000', 'm2500']);
  });

  it('recordMatches checks records from other sources', async () => {
    const r: LogRecord = {
      time: at(1),
      level: 'warn',
      component: 'agent',
      node: 'n1',
      message: 'libvirt call',
      correlationId: 'x',
      procedure: 'DOMAIN_CREATE',
    };
    expect(recordMatches(r, { components: ['agent'], level: 'warn', grep: 'domain_create', correlationId: 'x' })).toBe(true);
    expect(recordMatches(r, { level: 'error' })).toBe(false);
    expect(recordMatches(r, { node: 'n2' })).toBe(false);
  });
});
