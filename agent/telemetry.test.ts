import { cpuPercentBetween, cpuTimesOf, memAvailableBytes, TelemetrySampler, type TelemetrySources } from './telemetry.js';

const cpu = (user: number, idle: number) => ({ model: 'x', speed: 1, times: { user, nice: 0, sys: 0, idle, irq: 0 } });

describe('host telemetry', () => {
  it('CPU use is the busy share of all cores between two samples', () => {
    const a = cpuTimesOf([cpu(100, 900), cpu(100, 900)]);
    const b = cpuTimesOf([cpu(400, 1600), cpu(100, 1900)]); // +300 busy, +1700 idle of 2000
    expect(cpuPercentBetween(a, b)).toBe(15);
    expect(cpuPercentBetween(b, b)).toBeUndefined();
  });

  it('memory available comes from /proc/meminfo MemAvailable', () => {
    expect(memAvailableBytes('MemTotal:       16384 kB\nMemFree:          100 kB\nMemAvailable:    4096 kB\n')).toBe(4096 * 1024);
    expect(memAvailableBytes('MemTotal: 1 kB\n')).toBeUndefined();
  });

  it('a sample: CPU since the previous one, memory used, the state dir filesystem', () => {
    let times = [cpu(0, 1000)];
    const sources: TelemetrySources = {
      cpus: () => times as never,
      totalMemory: () => 8 * 1024 ** 3,
      availableMemory: () => 6 * 1024 ** 3,
      statfs: () => ({ blocks: 1000, bfree: 250, bsize: 4096 }),
      now: () => 1_700_000_000_000,
    };
    const sampler = new TelemetrySampler('/var/lib/quantix-agent', sources);
    times = [cpu(500, 1500)];
    expect(sampler.sample()).toEqual({
      sampleTimeMs: 1_700_000_000_000,
      cpuPercent: 50,
      cpuCores: 1,
      memoryUsedBytes: 2 * 1024 ** 3,
      memoryTotalBytes: 8 * 1024 ** 3,
      diskPath: '/var/lib/quantix-agent',
      diskUsedBytes: 750 * 4096,
      diskTotalBytes: 1000 * 4096,
    });
  });

  it('a filesystem that cannot be read gives no sample, not a wrong one', () => {
    const sampler = new TelemetrySampler('/gone', {
      cpus: () => [cpu(0, 1)] as never,
      totalMemory: () => 1,
      availableMemory: () => 1,
      statfs: () => {
        throw new Error('ENOENT');
      },
      now: () => 1,
    });
    expect(sampler.sample()).toBeNull();
  });

  it('samples this host for real', () => {
    const s = new TelemetrySampler('/tmp').sample();
    expect(s).not.toBeNull();
    expect(s!.memoryTotalBytes).toBeGreaterThan(0);
    expect(s!.memoryUsedBytes).toBeLessThanOrEqual(s!.memoryTotalBytes);
    expect(s!.diskTotalBytes).toBeGreaterThan(0);
    expect(s!.cpuPercent).toBeGreaterThanOrEqual(0);
    expect(s!.cpuPercent).toBeLessThanOrEqual(100);
  });
});
