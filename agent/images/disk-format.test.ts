/** What a file is (pure): qemu-img's verdict plus the first-sector rule for raw. */
import { classifyDiskImage, convertedSizeEstimate, type QemuImgInfo, qcow2HeaderRefusal, textKind } from './disk-format.js';
import { ImageImportError } from './errors.js';

const URL = 'http://127.0.0.1:1/i.img';
const bootSector = (): Uint8Array => {
  const b = new Uint8Array(512);
  b.set([0xeb, 0x63, 0x90], 0);
  b[510] = 0x55;
  b[511] = 0xaa;
  return b;
};
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const raw = (size: number): QemuImgInfo => ({ format: 'raw', 'virtual-size': size, 'actual-size': size });
const qcow2 = (extra: Partial<QemuImgInfo> = {}): QemuImgInfo => ({ format: 'qcow2', 'virtual-size': 1 << 30, 'actual-size': 1 << 20, ...extra });

function reasonOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ImageImportError);
    return `${(err as ImageImportError).reason}: ${(err as ImageImportError).message}`;
  }
  return 'accepted';
}

describe('textKind', () => {
  it.each<[string, Uint8Array, ReturnType<typeof textKind>]>([
    ['an HTML error page', text('<!DOCTYPE html>\n<html><body>404</body></html>'), 'html'],
    ['HTML with a BOM and leading blanks', text('\ufeff  \n<html>'), 'html'],
    ['XML', text('<?xml version="1.0"?><Error><Code>AccessDenied</Code></Error>'), 'html'],
    ['JSON', text('{"error":"forbidden"}'), 'text'],
    ['UTF-8 prose', text('Ceci n’est pas une image — 🙂\n'), 'text'],
    ['a boot sector', bootSector(), undefined],
    ['zeros', new Uint8Array(512), undefined],
    ['bytes that are not UTF-8', new Uint8Array(512).fill(0xff), undefined],
    ['text with a control character', text('abc\u0001def'), undefined],
    ['nothing', new Uint8Array(0), undefined],
  ])('%s', (_name, head, kind) => {
    expect(textKind(head)).toBe(kind);
  });
  it('a multi-byte character cut at the end of the sector is still text', () => {
    const s = text('é'.repeat(256)); // 512 bytes of 2-byte characters
    const cut = new Uint8Array(513);
    cut.set(text('a'), 0);
    cut.set(s.subarray(0, 512), 1);
    expect(textKind(cut)).toBe('text');
  });
});

describe('classifyDiskImage', () => {
  it.each<[string, QemuImgInfo, { sizeBytes: number; head: Uint8Array; contentType?: string }, 'qcow2' | 'raw' | undefined, string]>([
    ['qcow2', qcow2(), { sizeBytes: 1 << 20, head: text('QFI') }, undefined, 'accepted'],
    ['qcow2 declared qcow2', qcow2(), { sizeBytes: 1 << 20, head: text('QFI') }, 'qcow2', 'accepted'],
    ['raw disk', raw(1 << 20), { sizeBytes: 1 << 20, head: bootSector() }, 'raw', 'accepted'],
    ['raw of zeros', raw(4096), { sizeBytes: 4096, head: new Uint8Array(512) }, undefined, 'accepted'],
    [
      'qcow2 with a backing file',
      qcow2({ 'backing-filename': '/etc/shadow', 'full-backing-filename': '/etc/shadow' }),
      { sizeBytes: 1 << 20, head: text('QFI') },
      undefined,
      `BackingFileRefused: ${URL} is a qcow2 image with a backing file; only self-contained images are imported`,
    ],
    [
      'qcow2 with an external data file',
      qcow2({ 'format-specific': { type: 'qcow2', data: { 'data-file': '/dev/sda' } } }),
      { sizeBytes: 1 << 20, head: text('QFI') },
      undefined,
      `BackingFileRefused: ${URL} is a qcow2 image with an external data file; only self-contained images are imported`,
    ],
    [
      'encrypted qcow2',
      qcow2({ encrypted: true }),
      { sizeBytes: 1 << 20, head: text('QFI') },
      undefined,
      `NotADiskImage: ${URL} is an encrypted qcow2 image, which cannot be imported`,
    ],
    [
      'corrupt qcow2',
      qcow2({ 'format-specific': { type: 'qcow2', data: { corrupt: true } } }),
      { sizeBytes: 1 << 20, head: text('QFI') },
      undefined,
      `NotADiskImage: ${URL} is a qcow2 image marked corrupt`,
    ],
    [
      'vmdk',
      { format: 'vmdk', 'virtual-size': 1 },
      { sizeBytes: 512, head: text('KDMV') },
      undefined,
      `NotADiskImage: ${URL} is a vmdk image; only qcow2 and raw images are imported`,
    ],
    ['empty', raw(0), { sizeBytes: 0, head: new Uint8Array(0) }, undefined, `NotADiskImage: ${URL} is empty`],
    [
      'an HTML page of whole sectors',
      raw(1024),
      { sizeBytes: 1024, head: text('<html><body>Sign in</body></html>'), contentType: 'text/html; charset=utf-8' },
      'raw',
      `NotADiskImage: ${URL} is an HTML page (served as text/html), not a disk image (1024 bytes)`,
    ],
    [
      'binary, not whole sectors',
      raw(1000),
      { sizeBytes: 1000, head: bootSector() },
      undefined,
      `NotADiskImage: ${URL} is not a disk image: its size, 1000 bytes, is not a whole number of 512-byte sectors`,
    ],
    ['raw declared qcow2', raw(4096), { sizeBytes: 4096, head: bootSector() }, 'qcow2', `FormatMismatch: ${URL} was declared qcow2 but is raw`],
    ['qcow2 declared raw', qcow2(), { sizeBytes: 1 << 20, head: text('QFI') }, 'raw', `FormatMismatch: ${URL} was declared raw but is qcow2`],
  ])('%s', (_name, info, file, declared, verdict) => {
    expect(reasonOf(() => classifyDiskImage(info, file, declared, URL))).toBe(verdict);
  });
  it('names a path source in details.path, a URL in details.url', () => {
    expect.assertions(2);
    try {
      classifyDiskImage(raw(0), { sizeBytes: 0, head: new Uint8Array(0) }, undefined, '/pool/x.img');
    } catch (err) {
      expect((err as ImageImportError).details).toEqual({ path: '/pool/x.img' });
      expect((err as ImageImportError).retryable).toBe(false);
    }
  });
  it('returns the facts of an accepted image', () => {
    expect(classifyDiskImage(qcow2(), { sizeBytes: 5, head: text('QFI') }, undefined, URL)).toEqual({
      format: 'qcow2',
      virtualSize: 1 << 30,
      actualSize: 1 << 20,
    });
  });
});

describe('qcow2HeaderRefusal', () => {
  function header(opts: { version?: number; backingOffset?: bigint; incompatible?: bigint; crypt?: number }): Uint8Array {
    const b = new Uint8Array(104);
    const v = new DataView(b.buffer);
    v.setUint32(0, 0x514649fb);
    v.setUint32(4, opts.version ?? 3);
    v.setBigUint64(8, opts.backingOffset ?? 0n);
    v.setUint32(32, opts.crypt ?? 0);
    v.setBigUint64(72, opts.incompatible ?? 0n);
    return b;
  }
  it('passes a plain qcow2 header and anything that is not qcow2', () => {
    expect(qcow2HeaderRefusal(header({}), URL)).toBeUndefined();
    expect(qcow2HeaderRefusal(header({ version: 2, incompatible: 4n }), URL)).toBeUndefined(); // v2 has no feature bits
    expect(qcow2HeaderRefusal(bootSector(), URL)).toBeUndefined();
  });
  it('refuses a backing file, an external data file and encryption before qemu-img opens the file', () => {
    expect(qcow2HeaderRefusal(header({ backingOffset: 512n }), URL)?.reason).toBe('BackingFileRefused');
    expect(qcow2HeaderRefusal(header({ incompatible: 4n }), URL)?.message).toMatch(/external data file/);
    expect(qcow2HeaderRefusal(header({ crypt: 1 }), URL)?.reason).toBe('NotADiskImage');
  });
});

describe('convertedSizeEstimate', () => {
  it('allocated bytes plus qcow2 metadata for the virtual size plus 1 MiB', () => {
    expect(convertedSizeEstimate({ format: 'raw', virtualSize: 64 << 20, actualSize: 10 << 20 })).toBe((10 << 20) + 1024 * 10 + (1 << 20));
  });
});
