/**
 * What the agent and the node gateway agree on beyond the wire format: which VM status
 * fields the agent owns, the Synced condition vocabulary, the labels of host-discovered
 * VMs, and small helpers both sides need (power state names, addresses without ports).
 * See agent/README.md ("Status contract").
 */
import type { VirtualMachinePhase, VirtualMachineStatus } from '../generated/types.js';

/** The node gateway's default port (gRPC over TLS), known to agents and the apiserver. */
export const DEFAULT_GATEWAY_PORT = 6444;

/** Status fields the agent writes (through the gateway). Everything else is left as it is. */
export const AGENT_STATUS_FIELDS = [
  'phase',
  'powerState',
  'domainUUID',
  'domainName',
  'volumes',
  'interfaces',
  'restartCount',
  'guestOSInfo',
  'acceleration',
  'snapshotOperation',
] as const satisfies readonly (keyof VirtualMachineStatus)[];

export type AgentStatusField = (typeof AGENT_STATUS_FIELDS)[number];

/** The part of a VM status an agent report carries (plus the Synced condition). */
export type AgentStatus = Pick<VirtualMachineStatus, AgentStatusField> & {
  /** The Synced condition, without lastTransitionTime (the gateway keeps that). */
  synced?: SyncedCondition;
  /** The AgentConnected condition (qemu-guest-agent answering), likewise. */
  agentConnected?: AgentConnectedCondition;
  /** The RestartRequired condition, only while it holds; absent: the gateway removes it. */
  restartRequired?: RestartRequiredCondition;
};

/**
 * True while the running domain differs from the spec in a field that applies only at the
 * next start (spec.cpu, spec.memory): the message names the fields. Observation: the agent
 * compares the running domain with the spec; `qxctl vm restart` applies them.
 */
export const RESTART_REQUIRED_CONDITION = 'RestartRequired';

export interface RestartRequiredCondition {
  type: typeof RESTART_REQUIRED_CONDITION;
  status: 'True';
  reason: string;
  message: string;
}

export const AGENT_CONNECTED_CONDITION = 'AgentConnected';

export interface AgentConnectedCondition {
  type: typeof AGENT_CONNECTED_CONDITION;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/** Phases the agent may set. Lost/Terminated belong to the gateway, Pending/Scheduled to the vm controller. */
export const AGENT_PHASES: ReadonlySet<VirtualMachinePhase> = new Set(['Starting', 'Running', 'Stopping', 'Stopped', 'Paused', 'Failed']);

export const SYNCED_CONDITION = 'Synced';

/** Reasons of the Synced condition written by the agent. */
export const SyncedReason = {
  /** The domain matches the spec and the run strategy (True). */
  Synced: 'Synced',
  /** Cleanup done: domain undefined and volumes deleted; releases the vm-cleanup finalizer (True). */
  Deleted: 'Deleted',
  /** Shutting down / undefining for a deletion (False). */
  Deleting: 'Deleting',
  /** A disk's pool is not defined or not running on the node yet (False; retried). */
  PoolNotReady: 'PoolNotReady',
  /** Volume creation or deletion failed (False; retried). */
  VolumeFailed: 'VolumeFailed',
  /** libvirt refused the domain definition (False; retried with backoff). */
  DefineFailed: 'DefineFailed',
  /** A lifecycle operation (start, shutdown, pause…) failed (False; retried with backoff). */
  LifecycleFailed: 'LifecycleFailed',
  /** Always: the domain keeps stopping; the next start waits (False). */
  RestartBackoff: 'RestartBackoff',
  /** The hypervisor is not reachable (False). */
  HypervisorUnavailable: 'HypervisorUnavailable',
  /** A domain with the VM's UUID exists but was not defined by Quantix for this VM (False; untouched). */
  DomainConflict: 'DomainConflict',
  /** The running domain is transient (its definition was removed out of band) (False). */
  NotPersistent: 'NotPersistent',
  /** Deleting: a pool holding the VM's volumes is not defined on the node; the finalizer stays (False; retried). */
  PoolNotFound: 'PoolNotFound',
  /** A disk's Image is not imported on the node yet, or failed to import (False; retried). */
  ImageNotReady: 'ImageNotReady',
  /** A disk is smaller than its Image (False; fix spec.disks[].size). */
  DiskTooSmall: 'DiskTooSmall',
  /** A network of the VM is not available on the node (Network not active, bridge missing) (False; retried). */
  NetworkNotReady: 'NetworkNotReady',
  /** The cloud-init seed could not be built (False; retried). */
  CloudInitFailed: 'CloudInitFailed',
  /** The VM does not carry the cleanup finalizer yet: nothing is created before it does (False). */
  WaitingForFinalizer: 'WaitingForFinalizer',
  /** A clone's disk waits for its source VM to be shut off before it is copied (False; retried). */
  CloneSourceRunning: 'CloneSourceRunning',
  /** A clone's source volume is not on the node (the source VM was deleted?) (False; retried). */
  CloneSourceMissing: 'CloneSourceMissing',
  /** Not started: a clone is copying this VM's disks; it starts after the copy (False; retried). */
  CloneInProgress: 'CloneInProgress',
} as const;

export interface SyncedCondition {
  type: typeof SYNCED_CONDITION;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

/** Labels on VMs the gateway creates for host-discovered domains. */
/**
 * The StatusCause reason of a refused report about a VM bound to another node; its message
 * is that node. The agent's copy of the VM is stale (the VM was recovered elsewhere after
 * this node was fenced): the agent removes the domain, never its disks.
 */
export const BOUND_TO_ANOTHER_NODE = 'BoundToAnotherNode';

export const DISCOVERED_ON_LABEL = 'quantix.io/discovered-on';
export const DOMAIN_UUID_LABEL = 'quantix.io/domain-uuid';
/**
 * Annotation on a host-discovered VM whose domain carries Quantix owner metadata naming a
 * VM that does not exist (an orphan domain): `NAMESPACE/NAME (uid UID)`.
 */
export const FORMER_OWNER_ANNOTATION = 'quantix.io/former-owner';

/** Namespace of VMs created for host-discovered domains without a Quantix owner. */
export const DEFAULT_DISCOVERED_NAMESPACE = 'default';

/** The cleanup finalizer (api-types/finalizers.ts), released by the vm controller on Synced=True/Deleted. */
export { CLEANUP_FINALIZER } from '../finalizers.js';

/** Metadata keys of gateway errors (see gateway.proto). */
export const REASON_METADATA_KEY = 'quantix-reason';
export const STATUS_METADATA_KEY = 'quantix-status-bin';

/**
 * A management address without a port: `10.0.0.5:9090` → `10.0.0.5`, `[fe80::1]:22` →
 * `fe80::1`, `ipv4:10.0.0.5:1234` (a gRPC peer) → `10.0.0.5`. Bare IPv6 stays as it is.
 */
export function stripPort(address: string): string {
  let a = address.trim();
  a = a.replace(/^(ipv4|ipv6):/, '');
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) return bracketed[1]!;
  const colons = (a.match(/:/g) ?? []).length;
  if (colons === 1) return a.slice(0, a.indexOf(':'));
  return a;
}

/** libvirt's state name (driver PowerState) → the API's powerState value. */
export function apiPowerState(state: string): NonNullable<VirtualMachineStatus['powerState']> {
  switch (state) {
    case 'Running':
      return 'running';
    case 'Blocked':
      return 'blocked';
    case 'Paused':
      return 'paused';
    case 'ShuttingDown':
      return 'shutdown';
    case 'Shutoff':
      return 'shutoff';
    case 'Crashed':
      return 'crashed';
    case 'PMSuspended':
      return 'pmsuspended';
    default:
      return 'nostate';
  }
}

/**
 * The phase a domain's state means when nobody intends anything for it (host-discovered
 * domains, and the agent's starting point for managed ones).
 */
export function phaseForPowerState(powerState: string, reason = ''): VirtualMachinePhase {
  switch (powerState) {
    case 'running':
    case 'blocked':
      return 'Running';
    case 'paused':
    case 'pmsuspended':
      return 'Paused';
    case 'shutdown':
      return 'Stopping';
    case 'crashed':
      return 'Failed';
    case 'shutoff':
      return reason === 'crashed' || reason === 'failed' ? 'Failed' : 'Stopped';
    default:
      return 'Stopped';
  }
}
