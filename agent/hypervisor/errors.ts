/**
 * Typed hypervisor errors. `reason` is a stable code the agent turns into a VM or pool
 * condition; `message` is human-readable and, for libvirt, carries libvirt's own message.
 */

export const HypervisorErrorReasons = [
  /** No domain with that UUID. */
  'DomainNotFound',
  /** Another domain already uses that name or UUID. */
  'DomainExists',
  /** The operation is not valid in the domain's current state (e.g. suspend a stopped domain). */
  'InvalidState',
  'PoolNotFound',
  'PoolExists',
  /** A network pool (nfs) could not be mounted: unreachable server, no NFS client, denied export. */
  'PoolMountFailed',
  /** The pool exists but is not running (stopped, inaccessible). */
  'PoolInactive',
  'VolumeNotFound',
  'VolumeExists',
  /** No libvirt-managed network of that name. */
  'NetworkNotFound',
  /** A network of that name (or bridge) exists with a different definition, and is active. */
  'NetworkExists',
  /**
   * The guest agent did not answer: not installed, not started yet, or hung (libvirt's
   * VIR_ERR_AGENT_UNRESPONSIVE and friends). Only calls that need the agent throw it.
   */
  'GuestAgentUnavailable',
  /** The serial console is held by another session (ours or `virsh console`) and force was not asked for. */
  'ConsoleTaken',
  /** The domain has no such console device (e.g. no VNC graphics: defined before consoles existed). */
  'ConsoleUnavailable',
  /** The spec handed to the driver is invalid (bad UUID, name, size, path). */
  'InvalidSpec',
  /** A file-browser path tried to leave the pool root (`..`, absolute path, outside symlink). */
  'PathEscape',
  /** A file-browser path does not exist or is not a directory. */
  'PathNotFound',
  /** A disk has no internal snapshot of that name. */
  'SnapshotNotFound',
  /** A disk already has an internal snapshot of that name. */
  'SnapshotExists',
  /** The feature is not implemented by this driver or hypervisor. */
  'Unsupported',
  /** libvirtd is not reachable (connection lost, daemon down); retry later. */
  'HypervisorUnavailable',
  /** The call did not complete in time. */
  'Timeout',
  /** Anything else libvirt refused. */
  'OperationFailed',
] as const;

export type HypervisorErrorReason = (typeof HypervisorErrorReasons)[number];

export interface HypervisorErrorDetails {
  /** libvirt's virErrorNumber, when the error came from libvirt. */
  libvirtCode?: number;
  /** libvirt's virErrorDomain. */
  libvirtDomain?: number;
  /** The driver operation that failed, e.g. "startPool". */
  operation?: string;
  /** The object concerned (domain UUID, pool/network/volume name, path). */
  target?: string;
}

export class HypervisorError extends Error {
  readonly reason: HypervisorErrorReason;
  readonly details: HypervisorErrorDetails;

  constructor(reason: HypervisorErrorReason, message: string, details: HypervisorErrorDetails = {}) {
    super(message);
    this.name = 'HypervisorError';
    this.reason = reason;
    this.details = details;
  }

  /** True when retrying later may succeed without any change of input. */
  get retryable(): boolean {
    return this.reason === 'HypervisorUnavailable' || this.reason === 'Timeout';
  }

  toJSON(): { reason: HypervisorErrorReason; message: string; details: HypervisorErrorDetails } {
    return { reason: this.reason, message: this.message, details: this.details };
  }
}

export function isHypervisorError(err: unknown, reason?: HypervisorErrorReason): err is HypervisorError {
  return err instanceof HypervisorError && (reason === undefined || err.reason === reason);
}
