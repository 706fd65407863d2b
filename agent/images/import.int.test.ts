/**
 * importImage against a real HTTP server on 127.0.0.1 (node:http: Range/206/If-Range/ETag,
 * dropped connections, stalls, redirects) and the real qemu-img. Images are made here with
 * qemu-img and qemu-io; results are checked with `qemu-img compare`. No other address is contacted.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, linkSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { eventually } from '../../hack/testenv/eventually.js';
import { writeState } from './download.js';
import { ImageImportError } from './errors.js';
import { importImage, type ImportImageOptions, type ImportImageResult } from './import.js';
import type { ImportProgress } from './progress.js';
import { sourceKey } from './resume.js';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;

interface Served {
  body: Buffer;
  etag?: string;
  lastModified?: string;
  /** false: Range is ignored (always 200 with the whole body). */
  ranges?: boolean;
  /** Close the connection once the file's first N bytes were sent (next request: normal)… */
  dropOnceAt?: number;
  /** …and, when set, once this holds too (polled), e.g. the client has written them. */
  dropWhen?: () => boolean;
  /** Send the first N bytes and then nothing (until the server stops). */
  stallAt?: number;
  contentType?: string;
  /** Redirect to this URL. */
  redirect?: string;
}

interface SeenRequest {
  path: string;
  status: number;
  range?: string;
  ifRange?: string;
  authorization?: string;
}

/** A static file server with the HTTP range semantics an image server has (RFC 9110 14). */
class ImageServer {
  readonly files = new Map<string, Served>();
  readonly requests: SeenRequest[] = [];
  readonly #sockets = new Set<Socket>();
  readonly #server = http.createServer((req, res) => this.#handle(req, res));
  port = 0;

  async start(): Promise<void> {
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    await new Promise<void>((resolve) => this.#server.listen(0, '127.0.0.1', resolve));
    this.port = (this.#server.address() as AddressInfo).port;
  }

  url(p: string): string {
    return `http://127.0.0.1:${this.port}${p}`;
  }

  requestsFor(p: string): SeenRequest[] {
    return this.requests.filter((r) => r.path === p);
  }

  async stop(): Promise<void> {
    for (const socket of this.#sockets) socket.destroy();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const p = new URL(req.url ?? '/', 'http://x').pathname;
    const f = this.files.get(p);
    const seen: SeenRequest = {
      path: p,
      status: 0,
      range: req.headers.range,
      ifRange: req.headers['if-range'] as string | undefined,
      authorization: req.headers.authorization,
    };
    this.requests.push(seen);
    const answer = (status: number, headers: http.OutgoingHttpHeaders, body?: Buffer | string) => {
      seen.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    if (!f) return answer(404, { 'content-type': 'text/html' }, '<html><body>Not Found</body></html>');
    if (f.redirect) return answer(302, { location: f.redirect, 'content-length': 0 });
    const size = f.body.length;
    let start = 0;
    let status = 200;
    const headers: http.OutgoingHttpHeaders = { 'content-type': f.contentType ?? 'application/octet-stream' };
    if (f.etag) headers.etag = f.etag;
    if (f.lastModified) headers['last-modified'] = f.lastModified;
    if (f.ranges !== false) {
      headers['accept-ranges'] = 'bytes';
      const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      const ifRange = req.headers['if-range'];
      const validatorMatches = ifRange === undefined || ifRange === f.etag || ifRange === f.lastModified;
      if (m && validatorMatches) {
        start = Number(m[1]);
        if (start >= size) return answer(416, { 'content-range': `bytes */${size}` });
        status = 206;
        headers['content-range'] = `bytes ${start}-${size - 1}/${size}`;
      }
    }
    headers['content-length'] = size - start;
    seen.status = status;
    res.writeHead(status, headers);
    const body = f.body.subarray(start);
    const cut = f.dropOnceAt ?? f.stallAt;
    if (cut !== undefined && cut > start) {
      const stall = f.stallAt !== undefined;
      f.dropOnceAt = undefined;
      const when = f.dropWhen ?? (() => true);
      res.write(body.subarray(0, cut - start), () => {
        if (stall) return;
        eventually(when, { message: 'the client received the bytes sent before the drop' }).then(
          () => res.socket?.destroy(),
          () => res.socket?.destroy(),
        );
      });
      return;
    }
    res.end(body);
  }
}

/** The import into dest/name has written `bytes` into its .part. */
const partHas = (dest: string, name: string, bytes: number) => (): boolean => {
  const part = path.join(dest, `.${name}.part`);
  return existsSync(part) && statSync(part).size === bytes;
};

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function rejection(p: Promise<unknown>): Promise<ImageImportError> {
  const err = await p.then(
    () => new Error('expected the import to fail'),
    (e: unknown) => e,
  );
  if (!(err instanceof ImageImportError)) throw err;
  return err;
}

describe('importImage', () => {
  const server = new ImageServer();
  let base: string;
  let qcow2: Buffer;
  let raw: Buffer;
  let overlay: Buffer;
  let qcow2File: string;
  let rawFile: string;
  let n = 0;
  /** A fresh destination directory per test. */
  const newDest = (): string => {
    const dir = path.join(base, `dest-${++n}`);
    mkdirSync(dir);
    return dir;
  };

  beforeAll(async () => {
    base = mkdtempSync(path.join(os.tmpdir(), 'qx-images-'));
    // qcow2: 16 MiB virtual, 3 MiB of data.
    qcow2File = path.join(base, 'src.qcow2');
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2File, '16M']);
    await execFileP('qemu-io', ['-c', 'write -P 0xab 1M 2M', '-c', 'write -P 0x5a 12M 1M', qcow2File]);
    qcow2 = readFileSync(qcow2File);
    // raw: 8 MiB, a boot-sector-like start, 3 MiB of random data, zeros elsewhere.
    raw = Buffer.alloc(8 * MiB);
    raw.set([0xeb, 0x63, 0x90], 0);
    raw[510] = 0x55;
    raw[511] = 0xaa;
    for (let i = 1 * MiB; i < 4 * MiB; i += 4) raw.writeUInt32LE((Math.imul(i, 2654435761) ^ (i >>> 7)) >>> 0, i);
    rawFile = path.join(base, 'src.raw');
    writeFileSync(rawFile, raw);
    // A qcow2 whose backing file is a host path.
    const overlayFile = path.join(base, 'overlay.qcow2');
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', qcow2File, '-F', 'qcow2', overlayFile]);
    overlay = readFileSync(overlayFile);
    await server.start();
  });

  afterAll(async () => {
    await server.stop();
    rmSync(base, { recursive: true, force: true });
  });

  beforeEach(() => {
    server.files.clear();
    server.requests.length = 0;
  });

  /** The result is a self-contained qcow2 with the source's content, and nothing else is left in the directory. */
  async function expectImported(result: ImportImageResult, dest: string, name: string, source: string, sourceFormat: 'qcow2' | 'raw'): Promise<void> {
    expect(result.path).toBe(path.join(dest, name));
    expect(result.format).toBe('qcow2');
    expect(result.sourceFormat).toBe(sourceFormat);
    const { stdout } = await execFileP('qemu-img', ['info', '--output=json', result.path]);
    const info = JSON.parse(stdout) as { format: string; 'virtual-size': number; 'backing-filename'?: string };
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBeUndefined();
    expect(result.sizeBytes).toBe(info['virtual-size']);
    expect(result.fileBytes).toBe(statSync(result.path).size);
    await execFileP('qemu-img', ['compare', '-q', '-f', sourceFormat, '-F', 'qcow2', source, result.path]);
    expect(readdirSync(dest)).toEqual([name]);
  }

  it('downloads a qcow2 image, verifies its checksum and converts it, reporting progress', async () => {
    server.files.set('/debian.qcow2', { body: qcow2, etag: '"v1"' });
    const dest = newDest();
    const events: ImportProgress[] = [];
    const result = await importImage({
      source: { url: server.url('/debian.qcow2') },
      sha256: sha256(qcow2).toUpperCase(),
      format: 'qcow2',
      destDir: dest,
      destName: 'debian.qcow2',
      onProgress: (p) => events.push(p),
    });
    expect(result.sha256).toBe(sha256(qcow2));
    expect(result.resumed).toBe(false);
    expect(result.sizeBytes).toBe(16 * MiB);
    await expectImported(result, dest, 'debian.qcow2', qcow2File, 'qcow2');
    const phases = [...new Set(events.map((e) => e.phase))];
    expect(phases).toEqual(['Downloading', 'Verifying', 'Converting']);
    expect(events.filter((e) => e.phase === 'Downloading').at(-1)).toEqual({
      phase: 'Downloading',
      bytesDone: qcow2.length,
      bytesTotal: qcow2.length,
      percent: 100,
    });
    expect(events.at(-1)).toMatchObject({ phase: 'Converting', percent: 100 });
    expect(statSync(result.path).mode & 0o777).toBe(0o644);
  });

  it('converts a raw image to qcow2 (checksum of the raw bytes verified)', async () => {
    server.files.set('/disk.img', { body: raw, lastModified: 'Tue, 01 Dec 2026 10:00:00 GMT' });
    const dest = newDest();
    const result = await importImage({ source: { url: server.url('/disk.img') }, sha256: sha256(raw), format: 'raw', destDir: dest, destName: 'disk.qcow2' });
    expect(result).toMatchObject({ sha256: sha256(raw), sourceFormat: 'raw', sizeBytes: raw.length, resumed: false });
    await expectImported(result, dest, 'disk.qcow2', rawFile, 'raw');
    // Zeros are not stored: the qcow2 is smaller than the raw image.
    expect(result.fileBytes).toBeLessThan(raw.length);
  });

  it('resumes an interrupted download with a Range request (If-Range: the ETag) and gets the right checksum', async () => {
    const dest = newDest();
    server.files.set('/r.img', { body: raw, etag: '"r1"', dropOnceAt: 2 * MiB, dropWhen: partHas(dest, 'r.qcow2', 2 * MiB) });
    const opts: ImportImageOptions = { source: { url: server.url('/r.img') }, sha256: sha256(raw), destDir: dest, destName: 'r.qcow2' };
    const first = await rejection(importImage(opts));
    expect(first.reason).toBe('Unreachable');
    expect(first.retryable).toBe(true);
    expect(first.message).toContain(server.url('/r.img'));
    const kept = statSync(path.join(dest, '.r.qcow2.part')).size;
    expect(kept).toBe(2 * MiB);
    expect(existsSync(path.join(dest, 'r.qcow2'))).toBe(false);

    const result = await importImage(opts);
    expect(result.resumed).toBe(true);
    expect(result.sha256).toBe(sha256(raw));
    expect(server.requestsFor('/r.img')).toEqual([
      { path: '/r.img', status: 200, range: undefined, ifRange: undefined, authorization: undefined },
      { path: '/r.img', status: 206, range: `bytes=${kept}-`, ifRange: '"r1"', authorization: undefined },
    ]);
    await expectImported(result, dest, 'r.qcow2', rawFile, 'raw');
  });

  it('starts over when the server ignores Range (200), and when the file changed (If-Range does not match)', async () => {
    const dest = newDest();
    server.files.set('/norange.img', { body: raw, etag: '"n1"', ranges: false, dropOnceAt: 1 * MiB, dropWhen: partHas(dest, 'n.qcow2', MiB) });
    const opts: ImportImageOptions = { source: { url: server.url('/norange.img') }, destDir: dest, destName: 'n.qcow2' };
    expect((await rejection(importImage(opts))).reason).toBe('Unreachable');
    const result = await importImage(opts);
    expect(result.resumed).toBe(false);
    expect(result.sha256).toBe(sha256(raw));
    expect(server.requestsFor('/norange.img').map((r) => [r.status, r.range])).toEqual([
      [200, undefined],
      [200, `bytes=${MiB}-`],
    ]);
    await expectImported(result, dest, 'n.qcow2', rawFile, 'raw');

    // A new version of the file between the two attempts: the server answers the If-Range with the whole new file.
    const dest2 = newDest();
    server.files.set('/changing.img', { body: raw, etag: '"old"', dropOnceAt: 1 * MiB, dropWhen: partHas(dest2, 'c.qcow2', MiB) });
    const opts2: ImportImageOptions = { source: { url: server.url('/changing.img') }, destDir: dest2, destName: 'c.qcow2' };
    expect((await rejection(importImage(opts2))).reason).toBe('Unreachable');
    server.files.set('/changing.img', { body: qcow2, etag: '"new"' });
    const changed = await importImage(opts2);
    expect(changed).toMatchObject({ resumed: false, sha256: sha256(qcow2), sourceFormat: 'qcow2' });
    expect(server.requestsFor('/changing.img').map((r) => [r.status, r.ifRange])).toEqual([
      [200, undefined],
      [200, '"old"'],
    ]);
  });

  it('does not resume without a validator or a checksum (two versions could mix)', async () => {
    const dest = newDest();
    server.files.set('/plain.img', { body: raw, dropOnceAt: 1 * MiB, dropWhen: partHas(dest, 'p.qcow2', MiB) });
    const opts: ImportImageOptions = { source: { url: server.url('/plain.img') }, destDir: dest, destName: 'p.qcow2' };
    await rejection(importImage(opts));
    const result = await importImage(opts);
    expect(result.resumed).toBe(false);
    expect(server.requestsFor('/plain.img').map((r) => r.range)).toEqual([undefined, undefined]);
  });

  it('404: HTTPError naming the URL (without its credentials) and the status; Basic auth sent', async () => {
    const dest = newDest();
    const url = `http://alice:s3cret@127.0.0.1:${server.port}/missing.qcow2?token=abc123`;
    const err = await rejection(importImage({ source: { url }, destDir: dest, destName: 'm.qcow2' }));
    expect(err.reason).toBe('HTTPError');
    expect(err.retryable).toBe(false);
    expect(err.details.httpStatus).toBe(404);
    expect(err.message).toBe(`GET ${server.url('/missing.qcow2')}: HTTP 404 Not Found`);
    expect(JSON.stringify(err)).not.toMatch(/s3cret|abc123|alice/);
    expect(server.requests[0]!.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(readdirSync(dest)).toEqual([]);
  });

  it('follows redirects; Authorization goes to the same origin only', async () => {
    const other = new ImageServer();
    await other.start();
    try {
      other.files.set('/cdn/i.qcow2', { body: qcow2 });
      server.files.set('/i.qcow2', { body: Buffer.alloc(0), redirect: other.url('/cdn/i.qcow2') });
      const dest = newDest();
      const url = `http://u:p@127.0.0.1:${server.port}/i.qcow2`;
      const result = await importImage({ source: { url }, sha256: sha256(qcow2), destDir: dest, destName: 'i.qcow2' });
      expect(result.sha256).toBe(sha256(qcow2));
      expect(server.requests[0]!.authorization).toMatch(/^Basic /);
      expect(other.requests[0]!.authorization).toBeUndefined();
    } finally {
      await other.stop();
    }
  });

  it('connection refused: Unreachable, retryable', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const err = await rejection(importImage({ source: { url: `http://127.0.0.1:${port}/x.img` }, destDir: newDest(), destName: 'x.qcow2' }));
    expect(err.reason).toBe('Unreachable');
    expect(err.retryable).toBe(true);
    expect(err.message).toBe(`download of http://127.0.0.1:${port}/x.img failed: connection refused (ECONNREFUSED)`);
  });

  it('checksum mismatch: no file under the final name and no .part', async () => {
    server.files.set('/bad.qcow2', { body: qcow2, etag: '"b"' });
    const dest = newDest();
    const wrong = 'f'.repeat(64);
    const err = await rejection(importImage({ source: { url: server.url('/bad.qcow2') }, sha256: wrong, destDir: dest, destName: 'bad.qcow2' }));
    expect(err.reason).toBe('ChecksumMismatch');
    expect(err.retryable).toBe(false);
    expect(err.message).toBe(`${server.url('/bad.qcow2')}: SHA-256 is ${sha256(qcow2)}, expected ${wrong}`);
    expect(readdirSync(dest)).toEqual([]);
  });

  it('an HTML body served with 200: NotADiskImage, .part deleted', async () => {
    const page = Buffer.from('<!DOCTYPE html><html><head><title>Sign in</title></head><body>'.padEnd(1024 - 14, ' ') + '</body></html>');
    expect(page.length).toBe(1024);
    server.files.set('/login.img', { body: page, contentType: 'text/html; charset=utf-8' });
    const dest = newDest();
    const err = await rejection(importImage({ source: { url: server.url('/login.img') }, destDir: dest, destName: 'l.qcow2' }));
    expect(err.reason).toBe('NotADiskImage');
    expect(err.message).toBe(`${server.url('/login.img')} is an HTML page (served as text/html), not a disk image (1024 bytes)`);
    expect(readdirSync(dest)).toEqual([]);
  });

  it('a qcow2 with a backing file is refused', async () => {
    server.files.set('/overlay.qcow2', { body: overlay });
    const dest = newDest();
    const err = await rejection(importImage({ source: { url: server.url('/overlay.qcow2') }, destDir: dest, destName: 'o.qcow2' }));
    expect(err.reason).toBe('BackingFileRefused');
    expect(readdirSync(dest)).toEqual([]);
  });

  it('declared raw but qcow2: FormatMismatch', async () => {
    server.files.set('/q.img', { body: qcow2 });
    const err = await rejection(importImage({ source: { url: server.url('/q.img') }, format: 'raw', destDir: newDest(), destName: 'q.qcow2' }));
    expect(err.reason).toBe('FormatMismatch');
    expect(err.message).toBe(`${server.url('/q.img')} was declared raw but is qcow2`);
  });

  it('more than maxBytes: TooLarge, nothing kept', async () => {
    server.files.set('/big.img', { body: raw });
    const dest = newDest();
    const err = await rejection(importImage({ source: { url: server.url('/big.img') }, maxBytes: MiB, destDir: dest, destName: 'b.qcow2' }));
    expect(err.reason).toBe('TooLarge');
    expect(readdirSync(dest)).toEqual([]);
  });

  it('an abort keeps the .part, and the next import resumes from it', async () => {
    server.files.set('/slow.img', { body: raw, etag: '"s"', stallAt: 3 * MiB });
    const dest = newDest();
    const part = path.join(dest, '.slow.qcow2.part');
    const controller = new AbortController();
    const opts: ImportImageOptions = { source: { url: server.url('/slow.img') }, destDir: dest, destName: 'slow.qcow2' };
    const progress: number[] = [];
    const running = rejection(importImage({ ...opts, signal: controller.signal, onProgress: (p) => progress.push(p.bytesDone) }));
    await eventually(() => existsSync(part) && statSync(part).size === 3 * MiB, { message: 'the stalled download wrote 3 MiB' });
    // The bytes received before the stall are reported, though the throttle held them back.
    await eventually(() => progress.at(-1) === 3 * MiB, { message: 'progress shows the 3 MiB the stalled download got' });
    controller.abort();
    const err = await running;
    expect(err.reason).toBe('Aborted');
    expect(statSync(part).size).toBe(3 * MiB);
    expect(existsSync(path.join(dest, 'slow.qcow2'))).toBe(false);

    server.files.set('/slow.img', { body: raw, etag: '"s"' });
    const result = await importImage(opts);
    expect(result).toMatchObject({ resumed: true, sha256: sha256(raw) });
    expect(server.requestsFor('/slow.img').at(-1)).toMatchObject({ status: 206, range: `bytes=${3 * MiB}-` });
    await expectImported(result, dest, 'slow.qcow2', rawFile, 'raw');
  });

  it('NoSpace (statfs injected): before the download when the length is known, before converting for a file', async () => {
    server.files.set('/ns.img', { body: raw });
    const dest = newDest();
    const statfs = async () => ({ bavail: 100, bsize: 4096 });
    const err = await rejection(importImage({ source: { url: server.url('/ns.img') }, destDir: dest, destName: 'ns.qcow2', statfs }));
    expect(err.reason).toBe('NoSpace');
    expect(err.retryable).toBe(true);
    expect(err.details).toMatchObject({ path: dest, neededBytes: raw.length, availableBytes: 409600 });
    expect(err.message).toBe(`${dest} has 409600 bytes free; downloading ${server.url('/ns.img')} needs ${raw.length} more`);

    const err2 = await rejection(importImage({ source: { filePath: rawFile }, destDir: dest, destName: 'ns.qcow2', statfs }));
    expect(err2.reason).toBe('NoSpace');
    expect(err2.message).toMatch(new RegExp(`^${dest} has 409600 bytes free; the converted image of ${rawFile} needs about \\d+`));
    expect(readdirSync(dest)).toEqual([]);
  });

  it('file sources: verified, detected and converted in place of a download; the source is left alone', async () => {
    const dest = newDest();
    const events: ImportProgress[] = [];
    const result = await importImage({
      source: { filePath: rawFile },
      sha256: sha256(raw),
      destDir: dest,
      destName: 'f.qcow2',
      onProgress: (p) => events.push(p),
    });
    expect(result).toMatchObject({ sha256: sha256(raw), sourceFormat: 'raw', resumed: false });
    await expectImported(result, dest, 'f.qcow2', rawFile, 'raw');
    expect(events[0]).toEqual({ phase: 'Verifying', bytesDone: 0, bytesTotal: raw.length, percent: 0 });
    expect(readFileSync(rawFile).equals(raw)).toBe(true);

    const missing = await rejection(importImage({ source: { filePath: path.join(base, 'nope.img') }, destDir: dest, destName: 'g.qcow2' }));
    expect(missing.reason).toBe('SourceNotFound');
    expect(missing.message).toBe(`${path.join(base, 'nope.img')} does not exist`);

    const mismatch = await rejection(importImage({ source: { filePath: rawFile }, sha256: 'a'.repeat(64), destDir: dest, destName: 'g.qcow2' }));
    expect(mismatch.reason).toBe('ChecksumMismatch');
    expect(existsSync(rawFile)).toBe(true);
  });

  it('never replaces a file under the final name; finishes the clean-up of a run cut short after publishing', async () => {
    server.files.set('/once.qcow2', { body: qcow2, etag: '"o"' });
    const dest = newDest();
    const opts: ImportImageOptions = { source: { url: server.url('/once.qcow2') }, destDir: dest, destName: 'once.qcow2' };
    const result = await importImage(opts);
    const again = await rejection(importImage(opts));
    expect(again.reason).toBe('AlreadyExists');
    expect(again.message).toBe(`${path.join(dest, 'once.qcow2')} already exists; an import never replaces a file`);

    // The state a crash between the hard link and the clean-up leaves: temps, and a sidecar recording the published inode.
    const final = path.join(dest, 'once.qcow2');
    linkSync(final, path.join(dest, '.once.qcow2.converting'));
    writeFileSync(path.join(dest, '.once.qcow2.part'), qcow2);
    await writeState(path.join(dest, '.once.qcow2.part.json'), {
      version: 1,
      source: sourceKey(server.url('/once.qcow2')),
      complete: true,
      imported: { ino: statSync(final).ino, sha256: result.sha256, sourceFormat: 'qcow2', sizeBytes: result.sizeBytes, fileBytes: result.fileBytes },
    });
    const requestsBefore = server.requests.length;
    const recovered = await importImage(opts);
    expect(recovered).toEqual({ ...result, resumed: true });
    expect(server.requests.length).toBe(requestsBefore);
    expect(readdirSync(dest)).toEqual(['once.qcow2']);
  });

  it('refuses bad requests before touching anything', async () => {
    const dest = newDest();
    const cases: [Partial<ImportImageOptions>, RegExp][] = [
      [{ destName: '../escape' }, /invalid destName/],
      [{ destName: '.hidden' }, /invalid destName/],
      [{ sha256: 'xyz' }, /sha256 must be 64 hexadecimal digits/],
      [{ source: { url: 'file:///etc/passwd' } }, /must be http or https, not file/],
    ];
    for (const [over, message] of cases) {
      const err = await rejection(importImage({ source: { url: server.url('/x') }, destDir: dest, destName: 'x.qcow2', ...over }));
      expect(err.reason).toBe('InvalidRequest');
      expect(err.message).toMatch(message);
    }
    expect(server.requests).toEqual([]);
  });
});
