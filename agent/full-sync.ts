/**
 * Full sync (SyncFullState): everything the agent observes in one report — every domain on
 * the host (managed ones with their computed status), the managed VMs whose domain is
 * missing (double-checked with a fresh read), and every pool. Run after the start-up
 * jitter, on the gateway's request, after the control plane or libvirtd comes back, and
 * after a report could not be delivered. Concurrent calls coalesce.
 *
 * The gateway applies it entry by entry and answers with the entries it refused (a VM
 * bound to another node, an invalid status, …); the sync still counts as accepted (its
 * state hash is acknowledged, so no heartbeat asks for it again). Each refusal is logged
 * once, when it first appears, not at every sync that repeats it.
 */
import type { EntryResult, VMReport } from '../api-types/proto/types.js';
import type { Logger } from '../lib/logging/logger.js';
import type { DesiredState } from './desired-state.js';
import { sameObservation, type DomainCache } from './domain-cache.js';
import type { DomainInfo } from './hypervisor/driver.js';
import type { GatewayClient } from './gateway-client.js';
import { domainReport, reportsHostDomain, vmReport, type Reporter } from './reporter.js';
import { isUnmanaged } from './vm/decide.js';
import type { VmSyncer } from './vm/sync.js';

export interface FullSyncDeps {
  client: GatewayClient;
  desired: DesiredState;
  domains: DomainCache;
  reporter: Reporter;
  vms: VmSyncer;
  log: Logger;
  running: () => boolean;
  /** A refused entry named the node its VM is bound to now: remove the stale copy (stale-copies.ts). */
  onMoved?: (domainUuid: string, boundNode: string) => Promise<unknown>;
  /**
   * A domain read differently now than in the snapshot the sync sent: its own report (sent
   * while the sync was built, and overwritten by the sync's older entry at the gateway) must
   * go again. Wired to the workers' onDomainChange.
   */
  onChangedSince?: (uuid: string, previous: DomainInfo | undefined, current: DomainInfo | undefined) => void;
}

/** What identifies a refused entry across syncs (its index in the request changes). */
function refusalKey(r: EntryResult): string {
  return r.pool ? `pool:${r.pool}` : `vm:${r.domainUuid || r.vm || r.field}`;
}

/**
 * The refusals to log: those not refused the same way by the previous sync. Returns them
 * and what to remember for the next sync (this sync's refusals only, so one that went
 * away and comes back is logged again).
 */
export function newRefusals(previous: ReadonlyMap<string, string>, rejected: readonly EntryResult[]): { log: EntryResult[]; seen: Map<string, string> } {
  const seen = new Map<string, string>();
  const log: EntryResult[] = [];
  for (const r of rejected) {
    const key = refusalKey(r);
    const why = `${r.reason}: ${r.message}`;
    if (previous.get(key) !== why && seen.get(key) !== why) log.push(r);
    seen.set(key, why);
  }
  return { log, seen };
}

export class FullSync {
  #initialDone = false;
  /** The refusals of the last accepted sync (refusalKey → reason: message). */
  #refused = new Map<string, string>();
  #initialWaiters: (() => void)[] = [];
  #inProgress: Promise<void> | undefined;
  #again = false;

  constructor(private readonly deps: FullSyncDeps) {}

  /** True once the first full sync was accepted. */
  get initialDone(): boolean {
    return this.#initialDone;
  }

  /** Resolves after the first full state sync was accepted. */
  whenInitialDone(): Promise<void> {
    if (this.#initialDone) return Promise.resolve();
    return new Promise((resolve) => this.#initialWaiters.push(resolve));
  }

  /** Sends everything the agent observes. A call while one runs makes it run once more. */
  run(): Promise<void> {
    if (this.#inProgress) {
      this.#again = true;
      return this.#inProgress;
    }
    this.#inProgress = (async () => {
      try {
        do {
          this.#again = false;
          await this.#once();
        } while (this.#again && this.deps.running());
      } catch (err) {
        this.deps.log.warn('full sync failed; retrying at the next heartbeat', { error: (err as Error).message });
        this.deps.reporter.needsFullSync = true;
      } finally {
        this.#inProgress = undefined;
      }
    })();
    return this.#inProgress;
  }

  async #once(): Promise<void> {
    const { client, desired, domains, reporter, vms, log } = this.deps;
    if (!this.deps.running() || !desired.synced) return;
    const observedAtMs = Date.now();
    await domains.relist();
    const reports: VMReport[] = [];
    const reportedUids = new Set<string>();
    const snapshot = domains.all();
    for (const domain of snapshot) {
      const ownerUid = domain.owner?.uid;
      const vm = ownerUid ? desired.vmByUid(ownerUid) : undefined;
      if (vm && !isUnmanaged(vm)) {
        const { status } = await vms.statusNow(vm);
        reporter.noteVm(vm.metadata.uid!, status, vm.status?.phase);
        reports.push(vmReport(vm, domain, status));
        reportedUids.add(vm.metadata.uid!);
        continue;
      }
      if (!reportsHostDomain(domain, desired, reporter)) continue;
      reports.push(domainReport(domain));
      reporter.noteDomainSynced(domain);
    }
    for (const vm of [...desired.vms.values()]) {
      if (isUnmanaged(vm) || reportedUids.has(vm.metadata.uid!) || !vm.status?.domainUUID) continue;
      // "Missing" makes the VM Lost: make sure with a fresh read (it may have been defined since the list).
      await domains.refresh(vm.metadata.uid!);
      const fresh = domains.get(vm.metadata.uid!);
      const { status } = await vms.statusNow(vm);
      if (fresh) {
        reports.push(vmReport(vm, fresh, status));
        continue;
      }
      reporter.noteVm(vm.metadata.uid!, status, vm.status?.phase);
      reports.push(vmReport(vm, undefined, status));
    }
    const pools = [...reporter.pools.values()];
    const res = await client.syncFullState({ vms: reports, pools, stateHash: reporter.hash.digest(), observedAtMs });
    reporter.needsFullSync = false;
    // An event handled while the sync was built or sent was reported on its own, possibly
    // before the gateway applied this older snapshot over it, and the reporter now remembers
    // the snapshot as sent: nothing else would report the domain again (found by the chaos
    // run, hack/chaos: a host-discovered domain stayed Running in the API after its QEMU died).
    for (const before of snapshot) {
      const now = domains.get(before.uuid);
      if (sameObservation(before, now)) continue;
      const owner = before.owner?.uid ? desired.vmByUid(before.owner.uid) : undefined;
      // What the gateway holds now is the snapshot's: the next report is compared with that.
      if (owner && !isUnmanaged(owner)) reporter.resendVm(owner.metadata.uid!);
      else reporter.noteDomainSynced(before);
      this.deps.onChangedSince?.(before.uuid, before, now);
    }
    const { rejected, ...counts } = res;
    const refusals = newRefusals(this.#refused, rejected);
    this.#refused = refusals.seen;
    for (const r of refusals.log) {
      log.warn('the gateway refused a report of the full sync', {
        entry: r.field,
        domain: r.domainUuid,
        vm: r.vm,
        pool: r.pool,
        reason: r.reason,
        detail: r.message,
      });
    }
    for (const r of rejected) {
      if (r.boundNode && r.domainUuid && this.deps.onMoved) {
        await this.deps
          .onMoved(r.domainUuid, r.boundNode)
          .catch((err: unknown) =>
            log.warn('removing a stale copy failed; retried at the next full sync', { domain: r.domainUuid, error: (err as Error).message }),
          );
      }
    }
    log.info('full state sync accepted', { domains: reports.length, pools: pools.length, ...counts, rejected: rejected.length });
    if (!this.#initialDone) {
      this.#initialDone = true;
      for (const w of this.#initialWaiters.splice(0)) w();
    }
  }
}
