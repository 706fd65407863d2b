/**
 * Host telemetry for Node status.telemetry, sampled on each heartbeat: CPU use since the
 * previous sample (from the kernel's per-CPU times), memory in use (MemTotal − MemAvailable,
 * as `free` counts it), and the filesystem holding the agent's state dir. The gateway decides
 * whether a sample is worth writing (apiserver/gateway/node-status.ts).
 */
import { statfsSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { NodeTelemetry, VmTelemetry } from '../api-types/proto/types.js';
import type { DomainInfo, DomainStats, HypervisorDriver } from './hypervisor/driver.js';

export interface CpuTimes {
  /** Sum over all CPUs of every mode, and of the idle modes (idle; iowait is not in os.cpus()). */
  total: number;
  idle: number;
}

/** All CPUs' times summed (os.cpus() shape). */
export function cpuTimesOf(cpus: readonly { times: { user: number; nice: number; sys: number; idle: number; irq: number } }[]): CpuTimes {
  let total = 0;
  let idle = 0;
  for (const c of cpus) {
    total += c.times.user + c.times.nice + c.times.sys + c.times.idle + c.times.irq;
    idle += c.times.idle;
  }
  return { total, idle };
}

/** CPU use between two samples, percent of all cores (0–100); undefined without a time between them. */
export function cpuPercentBetween(prev: CpuTimes, next: CpuTimes): number | undefined {
  const total = next.total - prev.total;
  if (!(total > 0)) return undefined;
  const busy = total - (next.idle - prev.idle);
  return Math.min(100, Math.max(0, (busy * 100) / total));
}

/** `MemAvailable` from /proc/meminfo text, bytes; undefined when absent. */
export function memAvailableBytes(meminfo: string): number | undefined {
  const m = /^MemAvailable:\s+(\d+)\s+kB$/m.exec(meminfo);
  return m ? Number(m[1]) * 1024 : undefined;
}

export interface TelemetrySources {
  cpus: () => ReturnType<typeof os.cpus>;
  totalMemory: () => number;
  availableMemory: () => number;
  statfs: (path: string) => { blocks: number; bfree: number; bsize: number };
  now: () => number;
}

const realSources: TelemetrySources = {
  cpus: () => os.cpus(),
  totalMemory: () => os.totalmem(),
  availableMemory: () => {
    try {
      return memAvailableBytes(readFileSync('/proc/meminfo', 'utf8')) ?? os.freemem();
    } catch {
      return os.freemem();
    }
  },
  statfs: (path) => {
    const s = statfsSync(path);
    return { blocks: Number(s.blocks), bfree: Number(s.bfree), bsize: Number(s.bsize) };
  },
  now: () => Date.now(),
};

export class TelemetrySampler {
  #last: CpuTimes | undefined;

  constructor(
    private readonly diskPath: string,
    private readonly sources: TelemetrySources = realSources,
  ) {
    // The first heartbeat has a CPU figure too: the interval since the agent started.
    this.#last = cpuTimesOf(this.sources.cpus());
  }

  /** One sample; null when nothing could be read (the heartbeat goes without). */
  sample(): NodeTelemetry | null {
    try {
      const cpus = this.sources.cpus();
      const times = cpuTimesOf(cpus);
      const cpuPercent = this.#last ? cpuPercentBetween(this.#last, times) : undefined;
      this.#last = times;
      const total = this.sources.totalMemory();
      const available = Math.min(total, this.sources.availableMemory());
      const fs = this.sources.statfs(this.diskPath);
      const diskTotal = fs.blocks * fs.bsize;
      return {
        sampleTimeMs: this.sources.now(),
        cpuPercent: cpuPercent ?? 0,
        cpuCores: cpus.length,
        memoryUsedBytes: total - available,
        memoryTotalBytes: total,
        diskPath: this.diskPath,
        diskUsedBytes: diskTotal - fs.bfree * fs.bsize,
        diskTotalBytes: diskTotal,
      };
    } catch {
      return null;
    }
  }
}

/** One VM's CPU use between two samples of its cumulative CPU time, percent of its vCPUs (0–100). */
export function vmCpuPercent(prev: { cpuSeconds: number; atMs: number }, next: { cpuSeconds: number; atMs: number }, vcpus: number): number | undefined {
  const wall = (next.atMs - prev.atMs) / 1000;
  const used = next.cpuSeconds - prev.cpuSeconds;
  if (!(wall > 0) || !(vcpus > 0) || used < 0) return undefined; // no interval, or the domain restarted
  return Math.min(100, (used * 100) / (wall * vcpus));
}

/**
 * Per-VM use for VirtualMachine status.usage: the running domains Quantix owns, CPU since the
 * previous sample (a VM seen for the first time has none yet and is left out), resident and
 * balloon memory.
 */
export class VmTelemetrySampler {
  readonly #last = new Map<string, { cpuSeconds: number; atMs: number }>();

  constructor(
    private readonly driver: Pick<HypervisorDriver, 'domainStats'>,
    private readonly domains: () => DomainInfo[],
    private readonly now: () => number = Date.now,
    /** A heartbeat never waits longer than this for libvirt (a hung libvirtd must not delay it). */
    private readonly timeoutMs = 2_000,
  ) {}

  async sample(): Promise<VmTelemetry[]> {
    let stats: DomainStats[];
    let timer: NodeJS.Timeout | undefined;
    try {
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error('domain statistics took too long')), this.timeoutMs);
      });
      stats = await Promise.race([this.driver.domainStats(), late]);
    } catch {
      return [];
    } finally {
      clearTimeout(timer);
    }
    const atMs = this.now();
    const byUuid = new Map(this.domains().map((d) => [d.uuid, d]));
    const out: VmTelemetry[] = [];
    const seen = new Set<string>();
    for (const st of stats) {
      const d = byUuid.get(st.uuid);
      const owner = d?.owner;
      if (!d || !owner?.uid || !st.cpu) continue;
      seen.add(st.uuid);
      const next = { cpuSeconds: st.cpu.timeSeconds, atMs };
      const prev = this.#last.get(st.uuid);
      this.#last.set(st.uuid, next);
      const cpuPercent = prev ? vmCpuPercent(prev, next, d.vcpus) : undefined;
      if (cpuPercent === undefined) continue;
      out.push({
        namespace: owner.namespace,
        name: owner.name,
        uid: owner.uid,
        sampleTimeMs: atMs,
        cpuPercent,
        memoryResidentBytes: st.memory?.residentBytes ?? 0,
        memoryBytes: st.memory?.actualBytes ?? d.memoryBytes,
      });
    }
    for (const uuid of this.#last.keys()) if (!seen.has(uuid)) this.#last.delete(uuid);
    return out;
  }
}
