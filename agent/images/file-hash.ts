/**
 * SHA-256 of a file's first `bytes` bytes, read into one reused buffer. `createReadStream`
 * allocates a fresh buffer per chunk, and on a 2 GB file that took about three times the CPU
 * (measured in session 16: see README.md, Throughput).
 */
import type { Hash } from 'node:crypto';
import { open } from 'node:fs/promises';

const READ_BYTES = 4 * 1024 * 1024;

/** Feeds bytes [0, bytes) of `file` to `hash`; `onBytes` gets the running count after each read. */
export async function hashFileInto(
  file: string,
  bytes: number,
  hash: Hash,
  opts: { signal?: AbortSignal; onBytes?: (done: number) => void } = {},
): Promise<void> {
  if (bytes === 0) return;
  const fh = await open(file, 'r');
  try {
    const buffer = Buffer.allocUnsafe(Math.min(READ_BYTES, bytes));
    let done = 0;
    while (done < bytes) {
      opts.signal?.throwIfAborted();
      const { bytesRead } = await fh.read(buffer, 0, Math.min(buffer.length, bytes - done), done);
      if (bytesRead === 0) throw Object.assign(new Error(`${file} ended after ${done} of ${bytes} bytes`), { code: 'EIO' });
      hash.update(buffer.subarray(0, bytesRead));
      done += bytesRead;
      opts.onBytes?.(done);
    }
  } finally {
    await fh.close();
  }
}
