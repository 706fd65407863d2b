/**
 * The VM reconcile decision, as a pure function (KubeVirt's virt-handler style): from the
 * VM (intent), its domain (observation) and what the agent remembers, compute flags —
 * should it define, start, shut down, force off, pause, resume, undefine, delete volumes,
 * report cleanup done or the domain lost — then turn them into an ordered list of
 * actions. `sync.ts` executes the list in one place, re-reads the domain and decides again.
 *
 * Rules that matter most:
 *   - only a domain whose owner metadata names this VM's uid is ever touched;
 *   - a running domain is never redefined (a definition is refreshed only right before
 *     a start, while the domain is off);
 *   - a VM whose domain existed (status.domainUUID) and vanished is reported, never
 *     re-created: the gateway marks it Lost and it stays so until an explicit decision;
 *   - Always restarts whenever the domain is off, with a crash-loop backoff; Manual and
 *     RerunOnFailure start only on a start request (phase unset/Pending/Scheduled — the
 *     vm controller sets Scheduled to ask for a restart); Halted keeps it off;
 *   - nothing is created for a VM without the cleanup finalizer (its deletion could not
 *     be followed, and what was created would leak);
 *   - a deletion is done (cleanupDone, reported Deleted) only when the domain is gone
 *     and no volume of the VM is left on the host, as observed; a missing pool that may
 *     hold one, or a foreign domain with the VM's UUID, keeps it from being done.
 */
import type { DomainInfo, GuestInfo } from '../hypervisor/driver.js';
import type { VirtualMachine, VirtualMachineSnapshotOperation } from '../../api-types/generated/types.js';
import { CLEANUP_FINALIZER, SyncedReason } from '../../api-types/proto/contract.js';
import { formatBytes, parseBytes } from '../../api-types/quantity.js';
import { RESTART_ANNOTATION } from '../../api-types/vm-restart.js';

/** What the agent remembers about one VM between syncs (in memory; rebuilt from status after a restart). */
export interface VmMemory {
  /** When the agent first asked the guest to shut down (ACPI): the grace period runs from here; cleared once the domain is off. */
  stopRequestedAt?: number;
  /** When the agent last pressed the ACPI power button (the first request, or a retry). */
  shutdownAskedAt?: number;
  /** resourceVersion of the VM object whose start request the agent already acted on. */
  consumedStartRequest?: string;
  /** When Always restarted the domain automatically (recent ones only), for the backoff. */
  autoRestarts: number[];
  /** Restarts counted since the VM's status last showed them. */
  restartCount?: number;
  /** Volume path per disk name, once ensured. */
  volumePaths?: Map<string, string>;
  /** The last `quantix.io/restart-requested-at` value acted on (persisted in the state dir). */
  honouredRestart?: string;
  /**
   * A restart request being carried out (persisted before the force off): which request, and
   * the libvirt id of the domain instance to stop. After an agent crash, a running domain
   * with another id was started again already: the request is honoured without a second
   * power-off.
   */
  restartInProgress?: RestartInProgress;
  /** The last failure, shown as Synced=False until an attempt succeeds. */
  lastError?: { reason: string; message: string; phaseFailed: boolean };
  /** The cloud-init seed ISO attached to the domain, once built. */
  seedIsoPath?: string;
  /** What the guest agent last said, and when it was asked (cleared when the domain is off). */
  guest?: GuestInfo;
  guestPolledAt?: number;
  /** Polls in a row the guest agent did not answer (the pace slows after GUEST_FAST_MISSES). */
  guestMisses?: number;
  /** When the agent last asked the guest agent to shut down (ACPI was not enough). */
  agentShutdownAt?: number;
  /** The answer to the last status.snapshotRequest run (agent/vm/snapshots.ts), until the stored status has it. */
  snapshotOperation?: VirtualMachineSnapshotOperation;
}

/** A graceful stop: ACPI first; the guest agent is asked after this long (if it answers). */
export const AGENT_SHUTDOWN_AFTER_MS = 10_000;

/**
 * A guest still running this long after the last request is asked again — the power button,
 * and its guest agent when it answers — until the grace period ends. A guest that is still
 * booting loses both: the Debian test image has no handler for the button until
 * systemd-logind runs, and its guest agent's shutdown fails until then (measured by
 * hack/bench/guests: a stop asked as the IP showed ended in the power-off at the grace
 * period's end, ~60 s, for every guest). OpenStack Nova's libvirt driver retries its clean
 * shutdown every 10 s for the same reason.
 */
export const SHUTDOWN_RETRY_MS = 10_000;

export interface RestartInProgress {
  asked: string;
  domainId: number;
}

export function newVmMemory(): VmMemory {
  return { autoRestarts: [] };
}

export type VmAction =
  | { type: 'ensureVolumes' }
  | { type: 'define' }
  | { type: 'start'; countRestart: boolean; automatic: boolean; consumesRequest?: string; honoursRestart?: string }
  /** Record (durably) the restart request about to be carried out, before the stop that begins it. */
  | { type: 'beginRestart'; asked: string; domainId: number }
  /** The request was carried out before an agent crash (the domain runs as a new instance): record it, count it. */
  | { type: 'honourRestart'; asked: string }
  | { type: 'shutdown' }
  /** ACPI was ignored: ask qemu-guest-agent to power the guest down. */
  | { type: 'shutdownAgent' }
  | { type: 'destroy' }
  | { type: 'suspend' }
  | { type: 'resume' }
  | { type: 'undefine' }
  | { type: 'deleteVolumes' };

export interface VmFlags {
  deleting: boolean;
  /** A restart asked through the annotation and not honoured yet. */
  restartRequested: boolean;
  ownedDomain: boolean;
  domainConflict: boolean;
  wantRunning: boolean | undefined;
  shouldCreate: boolean;
  shouldStart: boolean;
  shouldShutdown: boolean;
  shouldShutdownAgent: boolean;
  shouldForceOff: boolean;
  shouldSuspend: boolean;
  shouldResume: boolean;
  shouldUndefine: boolean;
  shouldDeleteVolumes: boolean;
  cleanupDone: boolean;
  domainLost: boolean;
}

export interface VmDecision {
  /** False: not Quantix's to act on (host-discovered/unmanaged VM). */
  managed: boolean;
  flags: VmFlags;
  actions: VmAction[];
  /** Sync again after this long (shutdown timeout, restart backoff). */
  requeueAfterMs?: number;
  /** A Synced=False the decision itself implies (restart backoff, domain conflict, lost). */
  blocked?: { reason: string; message: string };
}

/**
 * What is left of a VM's volumes on this host, observed (vm/sync.ts) before deciding a
 * deletion whose domain is gone. Absent: not observed — the deletion is not done.
 */
export interface VolumesObservation {
  /** Volumes of the VM that exist, or could not be ruled out (pool inactive): `pool/volume`. */
  remaining: string[];
  /** Pools that may hold a volume of the VM (it was created) but are not defined on this host. */
  missingPools: string[];
}

export interface VmDecideInput {
  vm: VirtualMachine;
  domain: DomainInfo | undefined;
  /** Observed for a deletion whose domain is gone (see VolumesObservation). */
  volumes?: VolumesObservation;
  memory: VmMemory;
  nowMs: number;
  /** Graceful shutdown timeout before a force off (deletion uses deletionGracePeriodSeconds when set). */
  shutdownTimeoutMs: number;
}

/** The restart request not honoured yet, if any. */
export function pendingRestart(vm: VirtualMachine, memory: VmMemory): string | undefined {
  const asked = vm.metadata.annotations?.[RESTART_ANNOTATION];
  if (!asked || !Number.isFinite(Date.parse(asked))) return undefined;
  if (memory.honouredRestart && Date.parse(asked) <= Date.parse(memory.honouredRestart)) return undefined;
  return asked;
}

/** Automatic restarts within this window count toward the crash-loop backoff. */
export const RESTART_WINDOW_MS = 10 * 60_000;
export const RESTART_BACKOFF_BASE_MS = 5_000;
export const RESTART_BACKOFF_MAX_MS = 5 * 60_000;

const RUNNING_STATES = new Set(['Running', 'Blocked', 'Paused', 'PMSuspended', 'ShuttingDown']);

/** Whether a domain in this state is running (paused and suspended included): its sizes are fixed until it stops. */
export function isDomainRunning(state: DomainInfo['state']): boolean {
  return RUNNING_STATES.has(state);
}

const MiB = 1024 * 1024;

/**
 * The spec fields a running domain does not match and that apply only at the next start
 * (its definition is refreshed right before a start): spec.cpu, spec.memory. Memory is
 * compared in whole MiB (libvirt keeps KiB and QEMU may align). Empty for a domain that is
 * not running, not ours, or being deleted.
 */
export function restartRequiredFields(vm: VirtualMachine, domain: DomainInfo | undefined): string[] {
  if (!domain || domain.owner?.uid !== vm.metadata.uid || !RUNNING_STATES.has(domain.state) || vm.metadata.deletionTimestamp) return [];
  const fields: string[] = [];
  if (domain.vcpus !== (vm.spec.cpu ?? 1)) fields.push('spec.cpu');
  let memory: number | undefined;
  try {
    memory = parseBytes(vm.spec.memory);
  } catch {
    memory = undefined;
  }
  if (memory !== undefined && Math.ceil(memory / MiB) !== Math.ceil(domain.memoryBytes / MiB)) fields.push('spec.memory');
  return fields;
}

/** The RestartRequired condition's message: the fields, what runs, what the spec asks for, and how to apply it. */
export function restartRequiredMessage(vm: VirtualMachine, domain: DomainInfo, fields: readonly string[]): string {
  const running: string[] = [];
  const wanted: string[] = [];
  if (fields.includes('spec.cpu')) {
    running.push(`${domain.vcpus} CPU${domain.vcpus === 1 ? '' : 's'}`);
    wanted.push(`${vm.spec.cpu ?? 1} CPU${(vm.spec.cpu ?? 1) === 1 ? '' : 's'}`);
  }
  if (fields.includes('spec.memory')) {
    running.push(`${formatBytes(domain.memoryBytes)} memory`);
    wanted.push(`${vm.spec.memory}`);
  }
  return `${fields.join(', ')} changed; restart to apply (qxctl vm restart ${vm.metadata.name}): running with ${running.join(' and ')}, the spec asks for ${wanted.join(' and ')}`;
}

export function isUnmanaged(vm: VirtualMachine): boolean {
  return vm.status?.origin === 'host-discovered' || vm.status?.managed === false;
}

/** Delay before the next automatic restart: none for the first in the window, then 5 s doubling to 5 min. */
export function restartDelayMs(autoRestarts: readonly number[], nowMs: number): number {
  const recent = autoRestarts.filter((t) => nowMs - t < RESTART_WINDOW_MS);
  if (recent.length === 0) return 0;
  const last = Math.max(...recent);
  const wait = Math.min(RESTART_BACKOFF_BASE_MS * 2 ** (recent.length - 1), RESTART_BACKOFF_MAX_MS);
  return Math.max(0, last + wait - nowMs);
}

/** A start request: the phase says nobody has started it since it was scheduled, and the agent did not act on this version yet. */
export function startRequested(vm: VirtualMachine, memory: VmMemory): boolean {
  const phase = vm.status?.phase;
  if (phase !== undefined && phase !== 'Pending' && phase !== 'Scheduled') return false;
  return memory.consumedStartRequest !== (vm.metadata.resourceVersion ?? '');
}

function wantRunning(vm: VirtualMachine, memory: VmMemory): boolean | undefined {
  switch (vm.spec.runStrategy ?? 'Always') {
    case 'Always':
      return true;
    case 'Halted':
      return false;
    default:
      return startRequested(vm, memory) ? true : undefined;
  }
}

export function decideVm(input: VmDecideInput): VmDecision {
  const { vm, domain, memory, nowMs } = input;
  const flags: VmFlags = {
    deleting: Boolean(vm.metadata.deletionTimestamp),
    restartRequested: false,
    ownedDomain: Boolean(domain && domain.owner?.uid === vm.metadata.uid),
    domainConflict: Boolean(domain && domain.owner?.uid !== vm.metadata.uid),
    wantRunning: undefined,
    shouldCreate: false,
    shouldStart: false,
    shouldShutdown: false,
    shouldShutdownAgent: false,
    shouldForceOff: false,
    shouldSuspend: false,
    shouldResume: false,
    shouldUndefine: false,
    shouldDeleteVolumes: false,
    cleanupDone: false,
    domainLost: false,
  };
  const decision: VmDecision = { managed: !isUnmanaged(vm), flags, actions: [] };
  if (!decision.managed) return decision;

  const running = flags.ownedDomain && RUNNING_STATES.has(domain!.state);
  const off = flags.ownedDomain && !running;

  if (flags.domainConflict) {
    // Not ours to touch; and while it exists, the VM's volumes are not deleted either (that
    // domain may be using them): the deletion waits, the finalizer stays.
    decision.blocked = {
      reason: SyncedReason.DomainConflict,
      message: flags.deleting
        ? `domain ${domain!.uuid} (${domain!.name}) exists on this host but was not defined by Quantix for this VM: the VM's volumes are kept while it exists (remove or rename that domain to finish the deletion)`
        : `domain ${domain!.uuid} (${domain!.name}) exists on this host but was not defined by Quantix for this VM: left untouched`,
    };
    return finish(decision);
  }

  // ---- deletion: stop (gracefully, then by force), undefine, delete volumes, report.
  if (flags.deleting) {
    if (running) {
      const graceSeconds = vm.metadata.deletionGracePeriodSeconds ?? vm.spec.terminationGracePeriodSeconds;
      const graceMs = graceSeconds !== undefined ? graceSeconds * 1000 : input.shutdownTimeoutMs;
      stopFlags(decision, domain!, memory, nowMs, graceMs);
    } else if (off) {
      flags.shouldUndefine = true;
    } else {
      deletionWithoutDomain(decision, input.volumes);
    }
    return finish(decision);
  }

  // ---- no domain: create it, unless it existed and vanished (Lost is not re-created).
  if (!domain) {
    if (vm.status?.domainUUID || vm.status?.phase === 'Lost') {
      flags.domainLost = true;
      decision.blocked = {
        reason: 'DomainMissing',
        message: `domain ${vm.status?.domainUUID ?? vm.metadata.uid} is no longer defined on this node; Quantix does not re-create it (the VM is Lost until deleted)`,
      };
      return finish(decision);
    }
    if (!(vm.metadata.finalizers ?? []).includes(CLEANUP_FINALIZER)) {
      // The vm controller (or the apiserver, for a VM pinned at create) adds it; the
      // finalizer write wakes this VM again.
      decision.blocked = {
        reason: SyncedReason.WaitingForFinalizer,
        message: `waiting for the ${CLEANUP_FINALIZER} finalizer before creating volumes or the domain (is the controller-manager running?)`,
      };
      return finish(decision);
    }
    flags.wantRunning = wantRunning(vm, memory);
    flags.shouldCreate = true;
    flags.shouldStart = flags.wantRunning === true;
    return finish(decision);
  }

  // ---- the domain exists and is ours.
  flags.wantRunning = wantRunning(vm, memory);
  const restart = pendingRestart(vm, memory);
  if (restart && (vm.spec.runStrategy ?? 'Always') !== 'Halted') {
    // Stop as a stop does (ACPI, then the guest agent, power-off only once the grace period
    // ran out), so the guest flushes its disks; once the re-read shows the domain off, the
    // next round starts it and records the request as honoured.
    flags.restartRequested = true;
    const inProgress = memory.restartInProgress?.asked === restart ? memory.restartInProgress : undefined;
    if (running && inProgress && domain.id !== inProgress.domainId) {
      decision.actions.push({ type: 'honourRestart', asked: restart });
      return decision;
    }
    if (running) {
      if (!inProgress) decision.actions.push({ type: 'beginRestart', asked: restart, domainId: domain.id });
      const grace = vm.spec.terminationGracePeriodSeconds;
      stopFlags(decision, domain, memory, nowMs, grace !== undefined ? grace * 1000 : input.shutdownTimeoutMs);
    } else flags.shouldStart = true;
    return finish(decision);
  }
  if (flags.wantRunning === true && off) {
    const automatic = (vm.spec.runStrategy ?? 'Always') === 'Always' && !startRequested(vm, memory);
    const delay = automatic ? restartDelayMs(memory.autoRestarts, nowMs) : 0;
    if (delay > 0) {
      decision.requeueAfterMs = delay;
      decision.blocked = { reason: SyncedReason.RestartBackoff, message: `the domain keeps stopping: next start in ${Math.ceil(delay / 1000)} s` };
    } else {
      flags.shouldStart = true;
    }
  } else if (flags.wantRunning === false && running) {
    const grace = vm.spec.terminationGracePeriodSeconds;
    stopFlags(decision, domain, memory, nowMs, grace !== undefined ? grace * 1000 : input.shutdownTimeoutMs);
  }
  if (running && !flags.shouldShutdown && !flags.shouldForceOff && memory.stopRequestedAt === undefined) {
    const paused = domain.state === 'Paused';
    if (vm.spec.paused === true && domain.state === 'Running') flags.shouldSuspend = true;
    if (vm.spec.paused !== true && paused) flags.shouldResume = true;
  }
  return finish(decision);

  function finish(d: VmDecision): VmDecision {
    const f = d.flags;
    const a = d.actions;
    if (f.shouldCreate) a.push({ type: 'ensureVolumes' }, { type: 'define' });
    if (f.shouldStart) {
      const existed = Boolean(domain);
      const automatic = existed && (vm.spec.runStrategy ?? 'Always') === 'Always' && !startRequested(vm, memory);
      // A definition is refreshed only while the domain is off, right before it starts.
      if (existed) a.push({ type: 'ensureVolumes' }, { type: 'define' });
      if (existed && domain!.state === 'Crashed') a.push({ type: 'destroy' });
      a.push({
        type: 'start',
        countRestart: existed,
        automatic: automatic && !f.restartRequested,
        consumesRequest: startRequested(vm, memory) ? (vm.metadata.resourceVersion ?? '') : undefined,
        honoursRestart: pendingRestart(vm, memory),
      });
    }
    if (f.shouldForceOff) a.push({ type: 'destroy' });
    else {
      if (f.shouldShutdown) a.push({ type: 'shutdown' });
      if (f.shouldShutdownAgent) a.push({ type: 'shutdownAgent' });
    }
    if (f.shouldSuspend) a.push({ type: 'suspend' });
    if (f.shouldResume) a.push({ type: 'resume' });
    if (f.shouldUndefine) a.push({ type: 'undefine' });
    if (f.shouldDeleteVolumes) a.push({ type: 'deleteVolumes' });
    return d;
  }
}

/** A deletion whose domain is gone: delete what is left of the volumes; done only when nothing is. */
function deletionWithoutDomain(decision: VmDecision, volumes: VolumesObservation | undefined): void {
  const f = decision.flags;
  if (!volumes || volumes.remaining.length > 0) f.shouldDeleteVolumes = true;
  if (volumes && volumes.missingPools.length > 0) {
    const pools = [...new Set(volumes.missingPools)].sort();
    decision.blocked = {
      reason: SyncedReason.PoolNotFound,
      message: `storage pool${pools.length > 1 ? 's' : ''} ${pools.join(', ')} not defined on this node: the VM's volumes there cannot be deleted; the deletion waits for the pool (define or assign it here again)`,
    };
    return;
  }
  f.cleanupDone = volumes !== undefined && volumes.remaining.length === 0;
}

/** Graceful shutdown first; force off once the timeout passed (or at once for a paused guest or a zero grace). */
function stopFlags(decision: VmDecision, domain: DomainInfo, memory: VmMemory, nowMs: number, timeoutMs: number): void {
  const f = decision.flags;
  if (timeoutMs <= 0 || domain.state === 'Paused' || domain.state === 'PMSuspended') {
    f.shouldForceOff = true;
    return;
  }
  if (memory.stopRequestedAt === undefined) {
    f.shouldShutdown = true;
    decision.requeueAfterMs = timeoutMs;
    return;
  }
  const elapsed = nowMs - memory.stopRequestedAt;
  if (elapsed >= timeoutMs) {
    f.shouldForceOff = true;
    return;
  }
  let next = timeoutMs - elapsed;
  // Still running: press the button again every SHUTDOWN_RETRY_MS (a booting guest missed it).
  const sincePress = nowMs - (memory.shutdownAskedAt ?? memory.stopRequestedAt);
  if (sincePress >= SHUTDOWN_RETRY_MS) f.shouldShutdown = true;
  else next = Math.min(next, SHUTDOWN_RETRY_MS - sincePress);
  // ACPI ignored so far: ask the guest agent too, if one answers, AGENT_SHUTDOWN_AFTER_MS after the
  // first request, then again every SHUTDOWN_RETRY_MS.
  if (memory.guest?.connected) {
    const agentDue = memory.agentShutdownAt === undefined ? AGENT_SHUTDOWN_AFTER_MS - elapsed : SHUTDOWN_RETRY_MS - (nowMs - memory.agentShutdownAt);
    if (agentDue <= 0) f.shouldShutdownAgent = true;
    else next = Math.min(next, agentDue);
  }
  decision.requeueAfterMs = next;
}
