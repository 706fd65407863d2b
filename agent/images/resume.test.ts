/** Resume decisions (pure): what a restarted download asks, and what the answer means. */
import { decideResponse, type PartState, parseContentRange, parsePartState, planResume, rangeHeaders, sourceKey } from './resume.js';

const KEY = sourceKey('http://127.0.0.1/i.img');
const SHA = 'a'.repeat(64);
const state = (over: Partial<PartState> = {}): PartState => ({ version: 1, source: KEY, totalBytes: 1000, ...over });

describe('planResume', () => {
  it.each<[string, number | undefined, PartState | undefined, { source: string; expectedSha256?: string }, ReturnType<typeof planResume>]>([
    ['no .part', undefined, state(), { source: KEY }, { offset: 0 }],
    ['empty .part', 0, state({ etag: '"e"' }), { source: KEY }, { offset: 0 }],
    ['no sidecar', 10, undefined, { source: KEY }, { offset: 0, reason: 'no record of where the partial download came from' }],
    ['another URL', 10, state({ etag: '"e"' }), { source: sourceKey('http://other/') }, { offset: 0, reason: 'the partial download came from another URL' }],
    [
      'another checksum',
      10,
      state({ etag: '"e"', expectedSha256: SHA }),
      { source: KEY },
      { offset: 0, reason: 'the partial download was for another checksum' },
    ],
    ['longer than the file', 2000, state({ etag: '"e"' }), { source: KEY }, { offset: 0, reason: 'the partial download is longer than the file' }],
    ['strong ETag', 10, state({ etag: '"e"', lastModified: 'Tue, 01 Dec 2026 00:00:00 GMT' }), { source: KEY }, { offset: 10, ifRange: '"e"' }],
    [
      'weak ETag: Last-Modified',
      10,
      state({ etag: 'W/"e"', lastModified: 'Tue, 01 Dec 2026 00:00:00 GMT' }),
      { source: KEY },
      { offset: 10, ifRange: 'Tue, 01 Dec 2026 00:00:00 GMT' },
    ],
    ['no validator but a checksum', 10, state({ expectedSha256: SHA }), { source: KEY, expectedSha256: SHA }, { offset: 10 }],
    ['complete .part', 1000, state({ complete: true }), { source: KEY }, { offset: 1000, complete: true }],
  ])('%s', (_name, partBytes, st, want, plan) => {
    expect(planResume(partBytes, st, want)).toEqual(plan);
  });
  it('no validator and no checksum: start over, since a resumed file could mix two versions', () => {
    const plan = planResume(10, state({ etag: 'W/"weak"' }), { source: KEY });
    expect(plan.offset).toBe(0);
    expect('reason' in plan && plan.reason).toMatch(/mix two versions/);
  });
});

describe('rangeHeaders', () => {
  it('nothing from 0; Range and If-Range when resuming', () => {
    expect(rangeHeaders({ offset: 0 })).toEqual({});
    expect(rangeHeaders({ offset: 512, ifRange: '"v1"' })).toEqual({ range: 'bytes=512-', 'if-range': '"v1"' });
    expect(rangeHeaders({ offset: 512 })).toEqual({ range: 'bytes=512-' });
  });
});

describe('parsePartState', () => {
  it('accepts its own format and nothing else', () => {
    expect(parsePartState(JSON.stringify(state()))).toEqual(state());
    expect(parsePartState(undefined)).toBeUndefined();
    expect(parsePartState('{"version":2,"source":"x"}')).toBeUndefined();
    expect(parsePartState('{"version":1}')).toBeUndefined();
    expect(parsePartState('{trunc')).toBeUndefined();
  });
});

describe('parseContentRange', () => {
  it.each([
    ['bytes 100-999/1000', { start: 100, end: 999, total: 1000 }],
    ['bytes 100-999/*', { start: 100, end: 999, total: undefined }],
    ['bytes */1000', { unsatisfied: true, total: 1000 }],
    ['bytes 5-4/10', undefined],
    ['bytes 0-10/10', undefined],
    ['items 0-1/2', undefined],
    [undefined, undefined],
  ])('%s', (value, parsed) => {
    expect(parseContentRange(value)).toEqual(parsed);
  });
});

describe('decideResponse', () => {
  it.each<[string, number, number, { contentRange?: string; contentLength?: string }, ReturnType<typeof decideResponse>]>([
    ['200 from 0', 0, 200, { contentLength: '1000' }, { action: 'fromZero', totalBytes: 1000 }],
    ['200 to a range request (no range support, or If-Range failed)', 300, 200, { contentLength: '1000' }, { action: 'fromZero', totalBytes: 1000 }],
    ['200 without a length', 0, 200, {}, { action: 'fromZero', totalBytes: undefined }],
    ['206 for the rest', 300, 206, { contentRange: 'bytes 300-999/1000', contentLength: '700' }, { action: 'append', totalBytes: 1000 }],
    ['206 with an unknown total', 300, 206, { contentRange: 'bytes 300-999/*' }, { action: 'append', totalBytes: undefined }],
    ['206 at another offset', 300, 206, { contentRange: 'bytes 0-999/1000' }, { action: 'retryWithoutRange', reason: '206 for bytes 0- instead of 300-' }],
    [
      '206 for a part only',
      300,
      206,
      { contentRange: 'bytes 300-499/1000' },
      { action: 'retryWithoutRange', reason: '206 for bytes 300-499 of 1000, not the rest of the file' },
    ],
    ['206 without Content-Range', 300, 206, {}, { action: 'retryWithoutRange', reason: '206 with an unusable Content-Range ""' }],
    ['416 for a whole .part', 1000, 416, { contentRange: 'bytes */1000' }, { action: 'complete' }],
    ['416 for another length', 1000, 416, { contentRange: 'bytes */2000' }, { action: 'retryWithoutRange', reason: '416 for bytes=1000-' }],
    ['404', 0, 404, {}, { action: 'httpError' }],
    ['416 without a range asked', 0, 416, {}, { action: 'httpError' }],
    ['500 on resume', 300, 500, {}, { action: 'httpError' }],
  ])('%s', (_name, offset, status, headers, decision) => {
    expect(decideResponse(offset, status, headers)).toEqual(decision);
  });
});
