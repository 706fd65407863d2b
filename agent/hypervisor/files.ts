/**
 * The pool file browser on a real filesystem: lists one directory below a pool root and
 * refuses anything that would leave the root.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { FileEntry, FileListing, FileType, ListFilesOptions } from './driver.js';
import { HypervisorError } from './errors.js';
import { isWithin, poolRelativeSegments } from './validate.js';

export const DEFAULT_LIST_LIMIT = 10_000;

function errno(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

function typeOf(st: import('node:fs').Stats): FileType {
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  return 'other';
}

export async function listPoolFiles(poolTargetPath: string, relPath: string, options: ListFilesOptions = {}): Promise<FileListing> {
  const segments = poolRelativeSegments(relPath);
  if (!path.isAbsolute(poolTargetPath)) {
    throw new HypervisorError('InvalidSpec', `pool root must be absolute: "${poolTargetPath}"`, { target: poolTargetPath });
  }
  let root: string;
  try {
    root = await fs.realpath(poolTargetPath);
  } catch (err) {
    throw new HypervisorError('PathNotFound', `pool root ${poolTargetPath} is not accessible: ${(err as Error).message}`, {
      target: poolTargetPath,
      operation: 'listFiles',
    });
  }
  const requested = path.join(root, ...segments);
  let real: string;
  try {
    real = await fs.realpath(requested);
  } catch (err) {
    const code = errno(err);
    const what = code === 'ENOENT' || code === 'ENOTDIR' ? 'does not exist' : `is not accessible (${code ?? (err as Error).message})`;
    throw new HypervisorError('PathNotFound', `"${segments.join('/')}" ${what} in the pool`, { target: relPath, operation: 'listFiles' });
  }
  if (!isWithin(root, real)) {
    throw new HypervisorError('PathEscape', `"${segments.join('/')}" resolves outside the pool root`, { target: relPath, operation: 'listFiles' });
  }
  const dirStat = await fs.stat(real);
  if (!dirStat.isDirectory()) {
    throw new HypervisorError('PathNotFound', `"${segments.join('/')}" is not a directory`, { target: relPath, operation: 'listFiles' });
  }
  const limit = options.limit ?? DEFAULT_LIST_LIMIT;
  const names = (await fs.readdir(real)).sort();
  const entries: FileEntry[] = [];
  let truncated = false;
  for (const name of names) {
    if (entries.length >= limit) {
      truncated = true;
      break;
    }
    try {
      const st = await fs.lstat(path.join(real, name));
      entries.push({ name, type: typeOf(st), sizeBytes: st.size, modifiedAt: st.mtimeMs });
    } catch {
      // Removed between readdir and lstat: skip it.
    }
  }
  return { path: segments.join('/'), entries, truncated };
}
