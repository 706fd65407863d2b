import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { formatAge } from '../model/age.js';
import { bytes, UsageBar } from './bits.js';

/** The VM's current use (status.usage, from libvirt's domain statistics via its node's agent). */
export function VmUsage({ vm, now }: { vm: VirtualMachine; now: number }) {
  const u = vm.status?.usage;
  if (!u) {
    return (
      <p className="muted small" data-testid="vm-usage">
        Current use: not reported (the VM is not running, or its agent has not sampled it yet).
      </p>
    );
  }
  return (
    <div data-testid="vm-usage">
      <h2>Current use</h2>
      <UsageBar label={`CPU (${vm.spec.cpu ?? 1} vCPU)`} used={u.cpuPercent ?? 0} total={100} format={(n) => `${n}%`} />
      <UsageBar label="Memory resident on the host" used={u.memoryResidentBytes ?? 0} total={u.memoryBytes ?? 0} format={(n) => bytes(n)} />
      <p className="muted small">Sampled {u.sampleTime ? `${formatAge(u.sampleTime, now)} ago` : ''}; updated when it changes noticeably.</p>
    </div>
  );
}
