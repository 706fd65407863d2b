/**
 * STAND-IN for h1's lib/logging/files.ts (issue 17 contract section 1): only `logFilesOf`,
 * with the contract's name and signature, so the logs query (query.ts) can be built and
 * tested before h1's module lands. When merging, h1's file replaces this one whole.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** The existing files of a base (`<base>.log` and its rotations `.1`, `.2`…), oldest first. */
export function logFilesOf(dir: string, base: string): string[] {
  if (!existsSync(dir)) return [];
  const rotated: { n: number; path: string }[] = [];
  let current: string | undefined;
  for (const name of readdirSync(dir)) {
    if (name === `${base}.log`) current = join(dir, name);
    else if (name.startsWith(`${base}.log.`)) {
      const suffix = name.slice(base.length + 5);
      if (/^[1-9][0-9]*$/.test(suffix)) rotated.push({ n: Number(suffix), path: join(dir, name) });
    }
  }
  rotated.sort((a, b) => b.n - a.n);
  return [...rotated.map((r) => r.path), ...(current ? [current] : [])];
}
