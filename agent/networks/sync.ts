/**
 * Executes network decisions (decide.ts) and keeps each Network's report for the heartbeat
 * (status.hosts.<node>). A failure — a subnet that overlaps a host route so libvirt refuses
 * to start the network, a bridge name in use — is reported (active: false, libvirt's message)
 * and retried with backoff (5 s doubling to 5 min); it never stops the agent.
 *
 * Reports travel in every heartbeat (the gateway writes only what changed); a report that
 * changed asks for an early heartbeat. A `removed` report is kept until a heartbeat carried it.
 */
import type { HypervisorDriver, NetworkDefSpec, NetworkInfo } from '../hypervisor/driver.js';
import { isHypervisorError } from '../hypervisor/errors.js';
import type { Network } from '../../api-types/generated/types.js';
import type { NetworkHostReport } from '../../api-types/proto/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { StateDir } from '../identity.js';
import type { NamedSyncer } from '../workers.js';
import { decideNetwork, networkDefFor, networkReport, type NetworkAction } from './decide.js';
import { libvirtNetworkName } from './names.js';

export const NETWORK_RETRY_BASE_MS = 5_000;
export const NETWORK_RETRY_MAX_MS = 5 * 60_000;

interface NetworkMemory {
  lastError?: { reason: string; message: string };
  failures: number;
  /** No define/start/stop/undefine before this (backoff after a failure). */
  nextAttemptAt: number;
  active: boolean;
}

export interface NetworkSyncDeps {
  driver: HypervisorDriver;
  /** The Networks assigned to this node (the desired state stream). */
  networks: ReadonlyMap<string, Network>;
  stateDir: StateDir;
  nodeName: () => string;
  /** VMs on this host (namespace/name) whose running domain is attached to the Network `name`. */
  usedBy: (name: string) => string[];
  now: () => number;
  log: Logger;
  /** A Network became active here: VMs waiting for it can go on. */
  onNetworkReady: (name: string) => void;
  /** A report changed: worth a heartbeat before the next one is due. */
  onReportChanged: () => void;
}

function significant(r: NetworkHostReport | undefined): string {
  return r ? JSON.stringify([r.defined, r.active, r.bridgeName, r.dhcpRange, r.message, r.removed]) : '';
}

export class NetworkSyncer implements NamedSyncer {
  readonly #memory = new Map<string, NetworkMemory>();
  readonly #reports = new Map<string, NetworkHostReport>();
  readonly #managed: Set<string>;

  constructor(private readonly deps: NetworkSyncDeps) {
    this.#managed = deps.stateDir.managedNetworks();
  }

  /** Networks this agent defined (persisted in the state dir) and those it still has a report for. */
  known(): Iterable<string> {
    return new Set([...this.#managed, ...this.#reports.keys()]);
  }

  managedNetworks(): ReadonlySet<string> {
    return this.#managed;
  }

  /** What the next heartbeat carries. */
  reports(): NetworkHostReport[] {
    return [...this.#reports.values()];
  }

  /** A heartbeat carried these reports: `removed` ones are done with. */
  delivered(sent: readonly NetworkHostReport[]): void {
    for (const r of sent) if (r.removed && this.#reports.get(r.name) === r) this.#reports.delete(r.name);
  }

  #mem(name: string): NetworkMemory {
    let m = this.#memory.get(name);
    if (!m) {
      m = { failures: 0, nextAttemptAt: 0, active: false };
      this.#memory.set(name, m);
    }
    return m;
  }

  async #get(libvirtName: string): Promise<NetworkInfo | undefined> {
    try {
      return await this.deps.driver.getNetwork(libvirtName);
    } catch (err) {
      if (isHypervisorError(err, 'NetworkNotFound')) return undefined;
      throw err;
    }
  }

  #setManaged(name: string, managed: boolean): void {
    if (this.#managed.has(name) === managed) return;
    if (managed) this.#managed.add(name);
    else this.#managed.delete(name);
    this.deps.stateDir.saveManagedNetworks(this.#managed);
  }

  #wanted(name: string): Network | undefined {
    const net = this.deps.networks.get(name);
    if (!net || net.metadata.deletionTimestamp) return undefined;
    return (net.spec?.assignedNodes ?? []).includes(this.deps.nodeName()) ? net : undefined;
  }

  #failed(mem: NetworkMemory, err: unknown): number {
    const e = err as Error & { reason?: string };
    mem.lastError = { reason: e.reason ?? 'OperationFailed', message: e.message };
    mem.failures++;
    const delay = Math.min(NETWORK_RETRY_BASE_MS * 2 ** (mem.failures - 1), NETWORK_RETRY_MAX_MS);
    mem.nextAttemptAt = this.deps.now() + delay;
    return delay;
  }

  /** Converges one Network on this host; returns when to look again (retry backoff), if needed. */
  async sync(name: string): Promise<number | undefined> {
    const { log } = this.deps;
    const net = this.#wanted(name);
    const mem = this.#mem(name);
    let spec: NetworkDefSpec | undefined;
    let actual: NetworkInfo | undefined;
    let requeueAfterMs: number | undefined;
    try {
      spec = net ? networkDefFor(net) : undefined;
      actual = await this.#get(spec?.name ?? libvirtNetworkName(name));
    } catch (err) {
      // libvirtd away: the worker retries (the report stays as it was).
      if (isHypervisorError(err, 'HypervisorUnavailable')) throw err;
      // Anything else (e.g. a name libvirt cannot take) is this network's problem: reported.
      requeueAfterMs = this.#failed(mem, err);
      log.warn('network lookup failed', { network: name, error: (err as Error).message });
      this.#report(name, networkReport(name, undefined, { removed: false }, mem.lastError));
      return requeueAfterMs;
    }
    const decision = decideNetwork({ desired: spec, actual, managed: this.#managed.has(name), usedBy: this.deps.usedBy(name) });

    for (const action of decision.actions) {
      if (this.deps.now() < mem.nextAttemptAt) {
        requeueAfterMs = mem.nextAttemptAt - this.deps.now();
        break;
      }
      try {
        await this.#execute(action, name, spec);
        if (action === 'start' || action === 'undefine') {
          mem.failures = 0;
          mem.lastError = undefined;
        }
      } catch (err) {
        if (isHypervisorError(err, 'HypervisorUnavailable')) throw err;
        requeueAfterMs = this.#failed(mem, err);
        log.warn('network action failed', { network: name, action, reason: mem.lastError?.reason, error: (err as Error).message, retryInMs: requeueAfterMs });
        break;
      }
    }
    if (decision.actions.length > 0) actual = await this.#get(spec?.name ?? libvirtNetworkName(name));
    // Not on this host and not wanted: an intent recorded for a define that never happened
    // (or a network removed by hand) is forgotten, so a later network of that name is not ours.
    if (decision.removed && !actual) this.#setManaged(name, false);
    if (decision.removed) this.#memory.delete(name);
    if (decision.waiting) log.debug('network change waits', { network: name, why: decision.waiting });

    const report = networkReport(name, actual, decision, mem.lastError);
    if (report.active && !mem.active && !decision.removed) this.deps.onNetworkReady(name);
    mem.active = report.active;
    this.#report(name, report);
    // A decision that waits for VMs is looked at again by the periodic resync.
    return requeueAfterMs;
  }

  #report(name: string, report: NetworkHostReport): void {
    const before = this.#reports.get(name);
    // A removed report for a network never reported here is nothing to tell.
    if (report.removed && !before) return;
    if (significant(before) === significant(report)) return;
    this.#reports.set(name, report);
    this.deps.onReportChanged();
  }

  async #execute(action: NetworkAction, name: string, spec: NetworkDefSpec | undefined): Promise<void> {
    const { driver } = this.deps;
    const libvirtName = spec?.name ?? libvirtNetworkName(name);
    switch (action) {
      case 'define':
        // Recorded before the define, as an intent: an agent killed between the two then
        // finds the network in its record and treats it as its own.
        this.#setManaged(name, true);
        await driver.defineNetwork(spec!);
        return;
      case 'start':
        await driver.startNetwork(libvirtName);
        return;
      case 'stop':
        await driver.stopNetwork(libvirtName);
        return;
      case 'undefine':
        await driver.undefineNetwork(libvirtName);
        this.#setManaged(name, false);
        return;
    }
  }
}
