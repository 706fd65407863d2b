import type { Image } from '../../api-types/generated/types.js';
import type { ImageNodeReport } from '../../api-types/proto/types.js';
import { imageStatusWithReport } from './image-status.js';
import { NO_CHANGE } from './writes.js';

const NOW = new Date('2026-12-06T12:00:00Z');
const image: Image = { apiVersion: 'quantix.io/v1alpha1', kind: 'Image', metadata: { name: 'd', uid: 'u' }, spec: { source: { url: 'http://127.0.0.1/x' } } };

function report(over: Partial<ImageNodeReport>): ImageNodeReport {
  return {
    name: 'd',
    uid: 'u',
    phase: 'Pending',
    step: '',
    bytesDone: 0,
    bytesTotal: 0,
    percent: 0,
    pool: '',
    path: '',
    virtualSizeBytes: 0,
    fileBytes: 0,
    sourceFormat: '',
    sha256: '',
    verified: false,
    message: '',
    reason: '',
    removed: false,
    ...over,
  };
}

describe('imageStatusWithReport', () => {
  it('writes progress while importing, and the result when ready', () => {
    const s1 = imageStatusWithReport(
      image,
      'n1',
      report({ phase: 'Importing', step: 'Downloading', bytesDone: 40, bytesTotal: 100, percent: 40, pool: 'p' }),
      NOW,
    );
    expect(s1).not.toBe(NO_CHANGE);
    expect((s1 as Exclude<typeof s1, typeof NO_CHANGE>).nodes?.n1).toEqual({
      phase: 'Importing',
      progress: { step: 'Downloading', bytesDone: 40, bytesTotal: 100, percent: 40 },
      pool: 'p',
      lastUpdated: '2026-12-06T12:00:00Z',
    });
    const s2 = imageStatusWithReport(
      { ...image, status: s1 as never },
      'n1',
      report({
        phase: 'Ready',
        pool: 'p',
        path: '/p/.images/d.qcow2',
        virtualSizeBytes: 1024,
        fileBytes: 512,
        sourceFormat: 'raw',
        sha256: 'aa',
        verified: true,
      }),
      NOW,
    );
    expect((s2 as Exclude<typeof s2, typeof NO_CHANGE>).nodes?.n1).toEqual({
      phase: 'Ready',
      pool: 'p',
      path: '/p/.images/d.qcow2',
      virtualSizeBytes: 1024,
      fileBytes: 512,
      sourceFormat: 'raw',
      sha256: 'aa',
      verified: true,
      lastUpdated: '2026-12-06T12:00:00Z',
    });
  });

  it('an identical report later writes nothing; removed drops the entry; a bad phase is refused', () => {
    const r = report({ phase: 'Failed', reason: 'HTTPError', message: '404' });
    const s1 = imageStatusWithReport(image, 'n1', r, NOW) as Exclude<ReturnType<typeof imageStatusWithReport>, typeof NO_CHANGE>;
    expect(imageStatusWithReport({ ...image, status: s1 }, 'n1', r, new Date(NOW.getTime() + 60_000))).toBe(NO_CHANGE);
    const s2 = imageStatusWithReport({ ...image, status: s1 }, 'n1', report({ removed: true }), NOW) as typeof s1;
    expect(s2.nodes).toEqual({});
    expect(() => imageStatusWithReport(image, 'n1', report({ phase: 'Done' }), NOW)).toThrow(/phase "Done" is not one of Pending, Importing, Ready, Failed/);
  });
});
