import { cpuPercentBetween, cpuTimesOf, memAvailableBytes, TelemetrySampler, VmTelemetrySampler, vmCpuPercent, type TelemetrySources } from './telemetry.js';

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

describe('per-VM telemetry', () => {
  const uuid = '11111111-2222-4333-8444-555555555555';
  const domain = {
    uuid,
    name: 'ns_web',
    id: 3,
    state: 'Running' as const,
    reason: 'booted',
    persistent: true,
    vcpus: 2,
    memoryBytes: 512 * 1024 ** 2,
    owner: { namespace: 'ns', name: 'web', uid: uuid },
  };
  const stats = (cpuSeconds: number) => ({
    uuid,
    name: 'ns_web',
    state: 'Running' as const,
    cpu: { timeSeconds: cpuSeconds },
    vcpus: [],
    memory: { actualBytes: 512 * 1024 ** 2, residentBytes: 200 * 1024 ** 2 },
    disks: [],
    nics: [],
  });

  it('vmCpuPercent: CPU seconds over wall seconds × vCPUs; none across a restart', () => {
    expect(vmCpuPercent({ cpuSeconds: 10, atMs: 0 }, { cpuSeconds: 13, atMs: 10_000 }, 2)).toBe(15);
    expect(vmCpuPercent({ cpuSeconds: 10, atMs: 0 }, { cpuSeconds: 1, atMs: 10_000 }, 2)).toBeUndefined();
    expect(vmCpuPercent({ cpuSeconds: 10, atMs: 0 }, { cpuSeconds: 11, atMs: 0 }, 2)).toBeUndefined();
  });

  it('a VM is reported from its second sample on, with resident and balloon memory', async () => {
    let now = 1_000_000;
    let cpuSeconds = 4;
    const sampler = new VmTelemetrySampler(
      { domainStats: async () => [stats(cpuSeconds)] },
      () => [domain],
      () => now,
    );
    expect(await sampler.sample()).toEqual([]);
    now += 10_000;
    cpuSeconds = 9; // 5 s of CPU in 10 s on 2 vCPUs
    expect(await sampler.sample()).toEqual([
      { namespace: 'ns', name: 'web', uid: uuid, sampleTimeMs: now, cpuPercent: 25, memoryResidentBytes: 200 * 1024 ** 2, memoryBytes: 512 * 1024 ** 2 },
    ]);
  });

  it('leaves out domains Quantix does not own, and answers nothing when libvirt fails', async () => {
    const foreign = { ...domain, owner: null };
    const sampler = new VmTelemetrySampler({ domainStats: async () => [stats(1)] }, () => [foreign]);
    await sampler.sample();
    expect(await sampler.sample()).toEqual([]);
    const failing = new VmTelemetrySampler(
      {
        domainStats: async () => {
          throw new Error('libvirtd is not running');
        },
      },
      () => [domain],
    );
    expect(await failing.sample()).toEqual([]);
    // A libvirtd that does not answer costs the heartbeat the timeout, not the call's 60 s.
    const hung = new VmTelemetrySampler({ domainStats: () => new Promise(() => undefined) }, () => [domain], Date.now, 20);
    expect(await hung.sample()).toEqual([]);
  });
});
