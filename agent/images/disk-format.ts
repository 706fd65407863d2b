/**
 * What a downloaded or pool file is (pure): qemu-img's verdict plus a look at the file's
 * first sector, because qemu-img calls any bytes it does not recognise "raw".
 *
 * Accepted:
 * - qcow2 without a backing file, without an external data file, not encrypted, not marked corrupt;
 * - raw, when the file is not empty, its size is a whole number of 512-byte sectors (a disk
 *   always is), and its first sector is not text. "Text" means the first 512 bytes decode as
 *   UTF-8 with no control characters but tab, CR, LF and FF: an HTML error page, a JSON or XML
 *   error, a redirect notice, a checksum list. A disk's first sector is a boot record, a
 *   partition table or file system data, which always has NUL bytes or bytes that are not UTF-8.
 * Everything else (vmdk, vdi, vhdx, qcow, luks… or text) is NotADiskImage; a qcow2 that could
 * reach other files is BackingFileRefused; the declared format, when given, must match.
 */
import { ImageImportError } from './errors.js';

export type DiskFormat = 'qcow2' | 'raw';

/** The fields of `qemu-img info --output=json` read here. */
export interface QemuImgInfo {
  format: string;
  'virtual-size': number;
  'actual-size'?: number;
  'backing-filename'?: string;
  'full-backing-filename'?: string;
  encrypted?: boolean;
  'format-specific'?: { type?: string; data?: { 'data-file'?: string; corrupt?: boolean; encrypt?: unknown } };
}

export interface DiskImageFacts {
  format: DiskFormat;
  /** The disk size the guest sees. */
  virtualSize: number;
  /** Bytes the file occupies on its file system (qemu-img's actual-size), the estimate of the converted size. */
  actualSize: number;
}

export const SECTOR_BYTES = 512;

/** 'html' or 'text' when the first bytes of a file are text, else undefined. */
export function textKind(head: Uint8Array): 'html' | 'text' | undefined {
  const sector = head.subarray(0, SECTOR_BYTES);
  if (sector.length === 0) return undefined;
  let text: string;
  try {
    // stream: a multi-byte character cut at the sector's end is not an error.
    text = new TextDecoder('utf-8', { fatal: true }).decode(sector, { stream: true });
  } catch {
    return undefined;
  }
  // biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find control characters
  if (/[\u0000-\u0008\u000b\u000e-\u001f\u007f]/.test(text)) return undefined;
  return /^\s*<(!doctype\s+html|html|head|body|\?xml)/i.test(text.replace(/^\ufeff/, '')) ? 'html' : 'text';
}

/**
 * The facts of an acceptable image, or the typed error that refuses it. `where` names the
 * source in messages (a redacted URL or a path); `contentType` is the server's, for the message only.
 */
export function classifyDiskImage(
  info: QemuImgInfo,
  file: { sizeBytes: number; head: Uint8Array; contentType?: string },
  declared: DiskFormat | undefined,
  where: string,
): DiskImageFacts {
  const details = where.includes('://') ? { url: where } : { path: where };
  const format = info.format;
  if (format === 'qcow2') {
    const backing = info['full-backing-filename'] ?? info['backing-filename'];
    if (backing !== undefined) {
      throw new ImageImportError('BackingFileRefused', `${where} is a qcow2 image with a backing file; only self-contained images are imported`, details);
    }
    if (info['format-specific']?.data?.['data-file'] !== undefined) {
      throw new ImageImportError(
        'BackingFileRefused',
        `${where} is a qcow2 image with an external data file; only self-contained images are imported`,
        details,
      );
    }
    if (info.encrypted || info['format-specific']?.data?.encrypt !== undefined) {
      throw new ImageImportError('NotADiskImage', `${where} is an encrypted qcow2 image, which cannot be imported`, details);
    }
    if (info['format-specific']?.data?.corrupt) {
      throw new ImageImportError('NotADiskImage', `${where} is a qcow2 image marked corrupt`, details);
    }
  } else if (format === 'raw') {
    if (file.sizeBytes === 0) throw new ImageImportError('NotADiskImage', `${where} is empty`, details);
    const kind = textKind(file.head);
    if (kind) {
      const served = file.contentType ? ` (served as ${file.contentType.split(';')[0]!.trim()})` : '';
      const what = kind === 'html' ? 'an HTML page' : 'text';
      throw new ImageImportError('NotADiskImage', `${where} is ${what}${served}, not a disk image (${file.sizeBytes} bytes)`, details);
    }
    if (file.sizeBytes % SECTOR_BYTES !== 0) {
      throw new ImageImportError(
        'NotADiskImage',
        `${where} is not a disk image: its size, ${file.sizeBytes} bytes, is not a whole number of ${SECTOR_BYTES}-byte sectors`,
        details,
      );
    }
  } else {
    throw new ImageImportError('NotADiskImage', `${where} is a ${format} image; only qcow2 and raw images are imported`, details);
  }
  if (declared !== undefined && declared !== format) {
    throw new ImageImportError('FormatMismatch', `${where} was declared ${declared} but is ${format}`, details);
  }
  return { format, virtualSize: info['virtual-size'], actualSize: info['actual-size'] ?? file.sizeBytes };
}

const QCOW_MAGIC = 0x514649fb; // "QFI\xfb"
const QCOW2_INCOMPAT_DATA_FILE = 4n;

/**
 * A look at a qcow2 header before qemu-img opens the file (defence in depth, as OpenStack's
 * format inspector does since CVE-2024-32498): a backing file offset, the external data file
 * feature bit, or an encryption method refuse the image whatever qemu-img would say. Returns
 * the refusal, or undefined for a header without them (or a file that is not qcow2).
 */
export function qcow2HeaderRefusal(head: Uint8Array, where: string): ImageImportError | undefined {
  if (head.length < 72) return undefined;
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  if (view.getUint32(0) !== QCOW_MAGIC) return undefined;
  const details = where.includes('://') ? { url: where } : { path: where };
  if (view.getBigUint64(8) !== 0n) {
    return new ImageImportError('BackingFileRefused', `${where} is a qcow2 image with a backing file; only self-contained images are imported`, details);
  }
  const version = view.getUint32(4);
  if (version >= 3 && head.length >= 80 && (view.getBigUint64(72) & QCOW2_INCOMPAT_DATA_FILE) !== 0n) {
    return new ImageImportError('BackingFileRefused', `${where} is a qcow2 image with an external data file; only self-contained images are imported`, details);
  }
  if (view.getUint32(32) !== 0) return new ImageImportError('NotADiskImage', `${where} is an encrypted qcow2 image, which cannot be imported`, details);
  return undefined;
}

/**
 * Bytes the converted qcow2 may need: the source's allocated bytes (qemu-img skips zeros, so
 * rarely more) plus qcow2 metadata — an 8-byte L2 entry and a 2-byte refcount per 64 KiB
 * cluster of virtual size — plus 1 MiB for headers and tables.
 */
export function convertedSizeEstimate(facts: DiskImageFacts): number {
  const clusters = Math.ceil(facts.virtualSize / 65536);
  return facts.actualSize + clusters * 10 + 1024 * 1024;
}
