/**
 * Regenerates everything derived from the resource definitions in api-types/schema:
 *   api-types/generated/types.ts         TypeScript types
 *   manifests/crds/<plural>.<group>.yaml  apiextensions.k8s.io/v1 CRDs
 * `--verify` regenerates in memory and exits 1 naming every file that drifted.
 * `--root <dir>` works on another tree (tests use it on a scratch copy).
 */
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCodegen } from './generate.js';

const verify = process.argv.includes('--verify');
const rootArg = process.argv.indexOf('--root');
const root = rootArg > 0 ? resolve(process.argv[rootArg + 1]!) : resolve(dirname(fileURLToPath(import.meta.url)), '../..');

const { drifted, changed } = runCodegen(root, verify);
for (const line of changed) console.log(line);
if (verify && drifted.length > 0) {
  console.error(`generated files are out of date; run \`make codegen\`:\n${drifted.map((d) => `  ${d}`).join('\n')}`);
  process.exit(1);
}
