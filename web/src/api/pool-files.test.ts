import { breadcrumbs, joinPath, normalizeListing } from './pool-files.js';

describe('pool file listings', () => {
  it('normalizes either field naming and lists directories first', () => {
    const a = normalizeListing(
      {
        path: 'iso',
        items: [
          { name: 'b.img', type: 'file', sizeBytes: 5, modifiedTime: '2026-01-01T00:00:00.000Z' },
          { name: 'z', type: 'dir', sizeBytes: 0 },
        ],
        truncated: false,
      },
      'iso',
    );
    const b = normalizeListing(
      {
        entries: [
          { name: 'b.img', type: 'file', sizeBytes: 5, modifiedAt: Date.parse('2026-01-01T00:00:00Z') },
          { name: 'z', type: 'dir' },
        ],
      },
      'iso',
    );
    expect(a.entries.map((e) => e.name)).toEqual(['z', 'b.img']);
    expect(b).toEqual({ ...a, mountPath: undefined });
  });

  it('builds breadcrumbs and joins paths', () => {
    expect(breadcrumbs('a/b/c')).toEqual([
      ['a', 'a'],
      ['b', 'a/b'],
      ['c', 'a/b/c'],
    ]);
    expect(breadcrumbs('')).toEqual([]);
    expect(joinPath('', 'x')).toBe('x');
    expect(joinPath('a/', 'x')).toBe('a/x');
  });
});
