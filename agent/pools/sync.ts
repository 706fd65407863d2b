/**
 * Executes pool decisions (decide.ts) and reports each pool's health on this host. A
 * failed start (an nfs mount error, a missing directory that cannot be created) is
 * reported — ERROR or UNMOUNTED with the error as message — and retried with backoff
 * (5 s doubling to 5 min); it never stops the agent.
 */
import type { HypervisorDriver, PoolInfo } from '../hypervisor/driver.js';
import { isHypervisorError } from '../hypervisor/errors.js';
import type { StoragePool } from '../../api-types/generated/types.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { StateDir } from '../identity.js';
import type { Reporter } from '../reporter.js';
import { decidePool, poolReport, poolSpecFor, type PoolAction } from './decide.js';
import { testPause } from '../test-pause.js';
import { poolAssignedTo } from '../../api-types/pool-usage.js';

const START_RETRY_BASE_MS = 5_000;
const START_RETRY_MAX_MS = 5 * 60_000;

interface PoolMemory {
  lastError?: { reason: string; message: string };
  failures: number;
  nextStartAt: number;
  healthy: boolean;
}

export interface PoolSyncDeps {
  driver: HypervisorDriver;
  reporter: Reporter;
  stateDir: StateDir;
  nodeName: () => string;
  mountRoot: string;
  now: () => number;
  log: Logger;
  /** A pool became usable on this host: VMs waiting for it can go on. */
  onPoolReady: (name: string) => void;
}

export class PoolSyncer {
  readonly #memory = new Map<string, PoolMemory>();
  readonly #managed: Set<string>;

  constructor(private readonly deps: PoolSyncDeps) {
    this.#managed = deps.stateDir.managedPools();
  }

  /** Pools this agent defined (persisted in the state dir). */
  managedPools(): ReadonlySet<string> {
    return this.#managed;
  }

  #mem(name: string): PoolMemory {
    let m = this.#memory.get(name);
    if (!m) {
      m = { failures: 0, nextStartAt: 0, healthy: false };
      this.#memory.set(name, m);
    }
    return m;
  }

  async #get(name: string): Promise<PoolInfo | undefined> {
    try {
      return await this.deps.driver.getPool(name);
    } catch (err) {
      if (isHypervisorError(err, 'PoolNotFound')) return undefined;
      throw err;
    }
  }

  #setManaged(name: string, managed: boolean): void {
    const had = this.#managed.has(name);
    if (had === managed) return;
    if (managed) this.#managed.add(name);
    else this.#managed.delete(name);
    this.deps.stateDir.saveManagedPools(this.#managed);
  }

  /** Converges one pool; returns when to look again (retry backoff), if needed. */
  async sync(name: string, desired: StoragePool | undefined): Promise<{ requeueAfterMs?: number }> {
    const { log } = this.deps;
    const node = this.deps.nodeName();
    const assigned = desired !== undefined && poolAssignedTo(desired, node);
    const spec = assigned ? poolSpecFor(desired, this.deps.mountRoot) : undefined;
    const mem = this.#mem(name);
    let actual = await this.#get(name);
    const decision = decidePool(spec, actual, this.#managed.has(name));
    let requeueAfterMs: number | undefined;

    for (const action of decision.actions) {
      if (action === 'start' && this.deps.now() < mem.nextStartAt) {
        requeueAfterMs = mem.nextStartAt - this.deps.now();
        break;
      }
      try {
        await this.#execute(action, name, spec);
        if (action === 'start' || action === 'refresh') {
          mem.failures = 0;
          mem.lastError = undefined;
        }
      } catch (err) {
        const e = err as Error & { reason?: string };
        if (action === 'refresh') {
          // libvirt refuses a refresh while a volume is being built ("asynchronous jobs
          // running"): the pool is fine, its numbers are just a little older.
          log.debug('pool refresh skipped', { pool: name, error: e.message });
          break;
        }
        mem.lastError = { reason: e.reason ?? 'OperationFailed', message: e.message };
        if (action === 'start' || action === 'define') {
          mem.failures++;
          const delay = Math.min(START_RETRY_BASE_MS * 2 ** (mem.failures - 1), START_RETRY_MAX_MS);
          mem.nextStartAt = this.deps.now() + delay;
          requeueAfterMs = delay;
        } else {
          requeueAfterMs = START_RETRY_BASE_MS;
        }
        log.warn('storage pool action failed', { pool: name, action, reason: mem.lastError.reason, error: e.message });
        break;
      }
    }
    if (decision.actions.length > 0) actual = await this.#get(name);
    if (decision.removed) this.#memory.delete(name);
    // Not on this host and not wanted: an intent recorded for a define that never happened
    // (or a pool removed by hand) is forgotten, so a later pool of that name is not ours.
    if (decision.removed && !actual) this.#setManaged(name, false);

    const report = poolReport(name, spec, actual, decision, mem.lastError);
    const healthy = report.health === 'HEALTHY' || report.health === 'DEGRADED';
    if (healthy && !mem.healthy && !decision.removed) this.deps.onPoolReady(name);
    mem.healthy = healthy;
    await this.deps.reporter.reportPool(report);
    return { requeueAfterMs };
  }

  async #execute(action: PoolAction, name: string, spec: ReturnType<typeof poolSpecFor> | undefined): Promise<void> {
    const { driver } = this.deps;
    switch (action) {
      case 'define':
        // Recorded before the define, as an intent: an agent killed between the two then
        // finds the pool in its record and treats it as its own, instead of leaving behind a
        // pool it defined but would never undefine when the node is unassigned.
        this.#setManaged(name, true);
        await driver.definePool(spec!);
        await testPause('pool:after-define');
        return;
      case 'undefine':
        await driver.undefinePool(name);
        this.#setManaged(name, false);
        return;
      case 'start':
        await driver.startPool(name);
        return;
      case 'refresh':
        await driver.refreshPool(name);
        return;
      case 'stop':
        await driver.stopPool(name);
        return;
    }
  }
}
