/** The client version: package.json's version (read once, without importing anything heavy). */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (bin/qxctl exports it; bundled code cannot derive it from its own URL). */
export const REPO_ROOT = process.env.QXCTL_ROOT || join(dirname(fileURLToPath(import.meta.url)), '..');

let cached: string | undefined;

export function clientVersion(): string {
  if (cached) return cached;
  try {
    cached = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version?: string }).version ?? '0.0.0';
  } catch {
    cached = '0.0.0';
  }
  return cached;
}

/** Git commit of the checkout, when there is one (cheap: reads .git directly). */
export function gitCommit(): string | undefined {
  try {
    const head = readFileSync(join(REPO_ROOT, '.git', 'HEAD'), 'utf8').trim();
    if (!head.startsWith('ref: ')) return head.slice(0, 12);
    const ref = head.slice(5);
    try {
      return readFileSync(join(REPO_ROOT, '.git', ref), 'utf8')
        .trim()
        .slice(0, 12);
    } catch {
      const packed = readFileSync(join(REPO_ROOT, '.git', 'packed-refs'), 'utf8');
      const line = packed.split('\n').find((l) => l.endsWith(` ${ref}`));
      return line?.slice(0, 12);
    }
  } catch {
    return undefined;
  }
}
