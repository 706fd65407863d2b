// qxctl launcher (plain JS, run by bin/qxctl with node).
//
// Why not `tsx cli/main.ts`? tsx's loader hooks every module, and @kubernetes/client-node
// loads ~2,800 generated model files: `qxctl get` took ~10 s that way on a loaded
// 2-core machine, against ~1.5 s from a bundle. So the CLI runs from an esbuild bundle
// (esbuild ships with tsx) cached in node_modules/.cache/qxctl and rebuilt automatically
// when any of its own sources, or the installed packages, change. Code splitting keeps
// client-node out of the start-up path of `version --client`, `--help` and `completion`.
//
// QXCTL_NO_BUNDLE=1 runs cli/main.ts through tsx instead (also the fallback when the
// bundle cannot be built).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
process.env.QXCTL_ROOT ??= root;
/** node_modules/.cache/qxctl, or a per-checkout temp dir when node_modules is read-only. */
function chooseCacheDir() {
  if (process.env.QXCTL_CACHE_DIR) return process.env.QXCTL_CACHE_DIR;
  const preferred = join(root, 'node_modules', '.cache', 'qxctl');
  try {
    mkdirSync(preferred, { recursive: true });
    accessSync(preferred, constants.W_OK);
    return preferred;
  } catch {
    return join(tmpdir(), `qxctl-cache-${createHash('sha256').update(root).digest('hex').slice(0, 12)}`);
  }
}
const cacheDir = chooseCacheDir();
const manifestPath = join(cacheDir, 'build.json');
const lockPath = join(root, 'node_modules', '.package-lock.json');

function mtime(path) {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return Infinity;
  }
}

/** The bundle directory when it is newer than every input, else undefined. */
function freshBuild() {
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(manifestPath, 'utf8'));
  } catch {
    return undefined;
  }
  const dir = join(cacheDir, manifest.dir);
  if (!existsSync(join(dir, 'main.mjs'))) return undefined;
  if (mtime(lockPath) > manifest.builtAt) return undefined;
  for (const input of manifest.inputs) if (mtime(join(root, input)) > manifest.builtAt) return undefined;
  return dir;
}

async function build() {
  const esbuild = await import(pathToFileURL(join(root, 'node_modules', 'esbuild', 'lib', 'main.js')).href);
  const startedAt = Date.now();
  const name = `build-${startedAt}-${process.pid}`;
  const outdir = join(cacheDir, name);
  mkdirSync(cacheDir, { recursive: true });
  const result = await esbuild.build({
    entryPoints: [join(root, 'cli', 'main.ts')],
    bundle: true,
    splitting: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    outdir,
    outExtension: { '.js': '.mjs' },
    chunkNames: 'chunks/[name]-[hash]',
    metafile: true,
    // Less to parse at start-up (the client-node chunk is ~16 MB unminified).
    minify: true,
    keepNames: true,
    logLevel: 'error',
    // CommonJS dependencies bundled into ESM still call require().
    banner: { js: "import { createRequire as __qxctlCreateRequire } from 'node:module'; const require = __qxctlCreateRequire(import.meta.url);" },
  });
  // Only our own sources are checked at start-up; dependencies through the npm lock file.
  const inputs = Object.keys(result.metafile.inputs)
    .map((p) => relative(root, join(root, p)))
    .filter((p) => !p.split(/[\\/]/).includes('node_modules'));
  const tmp = `${manifestPath}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify({ dir: name, builtAt: startedAt, inputs }));
  renameSync(tmp, manifestPath);
  // Old builds: removed once they are an hour old (a long-running qxctl may still use one).
  for (const entry of readdirSync(cacheDir)) {
    if (entry.startsWith('build-') && entry !== name && Date.now() - Number(entry.split('-')[1]) > 3_600_000) {
      rmSync(join(cacheDir, entry), { recursive: true, force: true });
    }
  }
  return outdir;
}

function runWithTsx() {
  const result = spawnSync(join(root, 'node_modules', '.bin', 'tsx'), [join(root, 'cli', 'main.ts'), ...process.argv.slice(2)], { stdio: 'inherit' });
  process.exit(result.status ?? 1);
}

if (process.env.QXCTL_NO_BUNDLE) runWithTsx();
else {
  let dir = freshBuild();
  if (!dir) {
    try {
      dir = await build();
    } catch (err) {
      process.stderr.write(`qxctl: cannot build the bundle (${err?.message?.split('\n')[0] ?? err}); running through tsx\n`);
      runWithTsx();
    }
  }
  if (dir) await import(pathToFileURL(join(dir, 'main.mjs')).href);
}
