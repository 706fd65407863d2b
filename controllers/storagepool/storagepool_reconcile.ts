/**
 * The storagepool controller's reconcile as a pure function: a pool and its per-host
 * reports (status.hosts, written by the node gateway from heartbeats) → aggregate phase,
 * capacity, a Ready condition, and events on phase changes. Sub-reconcilers, in order:
 *
 *   1. hosts     — drop entries of nodes no longer in spec.assignedNodes.
 *   2. phase     — Pending: no assigned host reported; Ready: every assigned host HEALTHY;
 *                  Degraded: some HEALTHY, not all; Error: none HEALTHY.
 *   3. capacity  — over usable hosts (HEALTHY or DEGRADED): summed for per-host pools
 *                  (dir), counted once for shared pools (nfs: the freshest report).
 *   4. condition — Ready True/False naming the hosts with problems; observedGeneration.
 * And apart (planPoolFinalizer): the pool-in-use finalizer while VMs use the pool.
 */
import type { PoolCapacity, PoolHostStatus, StoragePool, StoragePoolPhase, StoragePoolStatus } from '../../api-types/generated/types.js';
import { POOL_IN_USE_FINALIZER } from '../../api-types/finalizers.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import type { EventSpec } from '../runtime/events.js';

export interface PoolPlan {
  status: StoragePoolStatus;
  events: EventSpec[];
}

const SHARED_TYPES = new Set(['nfs']);

export function planPool(pool: StoragePool, nowMs: number): PoolPlan {
  const now = new Date(nowMs).toISOString();
  const assigned = pool.spec?.assignedNodes ?? [];
  const status: StoragePoolStatus = structuredClone(pool.status ?? {});
  const events: EventSpec[] = [];

  // 1. hosts
  const hosts: Record<string, PoolHostStatus> = {};
  const isAssigned = new Set(assigned); // not includes() per host: a million comparisons at 1,000 hosts
  for (const [name, h] of Object.entries(status.hosts ?? {})) if (isAssigned.has(name)) hosts[name] = h;
  if (Object.keys(hosts).length || status.hosts) status.hosts = hosts;

  // 2. phase
  const reported = assigned.filter((n) => hosts[n]?.health);
  const healthy = reported.filter((n) => hosts[n]!.health === 'HEALTHY');
  let phase: StoragePoolPhase;
  if (reported.length === 0) phase = 'Pending';
  else if (healthy.length === assigned.length) phase = 'Ready';
  else if (healthy.length > 0) phase = 'Degraded';
  else phase = 'Error';

  // 3. capacity
  const usable = reported.filter((n) => hosts[n]!.health === 'HEALTHY' || hosts[n]!.health === 'DEGRADED').map((n) => hosts[n]!);
  const capacity = aggregateCapacity(usable, SHARED_TYPES.has(pool.spec?.type ?? ''));
  if (capacity) status.capacity = capacity;
  else delete status.capacity;

  // 4. condition
  const problems = assigned
    .filter((n) => hosts[n]?.health !== 'HEALTHY')
    .map((n) => (hosts[n]?.health ? `${n}: ${hosts[n]!.health}${hosts[n]!.message ? ` (${hosts[n]!.message})` : ''}` : `${n}: not reported`));
  const message =
    assigned.length === 0
      ? 'not assigned to any node'
      : phase === 'Ready'
        ? `healthy on ${healthy.length}/${assigned.length} assigned nodes`
        : `healthy on ${healthy.length}/${assigned.length} assigned nodes; ${problems.join('; ')}`;
  status.conditions = setCondition(status.conditions, { type: 'Ready', status: phase === 'Ready' ? 'True' : 'False', reason: phase, message }, now);
  status.phase = phase;
  status.observedGeneration = pool.metadata.generation ?? status.observedGeneration;

  const before = pool.status?.phase;
  if (before !== phase) {
    if (phase === 'Degraded') events.push({ type: 'Warning', reason: 'PoolDegraded', message });
    else if (phase === 'Error') events.push({ type: 'Warning', reason: 'PoolError', message });
    else if (phase === 'Ready' && before) events.push({ type: 'Normal', reason: 'PoolReady', message });
  }
  return { status, events };
}

export function aggregateCapacity(usable: PoolHostStatus[], shared: boolean): PoolCapacity | undefined {
  const withNumbers = usable.filter((h) => h.totalBytes !== undefined);
  if (withNumbers.length === 0) return undefined;
  if (shared) {
    const freshest = [...withNumbers].sort((a, b) => (b.lastReported ?? '').localeCompare(a.lastReported ?? ''))[0]!;
    return pick(freshest);
  }
  const sum: PoolCapacity = { totalBytes: 0, usedBytes: 0, availableBytes: 0 };
  for (const h of withNumbers) {
    sum.totalBytes! += h.totalBytes ?? 0;
    sum.usedBytes! += h.usedBytes ?? 0;
    sum.availableBytes! += h.availableBytes ?? 0;
  }
  return sum;
}

function pick(h: PoolHostStatus): PoolCapacity {
  const c: PoolCapacity = {};
  if (h.totalBytes !== undefined) c.totalBytes = h.totalBytes;
  if (h.usedBytes !== undefined) c.usedBytes = h.usedBytes;
  if (h.availableBytes !== undefined) c.availableBytes = h.availableBytes;
  return c;
}

/**
 * The pool-in-use finalizer (api-types/finalizers.ts): present while any VM uses the pool
 * (`usedBy`, from api-types/pool-usage.ts), so a delete waits with deletionTimestamp set until
 * none does; removed once none does, which also lets a waiting delete finish. Not added to a
 * pool already being deleted (the API refuses new finalizers then). Returns the finalizer
 * list to write, or undefined when it is right as it is.
 */
export function planPoolFinalizer(pool: StoragePool, usedBy: readonly string[]): string[] | undefined {
  const finalizers = pool.metadata.finalizers ?? [];
  const has = finalizers.includes(POOL_IN_USE_FINALIZER);
  if (usedBy.length > 0 && !has && !pool.metadata.deletionTimestamp) return [...finalizers, POOL_IN_USE_FINALIZER];
  if (usedBy.length === 0 && has) return finalizers.filter((f) => f !== POOL_IN_USE_FINALIZER);
  return undefined;
}
