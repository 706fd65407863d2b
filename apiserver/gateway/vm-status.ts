/**
 * What the gateway writes into VirtualMachine status (pure functions; service.ts does the
 * reads and writes):
 *   - mergeAgentReport: the agent-owned fields of a managed VM, from an agent report;
 *     origin and managed are only ever defaulted, never overwritten; spec is never touched;
 *   - lostStatus: a managed VM whose domain disappeared from its host → Lost (only by the
 *     node it was last seen on);
 *   - discoveredVm / discoveredStatus: a domain Quantix did not define → a VM object with
 *     origin host-discovered, managed false; terminatedStatus when it disappears;
 *   - isGarbage: Terminated host-discovered VMs past their retention.
 */
import type { VirtualMachine, VirtualMachineStatus } from '../../api-types/generated/types.js';
import { agentStatusFromWire } from '../../api-types/proto/agent-status.js';
import {
  AGENT_PHASES,
  AGENT_STATUS_FIELDS,
  DISCOVERED_ON_LABEL,
  DOMAIN_UUID_LABEL,
  FORMER_OWNER_ANNOTATION,
  phaseForPowerState,
  SYNCED_CONDITION,
  AGENT_CONNECTED_CONDITION,
  RESTART_REQUIRED_CONDITION,
} from '../../api-types/proto/contract.js';
import type { VMReport } from '../../api-types/proto/types.js';
import { formatBytes } from '../../api-types/quantity.js';
import { MIN_VM_MEMORY_BYTES } from '../../api-types/schema/virtualmachine.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { NO_CHANGE, statusChanged } from './writes.js';

/** lastSeen is refreshed at most this often when nothing else changes (one write per VM per period). */
export const LAST_SEEN_REFRESH_MS = 30_000;

export function isHostDiscovered(vm: VirtualMachine): boolean {
  return vm.status?.origin === 'host-discovered';
}

/** The host-discovered record of this domain on this node (by its labels; the name may be anything). */
export function isDiscoveredRecordOf(vm: VirtualMachine, node: string, domainUuid: string): boolean {
  const labels = vm.metadata.labels ?? {};
  return isHostDiscovered(vm) && labels[DOMAIN_UUID_LABEL] === domainUuid && labels[DISCOVERED_ON_LABEL] === node;
}

/** Managed: Quantix owns the domain (created through the API, or imported and adopted). */
export function isManagedVm(vm: VirtualMachine): boolean {
  return vm.status?.managed !== false && !isHostDiscovered(vm);
}

/**
 * Sets lastSeen when something else changed or the stored one is stale; with neither,
 * there is nothing to write. (Whether anything else changed is the writer's own
 * question, statusChanged, asked here with lastSeen left out.)
 */
function touchLastSeen(next: VirtualMachineStatus, old: VirtualMachineStatus | undefined, now: Date): VirtualMachineStatus | typeof NO_CHANGE {
  const stale = !old?.lastSeen || now.getTime() - Date.parse(old.lastSeen) >= LAST_SEEN_REFRESH_MS;
  if (!stale && !statusChanged({ ...next, lastSeen: old?.lastSeen }, old)) return NO_CHANGE;
  next.lastSeen = isoSeconds(now);
  return next;
}

/**
 * The status of a managed VM after an agent report. Agent-owned fields are taken from the
 * report as a whole (absent means absent), except `phase`, which is kept when the report
 * has none. A report with the domain present ends Lost. `vm` may be a frozen cache
 * object: its status is copied once, here, and the report's values (fresh from the
 * wire) are used as they are.
 */
export function mergeAgentReport(vm: VirtualMachine, report: VMReport, node: string, now: Date): VirtualMachineStatus | typeof NO_CHANGE {
  const agent = agentStatusFromWire(report.status);
  const old = vm.status;
  const status: VirtualMachineStatus = structuredClone(old ?? {});
  const record = status as Record<string, unknown>;
  const given = agent as Record<string, unknown>;
  for (const field of AGENT_STATUS_FIELDS) {
    if (field === 'phase') continue;
    if (given[field] === undefined) delete record[field];
    else record[field] = given[field];
  }
  if (agent.phase !== undefined) {
    if (!AGENT_PHASES.has(agent.phase)) throw errors.badRequest(`status.phase: the agent may not set phase "${agent.phase}"`);
    status.phase = agent.phase;
  }
  const stamp = isoSeconds(now);
  if (agent.synced) {
    const { status: s, reason, message } = agent.synced;
    status.conditions = setCondition(status.conditions, { type: SYNCED_CONDITION, status: s, reason, message }, stamp);
  }
  if (agent.agentConnected) {
    const { status: s, reason, message } = agent.agentConnected;
    status.conditions = setCondition(status.conditions, { type: AGENT_CONNECTED_CONDITION, status: s, reason, message }, stamp);
  }
  // The agent owns RestartRequired: present in its report while it holds, removed otherwise.
  if (agent.restartRequired) {
    const { reason, message } = agent.restartRequired;
    status.conditions = setCondition(status.conditions, { type: RESTART_REQUIRED_CONDITION, status: 'True', reason, message }, stamp);
  } else if (status.conditions?.some((c) => c.type === RESTART_REQUIRED_CONDITION)) {
    status.conditions = status.conditions.filter((c) => c.type !== RESTART_REQUIRED_CONDITION);
  }
  status.origin ??= 'control-plane';
  status.managed ??= true;
  const present = report.powerState !== '';
  if (present) {
    status.nodeName = node;
    delete status.lostReason;
    delete status.lostAt;
    if (status.phase === 'Lost') status.phase = phaseForPowerState(report.powerState, report.stateReason);
    return touchLastSeen(status, old, now);
  }
  // Whether this changes anything is for the writer to tell (statusChanged).
  return status;
}

/** A managed VM whose domain is missing from its host → Lost (once; not while it is being deleted). */
export function lostStatus(vm: VirtualMachine, node: string, now: Date, why?: string): VirtualMachineStatus | typeof NO_CHANGE {
  if (!isManagedVm(vm) || vm.metadata.deletionTimestamp) return NO_CHANGE;
  const s = vm.status;
  if (!s?.domainUUID || s.phase === 'Lost') return NO_CHANGE;
  // The domain was last seen on another node (the VM was bound there before): that it is
  // missing here proves nothing about it.
  if (s.nodeName && s.nodeName !== node) return NO_CHANGE;
  // Only top-level fields change: a shallow copy leaves the (possibly frozen) input alone.
  const status: VirtualMachineStatus = { ...s };
  status.phase = 'Lost';
  status.lostReason = why ?? `domain ${s.domainUUID}${s.domainName ? ` (${s.domainName})` : ''} is no longer defined on node ${node}: removed outside Quantix`;
  status.lostAt = isoSeconds(now);
  delete status.powerState;
  return status;
}

/** Lower-case DNS-1123 label from a libvirt domain name. */
export function sanitizeName(domainName: string, maxLength = 63): string {
  const s = domainName
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/-+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, maxLength)
    .replace(/-+$/g, '');
  return s || 'domain';
}

/** Name candidates for a host-discovered VM: the domain name, then with a UUID suffix. */
/** Names for a host-discovered domain's record: from the domain's name (never from what the report says its owner was). */
export function discoveredNames(report: VMReport): string[] {
  const suffix = report.domainUuid.slice(0, 8);
  return [sanitizeName(report.domainName), `${sanitizeName(report.domainName, 54)}-${suffix}`];
}

export function discoveredStatus(report: VMReport, node: string, old?: VirtualMachineStatus): VirtualMachineStatus {
  // Only top-level fields change: a shallow copy leaves the (possibly frozen) input alone.
  const status: VirtualMachineStatus = { ...old };
  status.phase = phaseForPowerState(report.powerState, report.stateReason);
  status.powerState = report.powerState as VirtualMachineStatus['powerState'];
  status.origin ??= 'host-discovered';
  status.managed ??= false;
  status.domainUUID = report.domainUuid;
  status.domainName = report.domainName;
  status.nodeName = node;
  delete status.terminatedAt;
  return status;
}

/** The status of a host-discovered VM after a report of its (present) domain. */
export function updateDiscovered(vm: VirtualMachine, report: VMReport, node: string, now: Date): VirtualMachineStatus | typeof NO_CHANGE {
  return touchLastSeen(discoveredStatus(report, node, vm.status), vm.status, now);
}

export function discoveredVm(report: VMReport, name: string, namespace: string, node: string, now: Date): VirtualMachine {
  const status = discoveredStatus(report, node);
  status.lastSeen = isoSeconds(now);
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace,
      labels: { [DISCOVERED_ON_LABEL]: node, [DOMAIN_UUID_LABEL]: report.domainUuid },
      annotations: {
        'quantix.io/discovered-domain': report.domainName,
        ...(report.ownerUid ? { [FORMER_OWNER_ANNOTATION]: `${report.ownerNamespace}/${report.ownerName} (uid ${report.ownerUid})` } : {}),
      },
    },
    // What the domain has, for display and scheduling accounting; Quantix never acts on it.
    spec: {
      runStrategy: 'Manual',
      cpu: Math.max(1, report.vcpus),
      memory: formatBytes(Math.max(report.memoryBytes, MIN_VM_MEMORY_BYTES)),
      nodeName: node,
    },
    status,
  };
}

/** A host-discovered VM whose domain disappeared → Terminated (GC'd after the retention). */
export function terminatedStatus(vm: VirtualMachine, now: Date): VirtualMachineStatus | typeof NO_CHANGE {
  if (!isHostDiscovered(vm) || vm.status?.phase === 'Terminated') return NO_CHANGE;
  const status: VirtualMachineStatus = { ...vm.status };
  status.phase = 'Terminated';
  status.terminatedAt = isoSeconds(now);
  delete status.powerState;
  return status;
}

export function isGarbage(vm: VirtualMachine, now: Date, retentionMs: number): boolean {
  if (!isHostDiscovered(vm) || vm.status?.phase !== 'Terminated' || vm.metadata.deletionTimestamp) return false;
  const at = Date.parse(vm.status.terminatedAt ?? '');
  return Number.isFinite(at) && now.getTime() - at >= retentionMs;
}
