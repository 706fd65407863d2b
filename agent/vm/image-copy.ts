/**
 * A disk that asks for a full copy of its image (imageClone: Copy): `qemu-img convert` of the
 * node's cached copy into the pool under a temporary name, grown to the disk's size, then
 * renamed, so a cut-short copy never looks like a volume.
 */
import { execFile } from 'node:child_process';
import { rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export async function copyImageToVolume(imagePath: string, volumePath: string, sizeBytes: number): Promise<string> {
  const tmp = path.join(path.dirname(volumePath), `.${path.basename(volumePath)}.copying`);
  try {
    await run('qemu-img', ['convert', '-q', '-f', 'qcow2', '-O', 'qcow2', imagePath, tmp]);
    await run('qemu-img', ['resize', '-q', '-f', 'qcow2', tmp, String(sizeBytes)]);
    await rename(tmp, volumePath);
    return volumePath;
  } catch (err) {
    await rm(tmp, { force: true });
    const stderr = (err as { stderr?: string }).stderr?.trim();
    throw new Error(`copying image ${imagePath} to ${volumePath} failed: ${stderr || (err as Error).message}`);
  }
}
