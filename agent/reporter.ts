/**
 * Sends what the agent observes to the gateway — only when it changed (status only, never
 * spec) — and keeps the state hash of what it reports.
 *
 * Whether a VM report is sent is decided here only (vmNeedsReport): the report is compared
 * with what the gateway acknowledged — the status the VM object already has (from the
 * desired state stream, so an agent restart sends nothing when nothing changed), and the
 * report accepted last, which is not sent again while the stream has not caught up with
 * it. lastSeen is refreshed when the stored one is older than LAST_SEEN_MAX_AGE_MS. The
 * gateway decides, once, whether a report changes what it stores.
 */
import type { DomainInfo } from './hypervisor/driver.js';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { agentStatusToWire } from '../api-types/proto/agent-status.js';
import { apiPowerState, type AgentStatus } from '../api-types/proto/contract.js';
import { gatewayErrorFrom } from '../api-types/proto/errors.js';
import type { PoolStatus, VMChangeNotification_ChangeType, VMReport } from '../api-types/proto/types.js';
import type { DesiredState } from './desired-state.js';
import type { GatewayClient } from './gateway-client.js';
import { StateHash } from './state-hash.js';
import { agentStatusDiffers, canonicalJson, sameAgentStatus } from './vm/status.js';

/** Report a present domain again when the VM's lastSeen is older than this. */
export const LAST_SEEN_MAX_AGE_MS = 60_000;
/** An identical report is not repeated within this window (the stream shows it soon). */
const RESEND_AFTER_MS = 10_000;

/**
 * Whether a domain no managed VM owns is reported. Transient domains Quantix did not
 * define (a libguestfs appliance, a `virsh create`) are not recorded, unless they already
 * have a record: a domain undefined by hand while it runs stays a transient domain until it
 * stops, and its record follows it (a full sync would otherwise mark it Terminated).
 */
export function reportsHostDomain(domain: DomainInfo, desired: Pick<DesiredState, 'hasLiveHostRecord'>, reporter: Pick<Reporter, 'hasReported'>): boolean {
  return domain.persistent || Boolean(domain.owner) || reporter.hasReported(domain.uuid) || desired.hasLiveHostRecord(domain.uuid);
}

export function domainReport(domain: DomainInfo | undefined, base: Partial<VMReport> = {}): VMReport {
  return {
    domainUuid: domain?.uuid ?? base.domainUuid ?? '',
    domainName: domain?.name ?? base.domainName ?? '',
    ownerNamespace: domain?.owner?.namespace ?? base.ownerNamespace ?? '',
    ownerName: domain?.owner?.name ?? base.ownerName ?? '',
    ownerUid: domain?.owner?.uid ?? base.ownerUid ?? '',
    powerState: domain ? apiPowerState(domain.state) : '',
    stateReason: domain?.reason ?? '',
    vcpus: domain?.vcpus ?? 0,
    memoryBytes: domain?.memoryBytes ?? 0,
    persistent: domain?.persistent ?? false,
    status: base.status ?? null,
  };
}

export function vmReport(vm: VirtualMachine, domain: DomainInfo | undefined, status: AgentStatus): VMReport {
  return domainReport(domain, {
    domainUuid: domain?.uuid ?? status.domainUUID ?? vm.metadata.uid!,
    domainName: domain?.name ?? status.domainName ?? '',
    ownerNamespace: vm.metadata.namespace!,
    ownerName: vm.metadata.name!,
    ownerUid: vm.metadata.uid!,
    status: agentStatusToWire(status),
  });
}

export class Reporter {
  readonly hash = new StateHash();
  /** Called with (now − event receive time) when a report caused by a libvirt event is accepted (metrics). */
  onEventReported?: (latencyMs: number) => void;
  /** Per VM uid: the last report the gateway accepted, and when. */
  readonly #sentVm = new Map<string, { status: AgentStatus; at: number }>();
  readonly #sentDomain = new Map<string, { json: string; report: VMReport }>();
  readonly #sentPool = new Map<string, string>();
  /** Latest report per pool (for heartbeats, which carry capacity). */
  readonly pools = new Map<string, PoolStatus>();
  /**
   * Set when a report could not be delivered (transport trouble, an unavailable or overloaded
   * control plane): the next chance does a full sync. A report the gateway refused for good
   * (Forbidden, Invalid, …) was delivered: a full sync would be refused the same way, so it
   * leaves this alone and the worker's own retry, with backoff, stands.
   */
  needsFullSync = false;

  #undelivered(err: unknown): void {
    if (gatewayErrorFrom(err).retryable) this.needsFullSync = true;
  }

  constructor(
    private readonly client: GatewayClient,
    private readonly now: () => number = Date.now,
  ) {}

  /** Whether to send this report: the agent's one decision that a VM's status changed. */
  vmNeedsReport(vm: VirtualMachine, status: AgentStatus, domainPresent: boolean): boolean {
    const sent = this.#sentVm.get(vm.metadata.uid!);
    if (sent && this.now() - sent.at < RESEND_AFTER_MS && sameAgentStatus(sent.status, status)) return false;
    const lastSeen = Date.parse(vm.status?.lastSeen ?? '');
    const stale = domainPresent && (!Number.isFinite(lastSeen) || this.now() - lastSeen > LAST_SEEN_MAX_AGE_MS);
    return stale || agentStatusDiffers(status, vm.status);
  }

  /** Records the VM's reported state in the hash (also when nothing needs sending). */
  noteVm(uid: string, status: AgentStatus, fallbackPhase?: string): void {
    this.hash.set(`vm:${uid}`, `${status.phase ?? fallbackPhase ?? ''}:${status.powerState ?? ''}`);
  }

  /** The gateway may hold an older report of this VM than the last one sent: the next report goes whatever was sent. */
  resendVm(uid: string): void {
    this.#sentVm.delete(uid);
  }

  forgetVm(uid: string): void {
    this.hash.delete(`vm:${uid}`);
    this.#sentVm.delete(uid);
  }

  async reportVm(
    vm: VirtualMachine,
    domain: DomainInfo | undefined,
    status: AgentStatus,
    change: VMChangeNotification_ChangeType,
    eventTime?: number,
  ): Promise<void> {
    try {
      await this.client.notifyVmChange({ change, vm: vmReport(vm, domain, status), stateHash: this.hash.digest(), eventTimeMs: eventTime ?? 0 });
      this.#sentVm.set(vm.metadata.uid!, { status, at: this.now() });
      if (eventTime) this.onEventReported?.(Date.now() - eventTime);
    } catch (err) {
      this.#undelivered(err);
      throw err;
    }
  }

  /** A domain no managed VM owns (host-discovered, or an orphan of a deleted VM). */
  async reportDomain(uuid: string, domain: DomainInfo | undefined, eventTime?: number): Promise<boolean> {
    const sent = this.#sentDomain.get(uuid);
    if (!domain) {
      this.hash.delete(`dom:${uuid}`);
      if (!sent) return false;
      try {
        await this.client.notifyVmChange({
          change: 'DELETED',
          vm: { ...sent.report, powerState: '' },
          stateHash: this.hash.digest(),
          eventTimeMs: eventTime ?? 0,
        });
      } catch (err) {
        this.#undelivered(err);
        throw err;
      }
      this.#sentDomain.delete(uuid);
      if (eventTime) this.onEventReported?.(Date.now() - eventTime);
      return true;
    }
    const report = domainReport(domain);
    this.hash.set(`dom:${uuid}`, report.powerState);
    const json = canonicalJson(report);
    if (sent?.json === json) return false;
    try {
      await this.client.notifyVmChange({ change: sent ? 'UPDATED' : 'CREATED', vm: report, stateHash: this.hash.digest(), eventTimeMs: eventTime ?? 0 });
    } catch (err) {
      this.#undelivered(err);
      throw err;
    }
    this.#sentDomain.set(uuid, { json, report });
    if (eventTime) this.onEventReported?.(Date.now() - eventTime);
    return true;
  }

  /** Forgets a domain that is not this node's to report (a stale copy, removed): its removal is not reported. */
  forgetDomain(uuid: string): void {
    this.#sentDomain.delete(uuid);
    this.hash.delete(`dom:${uuid}`);
  }

  /** Whether a report of this host domain was sent (and not withdrawn) by this process. */
  hasReported(uuid: string): boolean {
    return this.#sentDomain.has(uuid);
  }

  /** Remembers a domain reported by a full sync, so that its disappearance is reported. */
  noteDomainSynced(domain: DomainInfo): void {
    const report = domainReport(domain);
    this.#sentDomain.set(domain.uuid, { json: canonicalJson(report), report });
    this.hash.set(`dom:${domain.uuid}`, report.powerState);
  }

  async reportPool(report: PoolStatus, force = false): Promise<void> {
    const key = `pool:${report.name}`;
    if (report.removed) {
      this.pools.delete(report.name);
      this.hash.delete(key);
      if (!this.#sentPool.has(report.name) && !force) return;
    } else {
      this.pools.set(report.name, report);
      this.hash.set(key, report.health);
    }
    const significant = JSON.stringify([report.health, report.mountPath, report.volumeCount, report.message, report.removed]);
    if (!force && this.#sentPool.get(report.name) === significant) return;
    try {
      await this.client.notifyStorageChange({ pool: report, stateHash: this.hash.digest() });
    } catch (err) {
      this.#undelivered(err);
      throw err;
    }
    if (report.removed) this.#sentPool.delete(report.name);
    else this.#sentPool.set(report.name, significant);
  }
}
