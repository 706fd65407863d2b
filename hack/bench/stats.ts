/** Small helpers shared by the benchmarks: percentiles and bounded concurrency. */
import { readdirSync, readFileSync } from 'node:fs';

/** The p-th percentile (0–100) of `values`, nearest-rank; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** Runs task(0..count-1) with at most `inFlight` running at once; rejects on the first failure. */
export async function runConcurrently(count: number, inFlight: number, task: (index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < count) {
      const index = next++;
      await task(index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, worker));
}

/** CPU seconds (user + system) used so far by `pid` and, with `withChildren`, all its descendants (Linux /proc). */
export function processCpuSeconds(pid: number, withChildren: boolean): number {
  let total = 0;
  const stack = [pid];
  while (stack.length > 0) {
    const current = stack.pop()!;
    try {
      const fields = readFileSync(`/proc/${current}/stat`, 'utf8').split(') ')[1]!.split(' ');
      total += (Number(fields[11]) + Number(fields[12])) / sysconfClockTicks;
      if (!withChildren) continue;
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const children = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (children) stack.push(...children.split(' ').map(Number));
      }
    } catch {
      /* the process is gone */
    }
  }
  return total;
}

/** USER_HZ: 100 on every Linux this runs on. */
const sysconfClockTicks = 100;

export interface MeasuredProcess {
  pid: number;
  /** Count its descendants too (a tsx launcher and the node process it runs). */
  withChildren: boolean;
}

/** Cores used by each process while `work` runs (CPU seconds / wall seconds). */
export async function measureCores<T>(
  processes: Record<string, MeasuredProcess>,
  work: () => Promise<T>,
): Promise<{ result: T; cores: Record<string, number> }> {
  const cpu = (p: MeasuredProcess) => processCpuSeconds(p.pid, p.withChildren);
  const before = Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, cpu(p)]));
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const cores = Object.fromEntries(Object.entries(processes).map(([name, p]) => [name, +((cpu(p) - before[name]!) / seconds).toFixed(2)]));
  return { result, cores };
}
