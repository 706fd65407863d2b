/**
 * Benchmark runner (`make bench`): runs every `hack/bench/<name>/index.ts`, or only the
 * names given as arguments (`tsx hack/bench/run.ts storage apiserver`), one after the
 * other, each in its own process (each starts and stops what it needs, e.g. its own etcd).
 *
 * Contract for a benchmark: `hack/bench/<name>/index.ts`, run as a script, writes exactly
 * one JSON document to stdout and its progress to stderr, and exits 0 on success.
 *
 * The runner prints one JSON document per benchmark on stdout (stderr of the benchmarks
 * passes through), and exits non-zero if any benchmark failed or printed no valid JSON.
 * `--list` prints the names found.
 *
 * Benchmarks with SMALL_RUN sizes run at those sizes in a run of everything (`make bench`),
 * and at their own defaults when named (scale: 1,000 hollow nodes and 50,000 VMs, about half
 * an hour; `make bench-scale`). Sizes set in the environment win either way.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = dirname(fileURLToPath(import.meta.url));
const root = join(benchDir, '..', '..');
/** The sizes of a benchmark in `make bench` (the full size runs when it is named). */
const SMALL_RUN: Record<string, Record<string, string>> = {
  scale: {
    BENCH_NODES: '50',
    BENCH_VMS: '2000',
    BENCH_CREATE_RATE: '50',
    BENCH_CHURN_S: '30',
    BENCH_CHURN_RATE: '20',
    BENCH_STORM_VMS: '500',
    BENCH_IDLE_S: '30',
  },
};

function discover(): string[] {
  return readdirSync(benchDir, { withFileTypes: true })
    .filter((d) => d.isDirectory() && existsSync(join(benchDir, d.name, 'index.ts')))
    .map((d) => d.name)
    .sort();
}

function runOne(name: string, small: boolean): Promise<{ ok: boolean; doc?: unknown; error?: string; seconds: number }> {
  const started = performance.now();
  const tsx = join(root, 'node_modules', '.bin', 'tsx');
  const script = relative(root, join(benchDir, name, 'index.ts'));
  return new Promise((resolve) => {
    const env = small ? { ...SMALL_RUN[name], ...process.env } : process.env;
    const child = spawn(existsSync(tsx) ? tsx : 'tsx', [script], { cwd: root, env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    const forward = (sig: NodeJS.Signals) => () => child.kill(sig);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.once('SIGINT', onInt).once('SIGTERM', onTerm);
    child.on('close', (code, signal) => {
      process.off('SIGINT', onInt).off('SIGTERM', onTerm);
      const seconds = Math.round((performance.now() - started) / 100) / 10;
      if (code !== 0) {
        resolve({ ok: false, error: `exited with ${code ?? signal}`, seconds });
        return;
      }
      try {
        resolve({ ok: true, doc: JSON.parse(out), seconds });
      } catch {
        resolve({ ok: false, error: `did not print one JSON document on stdout: ${out.slice(0, 500)}`, seconds });
      }
    });
  });
}

async function main(): Promise<void> {
  const args = process.argv.slice(2);
  const available = discover();
  if (args.includes('--list')) {
    process.stdout.write(`${available.join('\n')}\n`);
    return;
  }
  const unknown = args.filter((a) => !available.includes(a));
  if (unknown.length > 0) {
    process.stderr.write(`unknown benchmark(s): ${unknown.join(', ')} (available: ${available.join(', ')})\n`);
    process.exit(2);
  }
  const small = args.length === 0;
  const names = args.length > 0 ? args : available;
  let failed = 0;
  for (const name of names) {
    process.stderr.write(`[bench] ${name}: running\n`);
    const r = await runOne(name, small && name in SMALL_RUN);
    if (r.ok) {
      const doc = r.doc !== null && typeof r.doc === 'object' && !Array.isArray(r.doc) ? r.doc : { result: r.doc };
      process.stdout.write(`${JSON.stringify({ benchmark: name, ...(doc as object), runnerSeconds: r.seconds }, null, 2)}\n`);
    } else {
      failed++;
      process.stdout.write(`${JSON.stringify({ benchmark: name, error: r.error, runnerSeconds: r.seconds }, null, 2)}\n`);
    }
  }
  if (failed > 0) process.exit(1);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench runner failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
