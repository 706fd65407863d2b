import { DEFAULT_CHUNK_SIZE, mergeListPages, pageQuery } from './list-pages.js';

describe('list pages', () => {
  it('merges items in order, keeping the first page’s resourceVersion and dropping continue', () => {
    const merged = mergeListPages([
      { kind: 'VirtualMachineList', metadata: { resourceVersion: '7', continue: 'a', remainingItemCount: 3 }, items: [1, 2] },
      { kind: 'VirtualMachineList', metadata: { resourceVersion: '7', continue: 'b', remainingItemCount: 1 }, items: [3, 4] },
      { kind: 'VirtualMachineList', metadata: { resourceVersion: '7' }, items: [5] },
    ]);
    expect(merged).toEqual({ kind: 'VirtualMachineList', metadata: { resourceVersion: '7' }, items: [1, 2, 3, 4, 5] });
  });

  it('merges Table rows and keeps the first page’s column definitions', () => {
    const columns = [{ name: 'Name' }];
    const merged = mergeListPages([
      { kind: 'Table', columnDefinitions: columns, metadata: { resourceVersion: '9', continue: 'x' }, rows: ['a'] },
      { kind: 'Table', columnDefinitions: [], metadata: { resourceVersion: '9' }, rows: ['b', 'c'] },
    ]);
    expect(merged).toEqual({ kind: 'Table', columnDefinitions: columns, metadata: { resourceVersion: '9' }, rows: ['a', 'b', 'c'] });
  });

  it('a single page is returned as it is, an empty list stays empty', () => {
    expect(mergeListPages([{ metadata: { resourceVersion: '1' }, items: [] }])).toEqual({ metadata: { resourceVersion: '1' }, items: [] });
    expect(() => mergeListPages([])).toThrow(/no page/);
  });

  it('asks for limit (none with 0) and passes the continue token on', () => {
    expect(DEFAULT_CHUNK_SIZE).toBe(500);
    expect(pageQuery(500, undefined)).toEqual({ limit: '500' });
    expect(pageQuery(2, 'tok')).toEqual({ limit: '2', continue: 'tok' });
    expect(pageQuery(0, undefined)).toEqual({});
  });
});
