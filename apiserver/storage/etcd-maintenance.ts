/**
 * etcd upkeep by the apiserver, as kube-apiserver does it (k8s.io/apiserver/pkg/storage/etcd3/compact.go):
 *
 * - **Compaction** on an interval (`--etcd-compaction-interval`, default 5 minutes): etcd keeps
 *   every revision of every key until it is compacted, so without it every status write and
 *   heartbeat stays in the database until etcd's space quota raises NOSPACE. Each interval
 *   compacts to the revision recorded at the PREVIOUS interval, so the last interval's
 *   history stays (watches resuming from it, lists paging at a recent revision). Replicas
 *   coordinate through a compare-and-swap on the version of one key (`compact_rev_key`
 *   under the storage prefix): one of them compacts per interval; if it dies, another takes
 *   over within two intervals. `nextInterval` is the decision; `PeriodicClaim` runs it.
 * - **Defragmentation** (`--etcd-defrag-interval`, default off, and POST /admin/etcd/defragment):
 *   compaction frees pages inside etcd's backend file but never shrinks it; Defragment
 *   rewrites the file. It blocks the member while it runs, so members go one at a time. The
 *   scheduled one is claimed the same way as compaction (its own key), so one replica does it.
 * - **Alarms**: `activeAlarms` (GET) for /readyz's etcd-nospace check; `disarmNoSpace` after
 *   space was reclaimed (etcd refuses writes until its NOSPACE alarm is disarmed).
 */
import type { IAlarmMember, IRangeResponse } from 'etcd3';
import type { Logger } from '../../lib/logging/logger.js';
import type { KvClient, LeanKvClient, MaintenanceClient } from '../etcd-client/etcd-kv.js';
import { isCompacted } from './etcd-store.js';

/** The key whose version counts compaction intervals, under the storage prefix (kube-apiserver: `compact_rev_key`). */
export const COMPACT_REV_KEY = 'compact_rev_key';
/** The same for scheduled defragmentation. */
export const DEFRAG_REV_KEY = 'defrag_rev_key';
/** kube-apiserver's default compaction interval. */
export const DEFAULT_COMPACTION_INTERVAL_MS = 5 * 60_000;

/** What one replica knows of an interval key: its version ("logical time") and the etcd revision seen then. */
export interface IntervalState {
  time: number;
  revision: number;
}

/** One interval's claim transaction: `version(key) == state.time ? put(key, state.revision) : get(key)`. */
export interface ClaimResult {
  succeeded: boolean;
  /** The etcd revision after the transaction (its header). */
  revision: number;
  /** On failure: the key's version (0 when it is gone). */
  remoteTime: number;
}

/**
 * kube-apiserver's compaction step, as a decision. Claimed (the key's version was ours):
 * both times advance and this replica compacts to the revision it recorded at the previous
 * interval (none on the first claim: nothing recorded yet). Lost (another replica claimed, or
 * this one restarted): adopt the remote time and record the current revision; the next
 * interval tries again, so a dead compactor is replaced within two intervals.
 */
export function nextInterval(state: IntervalState, claim: ClaimResult): IntervalDecision {
  if (!claim.succeeded) return { claimed: false, state: { time: claim.remoteTime, revision: claim.revision } };
  const next = { time: state.time + 1, revision: claim.revision };
  return state.revision > 0 ? { claimed: true, state: next, compactTo: state.revision } : { claimed: true, state: next };
}

export interface IntervalDecision {
  /** This replica claimed the interval: it runs the task. */
  claimed: boolean;
  state: IntervalState;
  /** When claimed after an earlier interval: the revision recorded then. */
  compactTo?: number;
}

/** Runs one claim transaction on `key` (the put bumps its version: the interval's logical time). */
export async function claimInterval(kv: KvClient, key: string, state: IntervalState): Promise<ClaimResult> {
  const k = Buffer.from(key);
  const res = await kv.txn({
    compare: [{ key: k, target: 'Version', result: 'Equal', version: state.time }],
    success: [{ request_put: { key: k, value: Buffer.from(String(state.revision)) } }],
    failure: [{ request_range: { key: k } }],
  });
  const current = res.succeeded ? undefined : res.responses[0]?.response_range?.kvs[0];
  return { succeeded: res.succeeded, revision: Number(res.header.revision), remoteTime: Number(current?.version ?? 0) };
}

export interface PeriodicClaimOptions {
  kv: KvClient;
  /** The interval key (e.g. `/registry/compact_rev_key`). */
  key: string;
  intervalMs: number;
  /** For logs: 'compaction', 'defragmentation'. */
  name: string;
  log?: Logger;
  /**
   * Runs when this replica claimed the interval; `compactTo` is the revision recorded at the
   * previous interval (undefined on the first claim).
   */
  run(compactTo: number | undefined): Promise<void>;
}

/**
 * One replica's side of an interval claimed through `key`: every `intervalMs`, claim, and run
 * the task when claimed. Timers do not keep the process alive; a step never overlaps the next.
 */
export class PeriodicClaim {
  #state: IntervalState = { time: 0, revision: 0 };
  #timer: NodeJS.Timeout | undefined;
  #stopped = true;

  constructor(readonly opts: PeriodicClaimOptions) {}

  get state(): IntervalState {
    return { ...this.#state };
  }

  start(): this {
    if (this.opts.intervalMs <= 0 || !this.#stopped) return this;
    this.#stopped = false;
    this.#schedule();
    return this;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
  }

  /** One interval: claim, then run the task when claimed. Errors are logged, never thrown (the next interval retries). */
  async step(): Promise<{ claimed: boolean; compactTo?: number }> {
    const { kv, key, name, log } = this.opts;
    let decision: IntervalDecision;
    try {
      decision = nextInterval(this.#state, await claimInterval(kv, key, this.#state));
    } catch (err) {
      log?.warn(`etcd ${name}: claiming the interval failed`, { key, error: (err as Error).message });
      return { claimed: false };
    }
    this.#state = decision.state;
    if (!decision.claimed) return { claimed: false };
    try {
      await this.opts.run(decision.compactTo);
    } catch (err) {
      log?.warn(`etcd ${name} failed`, { error: (err as Error).message });
    }
    return { claimed: true, compactTo: decision.compactTo };
  }

  #schedule(): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => {
      void this.step().finally(() => this.#schedule());
    }, this.opts.intervalMs);
    this.#timer.unref();
  }
}

/**
 * Compacts etcd's history up to `revision` (logical compaction: reads below it fail with
 * ErrCompacted at once; `physical` waits until the backend dropped the entries too, which
 * a defragmentation right after needs to reclaim their space). Already compacted past it
 * (another replica, an operator): nothing to do, false.
 */
export async function compactTo(kv: KvClient, revision: number, physical = false): Promise<boolean> {
  try {
    await kv.compact({ revision, physical });
    return true;
  } catch (err) {
    if (isCompacted(err)) return false;
    throw err;
  }
}

/** Interval compaction, as kube-apiserver's compactor: `start()` it; `step()` runs one interval now (tests). */
export function compactor(opts: { kv: KvClient; prefix?: string; intervalMs: number; log?: Logger; onCompacted?: (revision: number) => void }): PeriodicClaim {
  const { kv, log } = opts;
  return new PeriodicClaim({
    kv,
    key: `${(opts.prefix ?? '/registry').replace(/\/+$/, '')}/${COMPACT_REV_KEY}`,
    intervalMs: opts.intervalMs,
    name: 'compaction',
    log,
    run: async (revision) => {
      if (revision === undefined) return; // the first claim: nothing recorded to compact to yet
      const started = performance.now();
      if (await compactTo(kv, revision)) {
        log?.info('etcd compacted', { revision, ms: Math.round(performance.now() - started) });
        opts.onCompacted?.(revision);
      }
    },
  });
}

/** One member's defragmentation: its backend file before and after. */
export interface MemberDefragmentation {
  endpoint: string;
  dbSizeBefore: number;
  dbSizeAfter: number;
  dbSizeInUse: number;
  ms: number;
}

/**
 * Defragments every member, one after the other (a member blocks its reads and writes while
 * it rewrites its file): `connect(endpoint)` gives a client for that member alone, closed here.
 */
export async function defragmentMembers(
  endpoints: readonly string[],
  connect: (endpoint: string) => LeanKvClient,
  log?: Logger,
): Promise<MemberDefragmentation[]> {
  const out: MemberDefragmentation[] = [];
  for (const endpoint of endpoints) {
    const member = connect(endpoint);
    try {
      const before = await member.status();
      const started = performance.now();
      await member.defragment();
      const ms = Math.round(performance.now() - started);
      const after = await member.status();
      const result = { endpoint, dbSizeBefore: Number(before.dbSize), dbSizeAfter: Number(after.dbSize), dbSizeInUse: Number(after.dbSizeInUse), ms };
      log?.info('etcd member defragmented', { ...result });
      out.push(result);
    } finally {
      member.close();
    }
  }
  return out;
}

/** The alarms raised in the cluster (etcd's Alarm GET, every member). */
export async function activeAlarms(client: MaintenanceClient): Promise<IAlarmMember[]> {
  const res = await client.alarm({ action: 'Get', memberID: 0, alarm: 'None' });
  return res.alarms.filter((a) => a.alarm !== 'None');
}

/** Disarms every raised NOSPACE alarm (after space was reclaimed); returns those disarmed. */
export async function disarmNoSpace(client: MaintenanceClient): Promise<IAlarmMember[]> {
  const raised = (await activeAlarms(client)).filter((a) => a.alarm === 'Nospace');
  for (const a of raised) await client.alarm({ action: 'Deactivate', memberID: a.memberID, alarm: 'Nospace' });
  return raised;
}

/** etcd's current revision (the header of a one-key read). */
export async function currentRevision(kv: KvClient): Promise<number> {
  const res: IRangeResponse = await kv.range({ key: Buffer.from(`/${COMPACT_REV_KEY}`), limit: 1 });
  return Number(res.header.revision);
}

/** What POST /admin/etcd/defragment did. */
export interface SpaceReport {
  /** With compact: the revision compacted to (history before it is gone). */
  compactedTo?: number;
  members: MemberDefragmentation[];
  /** With disarm: the NOSPACE alarms disarmed. */
  disarmed?: { memberID: string; alarm: string }[];
}

/**
 * Reclaims etcd's space on demand, in etcd's documented order: compact to the current
 * revision (physically: the pages must be free before the rewrite), defragment each member,
 * then disarm NOSPACE alarms (etcd refuses writes until then; if the data still exceeds the
 * quota, the next write raises it again).
 */
export async function reclaimSpace(opts: {
  kv: LeanKvClient;
  endpoints: readonly string[];
  connect: (endpoint: string) => LeanKvClient;
  compact: boolean;
  disarm: boolean;
  log?: Logger;
}): Promise<SpaceReport> {
  const report: SpaceReport = { members: [] };
  if (opts.compact) {
    const revision = await currentRevision(opts.kv);
    await compactTo(opts.kv, revision, true);
    report.compactedTo = revision;
    opts.log?.info('etcd compacted on demand', { revision });
  }
  report.members = await defragmentMembers(opts.endpoints, opts.connect, opts.log);
  if (opts.disarm) {
    report.disarmed = (await disarmNoSpace(opts.kv)).map((a) => ({ memberID: String(a.memberID), alarm: String(a.alarm) }));
    if (report.disarmed.length > 0) opts.log?.info('etcd NOSPACE alarm disarmed', { members: report.disarmed.map((a) => a.memberID).join(',') });
  }
  return report;
}
