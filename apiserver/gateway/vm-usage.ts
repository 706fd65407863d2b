/**
 * VirtualMachine status.usage from the heartbeat's per-VM telemetry (pure). Like Node
 * status.telemetry, a sample is written only when it differs meaningfully from the stored one —
 * a different memory size; CPU by 5 points or more, resident memory by 5 % of the VM's memory
 * or more, once the stored sample is USAGE_MIN_INTERVAL_MS old (a busy guest's CPU moves that
 * much between most heartbeats) — or when the stored one is older than USAGE_MAX_AGE_MS, so
 * that a VM watcher is not woken, nor etcd written, on every heartbeat.
 */
import type { VirtualMachine, VirtualMachineUsage } from '../../api-types/generated/types.js';
import type { Init, VmTelemetry } from '../../api-types/proto/types.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { NO_CHANGE } from './writes.js';

export const USAGE_MAX_AGE_MS = 5 * 60_000;
export const USAGE_MIN_INTERVAL_MS = 2 * 60_000;
const CPU_STEP_PERCENT = 5;
const MEMORY_STEP_SHARE = 0.05;

/** The reported sample as status.usage; an impossible one is refused naming the field. */
export function vmUsage(t: Init<VmTelemetry>, index: number): VirtualMachineUsage {
  const at = `vmTelemetry[${index}]`;
  const field = (name: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): number => {
    const v = value ?? 0;
    if (!Number.isFinite(v) || v < 0 || v > max) throw errors.badRequest(`${at}.${name}: ${v} is out of range (0 to ${max})`);
    return v;
  };
  if (!t.namespace || !t.name || !t.uid) throw errors.badRequest(`${at}: namespace, name and uid are required`);
  const sampleTimeMs = field('sampleTimeMs', t.sampleTimeMs);
  if (!sampleTimeMs) throw errors.badRequest(`${at}.sampleTimeMs: required`);
  return {
    sampleTime: isoSeconds(new Date(sampleTimeMs)),
    cpuPercent: Math.round(field('cpuPercent', t.cpuPercent, 100)),
    memoryResidentBytes: field('memoryResidentBytes', t.memoryResidentBytes),
    memoryBytes: field('memoryBytes', t.memoryBytes),
  };
}

export function usageChanged(stored: VirtualMachineUsage | undefined, next: VirtualMachineUsage, now: Date): boolean {
  if (!stored) return true;
  const age = now.getTime() - Date.parse(stored.sampleTime ?? '');
  if (!(age < USAGE_MAX_AGE_MS)) return true;
  const memoryStep = Math.max(1, (next.memoryBytes ?? 0) * MEMORY_STEP_SHARE);
  if (stored.memoryBytes !== next.memoryBytes) return true;
  if (age < USAGE_MIN_INTERVAL_MS) return false;
  return (
    Math.abs((stored.cpuPercent ?? 0) - (next.cpuPercent ?? 0)) >= CPU_STEP_PERCENT ||
    Math.abs((stored.memoryResidentBytes ?? 0) - (next.memoryResidentBytes ?? 0)) >= memoryStep
  );
}

/**
 * The VM's status with the sample, or NO_CHANGE: a VM that is not this one (another uid), not
 * bound to the reporting node (a node writes only its own VMs), or whose use did not change
 * meaningfully, is left as it is.
 */
export function statusWithUsage(
  vm: VirtualMachine,
  node: string,
  uid: string,
  usage: VirtualMachineUsage,
  now: Date,
): VirtualMachine['status'] | typeof NO_CHANGE {
  if (vm.metadata.uid !== uid || vm.spec?.nodeName !== node) return NO_CHANGE;
  if (!usageChanged(vm.status?.usage, usage, now)) return NO_CHANGE;
  return { ...vm.status, usage };
}
