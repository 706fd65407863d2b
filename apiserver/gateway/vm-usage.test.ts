import type { VirtualMachine } from '../../api-types/generated/types.js';
import type { VmTelemetry } from '../../api-types/proto/types.js';
import { statusWithUsage, USAGE_MAX_AGE_MS, USAGE_MIN_INTERVAL_MS, vmUsage } from './vm-usage.js';
import { NO_CHANGE } from './writes.js';

const NOW = new Date('2026-12-07T08:00:00Z');
const MiB = 1024 ** 2;
const t = (over: Partial<VmTelemetry> = {}): VmTelemetry => ({
  namespace: 'ns',
  name: 'web',
  uid: 'u1',
  sampleTimeMs: NOW.getTime(),
  cpuPercent: 12.6,
  memoryResidentBytes: 200 * MiB,
  memoryBytes: 512 * MiB,
  ...over,
});
const vm = (usage?: VirtualMachine['status'] extends infer S ? (S extends { usage?: infer U } ? U : never) : never, nodeName = 'n1'): VirtualMachine =>
  ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'web', namespace: 'ns', uid: 'u1' },
    spec: { nodeName, cpu: 1, memory: '512Mi' },
    status: { phase: 'Running', ...(usage ? { usage } : {}) },
  }) as VirtualMachine;

describe('VirtualMachine status.usage from heartbeats', () => {
  it('the first sample is written, CPU in whole percent, the rest of the status kept', () => {
    expect(statusWithUsage(vm(), 'n1', 'u1', vmUsage(t(), 0), NOW)).toEqual({
      phase: 'Running',
      usage: { sampleTime: '2026-12-07T08:00:00Z', cpuPercent: 13, memoryResidentBytes: 200 * MiB, memoryBytes: 512 * MiB },
    });
  });

  it('noise is not written; a meaningful change or a stale sample is', () => {
    const stored = vmUsage(t(), 0);
    const later = new Date(NOW.getTime() + USAGE_MIN_INTERVAL_MS);
    expect(statusWithUsage(vm(stored), 'n1', 'u1', vmUsage(t({ cpuPercent: 15, memoryResidentBytes: 210 * MiB }), 0), later)).toBe(NO_CHANGE);
    expect(statusWithUsage(vm(stored), 'n1', 'u1', vmUsage(t({ cpuPercent: 60 }), 0), later)).not.toBe(NO_CHANGE);
    expect(statusWithUsage(vm(stored), 'n1', 'u1', vmUsage(t({ memoryResidentBytes: 300 * MiB }), 0), later)).not.toBe(NO_CHANGE);
    const stale = new Date(NOW.getTime() + USAGE_MAX_AGE_MS);
    expect(statusWithUsage(vm(stored), 'n1', 'u1', vmUsage(t({ sampleTimeMs: stale.getTime() }), 0), stale)).not.toBe(NO_CHANGE);
  });

  it('a meaningful change within two minutes of the stored sample waits; a new memory size does not', () => {
    const stored = vmUsage(t(), 0);
    const soon = new Date(NOW.getTime() + USAGE_MIN_INTERVAL_MS - 1_000);
    expect(statusWithUsage(vm(stored), 'n1', 'u1', vmUsage(t({ cpuPercent: 60 }), 0), soon)).toBe(NO_CHANGE);
    expect(statusWithUsage(vm(stored), 'n1', 'u1', vmUsage(t({ memoryBytes: 2048 * MiB }), 0), soon)).not.toBe(NO_CHANGE);
  });

  it('a node writes only its own VMs, and only the VM of that uid', () => {
    expect(statusWithUsage(vm(undefined, 'other-node'), 'n1', 'u1', vmUsage(t(), 0), NOW)).toBe(NO_CHANGE);
    expect(statusWithUsage(vm(), 'n1', 'u2', vmUsage(t({ uid: 'u2' }), 0), NOW)).toBe(NO_CHANGE);
  });

  it('refuses an impossible sample, naming the entry and the field', () => {
    expect(() => vmUsage(t({ cpuPercent: 101 }), 2)).toThrow(/vmTelemetry\[2\]\.cpuPercent: 101 is out of range/);
    expect(() => vmUsage(t({ memoryResidentBytes: -5 }), 0)).toThrow(/vmTelemetry\[0\]\.memoryResidentBytes/);
    expect(() => vmUsage(t({ uid: '' }), 1)).toThrow(/vmTelemetry\[1\]: namespace, name and uid are required/);
    expect(() => vmUsage(t({ sampleTimeMs: 0 }), 0)).toThrow(/vmTelemetry\[0\]\.sampleTimeMs: required/);
  });
});
