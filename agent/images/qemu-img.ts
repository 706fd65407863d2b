/**
 * The two qemu-img calls of an import. Paths are always absolute, so qemu-img never reads a
 * file name as a protocol (`json:`, `nbd:`…).
 *
 * `info` runs under prlimit (1 GiB of address space, 30 s of CPU), as OpenStack does: a crafted
 * image can make qemu-img's parser spend unbounded memory or time (OSSA-2016-001). `convert`
 * names the source format (`-f`), so it never probes again, and writes with qemu-img's default
 * cache for convert ("unsafe": no flushes); the caller fsyncs the result once. While it runs,
 * what it wrote so far is written back every WRITEBACK_INTERVAL_MS (fdatasync from here), so
 * the disk writes overlap the conversion and the final fsync finds little left: on the test
 * image (182 MB qcow2 → 558 MB) convert + fsync went from 1.2 s to 1.0 s.
 */
import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { type FileHandle, open } from 'node:fs/promises';
import path from 'node:path';
import type { DiskFormat, QemuImgInfo } from './disk-format.js';

const INFO_ADDRESS_SPACE_BYTES = 1024 * 1024 * 1024;
const INFO_CPU_SECONDS = 30;
const INFO_TIMEOUT_MS = 60_000;
/** Bytes of stderr kept for an error message. */
const STDERR_LIMIT = 4096;
const WRITEBACK_INTERVAL_MS = 100;

/** fdatasync of `file` every WRITEBACK_INTERVAL_MS until stop() (errors are left to the caller's own fsync). */
function periodicWriteback(file: string): { stop(): Promise<void> } {
  let stopped = false;
  let wake: (() => void) | undefined;
  const loop = (async () => {
    let fh: FileHandle | undefined;
    while (!stopped) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, WRITEBACK_INTERVAL_MS);
      });
      if (stopped) break;
      fh ??= await open(file, 'r').catch(() => undefined);
      await fh?.datasync().catch(() => undefined);
    }
    await fh?.close().catch(() => undefined);
  })();
  return {
    stop() {
      stopped = true;
      wake?.();
      return loop;
    },
  };
}

let prlimitPath: string | null | undefined;
function prlimit(): string | null {
  if (prlimitPath === undefined) {
    prlimitPath = null;
    for (const candidate of ['/usr/bin/prlimit', '/bin/prlimit']) {
      try {
        accessSync(candidate, constants.X_OK);
        prlimitPath = candidate;
        break;
      } catch {
        // not here
      }
    }
  }
  return prlimitPath;
}

/** A qemu-img run that failed: its exit status and the end of its stderr. */
export class QemuImgFailure extends Error {
  constructor(
    readonly exitCode: number | null,
    readonly stderr: string,
    readonly signal: NodeJS.Signals | null,
  ) {
    super(stderr.trim().split('\n').filter(Boolean).pop() ?? `qemu-img exited with ${exitCode ?? signal}`);
    this.name = 'QemuImgFailure';
  }
}

interface RunOptions {
  signal?: AbortSignal;
  timeoutMs?: number;
  onStdout?: (text: string) => void;
}

function run(command: string, args: string[], opts: RunOptions): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], signal: opts.signal, timeout: opts.timeoutMs, killSignal: 'SIGKILL' });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      if (opts.onStdout) opts.onStdout(text);
      else stdout += text;
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      stderr = (stderr + text).slice(-STDERR_LIMIT);
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (code === 0) resolve(stdout);
      else reject(new QemuImgFailure(code, stderr, signal));
    });
  });
}

/** `qemu-img info --output=json FILE` (the format probed), under resource limits. */
export async function qemuImgInfo(file: string, opts: { signal?: AbortSignal } = {}): Promise<QemuImgInfo> {
  const args = ['info', '--output=json', path.resolve(file)];
  const limiter = prlimit();
  const out = limiter
    ? await run(limiter, [`--as=${INFO_ADDRESS_SPACE_BYTES}`, `--cpu=${INFO_CPU_SECONDS}`, '--', 'qemu-img', ...args], {
        signal: opts.signal,
        timeoutMs: INFO_TIMEOUT_MS,
      })
    : await run('qemu-img', args, { signal: opts.signal, timeoutMs: INFO_TIMEOUT_MS });
  return JSON.parse(out) as QemuImgInfo;
}

/** Parses qemu-img's `-p` output ("    (12.34/100%)\r") into the last percent seen. */
export function lastPercent(text: string): number | undefined {
  let percent: number | undefined;
  for (const m of text.matchAll(/\((\d+(?:\.\d+)?)\/100%\)/g)) percent = Number(m[1]);
  return percent;
}

/**
 * `qemu-img convert -f FORMAT -O qcow2 SRC DEST`, progress from `-p`. Not `-W` (out-of-order
 * writes): qemu-img recommends it only for preallocated block devices; into a qcow2 file it
 * allocates clusters in completion order, fragmenting the base image every VM then reads.
 */
export async function qemuImgConvert(
  source: string,
  sourceFormat: DiskFormat,
  dest: string,
  opts: { signal?: AbortSignal; onPercent?: (percent: number) => void } = {},
): Promise<void> {
  const args = ['convert', '-p', '-f', sourceFormat, '-O', 'qcow2', path.resolve(source), path.resolve(dest)];
  const writeback = periodicWriteback(path.resolve(dest));
  try {
    await run('qemu-img', args, {
      signal: opts.signal,
      onStdout: (text) => {
        const percent = lastPercent(text);
        if (percent !== undefined) opts.onPercent?.(percent);
      },
    });
  } finally {
    await writeback.stop();
  }
}
