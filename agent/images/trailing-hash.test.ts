import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startTrailingHash } from './trailing-hash.js';

const dir = mkdtempSync(path.join(tmpdir(), 'qx-trailing-hash-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

describe('startTrailingHash', () => {
  it('hashes a file from byte 0 while it is appended to, created after the hash started', async () => {
    const file = path.join(dir, 'growing.part');
    const hash = startTrailingHash(file);
    const pieces = [randomBytes(5_000_000), randomBytes(1), randomBytes(3 * 1024 * 1024 + 7)];
    writeFileSync(file, pieces[0]!);
    // Let the worker catch up with the writer (and wait for more) between appends.
    await new Promise((resolve) => setImmediate(resolve));
    appendFileSync(file, pieces[1]!);
    appendFileSync(file, pieces[2]!);
    const all = Buffer.concat(pieces);
    await expect(hash.finish(all.length)).resolves.toBe(sha256(all));
  });

  it('hashes a file that is already complete (a resumed download with nothing left to fetch)', async () => {
    const file = path.join(dir, 'complete.part');
    const data = randomBytes(1_234_567);
    writeFileSync(file, data);
    await expect(startTrailingHash(file).finish(data.length)).resolves.toBe(sha256(data));
  });

  it('an empty file', async () => {
    const file = path.join(dir, 'empty.part');
    writeFileSync(file, '');
    await expect(startTrailingHash(file).finish(0)).resolves.toBe(sha256(Buffer.alloc(0)));
  });

  it('fails when the file is shorter than the total given', async () => {
    const file = path.join(dir, 'short.part');
    writeFileSync(file, randomBytes(100));
    await expect(startTrailingHash(file).finish(101)).rejects.toThrow(/read 100 bytes of .*, 101 expected/);
  });

  it('fails when the file is longer than the total given (the writer only appends what it counted)', async () => {
    const file = path.join(dir, 'longer.part');
    writeFileSync(file, randomBytes(10_000));
    await expect(startTrailingHash(file).finish(4_000)).rejects.toThrow(/read 10000 bytes of .*, 4000 expected/);
  });

  it('cancel stops the worker: finish then fails, nothing is left running', async () => {
    const hash = startTrailingHash(path.join(dir, 'never-written.part'));
    await hash.cancel();
    await expect(hash.finish(0)).rejects.toThrow(/the worker stopped/);
  });
});
