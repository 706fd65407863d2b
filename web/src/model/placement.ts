/**
 * Which nodes can take a VM, answered by the scheduler's own filter
 * (lib/scheduling/predicates.ts `filterNode`), so the create form and the
 * scheduler never disagree: Ready, not cordoned, node selector, every disk's pool assigned
 * and HEALTHY on the node, free CPU and memory.
 */
import type { Node, StoragePool, VirtualMachine } from '../../../api-types/generated/types.js';
import { allocatable, DEFAULT_SCHEDULER_CONFIG, filterNode, requestOf, type NodeUsage, type SchedulerConfig } from '../../../lib/scheduling/predicates.js';

export interface NodeFit {
  node: string;
  fits: boolean;
  /** Why it does not fit, in the scheduler's words. */
  reason?: string;
  freeCpu: number;
  freeMemoryBytes: number;
}

/**
 * What the VMs bound to each node take, as the scheduler counts it (UsageTracker.claimOf):
 * every VM with spec.nodeName except Terminated ones, whose domains are gone.
 */
export function usageByNode(vms: readonly VirtualMachine[], exclude?: VirtualMachine): Map<string, NodeUsage> {
  const out = new Map<string, NodeUsage>();
  for (const vm of vms) {
    const node = vm.spec?.nodeName;
    if (!node || vm.status?.phase === 'Terminated' || vm === exclude) continue;
    const r = requestOf(vm);
    const u = out.get(node) ?? { cpu: 0, memoryBytes: 0, vmCount: 0 };
    out.set(node, { cpu: u.cpu + r.cpu, memoryBytes: u.memoryBytes + r.memoryBytes, vmCount: u.vmCount + 1 });
  }
  return out;
}

/**
 * Every node with whether `vm` fits there. The overcommit ratios are the scheduler's
 * defaults: a controller-manager started with other ratios may accept more.
 */
export function placementFor(
  vm: VirtualMachine,
  nodes: readonly Node[],
  pools: readonly StoragePool[],
  vms: readonly VirtualMachine[],
  config: SchedulerConfig = DEFAULT_SCHEDULER_CONFIG,
): NodeFit[] {
  const poolMap = new Map(pools.map((p) => [p.metadata.name!, p]));
  const usage = usageByNode(vms);
  const req = requestOf(vm);
  return nodes
    .map((node) => {
      const name = node.metadata.name!;
      const u = usage.get(name) ?? { cpu: 0, memoryBytes: 0, vmCount: 0 };
      const fit = filterNode(req, vm, node, poolMap, u, config);
      const alloc = allocatable(node, config);
      return {
        node: name,
        fits: fit.fits,
        reason: fit.fits ? undefined : fit.reason,
        freeCpu: alloc.cpu - u.cpu,
        freeMemoryBytes: alloc.memoryBytes - u.memoryBytes,
      };
    })
    .sort((a, b) => Number(b.fits) - Number(a.fits) || a.node.localeCompare(b.node));
}
