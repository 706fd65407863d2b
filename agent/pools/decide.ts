/**
 * Storage pools on this host (pure): which libvirt pool a StoragePool means here, what to
 * do to get there, and how healthy it is.
 *
 * A pool assigned to the node is defined and started (dir: the directory; nfs: libvirt
 * netfs mounted under the agent's pool mount root). A pool no longer assigned (or deleted)
 * is stopped and its definition removed — never its data — but only if this agent defined
 * it (the state dir remembers which): a host's own pools are not Quantix's to stop.
 */
import path from 'node:path';
import type { PoolInfo, PoolSpec } from '../hypervisor/driver.js';
import type { StoragePool } from '../../api-types/generated/types.js';
import type { PoolStatus } from '../../api-types/proto/types.js';

export type PoolAction = 'define' | 'undefine' | 'start' | 'refresh' | 'stop';

export interface PoolDecision {
  actions: PoolAction[];
  /** A pool with this name but another definition exists and cannot be changed here. */
  conflict?: string;
  /** The pool is not assigned here any more: report it removed once the actions ran. */
  removed: boolean;
}

export const NEARLY_FULL_RATIO = 0.05;

export function poolSpecFor(pool: StoragePool, mountRoot: string): PoolSpec {
  const name = pool.metadata.name!;
  if (pool.spec.type === 'nfs') {
    return {
      name,
      type: 'nfs',
      targetPath: path.join(mountRoot, name),
      source: { host: pool.spec.nfs?.server ?? '', dir: pool.spec.nfs?.exportPath ?? '' },
    };
  }
  return { name, type: 'dir', targetPath: pool.spec.dir?.path ?? '' };
}

export function sameDefinition(spec: PoolSpec, info: PoolInfo): boolean {
  const libvirtType = spec.type === 'nfs' ? 'netfs' : 'dir';
  if (info.type !== libvirtType) return false;
  if (path.resolve(info.targetPath) !== path.resolve(spec.targetPath)) return false;
  if (spec.type === 'nfs') return info.source?.host === spec.source.host && info.source?.dir === spec.source.dir;
  return true;
}

export function decidePool(desired: PoolSpec | undefined, actual: PoolInfo | undefined, definedByAgent: boolean): PoolDecision {
  if (!desired) {
    if (!actual || !definedByAgent) return { actions: [], removed: true };
    const actions: PoolAction[] = [];
    if (actual.state !== 'Inactive') actions.push('stop');
    actions.push('undefine');
    return { actions, removed: true };
  }
  if (!actual) return { actions: ['define', 'start'], removed: false };
  if (!sameDefinition(desired, actual)) {
    if (definedByAgent && actual.state === 'Inactive') return { actions: ['undefine', 'define', 'start'], removed: false };
    return {
      actions: [],
      removed: false,
      conflict: definedByAgent
        ? `the pool is running with another definition (${actual.type} at ${actual.targetPath}); stop it on the host to apply the new spec`
        : `a libvirt pool named "${desired.name}" with another definition (${actual.type} at ${actual.targetPath}) already exists on this host`,
    };
  }
  if (actual.state === 'Running' || actual.state === 'Degraded') return { actions: ['refresh'], removed: false };
  return { actions: ['start'], removed: false };
}

/** The report for status.hosts.<node>. */
export function poolReport(
  name: string,
  desired: PoolSpec | undefined,
  actual: PoolInfo | undefined,
  decision: Pick<PoolDecision, 'conflict' | 'removed'>,
  lastError: { reason: string; message: string } | undefined,
): PoolStatus {
  const nfs = desired?.type === 'nfs';
  const report: PoolStatus = {
    name,
    health: 'HEALTHY',
    totalBytes: 0,
    usedBytes: 0,
    availableBytes: 0,
    mountPath: desired?.targetPath ?? actual?.targetPath ?? '',
    volumeCount: 0,
    message: '',
    removed: decision.removed,
  };
  if (decision.removed) return report;
  const running = actual?.state === 'Running' || actual?.state === 'Degraded';
  if (actual && running) {
    report.totalBytes = actual.capacityBytes;
    report.usedBytes = actual.allocationBytes;
    report.availableBytes = actual.availableBytes;
    report.volumeCount = actual.volumeCount;
  }
  if (decision.conflict) {
    report.health = 'ERROR';
    report.message = decision.conflict;
  } else if (lastError && !running) {
    report.health = nfs && lastError.reason === 'PoolMountFailed' ? 'UNMOUNTED' : 'ERROR';
    report.message = lastError.message;
  } else if (!actual) {
    report.health = 'ERROR';
    report.message = lastError?.message ?? 'the pool is not defined on this host yet';
  } else if (actual.state === 'Degraded') {
    report.health = 'DEGRADED';
    report.message = 'libvirt reports the pool degraded';
  } else if (!running) {
    report.health = nfs ? 'UNMOUNTED' : 'ERROR';
    report.message = actual.state === 'Inaccessible' ? 'the pool is inaccessible' : `the pool is not running (${actual.state})`;
  } else if (actual.capacityBytes > 0 && actual.availableBytes / actual.capacityBytes < NEARLY_FULL_RATIO) {
    report.health = 'DEGRADED';
    report.message = `nearly full: ${Math.round((100 * actual.availableBytes) / actual.capacityBytes)}% available`;
  } else if (lastError) {
    report.health = 'DEGRADED';
    report.message = lastError.message;
  }
  return report;
}
