/**
 * The pool file browser of the simulated host: a file tree per pool (volumes appear in it,
 * addPoolFile adds files, dirs and symlinks), listed like the real filesystem would be,
 * with symlinks leaving the pool root refused (PathEscape).
 */
import path from 'node:path';
import type { FileEntry, FileListing, FileType, ListFilesOptions } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { DEFAULT_LIST_LIMIT } from '../files.js';
import { isWithin, poolRelativeSegments } from '../validate.js';
import type { FileNode, SimHost } from './host.js';
import type { SimPools } from './pools.js';

export class SimFiles {
  constructor(
    private readonly host: SimHost,
    private readonly pools: SimPools,
  ) {}

  /** Adds a file, directory or symlink inside a pool's file tree (intermediate dirs are created). */
  addPoolFile(poolName: string, relPath: string, node: { type: 'file'; sizeBytes?: number } | { type: 'dir' } | { type: 'symlink'; target: string }): void {
    const pool = this.pools.mustPool(poolName, 'addPoolFile');
    const segments = poolRelativeSegments(relPath);
    if (segments.length === 0) throw new HypervisorError('InvalidSpec', 'path must name an entry below the pool root');
    let dir = pool.root;
    const now = this.host.opts.now();
    for (const seg of segments.slice(0, -1)) {
      let next = dir.children.get(seg);
      if (!next) {
        next = { type: 'dir', children: new Map(), modifiedAt: now };
        dir.children.set(seg, next);
      }
      if (next.type !== 'dir') throw new HypervisorError('InvalidSpec', `${seg} is not a directory`);
      dir = next;
    }
    const leaf = segments[segments.length - 1]!;
    if (node.type === 'file') dir.children.set(leaf, { type: 'file', sizeBytes: node.sizeBytes ?? 0, modifiedAt: now });
    else if (node.type === 'dir') dir.children.set(leaf, { type: 'dir', children: new Map(), modifiedAt: now });
    else dir.children.set(leaf, { type: 'symlink', target: node.target, modifiedAt: now });
  }

  async listFiles(poolTargetPath: string, relPath: string, options: ListFilesOptions = {}): Promise<FileListing> {
    const segments = poolRelativeSegments(relPath);
    await this.host.enter('listFiles', relPath);
    const pool = [...this.host.pools.values()].find((p) => p.spec.targetPath === poolTargetPath);
    if (!pool) throw new HypervisorError('PathNotFound', `pool root ${poolTargetPath} is not accessible`, { operation: 'listFiles', target: poolTargetPath });
    // An unmounted nfs pool shows its empty mount point.
    const empty: Extract<FileNode, { type: 'dir' }> = { type: 'dir', children: new Map(), modifiedAt: 0 };
    const root = pool.spec.type === 'nfs' && (!pool.active || pool.fault?.state === 'Inaccessible') ? empty : pool.root;
    const dir = resolveDir(root, segments, relPath, poolTargetPath);
    const limit = options.limit ?? DEFAULT_LIST_LIMIT;
    const names = [...dir.children.keys()].sort();
    const entries: FileEntry[] = [];
    for (const name of names.slice(0, limit)) {
      const n = dir.children.get(name)!;
      const type: FileType = n.type;
      entries.push({ name, type, sizeBytes: n.type === 'file' ? n.sizeBytes : n.type === 'symlink' ? n.target.length : 4096, modifiedAt: n.modifiedAt });
    }
    return { path: segments.join('/'), entries, truncated: names.length > limit };
  }
}

/**
 * Walks `segments` from the pool root, following symlinks like realpath would; a link whose
 * target leaves the root is a PathEscape.
 */
function resolveDir(root: Extract<FileNode, { type: 'dir' }>, segments: string[], relPath: string, rootPath: string): Extract<FileNode, { type: 'dir' }> {
  const pending = [...segments];
  const resolved: string[] = [];
  let hops = 0;
  const notFound = (): HypervisorError =>
    new HypervisorError('PathNotFound', `"${segments.join('/')}" does not exist in the pool`, { operation: 'listFiles', target: relPath });
  const lookup = (segs: string[]): FileNode | undefined => {
    let n: FileNode = root;
    for (const s of segs) {
      if (n.type !== 'dir') return undefined;
      const next = n.children.get(s);
      if (!next) return undefined;
      n = next;
    }
    return n;
  };
  while (pending.length > 0) {
    const seg = pending.shift()!;
    const node = lookup([...resolved, seg]);
    if (!node) throw notFound();
    if (node.type === 'symlink') {
      if (++hops > 40) throw new HypervisorError('PathNotFound', 'too many levels of symbolic links', { operation: 'listFiles', target: relPath });
      const targetAbs = path.posix.isAbsolute(node.target) ? path.posix.normalize(node.target) : path.posix.join(rootPath, ...resolved, node.target);
      if (!isWithin(rootPath, targetAbs)) {
        throw new HypervisorError('PathEscape', `"${segments.join('/')}" resolves outside the pool root`, { operation: 'listFiles', target: relPath });
      }
      const rel = path.posix.relative(rootPath, targetAbs);
      resolved.length = 0;
      pending.unshift(...(rel === '' ? [] : rel.split('/')));
      continue;
    }
    resolved.push(seg);
  }
  const dir = lookup(resolved);
  if (!dir) throw notFound();
  if (dir.type !== 'dir') throw new HypervisorError('PathNotFound', `"${segments.join('/')}" is not a directory`, { operation: 'listFiles', target: relPath });
  return dir;
}
