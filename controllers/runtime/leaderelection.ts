/**
 * Leader election on a coordination.k8s.io/v1 Lease, with client-go's algorithm
 * (k8s.io/client-go/tools/leaderelection):
 *
 * - A candidate reads the Lease. It may take it when nobody holds it, when it holds it
 *   already (renew), or when the holder's record has not changed for `leaseDuration`
 *   as measured on the candidate's own clock since it last saw the record change (so
 *   clock skew between replicas does not matter). Every write is a compare-and-swap on
 *   the Lease's resourceVersion: of two candidates, one wins, the other gets 409.
 * - The leader renews every `retryPeriod` (one write of the Lease it last wrote; a read first
 *   only when that fails). If it cannot renew for `renewDeadline`
 *   (< leaseDuration) it stops leading — before any standby can take over, because a
 *   standby waits a full `leaseDuration` after the last renewal it saw.
 * - On a graceful stop the leader releases the Lease (empty holder) so a standby takes
 *   over at its next retry instead of waiting for expiry.
 */
import type { Lease, LeaseSpec } from '../../api-types/generated/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { Clock } from '../../lib/clock/clock.js';
import { realClock } from '../../lib/clock/clock.js';
import { isoMicros } from '../../lib/apimachinery/time.js';
import type { ApiClient } from './client.js';
import { isConflict, isNotFound, isAlreadyExists } from '../../lib/apimachinery/status-error.js';
import { Leases } from './resources.js';

export interface LeaderElectionTiming {
  /** How long a lease is valid without renewal (client-go default 15 s). */
  leaseDurationMs: number;
  /** How long the leader keeps trying to renew before it gives up (default 10 s). */
  renewDeadlineMs: number;
  /** Interval between attempts (default 2 s). */
  retryPeriodMs: number;
}

export const DEFAULT_TIMING: LeaderElectionTiming = { leaseDurationMs: 15_000, renewDeadlineMs: 10_000, retryPeriodMs: 2_000 };

export interface Observation {
  /** The record as last read. */
  spec?: LeaseSpec;
  /** Local time when the record last changed (as seen by this candidate). */
  observedAtMs: number;
}

export type Decision = { action: 'create'; spec: LeaseSpec } | { action: 'update'; spec: LeaseSpec } | { action: 'wait'; holder: string; expiresInMs: number };

/** What a candidate does with the lease it just read. Pure: tested table-driven. */
export function decide(
  current: LeaseSpec | undefined,
  exists: boolean,
  observedAtMs: number,
  nowMs: number,
  identity: string,
  leaseDurationMs: number,
): Decision {
  const now = isoMicros(new Date(nowMs));
  const seconds = Math.max(1, Math.round(leaseDurationMs / 1000));
  if (!exists) {
    return { action: 'create', spec: { holderIdentity: identity, leaseDurationSeconds: seconds, acquireTime: now, renewTime: now, leaseTransitions: 0 } };
  }
  const holder = current?.holderIdentity ?? '';
  const duration = current?.leaseDurationSeconds ? current.leaseDurationSeconds * 1000 : leaseDurationMs;
  const expiresAt = observedAtMs + duration;
  if (holder && holder !== identity && expiresAt > nowMs) return { action: 'wait', holder, expiresInMs: expiresAt - nowMs };
  const mine = holder === identity;
  return {
    action: 'update',
    spec: {
      holderIdentity: identity,
      leaseDurationSeconds: seconds,
      acquireTime: mine && current?.acquireTime ? current.acquireTime : now,
      renewTime: now,
      leaseTransitions: mine ? (current?.leaseTransitions ?? 0) : (current?.leaseTransitions ?? 0) + (holder ? 1 : 0),
    },
  };
}

export interface LeaderElectorOptions extends Partial<LeaderElectionTiming> {
  client: ApiClient;
  namespace: string;
  name: string;
  identity: string;
  clock?: Clock;
  logger?: Logger;
  onStartedLeading: () => void;
  onStoppedLeading: () => void;
  onNewLeader?: (identity: string) => void;
  /** Every renewal attempt of the leader: how long it took from its timer to its answer (metrics). */
  onRenewAttempt?: (ms: number, ok: boolean) => void;
}

export class LeaderElector {
  readonly #o: LeaderElectorOptions;
  readonly #t: LeaderElectionTiming;
  readonly #clock: Clock;
  #observed: Observation = { observedAtMs: 0 };
  #observedRaw = '';
  #lease?: Lease;
  #leading = false;
  #stopped = false;
  #lastRenewMs = 0;
  #knownLeader = '';
  #cancelTimer?: () => void;
  #wake?: () => void;
  #done?: Promise<void>;

  constructor(options: LeaderElectorOptions) {
    this.#o = options;
    this.#t = {
      leaseDurationMs: options.leaseDurationMs ?? DEFAULT_TIMING.leaseDurationMs,
      renewDeadlineMs: options.renewDeadlineMs ?? DEFAULT_TIMING.renewDeadlineMs,
      retryPeriodMs: options.retryPeriodMs ?? DEFAULT_TIMING.retryPeriodMs,
    };
    if (this.#t.renewDeadlineMs >= this.#t.leaseDurationMs) throw new Error('leader election: renewDeadline must be shorter than leaseDuration');
    if (this.#t.retryPeriodMs >= this.#t.renewDeadlineMs) throw new Error('leader election: retryPeriod must be shorter than renewDeadline');
    this.#clock = options.clock ?? realClock;
  }

  isLeader(): boolean {
    return this.#leading;
  }

  /**
   * Whether this replica may act as the leader at this instant: it leads, and its last
   * successful renewal was sent less than renewDeadline ago. A standby takes the lease only a
   * full leaseDuration after it saw that renewal, so a write made while this holds comes before
   * any other replica can lead, even from a leader whose event loop stalled (a long GC, a
   * SIGSTOP) and whose renew loop has not noticed yet: the fence of every controller write.
   */
  holdsLease(): boolean {
    return this.#leading && this.#clock.now() - this.#lastRenewMs < this.#t.renewDeadlineMs;
  }

  get leader(): string {
    return this.#knownLeader;
  }

  /** Runs until stopped or leadership is lost (then resolves). */
  run(): Promise<void> {
    this.#done ??= this.#loop();
    return this.#done;
  }

  /** Stops; releases the lease when held (unless `release` is false, as in a crash). */
  async stop(release = true): Promise<void> {
    this.#stopped = true;
    this.#cancelTimer?.();
    this.#wake?.();
    await this.#done;
    if (this.#leading) {
      this.#leading = false;
      if (release) await this.#release();
      this.#o.onStoppedLeading();
    }
  }

  async #loop(): Promise<void> {
    // Acquire.
    while (!this.#stopped && !this.#leading) {
      // A renewal counts from when it was sent: the record a standby sees was written after it.
      const attemptAt = this.#clock.now();
      if (await this.#tryAcquireOrRenew()) {
        this.#leading = true;
        this.#lastRenewMs = attemptAt;
        this.#o.logger?.info('became leader', { lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity });
        this.#o.onStartedLeading();
        break;
      }
      await this.#sleep(this.#t.retryPeriodMs * (1 + Math.random() * 0.2));
    }
    // Renew.
    while (!this.#stopped && this.#leading) {
      await this.#sleep(this.#t.retryPeriodMs);
      if (this.#stopped) return;
      // A hung request must not keep us "leading" past the deadline.
      const attemptAt = this.#clock.now();
      const remaining = this.#lastRenewMs + this.#t.renewDeadlineMs - attemptAt;
      const renewed = await this.#withTimeout(this.#tryAcquireOrRenew(), remaining);
      this.#o.onRenewAttempt?.(this.#clock.now() - attemptAt, renewed);
      if (renewed) {
        this.#lastRenewMs = attemptAt;
        continue;
      }
      if (this.#clock.now() - this.#lastRenewMs >= this.#t.renewDeadlineMs || (this.#knownLeader && this.#knownLeader !== this.#o.identity)) {
        this.#leading = false;
        this.#o.logger?.error('leader election lost', { lease: `${this.#o.namespace}/${this.#o.name}`, identity: this.#o.identity, leader: this.#knownLeader });
        this.#o.onStoppedLeading();
        return;
      }
    }
  }

  #withTimeout(p: Promise<boolean>, ms: number): Promise<boolean> {
    if (ms <= 0) return Promise.resolve(false);
    return new Promise((resolve) => {
      const cancel = this.#clock.setTimer(() => resolve(false), ms);
      void p.then((ok) => {
        cancel();
        resolve(ok);
      });
    });
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      this.#wake = resolve;
      this.#cancelTimer = this.#clock.setTimer(resolve, ms);
    });
  }

  #observe(lease: Lease | undefined): void {
    const raw = JSON.stringify(lease?.spec ?? null) + (lease?.metadata.resourceVersion ?? '');
    if (raw !== this.#observedRaw) {
      this.#observedRaw = raw;
      this.#observed = { spec: lease?.spec, observedAtMs: this.#clock.now() };
    }
    this.#lease = lease;
    const holder = lease?.spec?.holderIdentity ?? '';
    if (holder !== this.#knownLeader) {
      this.#knownLeader = holder;
      if (holder) this.#o.onNewLeader?.(holder);
    }
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const { client, namespace, name, identity } = this.#o;
    // Fast path (client-go's, since 1.24): the leader renews the Lease it last wrote with one
    // compare-and-swap, not a read and a write — half the round trips through a busy apiserver.
    // Any error (a conflict: someone else wrote it) falls back to reading it.
    const mine = this.#lease;
    if (this.#leading && mine?.spec?.holderIdentity === identity) {
      const d = decide(mine.spec, true, this.#observed.observedAtMs, this.#clock.now(), identity, this.#t.leaseDurationMs);
      if (d.action === 'update') {
        try {
          this.#observe(await client.update<Lease>(Leases, { ...mine, metadata: { ...mine.metadata }, spec: d.spec }));
          return true;
        } catch (err) {
          if (!isConflict(err)) this.#o.logger?.warn('cannot renew lease with the last written copy; reading it', { error: (err as Error).message });
        }
      }
    }
    let lease: Lease | undefined;
    let exists = true;
    try {
      lease = await client.get<Lease>(Leases, namespace, name);
    } catch (err) {
      if (!isNotFound(err)) {
        this.#o.logger?.warn('cannot read lease', { error: (err as Error).message });
        return false;
      }
      exists = false;
    }
    this.#observe(lease);
    const d = decide(lease?.spec, exists, this.#observed.observedAtMs, this.#clock.now(), identity, this.#t.leaseDurationMs);
    if (d.action === 'wait') return false;
    try {
      let written: Lease;
      if (d.action === 'create') {
        written = await client.create<Lease>(Leases, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name, namespace }, spec: d.spec });
      } else {
        // PUT with the resourceVersion we read: a compare-and-swap.
        written = await client.update<Lease>(Leases, { ...lease!, metadata: { ...lease!.metadata }, spec: d.spec });
      }
      this.#observe(written);
      return true;
    } catch (err) {
      if (!isConflict(err) && !isAlreadyExists(err)) this.#o.logger?.warn('cannot write lease', { error: (err as Error).message });
      return false;
    }
  }

  async #release(): Promise<void> {
    const lease = this.#lease;
    if (!lease || lease.spec?.holderIdentity !== this.#o.identity) return;
    try {
      await this.#o.client.update<Lease>(Leases, {
        ...lease,
        spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1, renewTime: isoMicros(new Date(this.#clock.now())) },
      });
      this.#o.logger?.info('released leader lease', { lease: `${this.#o.namespace}/${this.#o.name}` });
    } catch (err) {
      this.#o.logger?.warn('cannot release lease', { error: (err as Error).message });
    }
  }
}
