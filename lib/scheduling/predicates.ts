/**
 * Whether a VM fits a node: the scheduler's filters, shared with the UI's placement hint
 * (web/src/model/placement.ts) so the create form and the scheduler cannot disagree.
 * Pure and browser-safe.
 *
 * Filters, in order (a node is counted under the first one it fails):
 *   1. node Ready (Unknown: "unreachable"; False/absent: "not ready")
 *   2. not cordoned (spec.unschedulable)
 *   3. spec.nodeSelector matches the node's labels
 *   4. every disk's StoragePool exists, is assigned to the node and HEALTHY there
 *   5. free CPU, then free memory (allocatable × overcommit − VMs bound there)
 */
import type { Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { parseBytes } from '../../api-types/quantity.js';
import { getCondition } from '../apimachinery/conditions.js';

export interface SchedulerConfig {
  /** vCPUs per physical core (default 4). */
  cpuOvercommit: number;
  /** Guest memory per byte of host memory (default 1). */
  memoryOvercommit: number;
}

export const DEFAULT_SCHEDULER_CONFIG: SchedulerConfig = { cpuOvercommit: 4, memoryOvercommit: 1 };

export interface NodeUsage {
  cpu: number;
  memoryBytes: number;
  vmCount: number;
}

/** What a VM asks of a node. */
export interface ResourceRequest {
  cpu: number;
  memoryBytes: number;
  pools: string[];
}

const memoCache = new Map<string, number>();

/** Guest memory in bytes (memoized: the same few quantities repeat across thousands of VMs). */
export function memoryBytes(q: string | undefined): number {
  if (!q) return 0;
  let v = memoCache.get(q);
  if (v === undefined) {
    try {
      v = parseBytes(q);
    } catch {
      v = 0;
    }
    if (memoCache.size > 10_000) memoCache.clear();
    memoCache.set(q, v);
  }
  return v;
}

export function requestOf(vm: VirtualMachine): ResourceRequest {
  const pools = [...new Set((vm.spec?.disks ?? []).map((d) => d.storagePool))];
  return { cpu: vm.spec?.cpu ?? 1, memoryBytes: memoryBytes(vm.spec?.memory), pools };
}

export type Fit = { fits: true } | { fits: false; reason: string };

const FITS: Fit = { fits: true };

export function filterNode(
  req: ResourceRequest,
  vm: VirtualMachine,
  node: Node,
  pools: ReadonlyMap<string, StoragePool>,
  usage: NodeUsage,
  config: SchedulerConfig,
): Fit {
  const ready = getCondition(node.status?.conditions, 'Ready')?.status;
  if (ready === 'Unknown') return { fits: false, reason: 'node unreachable' };
  if (ready !== 'True') return { fits: false, reason: 'node not ready' };
  if (node.spec?.unschedulable) return { fits: false, reason: 'node unschedulable' };
  const selector = vm.spec?.nodeSelector;
  if (selector) {
    const labels = node.metadata.labels ?? {};
    for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return { fits: false, reason: 'node selector mismatch' };
  }
  const name = node.metadata.name!;
  for (const p of req.pools) {
    const pool = pools.get(p);
    if (!pool) return { fits: false, reason: `pool "${p}" not found` };
    if (!(pool.spec?.assignedNodes ?? []).includes(name)) return { fits: false, reason: `pool "${p}" not assigned` };
    if (pool.status?.hosts?.[name]?.health !== 'HEALTHY') return { fits: false, reason: `pool "${p}" not healthy` };
  }
  const alloc = allocatable(node, config);
  if (usage.cpu + req.cpu > alloc.cpu) return { fits: false, reason: 'insufficient cpu' };
  if (usage.memoryBytes + req.memoryBytes > alloc.memoryBytes) return { fits: false, reason: 'insufficient memory' };
  return FITS;
}

export function allocatable(node: Node, config: SchedulerConfig): { cpu: number; memoryBytes: number } {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return { cpu: (a.cpu ?? 0) * config.cpuOvercommit, memoryBytes: Math.floor((a.memoryBytes ?? 0) * config.memoryOvercommit) };
}
