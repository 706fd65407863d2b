/**
 * The agent-owned part of a VM status, between its API shape (AgentStatus in contract.ts:
 * VirtualMachineStatus field names) and its wire shape (AgentVMStatus in gateway.proto).
 * Presence is kept both ways: a field left out stays left out (proto3 `optional`); an
 * empty list is the same as none (repeated fields have no presence).
 */
import type {
  GuestOSInfo,
  VirtualMachineInterfaceStatus,
  VirtualMachinePhase,
  VirtualMachineSnapshotOperation,
  VirtualMachineStatus,
  VirtualMachineVolumeStatus,
} from '../generated/types.js';
import { AGENT_CONNECTED_CONDITION, RESTART_REQUIRED_CONDITION, SYNCED_CONDITION, type AgentStatus } from './contract.js';
import type { AgentGuestOSInfo, AgentInterfaceStatus, AgentSnapshotOperation, AgentVMStatus, AgentVolumeStatus } from './types.js';

/** AgentStatus field → AgentVMStatus field, for every field of AGENT_STATUS_FIELDS (and synced). */
export const AGENT_STATUS_WIRE_FIELDS = {
  phase: 'phase',
  powerState: 'powerState',
  domainUUID: 'domainUuid',
  domainName: 'domainName',
  volumes: 'volumes',
  interfaces: 'interfaces',
  restartCount: 'restartCount',
  guestOSInfo: 'guestOsInfo',
  acceleration: 'acceleration',
  snapshotOperation: 'snapshotOperation',
  synced: 'synced',
  agentConnected: 'agentConnected',
  restartRequired: 'restartRequired',
} as const satisfies Record<keyof AgentStatus, keyof AgentVMStatus>;

/** Copies the fields that are set, and only those (drops proto-loader's `_field` markers). */
function present<T extends object>(from: T, keys: readonly (keyof T)[]): Partial<T> {
  const out: Partial<T> = {};
  for (const k of keys) if (from[k] !== undefined && from[k] !== null) out[k] = from[k];
  return out;
}

const VOLUME_KEYS = ['name', 'pool', 'path', 'capacityBytes'] as const satisfies readonly (keyof AgentVolumeStatus & keyof VirtualMachineVolumeStatus)[];
const INTERFACE_KEYS = ['name', 'macAddress', 'ipAddress', 'interfaceName'] as const satisfies readonly (keyof AgentInterfaceStatus &
  keyof VirtualMachineInterfaceStatus)[];

const OS_KEYS = [
  'id',
  'name',
  'prettyName',
  'version',
  'versionId',
  'kernelRelease',
  'machine',
  'hostname',
  'timezone',
] as const satisfies readonly (keyof AgentGuestOSInfo & keyof GuestOSInfo)[];

function interfaceToWire(i: VirtualMachineInterfaceStatus): AgentInterfaceStatus {
  return { ...present(i, INTERFACE_KEYS), ipAddresses: i.ipAddresses ? [...i.ipAddresses] : [] };
}

function interfaceFromWire(i: AgentInterfaceStatus): VirtualMachineInterfaceStatus {
  const out: VirtualMachineInterfaceStatus = present(i, INTERFACE_KEYS);
  if (i.ipAddresses?.length) out.ipAddresses = [...i.ipAddresses];
  return out;
}

function snapshotOperationToWire(op: VirtualMachineSnapshotOperation): AgentSnapshotOperation {
  return {
    id: op.id ?? '',
    action: op.action ?? '',
    snapshotName: op.snapshotName ?? '',
    phase: op.phase ?? '',
    message: op.message ?? '',
    reason: op.reason ?? '',
    frozen: op.frozen ?? false,
    vmRunning: op.vmRunning ?? false,
    disks: (op.disks ?? []).map((d) => ({ disk: d.disk ?? '', path: d.path ?? '', snapshotName: d.snapshotName ?? '', sizeBytes: d.sizeBytes ?? 0 })),
    completedAt: op.completedAt ?? '',
  };
}

/** Empty strings are absent (proto3 scalars have no presence here). */
function snapshotOperationFromWire(w: AgentSnapshotOperation): VirtualMachineSnapshotOperation {
  const op: VirtualMachineSnapshotOperation = { id: w.id, action: w.action, snapshotName: w.snapshotName, frozen: w.frozen, vmRunning: w.vmRunning };
  if (w.phase) op.phase = w.phase as VirtualMachineSnapshotOperation['phase'];
  if (w.message) op.message = w.message;
  if (w.reason) op.reason = w.reason;
  if (w.completedAt) op.completedAt = w.completedAt;
  if (w.disks?.length) {
    op.disks = w.disks.map((d) => ({ disk: d.disk, path: d.path, snapshotName: d.snapshotName, sizeBytes: Number(d.sizeBytes) }));
  }
  return op;
}

export function agentStatusToWire(status: AgentStatus): AgentVMStatus {
  const wire: AgentVMStatus = {
    volumes: [],
    interfaces: [],
    synced: null,
    guestOsInfo: null,
    agentConnected: null,
    restartRequired: null,
    snapshotOperation: null,
  };
  if (status.snapshotOperation) wire.snapshotOperation = snapshotOperationToWire(status.snapshotOperation);
  if (status.phase !== undefined) wire.phase = status.phase;
  if (status.powerState !== undefined) wire.powerState = status.powerState;
  if (status.domainUUID !== undefined) wire.domainUuid = status.domainUUID;
  if (status.domainName !== undefined) wire.domainName = status.domainName;
  if (status.volumes) wire.volumes = status.volumes.map((v) => present(v, VOLUME_KEYS));
  if (status.interfaces) wire.interfaces = status.interfaces.map(interfaceToWire);
  if (status.guestOSInfo) wire.guestOsInfo = present(status.guestOSInfo, OS_KEYS);
  if (status.acceleration !== undefined) wire.acceleration = status.acceleration;
  if (status.restartCount !== undefined) wire.restartCount = status.restartCount;
  if (status.synced) wire.synced = { status: status.synced.status, reason: status.synced.reason, message: status.synced.message };
  if (status.agentConnected) {
    wire.agentConnected = { status: status.agentConnected.status, reason: status.agentConnected.reason, message: status.agentConnected.message };
  }
  if (status.restartRequired) {
    wire.restartRequired = { status: 'True', reason: status.restartRequired.reason, message: status.restartRequired.message };
  }
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
  if (wire.interfaces?.length) status.interfaces = wire.interfaces.map(interfaceFromWire);
  if (wire.guestOsInfo) {
    const os = present(wire.guestOsInfo, OS_KEYS);
    if (Object.keys(os).length > 0) status.guestOSInfo = os;
  }
  if (wire.acceleration !== undefined) status.acceleration = wire.acceleration;
  if (wire.restartCount !== undefined) status.restartCount = wire.restartCount;
  if (wire.snapshotOperation?.id) status.snapshotOperation = snapshotOperationFromWire(wire.snapshotOperation);
  if (wire.synced) {
    status.synced = { type: SYNCED_CONDITION, status: wire.synced.status as 'True' | 'False', reason: wire.synced.reason, message: wire.synced.message };
  }
  if (wire.agentConnected) {
    status.agentConnected = {
      type: AGENT_CONNECTED_CONDITION,
      status: wire.agentConnected.status as 'True' | 'False',
      reason: wire.agentConnected.reason,
      message: wire.agentConnected.message,
    };
  }
  if (wire.restartRequired?.status === 'True') {
    status.restartRequired = { type: RESTART_REQUIRED_CONDITION, status: 'True', reason: wire.restartRequired.reason, message: wire.restartRequired.message };
  }
  return status;
}
