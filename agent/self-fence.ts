/**
 * Self-fencing (docs/fencing.md), as Proxmox's HA watchdog does: an agent that has not
 * renewed its heartbeat for the fencing timeout force-stops its domains (those below), and
 * starts none until it is sure of its desired state again. The control plane treats the
 * node as fenced only once that timeout plus a margin has passed since the last heartbeat
 * it saw, so by then nothing of the node runs and its VMs may start elsewhere.
 *
 * The clock runs from when the last successful heartbeat was *sent*, less a second: the
 * control plane saw that heartbeat no earlier, but it notices heartbeats by a change of
 * Node status.lastHeartbeatTime, which has second precision (a second heartbeat within the
 * same second changes nothing there). So the agent's deadline always comes first.
 *
 * Only the domains the control plane may start elsewhere are stopped: those of VMs that can be
 * recovered (runStrategy Always, disks on shared storage: api-types/vm-recovery.ts), and any
 * managed domain whose VM is not in the desired state (it may already be bound elsewhere).
 * The other VMs never move, so they keep running (Proxmox too fences only for HA resources).
 *
 * The fence lifts only after a heartbeat succeeded again and the desired state was listed
 * afresh after that (a relist, not a resume): VMs recovered elsewhere in the meantime are
 * gone from it, so the agent cannot start a stale copy; their domains are removed as stale
 * copies (stale-copies.ts).
 */
import type { StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { notRecoverableReason } from '../api-types/vm-recovery.js';
import type { Logger } from '../lib/logging/logger.js';
import type { DomainInfo } from './hypervisor/driver.js';

/** The domains self-fencing stops: running Quantix domains whose VM could start on another node. */
export function domainsToStop(
  domains: Iterable<DomainInfo>,
  vmByUid: (uid: string) => VirtualMachine | undefined,
  pools: { get(name: string): StoragePool | undefined },
): string[] {
  const out: string[] = [];
  for (const d of domains) {
    const uid = d.owner?.uid;
    if (!uid || d.state === 'Shutoff' || d.state === 'Crashed') continue;
    const vm = vmByUid(uid);
    if (vm && notRecoverableReason(vm, pools)) continue;
    out.push(d.uuid);
  }
  return out;
}

/** Node status.lastHeartbeatTime's precision: a renewal counts from this much before it was sent. */
export const HEARTBEAT_TIME_PRECISION_MS = 1_000;

/** Whether the agent must fence now: no heartbeat renewed (sent and answered) within the timeout. */
export function selfFenceDue(lastRenewalSentAtMs: number, nowMs: number, timeoutMs: number): boolean {
  return timeoutMs > 0 && nowMs - lastRenewalSentAtMs >= timeoutMs;
}

/** How often the deadline is checked: a tenth of the timeout, at most every second. */
export function checkIntervalMs(timeoutMs: number): number {
  return Math.max(50, Math.min(1_000, Math.floor(timeoutMs / 10)));
}

export interface SelfFenceDeps {
  /** 0: self-fencing off. */
  timeoutMs: number;
  /** Force-stops the running domains whose VMs may be recovered elsewhere (domainsToStop); returns how many it stopped. */
  stopManagedDomains: () => Promise<number>;
  /** Lists the desired state afresh (not a resume); resolves once the list is complete. */
  relistDesiredState: () => Promise<void>;
  /** The fence lifted: look at every key again. */
  onLifted: () => void;
  now?: () => number;
  log: Logger;
}

export class SelfFence {
  #lastRenewalSentAt: number;
  #fenced = false;
  #fencedAt = 0;
  /** A relist after a renewal is running (the fence lifts when it completes). */
  #lifting = false;
  #timer: NodeJS.Timeout | undefined;
  #checking = false;
  readonly #now: () => number;

  constructor(private readonly deps: SelfFenceDeps) {
    this.#now = deps.now ?? Date.now;
    this.#lastRenewalSentAt = this.#now();
  }

  get enabled(): boolean {
    return this.deps.timeoutMs > 0;
  }

  /** While true nothing may start (workers hold VM keys back). */
  get fenced(): boolean {
    return this.#fenced;
  }

  /** For the heartbeat: Node status.selfFencing. */
  report(): { enabled: boolean; timeoutSeconds: number } {
    return { enabled: this.enabled, timeoutSeconds: this.enabled ? Math.ceil(this.deps.timeoutMs / 1000) : 0 };
  }

  start(): void {
    if (!this.enabled || this.#timer) return;
    this.#lastRenewalSentAt = this.#now();
    this.#timer = setInterval(() => void this.check(), checkIntervalMs(this.deps.timeoutMs));
    this.#timer.unref?.();
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  /** A heartbeat sent at `sentAtMs` was accepted. */
  renewed(sentAtMs: number): void {
    const counted = sentAtMs - HEARTBEAT_TIME_PRECISION_MS;
    if (counted > this.#lastRenewalSentAt) this.#lastRenewalSentAt = counted;
    if (!this.#fenced || this.#lifting || sentAtMs < this.#fencedAt) return;
    this.#lifting = true;
    this.deps.log.info('self-fence: heartbeat renewed; relisting the desired state before anything starts again');
    this.deps
      .relistDesiredState()
      .then(() => {
        this.#fenced = false;
        this.deps.log.info('self-fence lifted: the desired state is fresh');
        this.deps.onLifted();
      })
      .catch((err: unknown) => this.deps.log.warn('self-fence: relisting failed; staying fenced', { error: (err as Error).message }))
      .finally(() => {
        this.#lifting = false;
      });
  }

  /** Fences when the deadline passed; while fenced, stops any managed domain found running. */
  async check(): Promise<void> {
    if (!this.enabled || this.#checking) return;
    this.#checking = true;
    try {
      const now = this.#now();
      if (!this.#fenced && selfFenceDue(this.#lastRenewalSentAt, now, this.deps.timeoutMs)) {
        this.#fenced = true;
        this.#fencedAt = now;
        this.deps.log.warn('self-fencing: no heartbeat renewed within the timeout; force-stopping the domains of VMs that may be recovered elsewhere', {
          timeoutMs: this.deps.timeoutMs,
          lastRenewal: new Date(this.#lastRenewalSentAt).toISOString(),
        });
      }
      if (this.#fenced) {
        const stopped = await this.deps.stopManagedDomains();
        if (stopped > 0) this.deps.log.warn('self-fenced: managed domains force-stopped', { count: stopped });
      }
    } catch (err) {
      this.deps.log.error('self-fencing: stopping domains failed; retrying', { error: (err as Error).message });
    } finally {
      this.#checking = false;
    }
  }
}
