/**
 * The heartbeat (default every 10 s): state hash, per-pool status, per-Network status, the
 * host's Linux bridges, capacity, node facts, host telemetry and whether libvirtd is reachable. The answer may ask for a full sync; a refused credential
 * or a deleted Node makes the agent register again; a failure marks the control plane
 * unreachable (domains are left as they are). A heartbeat the gateway refuses as too many
 * (TooManyRequests, its per-node rate) is not a failure: the next beat waits as long as the
 * gateway asked, and carries the whole state again (a heartbeat is a snapshot, not a change).
 */
import { GatewayError } from '../api-types/proto/errors.js';
import type { NetworkHostReport, NodeTelemetry, VmTelemetry } from '../api-types/proto/types.js';
import type { Logger } from '../lib/logging/logger.js';
import type { DomainCache } from './domain-cache.js';
import type { DomainType } from './hypervisor/driver.js';
import type { FullSync } from './full-sync.js';
import type { GatewayClient } from './gateway-client.js';
import type { Reporter } from './reporter.js';
import type { NodeSession } from './session.js';

/** Where the heartbeat's Network reports come from (networks/sync.ts). */
export interface NetworkReports {
  reports(): NetworkHostReport[];
  /** A heartbeat carried these. */
  delivered(sent: readonly NetworkHostReport[]): void;
}

export interface HeartbeatDeps {
  client: GatewayClient;
  session: NodeSession;
  reporter: Reporter;
  domains: DomainCache;
  fullSync: FullSync;
  networks?: NetworkReports;
  /** The host's Linux bridges (Node.status.bridges). */
  bridges?: () => Promise<string[]>;
  intervalMs: number;
  log: Logger;
  running: () => boolean;
  /** The node's acceleration as set by flag or probe; otherwise the driver's domain type. */
  acceleration?: { type: DomainType; source: string };
  /** Host use for Node status.telemetry (telemetry.ts); null when it could not be sampled. */
  telemetry?: () => NodeTelemetry | null;
  /** Per-VM use for VirtualMachine status.usage (telemetry.ts). */
  vmTelemetry?: () => Promise<VmTelemetry[]>;
  /** Self-fencing (self-fence.ts): what Node status.selfFencing says, and each accepted heartbeat's send time. */
  selfFence?: { report(): { enabled: boolean; timeoutSeconds: number }; renewed(sentAtMs: number): void };
}

/** Node.status.acceleration: kvm, or tcg for libvirt's domain type qemu; '' for the sim driver. */
export function accelerationOf(domainType: string): string {
  return domainType === 'kvm' ? 'kvm' : domainType === 'qemu' ? 'tcg' : '';
}

/** How soon a beat follows a change (soon()): changes within this share one beat. */
const SOON_MS = 200;
/** The wait after a TooManyRequests that named none. */
const THROTTLED_DEFAULT_MS = 1_000;

export class Heartbeat {
  #timer: NodeJS.Timeout | undefined;
  /** The last bridge listing that worked: a failed listing must not empty Node.status.bridges. */
  #bridges: string[] = [];
  #bridgeError = '';

  /** When the timer fires next (ms since the epoch). */
  #dueAt = 0;
  /** The timer's beat is running. */
  #beating = false;
  /** soon() was asked during that beat: the next one follows shortly. */
  #again = false;
  /** No beat before this (ms since the epoch): the gateway asked the agent to wait. */
  #notBefore = 0;

  constructor(private readonly deps: HeartbeatDeps) {}

  /** When the next beat is due (ms since the epoch). */
  get nextBeatAt(): number {
    return this.#dueAt;
  }

  schedule(delayMs: number): void {
    if (this.#timer) clearTimeout(this.#timer);
    delayMs = Math.max(delayMs, this.#notBefore - Date.now());
    this.#dueAt = Date.now() + delayMs;
    this.#timer = setTimeout(() => {
      this.#beating = true;
      this.#again = false;
      void this.beat().finally(() => {
        this.#beating = false;
        if (this.deps.running()) this.schedule(this.#again ? SOON_MS : this.deps.intervalMs);
      });
    }, delayMs);
  }

  /**
   * Something a heartbeat carries changed (a Network report): beat shortly instead of at the
   * next interval. Changes close together share one beat.
   */
  soon(): void {
    if (!this.#timer || !this.deps.running()) return;
    if (this.#beating) this.#again = true;
    else if (this.#dueAt - Date.now() > SOON_MS) this.schedule(SOON_MS);
  }

  stop(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One heartbeat (also run by the timer). */
  async beat(): Promise<void> {
    const { client, session, reporter, domains, fullSync, log } = this.deps;
    if (!this.deps.running()) return;
    try {
      const facts = await session.nodeFacts();
      const networks = this.deps.networks?.reports() ?? [];
      const bridges = await this.#listBridges();
      const telemetry = this.deps.telemetry?.() ?? null;
      const vmTelemetry = (await this.deps.vmTelemetry?.()) ?? [];
      const sentAtMs = Date.now();
      const res = await client.heartbeat({
        selfFencing: this.deps.selfFence?.report() ?? null,
        ...(telemetry ? { telemetry } : {}),
        vmTelemetry,
        stateHash: reporter.hash.digest(),
        pools: [...reporter.pools.values()],
        capacity: facts.capacity,
        allocatable: facts.capacity,
        nodeInfo: facts.nodeInfo,
        hypervisorReady: domains.hypervisorUp,
        hypervisorMessage: domains.hypervisorUp ? '' : 'libvirtd is not reachable',
        addresses: session.addresses(),
        bridges,
        networks,
        acceleration: accelerationOf(this.deps.acceleration?.type ?? facts.nodeInfo.hypervisor),
        accelerationSource:
          this.deps.acceleration?.source ?? (facts.nodeInfo.hypervisor === 'sim' ? '' : 'probe: the driver default (/dev/kvm present or not)'),
      });
      this.deps.networks?.delivered(networks);
      this.deps.selfFence?.renewed(sentAtMs);
      const wasDown = !session.controlPlaneReachable;
      session.controlPlaneReachable = true;
      if (fullSync.initialDone && (res.requestFullSync || reporter.needsFullSync || wasDown)) {
        log.info('full sync requested', { reason: res.fullSyncReason || (wasDown ? 'control plane reachable again' : 'a report was not delivered') });
        void fullSync.run();
      }
    } catch (err) {
      const e = err instanceof GatewayError ? err : undefined;
      if (e?.reason === 'TooManyRequests') {
        // The gateway answered: it is reachable, and the state goes with the next beat.
        const waitMs = e.retryAfterMs ?? THROTTLED_DEFAULT_MS;
        this.#notBefore = Date.now() + waitMs;
        log.warn('heartbeat refused as too many: the next one waits', { inMs: waitMs, error: e.message });
        return;
      }
      if (e && (e.reason === 'Unauthorized' || e.reason === 'NotFound')) {
        log.warn('heartbeat refused: registering again', { reason: e.reason, error: e.message });
        await session.reregister();
        return;
      }
      if (session.controlPlaneReachable)
        log.warn('heartbeat failed: control plane unreachable; domains are left as they are', { error: (err as Error).message });
      session.controlPlaneReachable = false;
    }
  }

  async #listBridges(): Promise<string[]> {
    if (!this.deps.bridges) return [];
    try {
      this.#bridges = await this.deps.bridges();
      this.#bridgeError = '';
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.#bridgeError) this.deps.log.warn('listing host bridges failed; reporting the last list', { error: message });
      this.#bridgeError = message;
    }
    return this.#bridges;
  }
}
