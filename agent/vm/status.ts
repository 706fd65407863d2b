/**
 * The agent-owned part of a VM's status, computed from what the agent observes (pure and
 * deterministic — no timestamps — so an unchanged observation compares equal and is not
 * written again). See api-types/proto/contract.ts for the fields and agent/README.md.
 */
import type { DomainInfo, GuestInfo } from '../hypervisor/driver.js';
import type {
  GuestOSInfo,
  VirtualMachine,
  VirtualMachineInterfaceStatus,
  VirtualMachineStatus,
  VirtualMachineVolumeStatus,
} from '../../api-types/generated/types.js';
import {
  AGENT_CONNECTED_CONDITION,
  AGENT_STATUS_FIELDS,
  apiPowerState,
  RESTART_REQUIRED_CONDITION,
  phaseForPowerState,
  SYNCED_CONDITION,
  SyncedReason,
  type AgentConnectedCondition,
  type AgentStatus,
} from '../../api-types/proto/contract.js';
import { nicMacs } from './spec.js';
import { parseBytes } from '../../api-types/quantity.js';
import { restartRequiredFields, restartRequiredMessage, type VmDecision, type VmMemory } from './decide.js';

function volumesStatus(vm: VirtualMachine, memory: VmMemory): VirtualMachineVolumeStatus[] | undefined {
  const disks = vm.spec.disks ?? [];
  if (disks.length === 0) return undefined;
  if (!memory.volumePaths) return vm.status?.volumes;
  return disks.map((d) => {
    const entry: VirtualMachineVolumeStatus = { name: d.name, pool: d.storagePool };
    const p = memory.volumePaths!.get(d.name);
    if (p) entry.path = p;
    entry.capacityBytes = parseBytes(d.size);
    return entry;
  });
}

/** Each NIC of the spec with its MAC, and the guest's addresses on the interface with that MAC. */
export function interfacesStatus(vm: VirtualMachine, guest: GuestInfo | undefined): VirtualMachineInterfaceStatus[] | undefined {
  const nics = vm.spec.networks ?? [];
  if (nics.length === 0) return undefined;
  const macs = nicMacs(vm);
  return nics.map((n) => {
    const mac = macs.get(n.name)!;
    const entry: VirtualMachineInterfaceStatus = { name: n.name, macAddress: mac };
    const g = guest?.connected ? guest.interfaces?.find((i) => i.mac?.toLowerCase() === mac) : undefined;
    if (g) {
      entry.interfaceName = g.name;
      const v4 = g.addresses.filter((a) => a.family === 'ipv4');
      if (v4[0]) entry.ipAddress = v4[0].ip;
      if (g.addresses.length > 0) entry.ipAddresses = g.addresses.map((a) => `${a.ip}/${a.prefix}`);
    }
    return entry;
  });
}

export function guestOSInfo(guest: GuestInfo | undefined): GuestOSInfo | undefined {
  if (!guest?.connected) return undefined;
  const info: GuestOSInfo = { ...(guest.os ?? {}) };
  if (guest.hostname) info.hostname = guest.hostname;
  if (guest.timezone) info.timezone = guest.timezone;
  return Object.keys(info).length > 0 ? info : undefined;
}

/** The AgentConnected condition; undefined (left as stored) while the guest agent was not asked yet. */
function agentConnected(domain: DomainInfo, guest: GuestInfo | undefined): AgentConnectedCondition | undefined {
  if (domain.state !== 'Running') {
    return { type: AGENT_CONNECTED_CONDITION, status: 'False', reason: 'DomainNotRunning', message: 'the VM is not running' };
  }
  if (!guest) return undefined;
  if (guest.connected) return { type: AGENT_CONNECTED_CONDITION, status: 'True', reason: 'Connected', message: 'qemu-guest-agent answers' };
  // A fixed message: libvirt's wording moves while a guest boots (not connected, not
  // responding, timed out), and each change would be a status write.
  return {
    type: AGENT_CONNECTED_CONDITION,
    status: 'False',
    reason: 'NotConnected',
    message: 'qemu-guest-agent does not answer (not installed, not started yet, or the guest is busy)',
  };
}

export function computeAgentStatus(
  vm: VirtualMachine,
  domain: DomainInfo | undefined,
  memory: VmMemory,
  decision: VmDecision,
  nodeName: string,
  acceleration?: string,
): AgentStatus {
  const status: AgentStatus = {};
  const restartCount = Math.max(memory.restartCount ?? 0, vm.status?.restartCount ?? 0);
  if (restartCount > 0) status.restartCount = restartCount;
  const err = memory.lastError;

  if (decision.flags.deleting && !domain && decision.flags.cleanupDone) {
    status.synced = { type: SYNCED_CONDITION, status: 'True', reason: SyncedReason.Deleted, message: `domain and volumes removed from node ${nodeName}` };
    if (err) status.synced = { type: SYNCED_CONDITION, status: 'False', reason: err.reason, message: err.message };
    return status;
  }
  // Kept in every report (a report replaces the agent's fields as a whole).
  const snapshotOperation = memory.snapshotOperation ?? vm.status?.snapshotOperation;
  if (snapshotOperation) status.snapshotOperation = snapshotOperation;

  if (domain && decision.flags.ownedDomain) {
    const powerState = apiPowerState(domain.state);
    status.powerState = powerState;
    status.domainUUID = domain.uuid;
    status.domainName = domain.name;
    let phase = phaseForPowerState(powerState, domain.reason);
    if (memory.stopRequestedAt !== undefined && (phase === 'Running' || phase === 'Paused')) phase = 'Stopping';
    if (err?.phaseFailed) phase = 'Failed';
    status.phase = phase;
    const running = domain.state === 'Running';
    const interfaces = interfacesStatus(vm, running ? memory.guest : undefined);
    if (interfaces) status.interfaces = interfaces;
    const os = guestOSInfo(running ? memory.guest : undefined);
    if (os) status.guestOSInfo = os;
    const connected = agentConnected(domain, memory.guest);
    if (connected) status.agentConnected = connected;
    if (acceleration) status.acceleration = acceleration;
    const resized = restartRequiredFields(vm, domain);
    if (resized.length > 0) {
      status.restartRequired = {
        type: RESTART_REQUIRED_CONDITION,
        status: 'True',
        reason: 'SpecChanged',
        message: restartRequiredMessage(vm, domain, resized),
      };
    }
  } else if (domain) {
    // A foreign domain holds this VM's UUID: report nothing of it as ours.
  } else if (decision.flags.domainLost) {
    // Keep what the VM had, so the gateway can name the lost domain.
    if (vm.status?.domainUUID) status.domainUUID = vm.status.domainUUID;
    if (vm.status?.domainName) status.domainName = vm.status.domainName;
  } else if (err?.phaseFailed) {
    status.phase = 'Failed';
  }
  const volumes = volumesStatus(vm, memory);
  if (volumes) status.volumes = volumes;

  if (err) {
    status.synced = { type: SYNCED_CONDITION, status: 'False', reason: err.reason, message: err.message };
  } else if (decision.blocked) {
    status.synced = { type: SYNCED_CONDITION, status: 'False', reason: decision.blocked.reason, message: decision.blocked.message };
  } else if (decision.flags.deleting) {
    status.synced = {
      type: SYNCED_CONDITION,
      status: 'False',
      reason: SyncedReason.Deleting,
      message: `removing the domain and volumes from node ${nodeName}`,
    };
  } else if (domain && !domain.persistent) {
    status.synced = {
      type: SYNCED_CONDITION,
      status: 'False',
      reason: SyncedReason.NotPersistent,
      message: 'the domain definition was removed outside Quantix; the running domain disappears when it stops',
    };
  } else if (domain) {
    status.synced = {
      type: SYNCED_CONDITION,
      status: 'True',
      reason: SyncedReason.Synced,
      message: `domain matches the spec (runStrategy ${vm.spec.runStrategy ?? 'Always'})`,
    };
  }
  return status;
}

/** The agent-owned part of a stored status, in the shape computeAgentStatus returns (for comparison). */
export function projectAgentStatus(status: VirtualMachineStatus | undefined): AgentStatus {
  const out: AgentStatus = {};
  if (!status) return out;
  const src = status as Record<string, unknown>;
  const dst = out as Record<string, unknown>;
  for (const f of AGENT_STATUS_FIELDS) if (src[f] !== undefined) dst[f] = src[f];
  const synced = status.conditions?.find((c) => c.type === SYNCED_CONDITION);
  if (synced && (synced.status === 'True' || synced.status === 'False')) {
    out.synced = { type: SYNCED_CONDITION, status: synced.status, reason: synced.reason ?? '', message: synced.message ?? '' };
  }
  const connected = status.conditions?.find((c) => c.type === AGENT_CONNECTED_CONDITION);
  if (connected && (connected.status === 'True' || connected.status === 'False')) {
    out.agentConnected = { type: AGENT_CONNECTED_CONDITION, status: connected.status, reason: connected.reason ?? '', message: connected.message ?? '' };
  }
  const restart = status.conditions?.find((c) => c.type === RESTART_REQUIRED_CONDITION);
  if (restart?.status === 'True') {
    out.restartRequired = { type: RESTART_REQUIRED_CONDITION, status: 'True', reason: restart.reason ?? '', message: restart.message ?? '' };
  }
  return out;
}

/** Canonical JSON (sorted keys) so that equal values compare equal. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      return Object.fromEntries(
        Object.entries(v as Record<string, unknown>)
          .filter(([, x]) => x !== undefined)
          .sort(([a], [b]) => a.localeCompare(b)),
      );
    }
    return v;
  });
}

/** The one comparison of agent statuses (the reporter's send decision uses it). */
export function sameAgentStatus(a: AgentStatus, b: AgentStatus): boolean {
  return canonicalJson(a) === canonicalJson(b);
}

/**
 * Whether writing `next` would change the stored status: agent-owned fields and the Synced
 * condition; a report without a phase leaves the phase alone, so it is not compared.
 */
export function agentStatusDiffers(next: AgentStatus, stored: VirtualMachineStatus | undefined): boolean {
  const current = projectAgentStatus(stored);
  if (next.phase === undefined) delete current.phase;
  if (next.synced === undefined) delete current.synced;
  if (next.agentConnected === undefined) delete current.agentConnected;
  return !sameAgentStatus(next, current);
}
