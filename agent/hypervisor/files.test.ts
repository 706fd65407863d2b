import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listPoolFiles } from './files.js';
import { HypervisorError } from './errors.js';
import { poolRelativeSegments, validateDomainSpec, validatePoolSpec } from './validate.js';

describe('pool file browser (real filesystem)', () => {
  let base: string;
  let root: string;

  beforeAll(() => {
    base = mkdtempSync(path.join(os.tmpdir(), 'qx-files-'));
    root = path.join(base, 'pool');
    mkdirSync(path.join(root, 'isos', 'deep'), { recursive: true });
    mkdirSync(path.join(base, 'secret'));
    writeFileSync(path.join(base, 'secret', 'key'), 'x');
    writeFileSync(path.join(root, 'disk.qcow2'), Buffer.alloc(1234));
    writeFileSync(path.join(root, 'isos', 'a.iso'), 'iso');
    symlinkSync('isos', path.join(root, 'inside-link'));
    symlinkSync(path.join(base, 'secret'), path.join(root, 'outside-link'));
    symlinkSync('../../secret', path.join(root, 'isos', 'rel-outside'));
  });

  afterAll(() => rmSync(base, { recursive: true, force: true }));

  const reason = async (p: Promise<unknown>): Promise<string> => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HypervisorError);
    return (err as HypervisorError).reason;
  };

  it('lists the root with types, sizes and times, sorted by name', async () => {
    const l = await listPoolFiles(root, '');
    expect(l.path).toBe('');
    expect(l.truncated).toBe(false);
    expect(l.entries.map((e) => [e.name, e.type])).toEqual([
      ['disk.qcow2', 'file'],
      ['inside-link', 'symlink'],
      ['isos', 'dir'],
      ['outside-link', 'symlink'],
    ]);
    const disk = l.entries.find((e) => e.name === 'disk.qcow2')!;
    expect(disk.sizeBytes).toBe(1234);
    expect(disk.modifiedAt).toBeGreaterThan(0);
  });

  it('lists subdirectories, also through symlinks that stay inside', async () => {
    expect((await listPoolFiles(root, 'isos')).entries.map((e) => e.name)).toEqual(['a.iso', 'deep', 'rel-outside']);
    expect((await listPoolFiles(root, './isos//deep/')).path).toBe('isos/deep');
    expect((await listPoolFiles(root, 'inside-link')).entries.map((e) => e.name)).toContain('a.iso');
  });

  it('refuses .., absolute paths and symlinks that leave the root', async () => {
    expect(await reason(listPoolFiles(root, '../'))).toBe('PathEscape');
    expect(await reason(listPoolFiles(root, 'isos/../../secret'))).toBe('PathEscape');
    expect(await reason(listPoolFiles(root, '/etc'))).toBe('PathEscape');
    expect(await reason(listPoolFiles(root, 'outside-link'))).toBe('PathEscape');
    expect(await reason(listPoolFiles(root, 'isos/rel-outside'))).toBe('PathEscape');
    expect(await reason(listPoolFiles(root, 'a\0b'))).toBe('PathEscape');
  });

  it('reports missing paths and files as PathNotFound, and truncates at the limit', async () => {
    expect(await reason(listPoolFiles(root, 'nope'))).toBe('PathNotFound');
    expect(await reason(listPoolFiles(root, 'disk.qcow2'))).toBe('PathNotFound');
    expect(await reason(listPoolFiles(path.join(base, 'absent-pool'), ''))).toBe('PathNotFound');
    const l = await listPoolFiles(root, '', { limit: 2 });
    expect(l.entries).toHaveLength(2);
    expect(l.truncated).toBe(true);
  });
});

describe('spec validation', () => {
  it('splits pool-relative paths', () => {
    expect(poolRelativeSegments('')).toEqual([]);
    expect(poolRelativeSegments('a/./b//c/')).toEqual(['a', 'b', 'c']);
    expect(() => poolRelativeSegments('a/../b')).toThrow(/".." is not allowed/);
  });

  it('refuses bad domain and pool specs with InvalidSpec', () => {
    const ok = {
      uuid: '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c01',
      name: 'vm',
      vcpus: 1,
      memoryBytes: 64 * 1024 * 1024,
      disks: [],
      networks: [],
      owner: { namespace: 'ns', name: 'vm' },
    };
    expect(() => validateDomainSpec(ok)).not.toThrow();
    for (const bad of [
      { ...ok, uuid: 'nope' },
      { ...ok, uuid: '00000000-0000-0000-0000-000000000000' },
      { ...ok, name: 'has space' },
      { ...ok, vcpus: 0 },
      { ...ok, memoryBytes: 1024 },
      { ...ok, disks: [{ path: 'relative.qcow2' }] },
      { ...ok, networks: [{ type: 'user' as const, mac: 'zz' }] },
      { ...ok, owner: { namespace: '', name: 'x' } },
    ]) {
      expect(() => validateDomainSpec(bad)).toThrow(expect.objectContaining({ reason: 'InvalidSpec' }));
    }
    expect(() => validatePoolSpec({ name: 'p', type: 'dir', targetPath: '/' })).toThrow(expect.objectContaining({ reason: 'InvalidSpec' }));
    expect(() => validatePoolSpec({ name: 'p', type: 'nfs', targetPath: '/mnt/p', source: { host: 'bad host', dir: '/x' } })).toThrow(
      expect.objectContaining({ reason: 'InvalidSpec' }),
    );
    expect(() => validatePoolSpec({ name: 'p', type: 'iscsi', targetPath: '/mnt/p' } as never)).toThrow(expect.objectContaining({ reason: 'Unsupported' }));
  });
});
