/** Aggregates for the dashboard: counts by phase/readiness and cluster capacity. */
import type { Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { readinessOf } from './node-ready.js';
import { usageByNode } from './placement.js';

export function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const out = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    out.set(k, (out.get(k) ?? 0) + 1);
  }
  return out;
}

export const vmPhaseOf = (vm: VirtualMachine): string => vm.status?.phase ?? 'Pending';
export const poolPhaseOf = (pool: StoragePool): string => pool.status?.phase ?? 'Pending';

export interface Capacity {
  used: number;
  total: number;
}

export interface ClusterCapacity {
  /** vCPUs of bound VMs vs. cores nodes offer. */
  cpu: Capacity;
  memoryBytes: Capacity;
  storageBytes: Capacity;
}

export function clusterCapacity(nodes: readonly Node[], pools: readonly StoragePool[], vms: readonly VirtualMachine[]): ClusterCapacity {
  const usage = usageByNode(vms);
  let cpuUsed = 0;
  let memUsed = 0;
  for (const u of usage.values()) {
    cpuUsed += u.cpu;
    memUsed += u.memoryBytes;
  }
  let cpuTotal = 0;
  let memTotal = 0;
  for (const n of nodes) {
    const a = n.status?.allocatable ?? n.status?.capacity ?? {};
    cpuTotal += a.cpu ?? 0;
    memTotal += a.memoryBytes ?? 0;
  }
  let storageUsed = 0;
  let storageTotal = 0;
  for (const p of pools) {
    storageUsed += p.status?.capacity?.usedBytes ?? 0;
    storageTotal += p.status?.capacity?.totalBytes ?? 0;
  }
  return { cpu: { used: cpuUsed, total: cpuTotal }, memoryBytes: { used: memUsed, total: memTotal }, storageBytes: { used: storageUsed, total: storageTotal } };
}

export function nodeReadiness(nodes: readonly Node[]): Map<string, number> {
  return countBy(nodes, readinessOf);
}
