/**
 * Executes VM decisions (decide.ts) against the hypervisor — the one place the agent
 * changes domains and volumes. One sync of a VM:
 *   1. read the VM (desired state) and its domain (state watcher cache);
 *   2. decide; report the observation first when it changed (an out-of-band change is
 *      visible before the agent reacts to it, e.g. Stopped before an Always restart);
 *   3. act, re-read the domain after each mutation, decide again (a few rounds, so a
 *      create or a deletion finishes in one pass);
 *   4. report the final status (only when it changed).
 * Failures become Synced=False with a reason (phase Failed when libvirt refused a
 * definition or a start) and the key is retried with backoff by the caller.
 */
import type { DiskSnapshotTarget, DomainInfo, DomainType, HypervisorDriver, PoolInfo, VolumeSpec } from '../hypervisor/driver.js';
import { HypervisorError, isHypervisorError } from '../hypervisor/errors.js';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { SyncedReason } from '../../api-types/proto/contract.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { DomainCache } from '../domain-cache.js';
import type { RestartRecord } from '../identity.js';
import type { Reporter } from '../reporter.js';
import { decideVm, isDomainRunning, isUnmanaged, newVmMemory, type VmAction, type VmDecision, type VmMemory, type VolumesObservation } from './decide.js';
import { libvirtNetworkName } from '../networks/names.js';
import { diskTooSmallMessage } from '../../api-types/image-usage.js';
import { cloneSourceVolumeName, domainSpecFor, volumeName, volumeSpecFor } from './spec.js';
import { copyImageToVolume } from './image-copy.js';
import { computeAgentStatus } from './status.js';
import { pendingSnapshotRequest, runSnapshotRequest } from './snapshots.js';
import path from 'node:path';
import { testPause } from '../test-pause.js';

const MAX_ROUNDS = 5;

/** Disk name → pool of every volume the VM may have on a host: its disks, and those its status still lists. */
function volumeDisks(vm: VirtualMachine): Map<string, string> {
  const disks = new Map<string, string>();
  for (const d of vm.spec.disks ?? []) disks.set(d.name, d.storagePool);
  for (const v of vm.status?.volumes ?? []) if (v.name && v.pool && !disks.has(v.name)) disks.set(v.name, v.pool);
  return disks;
}

/** Where restart requests are remembered across agent restarts (the state dir); written through. */
export interface RestartRecords {
  get(uid: string): RestartRecord | undefined;
  set(uid: string, value: RestartRecord | undefined): void;
}

/** The node's image cache, as VM disks see it (agent/images/cache.ts). */
export interface ImageSource {
  availability(
    name: string,
  ): { state: 'ready'; path: string; virtualSizeBytes: number; pool: string } | { state: 'waiting'; message: string } | { state: 'failed'; message: string };
  /** Look at the image now (a VM here needs it). */
  request(name: string): void;
}

/** cloud-init seeds (agent/cloudinit): built per VM, rebuilt when its cloud-init changes. */
export interface SeedSource {
  /** The seed ISO the VM needs (built or refreshed now), or undefined when it needs none. */
  ensure(vm: VirtualMachine): Promise<string | undefined>;
  remove(vm: VirtualMachine): Promise<void>;
}

/** How often the guest agent is asked, until it reports an IPv4 address, and after. */
export const GUEST_POLL_FAST_MS = 2_000;
export const GUEST_POLL_SLOW_MS = 30_000;
/** Unanswered polls at the fast pace (3 min: a TCG boot included) before the slow one. */
export const GUEST_FAST_MISSES = 90;

export interface VmSyncDeps {
  driver: HypervisorDriver;
  images?: ImageSource;
  seeds?: SeedSource;
  /** The node's acceleration (kvm, or qemu = TCG); the driver's default when undefined. */
  domainType?: () => DomainType | undefined;
  restarts?: RestartRecords;
  domains: DomainCache;
  reporter: Reporter;
  nodeName: () => string;
  shutdownTimeoutMs: number;
  now: () => number;
  log: Logger;
}

export interface VmSyncResult {
  requeueAfterMs?: number;
  /** A failure the caller retries with backoff. */
  error?: Error;
}

/** An error with a Synced reason; phaseFailed: the VM's phase becomes Failed. */
class SyncError extends Error {
  constructor(
    readonly reason: string,
    message: string,
    readonly phaseFailed: boolean,
    readonly retryable = true,
  ) {
    super(message);
  }
}

function classify(action: VmAction['type'], err: unknown): SyncError {
  if (err instanceof SyncError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (isHypervisorError(err, 'HypervisorUnavailable') || isHypervisorError(err, 'Timeout')) {
    return new SyncError(SyncedReason.HypervisorUnavailable, message, false);
  }
  switch (action) {
    case 'ensureVolumes':
      if (isHypervisorError(err, 'PoolNotFound') || isHypervisorError(err, 'PoolInactive')) return new SyncError(SyncedReason.PoolNotReady, message, false);
      return new SyncError(SyncedReason.VolumeFailed, message, isHypervisorError(err, 'InvalidSpec'));
    case 'deleteVolumes':
      return new SyncError(SyncedReason.VolumeFailed, message, false);
    case 'define':
      return new SyncError(SyncedReason.DefineFailed, message, true);
    default:
      return new SyncError(SyncedReason.LifecycleFailed, `${action}: ${message}`, action === 'start');
  }
}

export class VmSyncer {
  readonly #memory = new Map<string, VmMemory>();
  /**
   * VMs (uid) a clone is copying a disk of, and VMs being started: a copy begins only while
   * its source is shut off and not starting, and a source does not start during a copy (a
   * copy of a running guest's disk would be torn). Both are checked and set without an
   * await in between, so the two cannot cross.
   */
  readonly #cloneSources = new Map<string, number>();
  readonly #starting = new Set<string>();

  constructor(private readonly deps: VmSyncDeps) {}

  memoryOf(uid: string): VmMemory {
    let m = this.#memory.get(uid);
    if (!m) {
      m = newVmMemory();
      const record = this.deps.restarts?.get(uid);
      m.honouredRestart = record?.honoured;
      m.restartInProgress = record?.inProgress;
      this.#memory.set(uid, m);
    }
    return m;
  }

  forget(uid: string): void {
    this.#memory.delete(uid);
    this.deps.restarts?.set(uid, undefined);
    this.deps.reporter.forgetVm(uid);
  }

  /**
   * The status the agent would report now, without acting (full sync). It observes what the
   * worker's decision observes (a deletion's remaining volumes), so both paths report the
   * same: never Deleted while a deletion step is still to run.
   */
  async statusNow(vm: VirtualMachine) {
    const domain = this.deps.domains.get(vm.metadata.uid!);
    const memory = this.memoryOf(vm.metadata.uid!);
    const decision = await this.#decide(vm, domain, memory);
    return { domain, decision, status: computeAgentStatus(vm, domain, memory, decision, this.deps.nodeName(), this.#acceleration()) };
  }

  async #decide(vm: VirtualMachine, domain: DomainInfo | undefined, memory: VmMemory): Promise<VmDecision> {
    if (domain && (domain.state === 'Shutoff' || domain.state === 'Crashed')) {
      memory.stopRequestedAt = undefined;
      memory.shutdownAskedAt = undefined;
      memory.agentShutdownAt = undefined;
    }
    const volumes = vm.metadata.deletionTimestamp && !domain && !isUnmanaged(vm) ? await this.#observeVolumes(vm, memory) : undefined;
    return decideVm({ vm, domain, volumes, memory, nowMs: this.deps.now(), shutdownTimeoutMs: this.deps.shutdownTimeoutMs });
  }

  /**
   * What is left of the VM's volumes on this host. libvirt answers from its cached volume
   * list, stale after libvirtd restarts or files written outside it: a volume not found is
   * believed gone only after a pool refresh. A pool not defined here counts as missing when
   * a volume may have been created in it (the agent recorded one, or the domain existed);
   * a disk whose volume was never created (e.g. its pool never came) holds nothing.
   */
  async #observeVolumes(vm: VirtualMachine, memory: VmMemory): Promise<VolumesObservation> {
    const { driver } = this.deps;
    const observed: VolumesObservation = { remaining: [], missingPools: [] };
    const recorded = (disk: string) =>
      Boolean(memory.volumePaths?.has(disk) || vm.status?.domainUUID || vm.status?.volumes?.some((v) => v.name === disk && v.path));
    for (const [disk, pool] of volumeDisks(vm)) {
      const name = volumeName(vm, { name: disk });
      try {
        await driver.getVolume(pool, name);
        observed.remaining.push(`${pool}/${name}`);
      } catch (err) {
        if (isHypervisorError(err, 'VolumeNotFound')) {
          if (await this.#stillThereAfterRefresh(pool, name)) observed.remaining.push(`${pool}/${name}`);
        } else if (isHypervisorError(err, 'PoolNotFound')) {
          if (recorded(disk)) observed.missingPools.push(pool);
        } else {
          // PoolInactive, or any other failure to look: the volume cannot be ruled out, so
          // the deletion stays open (deleteVolumes says why). Never thrown: one VM's failed
          // look must not fail a full sync of every VM.
          observed.remaining.push(`${pool}/${name}`);
        }
      }
    }
    return observed;
  }

  async #stillThereAfterRefresh(pool: string, name: string): Promise<boolean> {
    try {
      await this.deps.driver.refreshPool(pool);
    } catch {
      // No fresh answer (libvirt refuses a refresh while a volume is being built in the
      // pool, or the pool went away): the stale "not found" proves nothing, so the volume
      // counts as still there and the deletion looks again later.
      return true;
    }
    try {
      await this.deps.driver.getVolume(pool, name);
      return true;
    } catch (err) {
      // Only a fresh "not found" rules the volume out.
      return !isHypervisorError(err, 'VolumeNotFound');
    }
  }

  async sync(vm: VirtualMachine, eventTime?: number): Promise<VmSyncResult> {
    if (isUnmanaged(vm)) return {};
    const { domains, reporter, log } = this.deps;
    const uid = vm.metadata.uid!;
    const memory = this.memoryOf(uid);
    let domain = domains.get(uid);
    const existedBefore = Boolean(domain);
    const result: VmSyncResult = {};
    let decision: VmDecision;
    try {
      decision = await this.#decide(vm, domain, memory);
    } catch (err) {
      return { error: classify('deleteVolumes', err) };
    }

    // 2. The observation first, if it changed and the agent is about to act.
    if (decision.actions.length > 0 && domain) {
      const observed = computeAgentStatus(vm, domain, memory, decision, this.deps.nodeName(), this.#acceleration());
      reporter.noteVm(uid, observed, vm.status?.phase);
      if (reporter.vmNeedsReport(vm, observed, true)) {
        await reporter.reportVm(vm, domain, observed, 'UPDATED', eventTime).catch((err: Error) => {
          result.error = err;
        });
      }
    }

    // 3. Act, re-read, decide again.
    for (let round = 0; round < MAX_ROUNDS && decision.actions.length > 0; round++) {
      try {
        for (const action of decision.actions) await this.#execute(vm, action, memory);
        memory.lastError = undefined;
      } catch (err) {
        const failed = err as SyncError;
        memory.lastError = { reason: failed.reason, message: failed.message, phaseFailed: failed.phaseFailed };
        result.error = failed;
        log.warn('VM sync failed', { vm: `${vm.metadata.namespace}/${vm.metadata.name}`, reason: failed.reason, error: failed.message });
      }
      await domains.refresh(uid);
      domain = domains.get(uid);
      try {
        decision = await this.#decide(vm, domain, memory);
      } catch (err) {
        const failed = classify('deleteVolumes', err);
        memory.lastError = { reason: failed.reason, message: failed.message, phaseFailed: false };
        result.error ??= failed;
        // Not observed: the deletion is not done (decided without the observation).
        decision = decideVm({ vm, domain, memory, nowMs: this.deps.now(), shutdownTimeoutMs: this.deps.shutdownTimeoutMs });
        break;
      }
      if (result.error && memory.lastError) break;
    }
    if (decision.actions.length === 0 && !result.error) memory.lastError = undefined;
    const snapshotRequest = pendingSnapshotRequest(vm, memory.snapshotOperation);
    if (snapshotRequest) {
      memory.snapshotOperation = await runSnapshotRequest(this.deps.driver, vm, snapshotRequest, await this.#snapshotTargets(vm, memory), this.deps.now);
      log.info('disk snapshot request done', {
        vm: `${vm.metadata.namespace}/${vm.metadata.name}`,
        action: snapshotRequest.action,
        phase: memory.snapshotOperation.phase,
        ...(memory.snapshotOperation.message ? { detail: memory.snapshotOperation.message } : {}),
      });
      await domains.refresh(uid);
      domain = domains.get(uid);
    }
    if (decision.requeueAfterMs !== undefined) result.requeueAfterMs = decision.requeueAfterMs;
    const guestDelay = await this.#pollGuest(vm, domain, memory);
    if (guestDelay !== undefined) result.requeueAfterMs = Math.min(result.requeueAfterMs ?? guestDelay, guestDelay);

    // 4. The final status.
    const status = computeAgentStatus(vm, domain, memory, decision, this.deps.nodeName(), this.#acceleration());
    reporter.noteVm(uid, status, vm.status?.phase);
    const present = Boolean(domain && decision.flags.ownedDomain);
    if (reporter.vmNeedsReport(vm, status, present)) {
      const change = decision.flags.domainLost || (decision.flags.deleting && !domain) ? 'DELETED' : existedBefore ? 'UPDATED' : 'CREATED';
      try {
        await reporter.reportVm(vm, present ? domain : undefined, status, change, eventTime);
      } catch (err) {
        result.error ??= err as Error;
      }
    }
    return result;
  }

  /** The disk files of the VM's volumes on this node (those that exist). */
  async #snapshotTargets(vm: VirtualMachine, memory: VmMemory): Promise<DiskSnapshotTarget[]> {
    const targets: DiskSnapshotTarget[] = [];
    for (const [disk, pool] of volumeDisks(vm)) {
      const known = memory.volumePaths?.get(disk);
      if (known) {
        targets.push({ disk, path: known });
        continue;
      }
      try {
        targets.push({ disk, path: await this.deps.driver.volumePath(pool, volumeName(vm, { name: disk })) });
      } catch (err) {
        if (!isHypervisorError(err, 'VolumeNotFound') && !isHypervisorError(err, 'PoolNotFound')) throw err;
      }
    }
    return targets;
  }

  #acceleration(): string | undefined {
    const t = this.deps.domainType?.();
    return t === 'kvm' ? 'kvm' : t === 'qemu' ? 'tcg' : undefined;
  }

  /**
   * Asks the guest agent of a running domain what runs inside (IPs, OS, host name): often
   * until it reports an IPv4 address, then every half minute. Observation only: it lands in
   * the status like everything else the agent sees. Returns when to look again.
   */
  async #pollGuest(vm: VirtualMachine, domain: DomainInfo | undefined, memory: VmMemory): Promise<number | undefined> {
    if (!domain || domain.owner?.uid !== vm.metadata.uid || domain.state !== 'Running' || vm.metadata.deletionTimestamp) {
      memory.guest = undefined;
      memory.guestPolledAt = undefined;
      memory.guestMisses = undefined;
      return undefined;
    }
    const wantsIp = (vm.spec.networks ?? []).length > 0;
    const intervalFor = (g: VmMemory['guest']) => {
      const hasIp = Boolean(g?.interfaces?.some((i) => i.name !== 'lo' && i.addresses.some((a) => a.family === 'ipv4')));
      if (g?.connected) return hasIp || !wantsIp ? GUEST_POLL_SLOW_MS : GUEST_POLL_FAST_MS;
      // A guest without an agent (or still booting): often at first, then rarely.
      return (memory.guestMisses ?? 0) < GUEST_FAST_MISSES ? GUEST_POLL_FAST_MS : GUEST_POLL_SLOW_MS;
    };
    const now = this.deps.now();
    const due = memory.guestPolledAt === undefined ? now : memory.guestPolledAt + intervalFor(memory.guest);
    if (due > now) return due - now;
    memory.guestPolledAt = now;
    try {
      memory.guest = await this.deps.driver.guestInfo(domain.uuid);
    } catch (err) {
      memory.guest = { connected: false, message: (err as Error).message };
    }
    memory.guestMisses = memory.guest.connected ? 0 : (memory.guestMisses ?? 0) + 1;
    return intervalFor(memory.guest);
  }

  async #execute(vm: VirtualMachine, action: VmAction, memory: VmMemory): Promise<void> {
    const { driver, domains } = this.deps;
    const uid = vm.metadata.uid!;
    // One line per action taken (the worker's correlation id is on it): the agent's step of an action's chain.
    this.deps.log.info('VM action', { vm: `${vm.metadata.namespace}/${vm.metadata.name}`, action: action.type });
    try {
      switch (action.type) {
        case 'ensureVolumes':
          memory.volumePaths = await this.#ensureVolumes(vm);
          memory.seedIsoPath = await this.#ensureSeed(vm);
          return;
        case 'define':
          await driver.defineDomain(
            domainSpecFor(vm, memory.volumePaths ?? new Map(), { domainType: this.deps.domainType?.(), seedIsoPath: memory.seedIsoPath }),
          );
          await testPause('vm:after-define');
          return;
        case 'start':
          await this.#checkNetworks(vm);
          if (this.#cloneSources.has(uid)) {
            throw new SyncError(SyncedReason.CloneInProgress, 'a clone is copying the disks of this VM: it starts once the copy is done', false);
          }
          this.#starting.add(uid);
          try {
            await driver.startDomain(uid);
          } finally {
            this.#starting.delete(uid);
          }
          if (action.countRestart) memory.restartCount = Math.max(memory.restartCount ?? 0, vm.status?.restartCount ?? 0) + 1;
          if (action.automatic) memory.autoRestarts = [...memory.autoRestarts.filter((t) => this.deps.now() - t < 10 * 60_000), this.deps.now()];
          if (action.consumesRequest !== undefined) memory.consumedStartRequest = action.consumesRequest;
          if (action.honoursRestart !== undefined) this.#honourRestart(uid, memory, action.honoursRestart);
          await domains.refresh(uid);
          return;
        case 'beginRestart':
          // Durably before the force off: a crash from here on cannot make it happen twice.
          memory.restartInProgress = { asked: action.asked, domainId: action.domainId };
          this.deps.restarts?.set(uid, { honoured: memory.honouredRestart, inProgress: memory.restartInProgress });
          return;
        case 'honourRestart':
          // Stopped and started again before the agent could record it: count it, once.
          memory.restartCount = Math.max(memory.restartCount ?? 0, vm.status?.restartCount ?? 0) + 1;
          this.#honourRestart(uid, memory, action.asked);
          return;
        case 'shutdown':
          // The first press starts the grace period; a retry (decide.ts SHUTDOWN_RETRY_MS) does not.
          if (memory.stopRequestedAt === undefined) await driver.shutdownDomain(uid);
          else {
            // A retry may race the guest powering off ("domain is not running"): the next sync sees it off.
            await driver.shutdownDomain(uid).catch((err: Error) => this.deps.log.info('shutdown retry failed', { vm: vm.metadata.name, error: err.message }));
          }
          memory.stopRequestedAt ??= this.deps.now();
          memory.shutdownAskedAt = this.deps.now();
          return;
        case 'shutdownAgent':
          // If the guest agent fails to, it is asked again later; the power-off at the grace period's end follows.
          memory.agentShutdownAt = this.deps.now();
          await driver
            .shutdownDomain(uid, 'agent')
            .catch((err: Error) => this.deps.log.info('guest agent shutdown failed', { vm: vm.metadata.name, error: err.message }));
          return;
        case 'destroy':
          await driver.destroyDomain(uid);
          await domains.refresh(uid);
          return;
        case 'suspend':
          await driver.suspendDomain(uid);
          return;
        case 'resume':
          await driver.resumeDomain(uid);
          return;
        case 'undefine':
          await driver.undefineDomain(uid);
          await testPause('vm:after-undefine');
          return;
        case 'deleteVolumes':
          await testPause('vm:before-delete-volumes');
          await this.#deleteVolumes(vm);
          await this.deps.seeds?.remove(vm);
          memory.seedIsoPath = undefined;
          return;
      }
    } catch (err) {
      throw classify(action.type, err);
    }
  }

  #honourRestart(uid: string, memory: VmMemory, asked: string): void {
    memory.honouredRestart = asked;
    memory.restartInProgress = undefined;
    this.deps.restarts?.set(uid, { honoured: asked });
  }

  /**
   * Every NIC can attach here: its Network's libvirt network is active, its host bridge exists.
   * Else Synced=False/NetworkNotReady (the phase stays, not Failed) and a retry: the VM's key is
   * queued again when the Network changes or becomes active on this host.
   */
  async #checkNetworks(vm: VirtualMachine): Promise<void> {
    const { driver } = this.deps;
    const node = this.deps.nodeName();
    for (const nic of vm.spec.networks ?? []) {
      const source = nic.source ?? '';
      if (nic.type === 'network') {
        let active = false;
        try {
          active = (await driver.getNetwork(libvirtNetworkName(source))).active;
        } catch (err) {
          if (!isHypervisorError(err, 'NetworkNotFound')) throw err;
        }
        if (!active) throw new SyncError(SyncedReason.NetworkNotReady, `network ${nic.name}: Network "${source}" is not active on node ${node}`, false);
      } else if (nic.type === 'bridge' && !(await driver.bridgeExists(source))) {
        throw new SyncError(SyncedReason.NetworkNotReady, `network ${nic.name}: bridge "${source}" does not exist on node ${node}`, false);
      }
    }
  }

  async #ensureVolumes(vm: VirtualMachine): Promise<Map<string, string>> {
    const { driver } = this.deps;
    const paths = new Map<string, string>();
    for (const disk of vm.spec.disks ?? []) {
      let pool: PoolInfo;
      try {
        pool = await driver.getPool(disk.storagePool);
      } catch (err) {
        if (isHypervisorError(err, 'PoolNotFound')) {
          throw new SyncError(
            SyncedReason.PoolNotReady,
            `disk ${disk.name}: storage pool ${disk.storagePool} is not defined on node ${this.deps.nodeName()} (is it assigned to this node?)`,
            false,
          );
        }
        throw err;
      }
      if (pool.state !== 'Running' && pool.state !== 'Degraded') {
        throw new SyncError(
          SyncedReason.PoolNotReady,
          `disk ${disk.name}: storage pool ${disk.storagePool} is not running on node ${this.deps.nodeName()} (${pool.state})`,
          false,
        );
      }
      const imagePath = disk.image ? this.#imageFor(disk) : undefined;
      const spec = volumeSpecFor(vm, disk, pool.targetPath, imagePath);
      let volumePath: string;
      try {
        volumePath = (await driver.getVolume(disk.storagePool, spec.name)).path;
      } catch (err) {
        if (!isHypervisorError(err, 'VolumeNotFound')) throw err;
        if (disk.cloneFrom) {
          volumePath = await this.#cloneDisk(vm, disk, spec);
        } else if (imagePath && disk.imageClone === 'Copy') {
          // A full copy: written next to the pool's volumes under a temporary name, renamed when complete.
          volumePath = await copyImageToVolume(imagePath, path.join(pool.targetPath, spec.name), spec.capacityBytes);
          await driver.refreshPool(disk.storagePool);
        } else {
          try {
            volumePath = (await driver.createVolume(disk.storagePool, spec)).path;
          } catch (createErr) {
            if (!isHypervisorError(createErr, 'VolumeExists')) throw createErr;
            volumePath = (await driver.getVolume(disk.storagePool, spec.name)).path;
          }
        }
      }
      paths.set(disk.name, volumePath);
    }
    return paths;
  }

  /**
   * A clone's disk: a full copy of its source VM's volume (same pool), taken only while the
   * source's domain is shut off (see #cloneSources). The copy is written under the new name
   * by libvirt; a source volume that is not here fails the disk (Synced=False, retried).
   */
  async #cloneDisk(vm: VirtualMachine, disk: NonNullable<VirtualMachine['spec']['disks']>[number], spec: VolumeSpec): Promise<string> {
    const source = disk.cloneFrom!;
    const sourceDomain = this.deps.domains.get(source.uid);
    if ((sourceDomain && isDomainRunning(sourceDomain.state)) || this.#starting.has(source.uid)) {
      throw new SyncError(
        SyncedReason.CloneSourceRunning,
        `disk ${disk.name}: the source VM "${source.virtualMachine}" is running: its disk ${source.disk} is copied once it is shut off`,
        false,
      );
    }
    this.#cloneSources.set(source.uid, (this.#cloneSources.get(source.uid) ?? 0) + 1);
    try {
      const from = cloneSourceVolumeName(source);
      this.deps.log.info('copying a disk for a clone', {
        vm: `${vm.metadata.namespace}/${vm.metadata.name}`,
        disk: disk.name,
        from: `${disk.storagePool}/${from}`,
      });
      return (await this.deps.driver.cloneVolume(disk.storagePool, from, spec)).path;
    } catch (err) {
      if (isHypervisorError(err, 'VolumeNotFound')) {
        throw new SyncError(
          SyncedReason.CloneSourceMissing,
          `disk ${disk.name}: volume ${disk.storagePool}/${cloneSourceVolumeName(source)} of VM "${source.virtualMachine}" (disk ${source.disk}) is not on node ${this.deps.nodeName()}: was the source VM deleted?`,
          true,
        );
      }
      throw err;
    } finally {
      const left = (this.#cloneSources.get(source.uid) ?? 1) - 1;
      if (left > 0) this.#cloneSources.set(source.uid, left);
      else this.#cloneSources.delete(source.uid);
    }
  }

  /** The node's cached copy of the disk's image; throws (Synced=False) while it is not there, or when the disk is too small. */
  #imageFor(disk: NonNullable<VirtualMachine['spec']['disks']>[number]): string {
    const images = this.deps.images;
    if (!images) throw new SyncError(SyncedReason.ImageNotReady, `disk ${disk.name}: this agent has no image cache`, true, false);
    const a = images.availability(disk.image!);
    if (a.state !== 'ready') {
      if (a.state === 'waiting') images.request(disk.image!);
      throw new SyncError(SyncedReason.ImageNotReady, `disk ${disk.name}: ${a.message}`, a.state === 'failed');
    }
    const tooSmall = diskTooSmallMessage(disk, a.virtualSizeBytes);
    if (tooSmall) throw new SyncError(SyncedReason.DiskTooSmall, `disk ${disk.name}: spec.disks[].size ${disk.size} ${tooSmall}`, true);
    return a.path;
  }

  async #ensureSeed(vm: VirtualMachine): Promise<string | undefined> {
    if (!this.deps.seeds) return undefined;
    try {
      return await this.deps.seeds.ensure(vm);
    } catch (err) {
      throw new SyncError(SyncedReason.CloudInitFailed, `cloud-init seed: ${(err as Error).message}`, true);
    }
  }

  async #deleteVolumes(vm: VirtualMachine): Promise<void> {
    for (const [name, pool] of volumeDisks(vm)) {
      try {
        await this.#deleteVolume(pool, volumeName(vm, { name }));
      } catch (err) {
        // Gone already: nothing left. Its pool not defined here: the decision that follows
        // (which observes the volumes) keeps the deletion open and names the pool.
        if (isHypervisorError(err, 'VolumeNotFound') || isHypervisorError(err, 'PoolNotFound')) continue;
        if (isHypervisorError(err, 'PoolInactive')) {
          throw new HypervisorError('PoolInactive', `volume ${volumeName(vm, { name })}: pool ${pool} is not running on this node; retrying`);
        }
        throw err;
      }
    }
  }

  /**
   * libvirt answers from its cached volume list, which is stale after libvirtd restarts or
   * files written outside it: refresh the pool once before believing a volume is gone.
   */
  async #deleteVolume(pool: string, name: string): Promise<void> {
    const { driver } = this.deps;
    try {
      await driver.deleteVolume(pool, name);
    } catch (err) {
      if (!isHypervisorError(err, 'VolumeNotFound')) throw err;
      await driver.refreshPool(pool);
      await driver.deleteVolume(pool, name);
    }
  }
}
