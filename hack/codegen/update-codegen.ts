/**
 * Regenerates everything derived from the resource definitions in api-types/schema:
 *   api-types/generated/types.ts         TypeScript types
 *   manifests/crds/<plural>.<group>.yaml  apiextensions.k8s.io/v1 CRDs
 * `--verify` regenerates in memory and exits 1 naming every file that drifted.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateFiles, GENERATED_MARKER } from './generate.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const verify = process.argv.includes('--verify');

const files = generateFiles();
const drifted: string[] = [];
for (const [rel, content] of files) {
  const path = join(root, rel);
  const current = existsSync(path) ? readFileSync(path, 'utf8') : undefined;
  if (current === content) continue;
  if (verify) drifted.push(`${rel} (${current === undefined ? 'missing' : 'out of date'})`);
  else {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, content);
    console.log(`wrote ${rel}`);
  }
}
// Generated files whose definition is gone.
for (const dir of ['manifests/crds', 'api-types/generated']) {
  const abs = join(root, dir);
  if (!existsSync(abs)) continue;
  for (const name of readdirSync(abs)) {
    const rel = relative(root, join(abs, name));
    if (files.has(rel)) continue;
    if (!readFileSync(join(abs, name), 'utf8').includes(GENERATED_MARKER)) continue;
    if (verify) drifted.push(`${rel} (stale: no longer generated)`);
    else {
      unlinkSync(join(abs, name));
      console.log(`removed ${rel}`);
    }
  }
}
if (verify && drifted.length > 0) {
  console.error(`generated files are out of date; run \`make codegen\`:\n${drifted.map((d) => `  ${d}`).join('\n')}`);
  process.exit(1);
}
