import type { HeartbeatRequest, NodeTelemetry } from '../../api-types/proto/types.js';
import { heartbeatStatus, nodeTelemetry, telemetryChanged, TELEMETRY_MAX_AGE_MS, TELEMETRY_MIN_INTERVAL_MS } from './node-status.js';

const NOW = new Date('2026-12-07T08:00:00Z');
const GiB = 1024 ** 3;
const sample = (over: Partial<NodeTelemetry> = {}): NodeTelemetry => ({
  sampleTimeMs: NOW.getTime(),
  cpuPercent: 20.4,
  cpuCores: 4,
  memoryUsedBytes: 3 * GiB,
  memoryTotalBytes: 16 * GiB,
  diskPath: '/var/lib/quantix-agent',
  diskUsedBytes: 40 * GiB,
  diskTotalBytes: 100 * GiB,
  ...over,
});
const beat = (telemetry: NodeTelemetry | null): HeartbeatRequest => ({
  stateHash: 'h',
  pools: [],
  capacity: null,
  allocatable: null,
  nodeInfo: null,
  hypervisorReady: true,
  hypervisorMessage: '',
  addresses: ['10.0.0.5'],
  acceleration: '',
  accelerationSource: '',
  bridges: [],
  networks: [],
  telemetry,
  vmTelemetry: [],
  selfFencing: null,
});

describe('Node status.telemetry from heartbeats', () => {
  it('is written from the first sample, CPU in whole percent', () => {
    const status = heartbeatStatus(undefined, beat(sample()), 'n1', undefined, '', [], NOW);
    expect(status.telemetry).toEqual({
      sampleTime: '2026-12-07T08:00:00Z',
      cpuPercent: 20,
      cpuCores: 4,
      memoryUsedBytes: 3 * GiB,
      memoryTotalBytes: 16 * GiB,
      diskPath: '/var/lib/quantix-agent',
      diskUsedBytes: 40 * GiB,
      diskTotalBytes: 100 * GiB,
    });
  });

  it('is kept as it was for noise, rewritten for a meaningful change or when stale', () => {
    const first = heartbeatStatus(undefined, beat(sample()), 'n1', undefined, '', [], NOW);
    const later = new Date(NOW.getTime() + TELEMETRY_MIN_INTERVAL_MS);
    const noise = heartbeatStatus(
      first,
      beat(sample({ sampleTimeMs: later.getTime(), cpuPercent: 23, memoryUsedBytes: 3.1 * GiB })),
      'n1',
      undefined,
      '',
      [],
      later,
    );
    expect(noise.telemetry).toEqual(first.telemetry);
    const busy = heartbeatStatus(first, beat(sample({ sampleTimeMs: later.getTime(), cpuPercent: 80 })), 'n1', undefined, '', [], later);
    expect(busy.telemetry?.cpuPercent).toBe(80);
    const fuller = heartbeatStatus(first, beat(sample({ sampleTimeMs: later.getTime(), diskUsedBytes: 45 * GiB })), 'n1', undefined, '', [], later);
    expect(fuller.telemetry?.diskUsedBytes).toBe(45 * GiB);
    const stale = new Date(NOW.getTime() + TELEMETRY_MAX_AGE_MS);
    const refreshed = heartbeatStatus(first, beat(sample({ sampleTimeMs: stale.getTime() })), 'n1', undefined, '', [], stale);
    expect(refreshed.telemetry?.sampleTime).toBe(stale.toISOString().replace('.000Z', 'Z'));
  });

  it('a meaningful change within two minutes of the stored sample waits (a busy host would write every heartbeat); a new size does not', () => {
    const first = heartbeatStatus(undefined, beat(sample()), 'n1', undefined, '', [], NOW);
    const soon = new Date(NOW.getTime() + TELEMETRY_MIN_INTERVAL_MS - 1_000);
    const busy = heartbeatStatus(first, beat(sample({ sampleTimeMs: soon.getTime(), cpuPercent: 80 })), 'n1', undefined, '', [], soon);
    expect(busy.telemetry).toEqual(first.telemetry);
    const grown = heartbeatStatus(first, beat(sample({ sampleTimeMs: soon.getTime(), memoryTotalBytes: 32 * GiB })), 'n1', undefined, '', [], soon);
    expect(grown.telemetry?.memoryTotalBytes).toBe(32 * GiB);
  });

  it('a heartbeat without telemetry leaves the stored one', () => {
    const first = heartbeatStatus(undefined, beat(sample()), 'n1', undefined, '', [], NOW);
    expect(heartbeatStatus(first, beat(null), 'n1', undefined, '', [], NOW).telemetry).toEqual(first.telemetry);
  });

  it('refuses a sample that cannot be true, naming the field', () => {
    expect(() => nodeTelemetry(sample({ cpuPercent: 140 }))).toThrow(/telemetry\.cpuPercent: 140 is out of range/);
    expect(() => nodeTelemetry(sample({ memoryUsedBytes: 17 * GiB }))).toThrow(/telemetry\.memoryUsedBytes/);
    expect(() => nodeTelemetry(sample({ diskUsedBytes: -1 }))).toThrow(/telemetry\.diskUsedBytes/);
    expect(() => nodeTelemetry(sample({ cpuPercent: Number.NaN }))).toThrow(/telemetry\.cpuPercent/);
    expect(() => nodeTelemetry(sample({ sampleTimeMs: 0 }))).toThrow(/telemetry\.sampleTimeMs: required/);
    let caught: unknown;
    try {
      nodeTelemetry(sample({ cpuPercent: 140 }));
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: 400, reason: 'BadRequest' });
  });

  it('telemetryChanged: a different size or path counts', () => {
    const stored = nodeTelemetry(sample());
    expect(telemetryChanged(stored, nodeTelemetry(sample({ memoryTotalBytes: 32 * GiB })), NOW)).toBe(true);
    expect(telemetryChanged(stored, nodeTelemetry(sample({ diskPath: '/srv' })), NOW)).toBe(true);
    expect(telemetryChanged(stored, nodeTelemetry(sample()), NOW)).toBe(false);
  });
});
