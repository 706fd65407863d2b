/**
 * Imports a disk image (an http(s) URL or a file already on this host) into a directory — a
 * storage pool's target path — as a self-contained qcow2 under `destName`.
 *
 *   download ──> .<destName>.part (+ .part.json: source key, validators; resumable)
 *   verify   ──> SHA-256 (computed while streaming), qemu-img info + first-sector check
 *   convert  ──> .<destName>.converting (qemu-img convert -O qcow2), fsync
 *   publish  ──> hard link to <destName> (never replaces a file), fsync the directory, remove the temps
 *
 * The final name only ever holds a complete, fsynced image. Temp files live in `workDir`
 * (default: destDir; it must be the same file system so publishing is atomic).
 *
 * Kept on failure: the .part and its sidecar when retrying may use them (network errors,
 * aborts, NoSpace, HTTP 5xx). Deleted: them when they are known bad or useless (checksum
 * mismatch, not a disk image, format mismatch, backing file, too large, conversion failure,
 * a non-retryable HTTP status). The .converting file is always deleted. A `filePath` source
 * is only read, never modified or deleted.
 *
 * A restart that finds `<destName>` already there finishes the clean-up and returns the result
 * when the sidecar records that this import produced it (same inode); any other file there is
 * refused (AlreadyExists): a base image may have overlays on it and is never replaced.
 *
 * Callers run one import per destination at a time (the agent's work queue does).
 */
import { createHash } from 'node:crypto';
import { link, lstat, open, readFile, rename, rm, stat, statfs } from 'node:fs/promises';
import path from 'node:path';
import type { Dispatcher } from 'undici';
import { createLogger, type Logger } from '../../lib/logging/logger.js';
import { convertedSizeEstimate, type DiskFormat, type DiskImageFacts, classifyDiskImage, qcow2HeaderRefusal } from './disk-format.js';
import { downloadToPart, writeState } from './download.js';
import { ImageImportError } from './errors.js';
import { hashFileInto } from './file-hash.js';
import { type ImportProgress, ProgressThrottle, progressEvent } from './progress.js';
import { QemuImgFailure, qemuImgConvert, qemuImgInfo } from './qemu-img.js';
import { type PartState, parsePartState, sourceKey } from './resume.js';
import { type ImageUrl, parseImageUrl } from './url.js';

export type ImageSource = { url: string } | { filePath: string };

/** The subset of `fs.statfs`'s answer used for space checks (injectable in tests). */
export type StatFs = (dir: string) => Promise<{ bavail: number | bigint; bsize: number | bigint }>;

export interface ImportImageOptions {
  source: ImageSource;
  /** Expected SHA-256 (hex) of the source bytes as served or stored (before conversion). */
  sha256?: string;
  /** Declared source format; the detected one must match. */
  format?: DiskFormat;
  /** Where the image goes (a pool's target path). Must exist. */
  destDir: string;
  /** File name of the image in destDir: letters, digits, `.`, `_`, `-`, `+`; not starting with `.`. */
  destName: string;
  /** Where temp files go; default destDir. Must be on destDir's file system. */
  workDir?: string;
  signal?: AbortSignal;
  /** Progress, throttled to one call per 250 ms per phase plus each phase's first and last. */
  onProgress?: (p: ImportProgress) => void;
  /** Refuse sources larger than this many bytes (TooLarge). */
  maxBytes?: number;
  /** undici dispatcher for the download (proxy, custom CA, tests); default: a fresh Agent per import. */
  dispatcher?: Dispatcher;
  /** Default `fs.promises.statfs`. */
  statfs?: StatFs;
  logger?: Logger;
}

export interface ImportImageResult {
  /** destDir/destName */
  path: string;
  /** Virtual size: the disk size the guest sees. */
  sizeBytes: number;
  /** Size of the qcow2 file. */
  fileBytes: number;
  format: 'qcow2';
  sourceFormat: DiskFormat;
  /** SHA-256 of the source bytes (verified against `sha256` when given). */
  sha256: string;
  /** Work of an earlier, interrupted run was reused (a partial download, or a finished import whose clean-up was cut short). */
  resumed: boolean;
}

/** The temp files of an import of destName (also what `cleanupImport` removes). */
export function importTempPaths(workDir: string, destName: string): { part: string; state: string; converting: string } {
  return {
    part: path.join(workDir, `.${destName}.part`),
    state: path.join(workDir, `.${destName}.part.json`),
    converting: path.join(workDir, `.${destName}.converting`),
  };
}

/** Removes an import's temp files (an abandoned import: the Image or its pool assignment was deleted). Never the final image. */
export async function cleanupImport(opts: { destDir: string; destName: string; workDir?: string }): Promise<void> {
  const temps = importTempPaths(path.resolve(opts.workDir ?? opts.destDir), opts.destName);
  await Promise.all([temps.part, temps.state, `${temps.state}.tmp`, temps.converting].map((file) => rm(file, { force: true })));
}

const DEST_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,200}$/;
const SHA256 = /^[0-9a-fA-F]{64}$/;

/** Reasons after which the .part (and its sidecar) is useless: delete it, the next attempt starts over. */
function discardsPart(err: ImageImportError): boolean {
  switch (err.reason) {
    case 'ChecksumMismatch':
    case 'NotADiskImage':
    case 'FormatMismatch':
    case 'BackingFileRefused':
    case 'TooLarge':
    case 'ConvertFailed':
      return true;
    case 'HTTPError':
      return !err.retryable;
    default:
      return false;
  }
}

function codeOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' ? code : undefined;
}

async function readState(file: string): Promise<PartState | undefined> {
  try {
    return parsePartState(await readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

async function readHead(file: string, bytes: number): Promise<Uint8Array> {
  const fh = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buffer, 0, bytes, 0);
    return buffer.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function localError(err: unknown, what: string, file: string): ImageImportError {
  if (err instanceof ImageImportError) return err;
  const code = codeOf(err);
  if (code === 'ENOSPC' || code === 'EDQUOT') return new ImageImportError('NoSpace', `no space left in ${path.dirname(file)} (${what})`, { path: file, code });
  return new ImageImportError('IOError', `${what} ${file}: ${code ?? (err instanceof Error ? err.message : String(err))}`, { path: file, code });
}

interface Request {
  url?: ImageUrl;
  filePath?: string;
  /** How messages name the source. */
  where: string;
  key: string;
  expected?: string;
  destDir: string;
  workDir: string;
  final: string;
  temps: ReturnType<typeof importTempPaths>;
}

async function validate(opts: ImportImageOptions): Promise<Request> {
  if (!DEST_NAME.test(opts.destName)) {
    throw new ImageImportError('InvalidRequest', `invalid destName "${opts.destName}": letters, digits, ".", "_", "-", "+", not starting with "."`);
  }
  if (opts.sha256 !== undefined && !SHA256.test(opts.sha256)) throw new ImageImportError('InvalidRequest', 'sha256 must be 64 hexadecimal digits');
  if (opts.format !== undefined && opts.format !== 'qcow2' && opts.format !== 'raw') {
    throw new ImageImportError('InvalidRequest', `format must be qcow2 or raw, not ${String(opts.format)}`);
  }
  const destDir = path.resolve(opts.destDir);
  const workDir = path.resolve(opts.workDir ?? destDir);
  let destDev: number;
  try {
    destDev = (await stat(destDir)).dev;
    if (workDir !== destDir && (await stat(workDir)).dev !== destDev) {
      throw new ImageImportError(
        'InvalidRequest',
        `workDir ${workDir} is not on the file system of ${destDir}: the finished image could not be published atomically`,
      );
    }
  } catch (err) {
    throw localError(err, 'cannot use directory', destDir);
  }
  const base = {
    expected: opts.sha256?.toLowerCase(),
    destDir,
    workDir,
    final: path.join(destDir, opts.destName),
    temps: importTempPaths(workDir, opts.destName),
  };
  if ('url' in opts.source) {
    const url = parseImageUrl(opts.source.url);
    return { ...base, url, where: url.display, key: sourceKey(opts.source.url) };
  }
  const filePath = path.resolve(opts.source.filePath);
  return { ...base, filePath, where: filePath, key: sourceKey(`file:${filePath}`) };
}

/** The result of an earlier run that published the image but was cut short before its clean-up, if that is what destName is. */
async function finishedEarlier(req: Request): Promise<ImportImageResult | undefined> {
  let ino: number;
  try {
    ino = (await lstat(req.final)).ino;
  } catch (err) {
    if (codeOf(err) === 'ENOENT') return undefined;
    throw localError(err, 'cannot check', req.final);
  }
  const state = await readState(req.temps.state);
  const done = state?.imported;
  if (!done || state.source !== req.key || done.ino !== ino || (req.expected !== undefined && req.expected !== done.sha256)) {
    throw new ImageImportError('AlreadyExists', `${req.final} already exists; an import never replaces a file`, { path: req.final });
  }
  await Promise.all([req.temps.part, req.temps.converting, req.temps.state].map((file) => rm(file, { force: true })));
  return {
    path: req.final,
    sizeBytes: done.sizeBytes,
    fileBytes: done.fileBytes,
    format: 'qcow2',
    sourceFormat: done.sourceFormat,
    sha256: done.sha256,
    resumed: true,
  };
}

/** SHA-256 of a file source, reported as the Verifying phase. */
async function hashFile(file: string, size: number, report: (bytes: number, total: number, final?: boolean) => void, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  report(0, size);
  await hashFileInto(file, size, hash, { signal, onBytes: (bytes) => report(bytes, size) });
  report(size, size, true);
  return hash.digest('hex');
}

function abortedError(req: Request, what: string): ImageImportError {
  return new ImageImportError('Aborted', `import of ${req.where} aborted while ${what}`, req.url ? { url: req.where } : { path: req.where });
}

export async function importImage(opts: ImportImageOptions): Promise<ImportImageResult> {
  const req = await validate(opts);
  const log = (opts.logger ?? createLogger('agent')).child({ image: opts.destName, source: req.where });
  const statfsOf: StatFs = opts.statfs ?? ((dir) => statfs(dir));
  const freeBytes = async (dir: string): Promise<number> => {
    const s = await statfsOf(dir);
    return Number(s.bavail) * Number(s.bsize);
  };
  const throttle = new ProgressThrottle();
  const report = (phase: ImportProgress['phase'], bytes: number, total?: number, final = false): void => {
    if (!opts.onProgress) return;
    const event = progressEvent(phase, bytes, total);
    if (throttle.shouldEmit(event, final)) opts.onProgress(event);
  };

  const earlier = await finishedEarlier(req);
  if (earlier) {
    log.info('image was already imported; finished the clean-up of the earlier run');
    return earlier;
  }

  // 1. The source bytes: downloaded into the .part, or the file itself.
  let sourcePath: string;
  let sourceBytes: number;
  let sha256: string;
  let resumed = false;
  let contentType: string | undefined;
  const discard = async (): Promise<void> => {
    const files = req.url ? [req.temps.part, req.temps.state, `${req.temps.state}.tmp`] : [req.temps.state];
    await Promise.all(files.map((file) => rm(file, { force: true })));
  };
  if (req.url) {
    try {
      const result = await downloadToPart({
        source: req.url,
        sourceKey: req.key,
        partPath: req.temps.part,
        statePath: req.temps.state,
        expectedSha256: req.expected,
        maxBytes: opts.maxBytes,
        signal: opts.signal,
        dispatcher: opts.dispatcher,
        onProgress: opts.onProgress,
        freeBytes,
        onRestart: (reason) => log.info('downloading from the start', { why: reason }),
      });
      ({ sha256, resumed, contentType } = result);
      sourceBytes = result.bytes;
      sourcePath = req.temps.part;
    } catch (err) {
      if (err instanceof ImageImportError && discardsPart(err)) await discard();
      throw err;
    }
  } else {
    const filePath = req.filePath!;
    try {
      const st = await stat(filePath);
      if (!st.isFile()) throw new ImageImportError('SourceNotFound', `${filePath} is not a regular file`, { path: filePath });
      sourceBytes = st.size;
      if (opts.maxBytes !== undefined && sourceBytes > opts.maxBytes) {
        throw new ImageImportError('TooLarge', `${filePath} is ${sourceBytes} bytes, more than the ${opts.maxBytes} allowed`, { path: filePath });
      }
      sha256 = await hashFile(filePath, sourceBytes, (bytes, total, final) => report('Verifying', bytes, total, final), opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) throw abortedError(req, 'reading the source');
      if (codeOf(err) === 'ENOENT') throw new ImageImportError('SourceNotFound', `${filePath} does not exist`, { path: filePath });
      throw localError(err, 'cannot read', filePath);
    }
    sourcePath = filePath;
  }

  try {
    // 2. Verify: checksum, then what the bytes are.
    report('Verifying', sourceBytes, sourceBytes);
    if (req.expected !== undefined && req.expected !== sha256) {
      throw new ImageImportError(
        'ChecksumMismatch',
        `${req.where}: SHA-256 is ${sha256}, expected ${req.expected}`,
        req.url ? { url: req.where } : { path: req.where },
      );
    }
    const head = await readHead(sourcePath, 4096).catch((err: unknown) => {
      throw localError(err, 'cannot read', sourcePath);
    });
    const refusal = qcow2HeaderRefusal(head, req.where);
    if (refusal) throw refusal;
    let facts: DiskImageFacts;
    try {
      const info = await qemuImgInfo(sourcePath, { signal: opts.signal });
      facts = classifyDiskImage(info, { sizeBytes: sourceBytes, head, contentType }, opts.format, req.where);
    } catch (err) {
      if (err instanceof ImageImportError) throw err;
      if (opts.signal?.aborted) throw abortedError(req, 'inspecting the image');
      const why = err instanceof QemuImgFailure ? err.message : err instanceof Error ? err.message : String(err);
      throw new ImageImportError('NotADiskImage', `${req.where}: qemu-img cannot read it: ${why}`, req.url ? { url: req.where } : { path: req.where });
    }

    // 3. Room for the converted image.
    const needed = convertedSizeEstimate(facts);
    const available = await freeBytes(req.workDir).catch((err: unknown) => {
      throw localError(err, 'cannot check free space of', req.workDir);
    });
    if (needed > available) {
      throw new ImageImportError(
        'NoSpace',
        `${req.destDir} has ${available} bytes free; the converted image of ${req.where} needs about ${needed} (${facts.format}, ${facts.actualSize} bytes allocated)`,
        { path: req.destDir, neededBytes: needed, availableBytes: available, ...(req.url ? { url: req.where } : {}) },
      );
    }

    // 4. Convert into the .converting file.
    await rm(req.temps.converting, { force: true });
    report('Converting', 0, facts.virtualSize);
    try {
      await qemuImgConvert(sourcePath, facts.format, req.temps.converting, {
        signal: opts.signal,
        onPercent: (percent) => report('Converting', Math.round((percent / 100) * facts.virtualSize), facts.virtualSize),
      });
    } catch (err) {
      if (opts.signal?.aborted) throw abortedError(req, 'converting');
      const why = err instanceof Error ? err.message : String(err);
      if (/No space left on device|Disk quota exceeded/i.test(why)) {
        throw new ImageImportError('NoSpace', `no space left in ${req.workDir} while converting ${req.where}: ${why}`, {
          path: req.workDir,
          neededBytes: needed,
        });
      }
      throw new ImageImportError('ConvertFailed', `qemu-img convert of ${req.where} failed: ${why}`, req.url ? { url: req.where } : { path: req.where });
    }
    report('Converting', facts.virtualSize, facts.virtualSize, true);
    if (opts.signal?.aborted) throw abortedError(req, 'converting');

    // 5. Publish: fsync, record, link under the final name, fsync the directory, clean up.
    let result: ImportImageResult;
    try {
      const fh = await open(req.temps.converting, 'r+');
      let ino: number;
      let fileBytes: number;
      try {
        await fh.chmod(0o644);
        await fh.sync();
        ({ ino, size: fileBytes } = await fh.stat());
      } finally {
        await fh.close();
      }
      result = { path: req.final, sizeBytes: facts.virtualSize, fileBytes, format: 'qcow2', sourceFormat: facts.format, sha256, resumed };
      const state = (await readState(req.temps.state)) ?? { version: 1 as const, source: req.key };
      await writeState(req.temps.state, { ...state, imported: { ino, sha256, sourceFormat: facts.format, sizeBytes: facts.virtualSize, fileBytes } });
      await publish(req.temps.converting, req.final);
      await fsyncDir(req.destDir);
    } catch (err) {
      throw localError(err, 'cannot publish', req.final);
    }
    await Promise.all([req.temps.converting, ...(req.url ? [req.temps.part] : []), req.temps.state].map((file) => rm(file, { force: true })));
    log.info('image imported', { sourceFormat: result.sourceFormat, sizeBytes: result.sizeBytes, fileBytes: result.fileBytes, resumed });
    return result;
  } catch (err) {
    await rm(req.temps.converting, { force: true });
    if (err instanceof ImageImportError && discardsPart(err)) await discard();
    throw err;
  }
}

/**
 * Gives the finished file its final name without ever replacing a file there: a hard link
 * fails with EEXIST where rename would overwrite. On a file system without hard links, a
 * rename after checking the name is free.
 */
async function publish(from: string, to: string): Promise<void> {
  try {
    await link(from, to);
  } catch (err) {
    const code = codeOf(err);
    if (code === 'EEXIST') throw new ImageImportError('AlreadyExists', `${to} appeared during the import; an import never replaces a file`, { path: to });
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP') throw err;
    const taken = await lstat(to).then(
      () => true,
      () => false,
    );
    if (taken) throw new ImageImportError('AlreadyExists', `${to} appeared during the import; an import never replaces a file`, { path: to });
    await rename(from, to);
  }
}
