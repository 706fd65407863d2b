/**
 * Test helpers for suites that run against the real libvirtd (qemu:///system): make sure
 * the daemons run, give test objects unique `qxtest-` names, and remove whatever a suite
 * created even when it failed half-way.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { eventually } from './eventually.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..', '..');

export const LIBVIRT_URI = 'qemu:///system';

export interface VirshResult {
  stdout: string;
  stderr: string;
}

/** Runs `virsh -c qemu:///system ...args`; rejects with stderr on failure. */
export async function virsh(...args: string[]): Promise<VirshResult> {
  try {
    const { stdout, stderr } = await execFileP('virsh', ['-c', LIBVIRT_URI, ...args], { timeout: 60_000 });
    return { stdout, stderr };
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`virsh ${args.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** virsh that never throws (cleanup). */
export async function virshQuiet(...args: string[]): Promise<boolean> {
  try {
    await virsh(...args);
    return true;
  } catch {
    return false;
  }
}

/** Starts libvirtd and virtlogd with hack/libvirt-setup.sh when virsh cannot reach them. */
export async function ensureLibvirt(): Promise<void> {
  if (await virshQuiet('version')) return;
  await execFileP('bash', [path.join(repoRoot, 'hack', 'libvirt-setup.sh')], { timeout: 60_000 });
}

/** `qxtest-<tag>-<random>`: unique per run, recognisable for cleanup. */
export function qxTestName(tag: string): string {
  return `qxtest-${tag}-${randomBytes(4).toString('hex')}`;
}

/** Collects created libvirt objects and removes them in reverse order. */
export class LibvirtCleanup {
  private readonly steps: Array<() => Promise<unknown>> = [];

  domain(name: string): void {
    this.steps.push(async () => {
      await virshQuiet('destroy', name);
      await virshQuiet('undefine', name, '--nvram');
    });
  }

  pool(name: string): void {
    this.steps.push(async () => {
      await virshQuiet('pool-destroy', name);
      await virshQuiet('pool-undefine', name);
    });
  }

  volume(pool: string, name: string): void {
    this.steps.push(() => virshQuiet('vol-delete', '--pool', pool, name));
  }

  path(p: string): void {
    this.steps.push(async () => {
      const { rm } = await import('node:fs/promises');
      await rm(p, { recursive: true, force: true });
    });
  }

  custom(step: () => Promise<unknown>): void {
    this.steps.push(step);
  }

  async run(): Promise<void> {
    while (this.steps.length > 0) {
      const step = this.steps.pop()!;
      try {
        await step();
      } catch {
        // best effort
      }
    }
  }
}

/** Waits until `virsh` answers again (after a libvirtd restart). */
export async function waitForLibvirt(timeoutMs = 30_000): Promise<void> {
  await eventually(() => virshQuiet('version'), { timeoutMs, intervalMs: 100, message: 'libvirtd answers' });
}
