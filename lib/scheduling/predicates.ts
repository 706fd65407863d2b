/**
 * Whether a VM fits a node: the scheduler's filters, shared with the UI's placement hint
 * (web/src/model/placement.ts) so the create form and the scheduler cannot disagree.
 * Pure and browser-safe.
 *
 * Filters, in order (a node is counted under the first one it fails):
 *   1. node Ready (Unknown: "unreachable"; False/absent: "not ready")
 *   2. not cordoned (spec.unschedulable) nor fenced (spec.fenced: an admin said it is down)
 *   3. spec.nodeSelector matches the node's labels
 *   4. every disk's StoragePool exists, is assigned to the node and HEALTHY there
 *   5. every NIC's network is available there: type network — the Network exists, is
 *      assigned to the node and active on it (status.hosts.<node>.active, as its agent
 *      reported); type bridge — the host bridge is in Node.status.bridges; user — always
 *   6. free CPU, then free memory (allocatable × overcommit − VMs bound there)
 */
import type { Network, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
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

/** A NIC's need of a node: a Quantix Network, or an existing host bridge (user NICs need nothing). */
export interface NetworkNeed {
  type: 'network' | 'bridge';
  /** The Network's name, or the bridge's. */
  name: string;
}

/** What a VM asks of a node. */
export interface ResourceRequest {
  cpu: number;
  memoryBytes: number;
  pools: string[];
  networks: readonly NetworkNeed[];
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
  return { cpu: vm.spec?.cpu ?? 1, memoryBytes: memoryBytes(vm.spec?.memory), pools, networks: networkNeeds(vm) };
}

const NO_NEEDS: readonly NetworkNeed[] = Object.freeze([]);

/** The Networks and host bridges a VM's NICs attach to, each once, in spec order. */
export function networkNeeds(vm: VirtualMachine): readonly NetworkNeed[] {
  const nics = vm.spec?.networks;
  if (!nics || nics.length === 0) return NO_NEEDS;
  const out: NetworkNeed[] = [];
  const seen = new Set<string>();
  for (const n of nics) {
    if ((n.type !== 'network' && n.type !== 'bridge') || !n.source) continue;
    const key = `${n.type}/${n.source}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({ type: n.type, name: n.source });
  }
  return out;
}

/**
 * Why a node does not fit. `namesNode`: the reason is a fact about this node's own set-up (a
 * network not active or a bridge missing there), so the scheduler's message lists the nodes
 * it applies to; other reasons are counted only.
 */
export type Fit = { fits: true } | { fits: false; reason: string; namesNode?: boolean };

const FITS: Fit = { fits: true };

/**
 * Whether `vm` fits `node`. `networks`: the Networks by name; a caller that does not know them
 * (leaves it out) gets no verdict on type-network NICs — host bridges are still checked.
 */
export function filterNode(
  req: ResourceRequest,
  vm: VirtualMachine,
  node: Node,
  pools: ReadonlyMap<string, StoragePool>,
  usage: NodeUsage,
  config: SchedulerConfig,
  networks?: ReadonlyMap<string, Network>,
): Fit {
  const own = nodeFit(node);
  if (own) return own;
  const selector = vm.spec?.nodeSelector;
  if (selector) {
    const labels = node.metadata.labels ?? {};
    for (const [k, v] of Object.entries(selector)) if (labels[k] !== v) return { fits: false, reason: 'node selector mismatch' };
  }
  const name = node.metadata.name!;
  for (const p of req.pools) {
    const pool = pools.get(p);
    if (!pool) return { fits: false, reason: `pool "${p}" not found` };
    if (!assignedTo(pool.spec?.assignedNodes).has(name)) return { fits: false, reason: `pool "${p}" not assigned` };
    if (pool.status?.hosts?.[name]?.health !== 'HEALTHY') return { fits: false, reason: `pool "${p}" not healthy` };
  }
  const net = networkFit(req.networks, node, networks);
  if (net) return net;
  const alloc = allocatable(node, config);
  if (usage.cpu + req.cpu > alloc.cpu) return { fits: false, reason: 'insufficient cpu' };
  if (usage.memoryBytes + req.memoryBytes > alloc.memoryBytes) return { fits: false, reason: 'insufficient memory' };
  return FITS;
}

const nodeFits = new WeakMap<Node, Fit>();

/**
 * What a node says of itself whatever the VM (Ready, cordoned, fenced): undefined when it takes
 * VMs. Kept per Node object (a cached object is never modified; a change is a new object), so
 * a decision over 1,000 nodes does not search each one's conditions again for every VM.
 */
function nodeFit(node: Node): Fit | undefined {
  const known = nodeFits.get(node); // one lookup: FITS stands for "takes VMs"
  if (known) return known === FITS ? undefined : known;
  const ready = getCondition(node.status?.conditions, 'Ready')?.status;
  let fit: Fit | undefined;
  if (ready === 'Unknown') fit = { fits: false, reason: 'node unreachable' };
  else if (ready !== 'True') fit = { fits: false, reason: 'node not ready' };
  else if (node.spec?.unschedulable) fit = { fits: false, reason: 'node unschedulable' };
  else if (node.spec?.fenced) fit = { fits: false, reason: 'node fenced' };
  nodeFits.set(node, fit ?? FITS);
  return fit;
}

const NO_NODES: ReadonlySet<string> = new Set();
const assignedSets = new WeakMap<readonly string[], ReadonlySet<string>>();

/**
 * A pool's or Network's assignedNodes as a set, built once per list object: a cached object is
 * never modified (a change is a new object), and the scheduler asks for every node in turn —
 * `includes` on a 1,000-node list for each of 1,000 nodes was a million comparisons per VM.
 */
function assignedTo(nodes: readonly string[] | undefined): ReadonlySet<string> {
  if (!nodes) return NO_NODES;
  let set = assignedSets.get(nodes);
  if (!set) {
    set = new Set(nodes);
    assignedSets.set(nodes, set);
  }
  return set;
}

/** The first NIC need the node cannot meet, or undefined when it meets them all. */
export function networkFit(needs: readonly NetworkNeed[], node: Node, networks: ReadonlyMap<string, Network> | undefined): Fit | undefined {
  const name = node.metadata.name!;
  for (const need of needs) {
    if (need.type === 'bridge') {
      if (!(node.status?.bridges ?? []).includes(need.name)) return { fits: false, reason: `bridge "${need.name}" does not exist`, namesNode: true };
      continue;
    }
    if (!networks) continue;
    const net = networks.get(need.name);
    if (!net) return { fits: false, reason: `Network "${need.name}" does not exist` };
    if (!assignedTo(net.spec?.assignedNodes).has(name)) return { fits: false, reason: `network "${need.name}" is not assigned`, namesNode: true };
    if (net.status?.hosts?.[name]?.active !== true) return { fits: false, reason: `network "${need.name}" is not active`, namesNode: true };
  }
  return undefined;
}

export function allocatable(node: Node, config: SchedulerConfig): { cpu: number; memoryBytes: number } {
  const a = node.status?.allocatable ?? node.status?.capacity ?? {};
  return { cpu: (a.cpu ?? 0) * config.cpuOvercommit, memoryBytes: Math.floor((a.memoryBytes ?? 0) * config.memoryOvercommit) };
}
