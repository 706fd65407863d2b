/**
 * The Node/V8 flags quantix-apiserver runs with, for the machine it runs on. `make up`
 * (hack/up.sh) and the benchmarks start the apiserver with them; run as a script, this
 * prints them for NODE_OPTIONS.
 *
 * - `--max-semi-space-size=32`: a larger young generation. With thousands of objects in the
 *   watch cache, V8's default (16 MiB semi-spaces) spends enough time scavenging and
 *   promoting to cut write throughput by about a third (hack/bench/apiserver).
 * - `--v8-pool-size`: V8's helper threads (concurrent marking, sweeping, background
 *   compilation) capped at one less than the cores, at most Node's default of 4. The API is
 *   served by one JS thread; on two cores, four helpers let a concurrent mark take both
 *   cores for a couple of hundred milliseconds, and the JS thread waited in the run queue
 *   with every watch delivery behind it (measured: helper threads above one core, the JS
 *   thread getting under half of each 50 ms window; p99 delivery 83–145 ms → 14–73 ms).
 */
import { availableParallelism } from 'node:os';
import { pathToFileURL } from 'node:url';

/** Node's default size of the V8 platform's worker pool. */
const NODE_DEFAULT_V8_POOL_SIZE = 4;

export function apiserverNodeOptions(cores: number = availableParallelism()): string[] {
  const helpers = Math.max(1, Math.min(NODE_DEFAULT_V8_POOL_SIZE, Math.floor(cores) - 1));
  return ['--max-semi-space-size=32', `--v8-pool-size=${helpers}`];
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  process.stdout.write(`${apiserverNodeOptions().join(' ')}\n`);
}
