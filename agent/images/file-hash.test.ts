/** hashFileInto: the hash of a prefix, the running count, a file shorter than asked for. */
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { hashFileInto } from './file-hash.js';

describe('hashFileInto', () => {
  let dir: string;
  let file: string;
  // Larger than one read (4 MiB), not a multiple of it.
  const content = Buffer.alloc(9 * 1024 * 1024 + 17, 0);
  for (let i = 0; i < content.length; i += 4093) content[i] = i % 251;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'qx-file-hash-'));
    file = path.join(dir, 'f');
    await writeFile(file, content);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it('hashes the whole file in reads of one buffer, reporting the running count', async () => {
    const seen: number[] = [];
    const hash = createHash('sha256');
    await hashFileInto(file, content.length, hash, { onBytes: (done) => seen.push(done) });
    expect(hash.digest('hex')).toBe(createHash('sha256').update(content).digest('hex'));
    expect(seen).toEqual([4 * 1024 * 1024, 8 * 1024 * 1024, content.length]);
  });

  it('hashes only the prefix asked for (a resumed .part), and nothing for 0 bytes', async () => {
    const hash = createHash('sha256');
    await hashFileInto(file, 1000, hash);
    expect(hash.digest('hex')).toBe(createHash('sha256').update(content.subarray(0, 1000)).digest('hex'));
    const empty = createHash('sha256');
    await hashFileInto(path.join(dir, 'missing'), 0, empty);
    expect(empty.digest('hex')).toBe(createHash('sha256').digest('hex'));
  });

  it('fails with EIO when the file is shorter than asked, and stops on an aborted signal', async () => {
    await expect(hashFileInto(file, content.length + 1, createHash('sha256'))).rejects.toMatchObject({ code: 'EIO' });
    await expect(hashFileInto(file, content.length, createHash('sha256'), { signal: AbortSignal.abort() })).rejects.toMatchObject({ name: 'AbortError' });
  });
});
