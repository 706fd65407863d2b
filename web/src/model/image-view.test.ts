import type { Image, ImageNodeStatus } from '../../../api-types/generated/types.js';
import { checksumOf, failureText, imageNodeRows, imageSourceText, imageSummary, progressOf, redactUrl } from './image-view.js';

const MiB = 1024 ** 2;
const SHA = 'a'.repeat(64);

function image(spec: Partial<Image['spec']> = {}, status?: Image['status']): Image {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Image',
    metadata: { name: 'debian-12' },
    spec: { source: { url: 'https://example.org/debian.qcow2' }, ...spec },
    ...(status ? { status } : {}),
  };
}

describe('redactUrl', () => {
  it.each([
    ['https://user:secret@mirror.example.org:8443/img/debian.qcow2?X-Amz-Signature=abc#frag', 'https://mirror.example.org:8443/img/debian.qcow2'],
    ['http://example.org/a.img', 'http://example.org/a.img'],
    ['https://token@example.org/', 'https://example.org/'],
    ['not a url', '(invalid URL)'],
    ['', '(invalid URL)'],
  ])('%s → %s', (raw, want) => {
    expect(redactUrl(raw)).toBe(want);
  });

  it('never keeps the password or the query anywhere in the text shown', () => {
    const text = imageSourceText(image({ source: { url: 'https://alice:hunter2@example.org/x.qcow2?sig=s3cr3t' } }));
    expect(text).toBe('https://example.org/x.qcow2');
    expect(text).not.toMatch(/hunter2|s3cr3t|alice/);
  });

  it('shows a pool source as pool:path', () => {
    expect(imageSourceText(image({ source: { pool: 'local', path: 'iso/debian.qcow2' } }))).toBe('local:iso/debian.qcow2');
  });
});

describe('progressOf', () => {
  const importing = (progress: ImageNodeStatus['progress']): ImageNodeStatus => ({ phase: 'Importing', progress });

  it('uses the reported percent, with the bytes', () => {
    expect(progressOf(importing({ step: 'Downloading', percent: 40, bytesDone: 400 * MiB, bytesTotal: 1000 * MiB }))).toEqual({
      percent: 40,
      step: 'Downloading',
      text: 'Downloading 40% · 400Mi / 1000Mi',
    });
  });

  it('computes the percent from the bytes when none is reported, rounding down', () => {
    expect(progressOf(importing({ step: 'Verifying', bytesDone: 999, bytesTotal: 1000 }))?.percent).toBe(99);
  });

  it('clamps a reported percent to 0-100', () => {
    expect(progressOf(importing({ percent: 140 }))?.percent).toBe(100);
    expect(progressOf(importing({ percent: -3 }))?.percent).toBe(0);
  });

  it('is indeterminate without a total', () => {
    expect(progressOf(importing({ step: 'Downloading', bytesDone: 12 * MiB }))).toEqual({
      percent: undefined,
      step: 'Downloading',
      text: 'Downloading · 12Mi',
    });
    expect(progressOf(importing(undefined))).toEqual({ percent: undefined, step: 'Importing', text: 'Importing' });
  });

  it('is undefined unless the node is importing', () => {
    expect(progressOf({ phase: 'Ready', progress: { percent: 100 } })).toBeUndefined();
    expect(progressOf(undefined)).toBeUndefined();
  });
});

describe('failureText', () => {
  it('puts the reason before the message', () => {
    expect(failureText({ phase: 'Failed', reason: 'HTTPError', message: 'GET https://example.org/x: 404 Not Found' })).toBe(
      'HTTPError: GET https://example.org/x: 404 Not Found',
    );
    expect(failureText({ phase: 'Failed', message: 'disk full' })).toBe('disk full');
    expect(failureText({ phase: 'Failed' })).toBe('Failed');
    expect(failureText({ phase: 'Ready', message: 'fine' })).toBeUndefined();
  });
});

describe('imageNodeRows and imageSummary', () => {
  it('lists wanted and reporting nodes once, sorted', () => {
    const img = image({ nodeNames: ['hv-2', 'hv-1'], storagePool: 'local' }, { nodes: { 'hv-3': { phase: 'Ready' }, 'hv-1': { phase: 'Pending' } } });
    expect(imageNodeRows(img).map((r) => [r.node, r.wanted, r.status?.phase])).toEqual([
      ['hv-1', true, 'Pending'],
      ['hv-2', true, undefined],
      ['hv-3', false, 'Ready'],
    ]);
  });

  it('summarises the least advanced import while any node imports', () => {
    const img = image(
      {},
      {
        nodes: {
          'hv-1': { phase: 'Importing', progress: { step: 'Downloading', percent: 70 } },
          'hv-2': { phase: 'Importing', progress: { step: 'Downloading', percent: 40 } },
          'hv-3': { phase: 'Failed', reason: 'NoSpace' },
        },
      },
    );
    const s = imageSummary(img);
    expect(s).toMatchObject({ kind: 'importing', node: 'hv-2', importing: 2, progress: { percent: 40 } });
  });

  it('then the first failure, then Ready of all', () => {
    expect(imageSummary(image({}, { nodes: { 'hv-1': { phase: 'Ready' }, 'hv-2': { phase: 'Failed', reason: 'ChecksumMismatch', message: 'x' } } }))).toEqual({
      kind: 'failed',
      node: 'hv-2',
      text: 'ChecksumMismatch: x',
    });
    expect(imageSummary(image({}, { nodes: { 'hv-1': { phase: 'Ready' }, 'hv-2': { phase: 'Pending' } } }))).toEqual({ kind: 'ready', ready: 1, total: 2 });
    expect(imageSummary(image())).toEqual({ kind: 'none' });
  });
});

describe('checksumOf', () => {
  it.each<[string, Image, string]>([
    ['verified', image({ source: { url: 'https://e.org/x', sha256: SHA } }, { nodes: { a: { phase: 'Ready', verified: true, sha256: SHA } } }), 'verified'],
    ['mismatch', image({ source: { url: 'https://e.org/x', sha256: SHA } }, { nodes: { a: { phase: 'Failed', reason: 'ChecksumMismatch' } } }), 'mismatch'],
    ['imported without one to check', image({}, { sha256: SHA, nodes: { a: { phase: 'Ready', sha256: SHA } } }), 'unchecked'],
    ['expected, not imported yet', image({ source: { url: 'https://e.org/x', sha256: SHA } }), 'pending'],
    ['nothing known', image(), 'none'],
  ])('%s', (_name, img, state) => {
    expect(checksumOf(img).state).toBe(state);
  });

  it('judges one node on its own report', () => {
    const img = image(
      { source: { url: 'https://e.org/x', sha256: SHA } },
      { nodes: { a: { phase: 'Ready', verified: true, sha256: SHA }, b: { phase: 'Importing' } } },
    );
    expect(checksumOf(img, img.status!.nodes!.a).state).toBe('verified');
    expect(checksumOf(img, img.status!.nodes!.b).state).toBe('pending');
  });
});
