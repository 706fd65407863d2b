/**
 * The agent-owned part of a VM status, between its API shape (AgentStatus in contract.ts:
 * VirtualMachineStatus field names) and its wire shape (AgentVMStatus in gateway.proto).
 * Presence is kept both ways: a field left out stays left out (proto3 `optional`); an
 * empty list is the same as none (repeated fields have no presence).
 */
import type { VirtualMachineInterfaceStatus, VirtualMachinePhase, VirtualMachineStatus, VirtualMachineVolumeStatus } from '../generated/types.js';
import { SYNCED_CONDITION, type AgentStatus } from './contract.js';
import type { AgentInterfaceStatus, AgentVMStatus, AgentVolumeStatus } from './types.js';

/** AgentStatus field → AgentVMStatus field, for every field of AGENT_STATUS_FIELDS (and synced). */
export const AGENT_STATUS_WIRE_FIELDS = {
  phase: 'phase',
  powerState: 'powerState',
  domainUUID: 'domainUuid',
  domainName: 'domainName',
  volumes: 'volumes',
  interfaces: 'interfaces',
  restartCount: 'restartCount',
  synced: 'synced',
} as const satisfies Record<keyof AgentStatus, keyof AgentVMStatus>;

/** Copies the fields that are set, and only those (drops proto-loader's `_field` markers). */
function present<T extends object>(from: T, keys: readonly (keyof T)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) if (from[k] !== undefined && from[k] !== null) out[k] = from[k];
  return out;
}

const VOLUME_KEYS = ['name', 'pool', 'path', 'capacityBytes'] as const satisfies readonly (keyof AgentVolumeStatus & keyof VirtualMachineVolumeStatus)[];
const INTERFACE_KEYS = ['name', 'macAddress', 'ipAddress'] as const satisfies readonly (keyof AgentInterfaceStatus & keyof VirtualMachineInterfaceStatus)[];

export function agentStatusToWire(status: AgentStatus): AgentVMStatus {
  const wire: AgentVMStatus = { volumes: [], interfaces: [], synced: null };
  if (status.phase !== undefined) wire.phase = status.phase;
  if (status.powerState !== undefined) wire.powerState = status.powerState;
  if (status.domainUUID !== undefined) wire.domainUuid = status.domainUUID;
  if (status.domainName !== undefined) wire.domainName = status.domainName;
  if (status.volumes) wire.volumes = status.volumes.map((v) => present(v, VOLUME_KEYS));
  if (status.interfaces) wire.interfaces = status.interfaces.map((i) => present(i, INTERFACE_KEYS));
  if (status.restartCount !== undefined) wire.restartCount = status.restartCount;
  if (status.synced) wire.synced = { status: status.synced.status, reason: status.synced.reason, message: status.synced.message };
  return wire;
}

/**
 * The wire status as an AgentStatus (fresh objects: the caller may keep them). No report
 * status (a host-discovered domain) is an empty status. Values are not checked here: the
 * gateway checks the phase, the /status strategy the rest.
 */
export function agentStatusFromWire(wire: AgentVMStatus | null | undefined): AgentStatus {
  const status: AgentStatus = {};
  if (!wire) return status;
  if (wire.phase !== undefined) status.phase = wire.phase as VirtualMachinePhase;
  if (wire.powerState !== undefined) status.powerState = wire.powerState as VirtualMachineStatus['powerState'];
  if (wire.domainUuid !== undefined) status.domainUUID = wire.domainUuid;
  if (wire.domainName !== undefined) status.domainName = wire.domainName;
  if (wire.volumes?.length) status.volumes = wire.volumes.map((v) => present(v, VOLUME_KEYS));
  if (wire.interfaces?.length) status.interfaces = wire.interfaces.map((i) => present(i, INTERFACE_KEYS));
  if (wire.restartCount !== undefined) status.restartCount = wire.restartCount;
  if (wire.synced) {
    status.synced = { type: SYNCED_CONDITION, status: wire.synced.status as 'True' | 'False', reason: wire.synced.reason, message: wire.synced.message };
  }
  return status;
}
