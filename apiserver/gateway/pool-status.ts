/**
 * StoragePool status.hosts.<node> from agent reports (pure). The storagepool controller
 * aggregates the entries into phase and capacity; the gateway only writes its node's entry.
 */
import type { PoolHostHealth, PoolHostStatus, StoragePool, StoragePoolStatus } from '../../api-types/generated/types.js';
import type { PoolStatus } from '../../api-types/proto/types.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { NO_CHANGE } from './writes.js';

const HEALTH: ReadonlySet<string> = new Set(['HEALTHY', 'DEGRADED', 'ERROR', 'UNMOUNTED']);
/**
 * Capacity moves all the time: refresh an otherwise unchanged entry at most this often. As
 * long as Node status (node-status.ts NODE_STATUS_REFRESH_MS): a heartbeat that changes
 * nothing writes nothing; the node's Lease says it is alive.
 */
export const POOL_REPORT_REFRESH_MS = 5 * 60_000;

export function hostEntry(report: PoolStatus, now: Date): PoolHostStatus {
  if (!HEALTH.has(report.health)) throw errors.badRequest(`pool ${report.name}: health "${report.health}" is not one of HEALTHY, DEGRADED, ERROR, UNMOUNTED`);
  const entry: PoolHostStatus = { health: report.health as PoolHostHealth, lastReported: isoSeconds(now) };
  const nonNegative = (n: number) => Math.max(0, Math.floor(n));
  if (report.health === 'HEALTHY' || report.health === 'DEGRADED' || report.totalBytes > 0) {
    entry.totalBytes = nonNegative(report.totalBytes);
    entry.usedBytes = nonNegative(report.usedBytes);
    entry.availableBytes = nonNegative(report.availableBytes);
  }
  if (report.mountPath) entry.mountPath = report.mountPath;
  entry.volumeCount = nonNegative(report.volumeCount);
  if (report.message) entry.message = report.message;
  return entry;
}

/** Significant: anything but capacity drift and lastReported. */
function significant(e: PoolHostStatus | undefined): string {
  if (!e) return '';
  return JSON.stringify([e.health, e.mountPath, e.volumeCount, e.message ?? '']);
}

function capacityMoved(a: PoolHostStatus | undefined, b: PoolHostStatus): boolean {
  if (!a) return true;
  const total = b.totalBytes ?? 0;
  const delta = Math.abs((a.availableBytes ?? 0) - (b.availableBytes ?? 0));
  return (a.totalBytes ?? 0) !== total || (total > 0 && delta / total > 0.01);
}

/** The pool status with this node's entry replaced (or removed), or NO_CHANGE. */
export function poolStatusWithReport(pool: StoragePool, node: string, report: PoolStatus, now: Date, force = false): StoragePoolStatus | typeof NO_CHANGE {
  const status: StoragePoolStatus = structuredClone(pool.status ?? {});
  const old = status.hosts?.[node];
  if (report.removed) {
    if (!old) return NO_CHANGE;
    const hosts = { ...(status.hosts ?? {}) };
    delete hosts[node];
    status.hosts = hosts;
    return status;
  }
  const entry = hostEntry(report, now);
  const stale = !old?.lastReported || now.getTime() - Date.parse(old.lastReported) >= POOL_REPORT_REFRESH_MS;
  if (!force && old && significant(old) === significant(entry) && !capacityMoved(old, entry) && !stale) return NO_CHANGE;
  status.hosts = { ...(status.hosts ?? {}), [node]: entry };
  return status;
}
