/**
 * Log files on disk: `<dir>/<base>.log` is the file being written; when it reaches its size
 * bound it becomes `<base>.log.1`, the older `.1` becomes `.2` and so on, and the file past
 * `maxFiles` is deleted. Disk use per base therefore stays within maxBytes × (maxFiles + 1)
 * (a single line longer than maxBytes is the one exception: it is written whole, in a file of
 * its own, as a cut line would no longer be JSON).
 *
 * Used by the components' loggers, the audit backend and the UI-action log; read back by the
 * logs API through `logFilesOf`.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readdirSync, renameSync, rmSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export interface RotationLimits {
  /** The size at which the current file is rotated, in bytes. */
  maxBytes: number;
  /** How many rotated files (`.1` … `.N`) are kept. */
  maxFiles: number;
}

export const DEFAULT_LOG_MAX_BYTES = 10 * 1024 * 1024;
export const DEFAULT_LOG_MAX_FILES = 5;

/** The path of a base's current file in `dir`. */
export function logFilePath(dir: string, base: string): string {
  return join(dir, `${base}.log`);
}

/** The existing files of `base` in `dir` (full paths), oldest first: `.N` … `.1`, then `<base>.log`. */
export function logFilesOf(dir: string, base: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  const current = `${base}.log`;
  const rotated: { name: string; index: number }[] = [];
  let hasCurrent = false;
  for (const name of names) {
    if (name === current) hasCurrent = true;
    else if (name.startsWith(`${current}.`)) {
      const suffix = name.slice(current.length + 1);
      if (/^[1-9][0-9]*$/.test(suffix)) rotated.push({ name, index: Number(suffix) });
    }
  }
  rotated.sort((a, b) => b.index - a.index);
  const files = rotated.map(({ name }) => join(dir, name));
  if (hasCurrent) files.push(join(dir, current));
  return files;
}

/** Parses a size such as `10Mi`, `512Ki`, `1Gi` or `4096` (bytes) into bytes. */
export function parseByteSize(value: string): number {
  const match = /^([0-9]+)(Ki|Mi|Gi)?$/.exec(value.trim());
  if (!match) throw new Error(`invalid size "${value}": use bytes or a Ki, Mi or Gi suffix, e.g. 10Mi`);
  const units = { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 } as const;
  const bytes = Number(match[1]) * (match[2] ? units[match[2] as keyof typeof units] : 1);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new Error(`invalid size "${value}": must be more than 0 bytes`);
  return bytes;
}

// One exit handler for all open files (a listener each would trip Node's max-listeners warning).
const openFiles = new Set<RotatingFile>();
function flushAllOnExit(): void {
  for (const file of openFiles) {
    try {
      file.flush();
    } catch {
      // Exiting: nothing left to report it to.
    }
  }
}

/** How long a written line may wait in memory before it goes to disk. */
export const FLUSH_DELAY_MS = 25;

/**
 * Appends lines to a rotated log file. `write` buffers and returns at once; the buffer goes
 * to disk, synchronously, FLUSH_DELAY_MS after its first line (one write for all the lines of
 * that time), when it grows past 64 KiB, on `flush`/`close`, and when the process exits. A
 * write per event-loop turn instead cost the apiserver about 15% of its creates/s with the
 * audit log on (hack/bench/audit, same run: one syscall per request); a kill -9 loses at most
 * the last 25 ms.
 */
export class RotatingFile {
  readonly path: string;
  readonly #limits: RotationLimits;
  #fd: number | undefined;
  #size = 0;
  #pending: string[] = [];
  #pendingSizes: number[] = [];
  #pendingBytes = 0;
  #scheduled: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(path: string, limits: RotationLimits) {
    if (!Number.isInteger(limits.maxBytes) || limits.maxBytes <= 0) throw new Error(`maxBytes must be a positive integer, got ${limits.maxBytes}`);
    if (!Number.isInteger(limits.maxFiles) || limits.maxFiles < 0) throw new Error(`maxFiles must be an integer ≥ 0, got ${limits.maxFiles}`);
    this.path = path;
    this.#limits = { ...limits };
    mkdirSync(dirname(path), { recursive: true });
    this.#open();
    if (openFiles.size === 0) process.on('exit', flushAllOnExit);
    openFiles.add(this);
  }

  /** Appends one line (a newline is added when missing). */
  write(line: string): void {
    if (this.#closed) throw new Error(`${this.path} is closed`);
    const text = line.endsWith('\n') ? line : `${line}\n`;
    const bytes = Buffer.byteLength(text);
    this.#pending.push(text);
    this.#pendingSizes.push(bytes);
    this.#pendingBytes += bytes;
    if (this.#pendingBytes >= 64 * 1024) this.flush();
    else if (!this.#scheduled) {
      this.#scheduled = setTimeout(() => {
        this.#scheduled = undefined;
        try {
          this.flush();
        } catch (err) {
          // A full or vanished disk must not take the component down with it; say so where
          // an operator looks first.
          process.stderr.write(`cannot write ${this.path}: ${(err as Error).message}\n`);
        }
      }, FLUSH_DELAY_MS);
      this.#scheduled.unref();
    }
  }

  /** Writes the buffered lines now. */
  flush(): void {
    if (this.#scheduled) {
      clearTimeout(this.#scheduled);
      this.#scheduled = undefined;
    }
    if (this.#pending.length === 0 || this.#fd === undefined) return;
    const lines = this.#pending;
    const sizes = this.#pendingSizes;
    this.#pending = [];
    this.#pendingSizes = [];
    this.#pendingBytes = 0;
    let chunk = '';
    let chunkBytes = 0;
    for (const [i, line] of lines.entries()) {
      const bytes = sizes[i]!;
      if (this.#size + chunkBytes + bytes > this.#limits.maxBytes && this.#size + chunkBytes > 0) {
        this.#append(chunk, chunkBytes);
        chunk = '';
        chunkBytes = 0;
        this.#rotate();
      }
      chunk += line;
      chunkBytes += bytes;
    }
    this.#append(chunk, chunkBytes);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    openFiles.delete(this);
    if (openFiles.size === 0) process.off('exit', flushAllOnExit);
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }

  #open(): void {
    this.#fd = openSync(this.path, 'a', 0o640);
    this.#size = fstatSync(this.#fd).size;
  }

  #append(chunk: string, bytes: number): void {
    if (bytes === 0 || this.#fd === undefined) return;
    const buffer = Buffer.from(chunk);
    let offset = 0;
    while (offset < buffer.length) offset += writeSync(this.#fd, buffer, offset);
    this.#size += bytes;
  }

  /** `.N-1` → `.N` … `.1` → `.2`, current → `.1`, and a new current file; the one beyond maxFiles goes. */
  #rotate(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
    const dir = dirname(this.path);
    const base = basename(this.path);
    // Files beyond the bound (left by a run with a larger --log-max-files) go too.
    for (const file of readdirSync(dir)) {
      const suffix = file.startsWith(`${base}.`) ? file.slice(base.length + 1) : '';
      if (/^[1-9][0-9]*$/.test(suffix) && Number(suffix) >= this.#limits.maxFiles) rmSync(join(dir, file), { force: true });
    }
    for (let index = this.#limits.maxFiles - 1; index >= 1; index--) {
      try {
        renameSync(`${this.path}.${index}`, `${this.path}.${index + 1}`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (this.#limits.maxFiles > 0) renameSync(this.path, `${this.path}.1`);
    else rmSync(this.path, { force: true });
    this.#open();
  }
}
