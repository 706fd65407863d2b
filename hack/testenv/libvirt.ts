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

  network(name: string): void {
    this.steps.push(async () => {
      await virshQuiet('net-destroy', name);
      await virshQuiet('net-undefine', name);
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

/** The host's IPv4 routes as /proc/net/route lists them: destination and prefix length. */
export async function hostRoutes(): Promise<{ iface: string; network: string; prefix: number }[]> {
  const { readFile } = await import('node:fs/promises');
  const lines = (await readFile('/proc/net/route', 'utf8')).trim().split('\n').slice(1);
  // Little-endian hex, as the kernel prints it.
  const ip = (hex: string) => [6, 4, 2, 0].map((i) => Number.parseInt(hex.slice(i, i + 2), 16)).join('.');
  const bits = (hex: string) => [...Number.parseInt(hex, 16).toString(2)].filter((b) => b === '1').length;
  return lines
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length >= 8)
    .map((f) => ({ iface: f[0]!, network: ip(f[1]!), prefix: bits(f[7]!) }));
}

/**
 * A private /24 in 10.213.0.0/16 that no host route (nor an active libvirt network's bridge)
 * covers, for a test network: `10.213.N`. Random, so suites sharing this libvirtd rarely pick
 * the same one; checked against the routes, so it never shadows the host's own networks.
 */
export async function freeTestSubnet(): Promise<string> {
  const toInt = (a: string) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0;
  const routes = (await hostRoutes()).filter((r) => r.prefix > 0);
  const overlaps = (third: number) => {
    const start = toInt(`10.213.${third}.0`);
    return routes.some((r) => {
      const size = 2 ** (32 - Math.max(r.prefix, 8));
      const rStart = toInt(r.network);
      return start < rStart + size && rStart < start + 256;
    });
  };
  const offset = randomBytes(1)[0]!;
  for (let i = 0; i < 256; i++) {
    const third = (offset + i) % 256;
    if (!overlaps(third)) return `10.213.${third}`;
  }
  throw new Error('no free /24 in 10.213.0.0/16: every one is covered by a host route');
}

/** Waits until `virsh` answers again (after a libvirtd restart). */
export async function waitForLibvirt(timeoutMs = 30_000): Promise<void> {
  await eventually(() => virshQuiet('version'), { timeoutMs, intervalMs: 100, message: 'libvirtd answers' });
}
