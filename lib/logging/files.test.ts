import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { logFilesOf, parseByteSize, RotatingFile } from './files.js';
import { eventually } from '../../hack/testenv/eventually.js';

describe('log files', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'qx-logfiles-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('appends lines, each ending with a newline, and keeps them across reopening', async () => {
    const path = join(dir, 'apiserver.log');
    const first = new RotatingFile(path, { maxBytes: 1024, maxFiles: 2 });
    first.write('{"n":1}');
    first.write('{"n":2}\n');
    await first.close();
    const second = new RotatingFile(path, { maxBytes: 1024, maxFiles: 2 });
    second.write('{"n":3}');
    second.flush();
    expect(readFileSync(path, 'utf8')).toBe('{"n":1}\n{"n":2}\n{"n":3}\n');
    await second.close();
  });

  it('writes the buffer to disk shortly after, without a flush', async () => {
    const path = join(dir, 'agent.log');
    const file = new RotatingFile(path, { maxBytes: 1024, maxFiles: 1 });
    file.write('line');
    await eventually(() => readFileSync(path, 'utf8') === 'line\n', { timeoutMs: 5_000, message: 'the buffered line on disk' });
    await file.close();
    expect(() => file.write('late')).toThrow(/is closed/);
  });

  it('rotates by size: current → .1 → .2, drops the oldest past maxFiles, keeps disk use within the bound', async () => {
    const maxBytes = 1000;
    const maxFiles = 3;
    const file = new RotatingFile(join(dir, 'audit.log'), { maxBytes, maxFiles });
    // 10 KB of numbered lines, ten times the size of one file: several rotations, in bursts.
    const line = (n: number) => JSON.stringify({ n, pad: 'x'.repeat(40) });
    for (let n = 0; n < 200; n++) {
      file.write(line(n));
      if (n % 7 === 0) file.flush();
    }
    await file.close();

    const files = logFilesOf(dir, 'audit');
    expect(files.map((path) => basename(path))).toEqual(['audit.log.3', 'audit.log.2', 'audit.log.1', 'audit.log']);
    const sizes = files.map((path) => statSync(path).size);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(maxBytes);
    expect(sizes.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(maxBytes * (maxFiles + 1));

    // Oldest first, no line lost or repeated inside what is kept, and the newest line is last.
    const numbers = files.flatMap((path) =>
      readFileSync(path, 'utf8')
        .trimEnd()
        .split('\n')
        .map((text) => (JSON.parse(text) as { n: number }).n),
    );
    expect(numbers.at(-1)).toBe(199);
    expect(numbers).toEqual(numbers.map((_, i) => numbers[0]! + i));
    // Each rotated file was full: the next line would not have fitted.
    for (const path of files.slice(0, -1)) expect(statSync(path).size + line(0).length + 1).toBeGreaterThan(maxBytes);
  });

  it('with maxFiles 0 keeps only the current file', async () => {
    const file = new RotatingFile(join(dir, 'ui.log'), { maxBytes: 100, maxFiles: 0 });
    for (let n = 0; n < 20; n++) file.write(`line ${n} ${'y'.repeat(20)}`);
    await file.close();
    expect(logFilesOf(dir, 'ui').map((path) => basename(path))).toEqual(['ui.log']);
    expect(readFileSync(join(dir, 'ui.log'), 'utf8')).toMatch(/line 19 y+\n$/);
  });

  it('removes rotated files beyond a smaller bound than the last run had', async () => {
    for (const name of ['agent.log', 'agent.log.1', 'agent.log.2', 'agent.log.3', 'agent.log.4']) writeFileSync(join(dir, name), 'old\n');
    const file = new RotatingFile(join(dir, 'agent.log'), { maxBytes: 10, maxFiles: 2 });
    file.write('new line that rotates');
    await file.close();
    expect(logFilesOf(dir, 'agent').map((path) => basename(path))).toEqual(['agent.log.2', 'agent.log.1', 'agent.log']);
  });

  it('logFilesOf lists only the files of that base, in numeric order, and nothing for a missing directory', () => {
    for (const name of [
      'apiserver.log',
      'apiserver.log.1',
      'apiserver.log.10',
      'apiserver.log.2',
      'apiserver.log.x',
      'apiserver.log.01',
      'audit.log',
      'apiserver.logs',
    ])
      writeFileSync(join(dir, name), '');
    mkdirSync(join(dir, 'sub'));
    expect(logFilesOf(dir, 'apiserver').map((path) => basename(path))).toEqual(['apiserver.log.10', 'apiserver.log.2', 'apiserver.log.1', 'apiserver.log']);
    expect(logFilesOf(dir, 'apiserver')[0]).toBe(join(dir, 'apiserver.log.10'));
    expect(logFilesOf(join(dir, 'missing'), 'apiserver')).toEqual([]);
  });

  it('rejects bad limits', () => {
    expect(() => new RotatingFile(join(dir, 'a.log'), { maxBytes: 0, maxFiles: 1 })).toThrow(/maxBytes must be a positive integer/);
    expect(() => new RotatingFile(join(dir, 'a.log'), { maxBytes: 10, maxFiles: -1 })).toThrow(/maxFiles must be an integer/);
  });

  it.each([
    ['4096', 4096],
    ['1Ki', 1024],
    ['10Mi', 10 * 1024 * 1024],
    ['2Gi', 2 * 1024 ** 3],
  ])('parses the size %s', (text, bytes) => {
    expect(parseByteSize(text)).toBe(bytes);
  });

  it.each(['', '10MB', '1.5Mi', '-1', '0', 'Mi'])('rejects the size %j', (text) => {
    expect(() => parseByteSize(text)).toThrow(/invalid size/);
  });
});
