/**
 * What each node carries: the VMs bound to it in the cache plus the scheduler's own
 * "assumed" bindings — binds it has sent but not yet seen come back through the watch
 * (KubeVirt/kube-scheduler "expectations"). Without them two VMs scheduled in quick
 * succession would both see the same free memory and overcommit a node.
 *
 * Kept incrementally (O(1) per event and per lookup) from the VM informer's events.
 */
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { keyOf } from '../runtime/resources.js';
import { requestOf, type NodeUsage } from '../../lib/scheduling/predicates.js';

interface Claim {
  node: string;
  cpu: number;
  memoryBytes: number;
}

/** Terminated domains are gone from their host: they take nothing. */
function claimOf(vm: VirtualMachine): Claim | undefined {
  const node = vm.spec?.nodeName;
  if (!node || vm.status?.phase === 'Terminated') return undefined;
  const r = requestOf(vm);
  return { node, cpu: r.cpu, memoryBytes: r.memoryBytes };
}

export class UsageTracker {
  readonly #observed = new Map<string, Claim>();
  readonly #assumed = new Map<string, Claim>();
  readonly #totals = new Map<string, NodeUsage>();

  /** Feed every VM informer event here (undefined = deleted). */
  observe(key: string, vm: VirtualMachine | undefined): void {
    const before = this.#observed.get(key);
    const after = vm ? claimOf(vm) : undefined;
    if (before) this.#apply(before, -1);
    if (after) this.#apply(after, +1);
    if (after) this.#observed.set(key, after);
    else this.#observed.delete(key);
    // The cache now shows the binding (or the VM is gone): the assumption is done.
    if (after || !vm) this.forget(key);
  }

  observeObject(vm: VirtualMachine): void {
    this.observe(keyOf(vm), vm);
  }

  assume(key: string, vm: VirtualMachine, node: string): void {
    if (this.#observed.has(key) || this.#assumed.has(key)) return;
    const r = requestOf(vm);
    const claim = { node, cpu: r.cpu, memoryBytes: r.memoryBytes };
    this.#assumed.set(key, claim);
    this.#apply(claim, +1);
  }

  forget(key: string): void {
    const claim = this.#assumed.get(key);
    if (!claim) return;
    this.#assumed.delete(key);
    this.#apply(claim, -1);
  }

  assumedNode(key: string): string | undefined {
    return this.#assumed.get(key)?.node;
  }

  /** Usage of `node`, leaving out `excludeKey`'s own claim (for validating a bound VM). */
  usage(node: string, excludeKey?: string): NodeUsage {
    const t = this.#totals.get(node) ?? { cpu: 0, memoryBytes: 0, vmCount: 0 };
    if (!excludeKey) return t;
    const own = this.#observed.get(excludeKey) ?? this.#assumed.get(excludeKey);
    if (!own || own.node !== node) return t;
    return { cpu: t.cpu - own.cpu, memoryBytes: t.memoryBytes - own.memoryBytes, vmCount: t.vmCount - 1 };
  }

  #apply(c: Claim, sign: 1 | -1): void {
    const t = this.#totals.get(c.node) ?? { cpu: 0, memoryBytes: 0, vmCount: 0 };
    const next = { cpu: t.cpu + sign * c.cpu, memoryBytes: t.memoryBytes + sign * c.memoryBytes, vmCount: t.vmCount + sign };
    if (next.vmCount === 0) this.#totals.delete(c.node);
    else this.#totals.set(c.node, next);
  }
}
