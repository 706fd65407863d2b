/**
 * Node liveness Leases (api-types/node-lease.ts; docs/architecture.md, "Heartbeats and node
 * Leases"), as Kubernetes' NodeLease, with one step more: a heartbeat that changes nothing
 * costs no etcd write at all.
 *
 * The replica that receives an agent's heartbeats holds the agent's session in memory and the
 * node's Lease in etcd (holder `gateway/<replica id>`). Its own Lease
 * (quantix-system/gateway-<replica id>) vouches for every node Lease it holds. The node Lease is
 * written only when the session starts or moves here, every NODE_LEASE_REFRESH_MS, and when the
 * session ends: heartbeats lapsed (lapseAfterMs) or the agent's tunnel closed. Then the holder
 * is cleared and renewTime is the last heartbeat the replica received.
 *
 * A heartbeat is answered only once this replica's own Lease was renewed (in etcd) at most
 * VOUCH_MAX_AGE_MS before the heartbeat arrived; an older one is renewed first. node-lifecycle saw
 * that renewal no earlier, so an agent's self-fencing clock (from when it sent its last
 * accepted heartbeat, less a second: agent/self-fence.ts) still runs out first, as when every
 * heartbeat was written (docs/fencing.md). A replica cut off from etcd answers no heartbeat.
 */
import { Counter, type Registry } from 'prom-client';
import type { Lease } from '../../api-types/generated/types.js';
import {
  GATEWAY_LEASE_NAMESPACE,
  GATEWAY_LEASE_RENEW_SECONDS,
  gatewayHolderIdentity,
  gatewayLeaseName,
  NODE_LEASE_DURATION_SECONDS,
  NODE_LEASE_NAMESPACE,
} from '../../api-types/node-lease.js';
import { leaseDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import type { Logger } from '../../lib/logging/logger.js';
import type { ApiserverContext } from '../server.js';
import { AlreadyExistsError, NotFoundError } from '../storage/errors.js';
import { NO_CHANGE, type ObjectWriter } from './writes.js';

const LEASE_DEF = leaseDefinition as unknown as ResourceDefinition;

/** A held node Lease is written again (renewTime) at most this often while its session lasts. */
export const NODE_LEASE_REFRESH_MS = 5 * 60_000;
/** A heartbeat is answered only on a replica Lease renewal issued at most this long before it arrived. */
export const VOUCH_MAX_AGE_MS = 1_000;
/** Before a session's heartbeat interval is known (one heartbeat seen): the agent's default, 10 s. */
const DEFAULT_HEARTBEAT_INTERVAL_MS = 10_000;
/** Lapse: two heartbeat intervals and two seconds, at least MIN (a busy host), at most MAX (node-lifecycle's grace is 40 s). */
const MIN_LAPSE_MS = 5_000;
const MAX_LAPSE_MS = 30_000;
const LAPSE_CHECK_MS = 1_000;
/** A replica Lease not renewed for this long belongs to a replica gone for good: deleted (each process start makes a new one). */
export const DEAD_REPLICA_LEASE_AGE_MS = 3_600_000;
const REPLICA_LEASE_GC_INTERVAL_MS = 10 * 60_000;

export type HeartbeatWriteObject = 'node' | 'node-lease' | 'gateway-lease' | 'pool' | 'network' | 'vm';

/** quantix_gateway_heartbeat_etcd_writes_total, once per registry. */
export function heartbeatWritesCounter(registry: Registry): Counter<'object'> {
  const name = 'quantix_gateway_heartbeat_etcd_writes_total';
  const existing = registry.getSingleMetric(name);
  if (existing) return existing as Counter<'object'>;
  return new Counter({
    name,
    help: 'Writes to etcd caused by node heartbeats, by object written (node, node-lease, gateway-lease, pool, network, vm)',
    labelNames: ['object'] as const,
    registers: [registry],
  });
}

/** What a replica keeps per session (per node whose heartbeats it receives). */
export interface HeartbeatSession {
  lastHeartbeatMs: number;
  /** The gap between the last two heartbeats (undefined after the first). */
  intervalMs?: number;
  /** When this replica last wrote the node Lease as its holder, and the resourceVersion written. */
  leaseWrittenMs: number;
  leaseResourceVersion: string;
}

/** How long after its last heartbeat a session counts as lapsed. */
export function lapseAfterMs(session: Pick<HeartbeatSession, 'intervalMs'>): number {
  return Math.min(MAX_LAPSE_MS, Math.max(MIN_LAPSE_MS, 2 * (session.intervalMs ?? DEFAULT_HEARTBEAT_INTERVAL_MS) + 2_000));
}

/** The nodes whose sessions lapsed at `nowMs`. */
export function lapsedNodes(sessions: ReadonlyMap<string, Pick<HeartbeatSession, 'lastHeartbeatMs' | 'intervalMs'>>, nowMs: number): string[] {
  const out: string[] = [];
  for (const [node, s] of sessions) if (nowMs - s.lastHeartbeatMs > lapseAfterMs(s)) out.push(node);
  return out;
}

function revision(rv: string | undefined): number {
  const n = Number(rv);
  return Number.isFinite(n) ? n : 0;
}

/**
 * Whether a heartbeat must write the node Lease: `take` when this replica holds no session for
 * the node, or the Lease (as cached, and not older than what this replica wrote) names another
 * holder or none; `refresh` when the last write is NODE_LEASE_REFRESH_MS old; else nothing.
 */
export function nodeLeaseWrite(
  cached: Lease | undefined,
  holder: string,
  session: Pick<HeartbeatSession, 'leaseWrittenMs' | 'leaseResourceVersion'> | undefined,
  nowMs: number,
): 'take' | 'refresh' | undefined {
  if (!session || !cached) return 'take';
  const cacheIsCurrent = revision(cached.metadata.resourceVersion) >= revision(session.leaseResourceVersion);
  if (cacheIsCurrent && cached.spec?.holderIdentity !== holder) return 'take';
  return nowMs - session.leaseWrittenMs >= NODE_LEASE_REFRESH_MS ? 'refresh' : undefined;
}

const microTime = (ms: number) => new Date(ms).toISOString();

/** The Lease's spec with `holder` holding it, renewed at `nowMs`. */
export function heldLeaseSpec(current: Lease['spec'] | undefined, holder: string, nowMs: number): NonNullable<Lease['spec']> {
  const moved = current?.holderIdentity !== holder;
  return {
    holderIdentity: holder,
    leaseDurationSeconds: NODE_LEASE_DURATION_SECONDS,
    acquireTime: moved ? microTime(nowMs) : (current?.acquireTime ?? microTime(nowMs)),
    renewTime: microTime(nowMs),
    leaseTransitions: (current?.leaseTransitions ?? 0) + (moved && current?.holderIdentity ? 1 : 0),
  };
}

/** The Lease's spec released by `holder` (renewTime = its last heartbeat), or NO_CHANGE when `holder` no longer holds it. */
export function releasedLeaseSpec(current: Lease['spec'] | undefined, holder: string, lastHeartbeatMs: number): NonNullable<Lease['spec']> | typeof NO_CHANGE {
  if (current?.holderIdentity !== holder) return NO_CHANGE;
  return { ...current, holderIdentity: '', renewTime: microTime(lastHeartbeatMs) };
}

/** The replica Leases (in GATEWAY_LEASE_NAMESPACE) of replicas gone for good: gateway-* not renewed for DEAD_REPLICA_LEASE_AGE_MS. */
export function deadReplicaLeases(leases: readonly Lease[], nowMs: number): Lease[] {
  return leases.filter((l) => {
    if (!l.metadata.name?.startsWith(gatewayLeaseName(''))) return false;
    const renewed = Date.parse(l.spec?.renewTime ?? '');
    return Number.isFinite(renewed) && nowMs - renewed >= DEAD_REPLICA_LEASE_AGE_MS;
  });
}

export interface NodeLeasesOptions {
  context: Pick<ApiserverContext, 'stores' | 'served'>;
  writer: ObjectWriter;
  replica: string;
  writes: Counter<'object'>;
  log: Logger;
  now?: () => number;
}

/** One replica's sessions, its node Leases and its own Lease. */
export class NodeLeases {
  readonly holder: string;
  readonly #opts: NodeLeasesOptions;
  readonly #now: () => number;
  readonly #sessions = new Map<string, HeartbeatSession>();
  /** Lapsed sessions not released yet (node → last heartbeat); those in #failed failed once: while any does, this replica vouches for nothing. */
  readonly #unreleased = new Map<string, number>();
  readonly #failed = new Set<string>();
  /** When the last successful renewal of this replica's Lease was issued. */
  #renewedAtMs = Number.NEGATIVE_INFINITY;
  #renewal: { issuedAtMs: number; done: Promise<void> } | undefined;
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  #releasing = false;

  constructor(opts: NodeLeasesOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.holder = gatewayHolderIdentity(opts.replica);
  }

  get #log(): Logger {
    return this.#opts.log;
  }

  #store() {
    return this.#opts.context.stores.get(LEASE_DEF);
  }

  /** Starts the replica Lease's own timer and the lapse check. */
  start(): void {
    const renew = setInterval(() => void this.#renew(this.#now()).catch(() => undefined), GATEWAY_LEASE_RENEW_SECONDS * 1000);
    const lapse = setInterval(() => void this.#releaseLapsed(), LAPSE_CHECK_MS);
    const gc = setInterval(() => void this.#collectDeadReplicaLeases(), REPLICA_LEASE_GC_INTERVAL_MS);
    renew.unref();
    lapse.unref();
    gc.unref();
    this.#timers = [renew, lapse, gc];
    void this.#renew(this.#now()).catch(() => undefined);
  }

  /** Stops the timers; the Leases stay as they are (a replica that stops vouches for nothing any more). */
  stop(): void {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    this.#timers = [];
  }

  /** When this replica last received a heartbeat of `node` (its clock), if it holds the session. */
  lastHeartbeatMs(node: string): number | undefined {
    return this.#sessions.get(node)?.lastHeartbeatMs;
  }

  /**
   * A heartbeat of `node` arrived: takes or refreshes its Lease when needed and makes sure this
   * replica's Lease vouches for it. Throws (Unavailable) when etcd could not be written.
   */
  async heartbeat(node: string): Promise<void> {
    const nowMs = this.#now();
    const session = this.#sessions.get(node);
    this.#unreleased.delete(node);
    this.#failed.delete(node);
    const action = nodeLeaseWrite(await this.#cached(node), this.holder, session, nowMs);
    if (action) {
      const written = await this.#hold(node, nowMs);
      const next: HeartbeatSession = { lastHeartbeatMs: nowMs, leaseWrittenMs: nowMs, leaseResourceVersion: written.metadata.resourceVersion ?? '' };
      if (session) next.intervalMs = nowMs - session.lastHeartbeatMs;
      this.#sessions.set(node, next);
      if (action === 'take') this.#log.debug('node lease taken', { node, holder: this.holder });
    } else if (session) {
      session.intervalMs = nowMs - session.lastHeartbeatMs;
      session.lastHeartbeatMs = nowMs;
    }
    await this.#vouch(nowMs);
  }

  /** The agent's session here ended (its tunnel closed): the Lease is released if still held here. */
  async sessionClosed(node: string): Promise<void> {
    const session = this.#sessions.get(node);
    if (!session || this.#stopped) return;
    this.#sessions.delete(node);
    await this.#release(node, session.lastHeartbeatMs).catch((err: Error) => {
      this.#unreleased.set(node, session.lastHeartbeatMs);
      this.#failed.add(node);
      this.#log.warn('releasing a node lease failed; retrying', { node, error: err.message });
    });
  }

  async #cached(node: string): Promise<Lease | undefined> {
    try {
      return (await this.#store().get(NODE_LEASE_NAMESPACE, node, { resourceVersion: '0' })) as Lease;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  }

  /** Writes the node Lease with this replica as holder (creating it when missing). */
  async #hold(node: string, nowMs: number): Promise<Lease> {
    const updated = await this.#opts.writer.update<Lease>(LEASE_DEF, NODE_LEASE_NAMESPACE, node, (current) => ({
      ...current,
      spec: heldLeaseSpec(current.spec, this.holder, nowMs),
    }));
    if (updated) {
      this.#opts.writes.inc({ object: 'node-lease' });
      return updated;
    }
    try {
      const created = await this.#opts.writer.createWithStatus<Lease>(LEASE_DEF, {
        apiVersion: 'coordination.k8s.io/v1',
        kind: 'Lease',
        metadata: { name: node, namespace: NODE_LEASE_NAMESPACE },
        spec: heldLeaseSpec(undefined, this.holder, nowMs),
      });
      this.#opts.writes.inc({ object: 'node-lease' });
      return created;
    } catch (err) {
      // Created a moment ago by another replica taking the session: take it from there.
      if (err instanceof AlreadyExistsError) return this.#hold(node, nowMs);
      throw err;
    }
  }

  async #release(node: string, lastHeartbeatMs: number): Promise<void> {
    let released = false;
    await this.#opts.writer.update<Lease>(LEASE_DEF, NODE_LEASE_NAMESPACE, node, (current) => {
      // A heartbeat took the session here again meanwhile: the Lease stays.
      if (this.#sessions.has(node)) return NO_CHANGE;
      const spec = releasedLeaseSpec(current.spec, this.holder, lastHeartbeatMs);
      released = spec !== NO_CHANGE;
      return spec === NO_CHANGE ? NO_CHANGE : { ...current, spec };
    });
    if (released) {
      this.#opts.writes.inc({ object: 'node-lease' });
      this.#log.info('node lease released: the session ended here', { node, lastHeartbeat: microTime(lastHeartbeatMs) });
    }
  }

  async #collectDeadReplicaLeases(): Promise<void> {
    try {
      const store = this.#store();
      const list = await store.list({ namespace: GATEWAY_LEASE_NAMESPACE, resourceVersion: '0' });
      for (const lease of deadReplicaLeases(list.items as Lease[], this.#now())) {
        await store
          .delete(GATEWAY_LEASE_NAMESPACE, lease.metadata.name!, {
            preconditions: { uid: lease.metadata.uid, resourceVersion: lease.metadata.resourceVersion },
          })
          .catch(() => undefined); // renewed or deleted meanwhile: the next round looks again
      }
    } catch (err) {
      this.#log.warn('collecting dead gateway replica leases failed', { error: (err as Error).message });
    }
  }

  async #releaseLapsed(): Promise<void> {
    if (this.#releasing) return;
    this.#releasing = true;
    try {
      await this.#releaseLapsedOnce();
    } finally {
      this.#releasing = false;
    }
  }

  async #releaseLapsedOnce(): Promise<void> {
    const nowMs = this.#now();
    for (const node of lapsedNodes(this.#sessions, nowMs)) {
      const session = this.#sessions.get(node)!;
      this.#sessions.delete(node);
      this.#unreleased.set(node, session.lastHeartbeatMs);
    }
    for (const [node, lastHeartbeatMs] of [...this.#unreleased]) {
      if (this.#stopped) return;
      try {
        await this.#release(node, lastHeartbeatMs);
        if (this.#unreleased.get(node) === lastHeartbeatMs) this.#unreleased.delete(node);
        this.#failed.delete(node);
      } catch (err) {
        this.#failed.add(node);
        this.#log.warn('releasing a node lease failed; retrying', { node, error: (err as Error).message });
      }
    }
  }

  /** This replica's Lease, renewed at most VOUCH_MAX_AGE_MS before `nowMs` (renewed now if older). */
  async #vouch(nowMs: number): Promise<void> {
    if (this.#renewedAtMs >= nowMs - VOUCH_MAX_AGE_MS) return;
    const inflight = this.#renewal;
    if (inflight && inflight.issuedAtMs >= nowMs - VOUCH_MAX_AGE_MS) return inflight.done;
    return this.#renew(nowMs);
  }

  /** Renews this replica's Lease (renewTime = `issuedAtMs`); refused while a lapsed session is not released. */
  #renew(issuedAtMs: number): Promise<void> {
    if (this.#stopped) return Promise.reject(errors.unavailable('the node gateway is stopping'));
    if (this.#failed.size > 0) {
      return Promise.reject(errors.unavailable(`the node gateway could not release ${this.#failed.size} lapsed node lease(s) in etcd; retrying`));
    }
    const done = this.#writeReplicaLease(issuedAtMs).then(
      () => {
        this.#renewedAtMs = Math.max(this.#renewedAtMs, issuedAtMs);
      },
      (err: Error) => {
        this.#log.warn('renewing the gateway replica lease failed', { error: err.message });
        throw errors.unavailable(`the node gateway could not renew its lease in etcd: ${err.message}`);
      },
    );
    const renewal = { issuedAtMs, done };
    this.#renewal = renewal;
    void done
      .finally(() => {
        if (this.#renewal === renewal) this.#renewal = undefined;
      })
      .catch(() => undefined);
    return done;
  }

  async #writeReplicaLease(nowMs: number): Promise<void> {
    const name = gatewayLeaseName(this.#opts.replica);
    const spec = { holderIdentity: this.holder, leaseDurationSeconds: GATEWAY_LEASE_RENEW_SECONDS * 3, renewTime: microTime(nowMs) };
    const updated = await this.#opts.writer.update<Lease>(LEASE_DEF, GATEWAY_LEASE_NAMESPACE, name, (current) => ({
      ...current,
      spec: { ...current.spec, ...spec },
    }));
    if (!updated) {
      try {
        await this.#opts.writer.createWithStatus<Lease>(LEASE_DEF, {
          apiVersion: 'coordination.k8s.io/v1',
          kind: 'Lease',
          metadata: { name, namespace: GATEWAY_LEASE_NAMESPACE },
          spec: { ...spec, acquireTime: spec.renewTime },
        });
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
        return this.#writeReplicaLease(nowMs);
      }
    }
    this.#opts.writes.inc({ object: 'gateway-lease' });
  }
}
