/**
 * Where unschedulable VMs wait: kube-scheduler's unschedulable queue with cluster events
 * (pkg/scheduler/internal/queue). A VM that fits no node is parked with what it needs (its
 * pools and Networks) and why nodes refused it; it is tried again only when a cluster event
 * could change the answer — a node added or becoming schedulable, a pool becoming HEALTHY on
 * a node, a Network becoming active on a node, capacity freed by a VM deleted, stopped or
 * moved — and then no sooner than its own backoff (1 s doubling to 10 s per failed attempt,
 * kube-scheduler's defaults), so a VM that keeps failing is retried at most every 10 s
 * however busy the cluster is. Nothing here is a timer: the scheduler moves what `move`
 * returns to its work queue (with the delay given); a periodic resync of every waiting VM
 * (the controller's, every 5 min) stands in for kube-scheduler's flush of long-parked pods.
 *
 * An event that arrives while a VM is being tried (not parked yet) would be lost: as in
 * kube-scheduler (its moveRequestCycle), a VM whose attempt started before the last event
 * is not parked but retried after its backoff.
 *
 * Pure logic and plain data (no clock, no I/O): the controller passes the time in.
 */
import type { Network, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { getCondition } from '../../lib/apimachinery/conditions.js';
import { requestOf } from '../../lib/scheduling/predicates.js';

/** First retry after this; doubles per failed attempt up to MAX (kube-scheduler: 1 s, 10 s). */
export const INITIAL_BACKOFF_MS = 1000;
export const MAX_BACKOFF_MS = 10_000;

/** Reasons (predicates.ts filterNode) that freeing capacity on a node can cure. */
const CAPACITY_REASONS = ['insufficient cpu', 'insufficient memory'];

/** A change in the cluster that can make a waiting VM schedulable. */
export type ClusterEvent =
  /** A node was added, or became Ready, uncordoned, unfenced, or changed labels, capacity or bridges. */
  | { kind: 'NodeSchedulable'; node: string }
  /** A pool became assigned and HEALTHY on at least one node where it was not. */
  | { kind: 'PoolReady'; pool: string }
  /** A Network became assigned and active on at least one node where it was not. */
  | { kind: 'NetworkReady'; network: string }
  /** A VM on `node` was deleted, stopped (Terminated) or moved away: its CPU and memory are free. */
  | { kind: 'CapacityFreed'; node: string };

/** What a parked VM waits for. */
export interface WaitingVm {
  pools: readonly string[];
  networks: readonly string[];
  /** Why nodes refused it (the reasons of the scheduling decision). */
  reasons: readonly string[];
}

/** Per-VM exponential backoff after `attempts` failed attempts (≥ 1). */
export function backoffMs(attempts: number): number {
  return Math.min(MAX_BACKOFF_MS, INITIAL_BACKOFF_MS * 2 ** Math.max(0, Math.min(attempts - 1, 30)));
}

/** What a VM needs of the cluster (its pools and Networks) and why it was refused. */
export function waitingVm(vm: VirtualMachine, reasons: readonly string[]): WaitingVm {
  const req = requestOf(vm);
  return { pools: req.pools, networks: req.networks.filter((n) => n.type === 'network').map((n) => n.name), reasons };
}

/** Whether `event` can change the answer for `vm`. */
export function moves(event: ClusterEvent, vm: WaitingVm): boolean {
  switch (event.kind) {
    case 'NodeSchedulable':
      return true;
    case 'PoolReady':
      return vm.pools.includes(event.pool);
    case 'NetworkReady':
      return vm.networks.includes(event.network);
    case 'CapacityFreed':
      // A pinned VM's reason names its node first (`node "n1" cannot run the VM: insufficient cpu`).
      return vm.reasons.some((r) => CAPACITY_REASONS.some((c) => r.endsWith(c)));
  }
}

function readyStatus(n: Node): string | undefined {
  return getCondition(n.status?.conditions, 'Ready')?.status;
}

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a ?? null) === JSON.stringify(b ?? null);
}

/** The event a Node add or update is (undefined: nothing a waiting VM could gain from; a heartbeat). */
export function nodeEvent(old: Node | undefined, node: Node): ClusterEvent | undefined {
  const name = node.metadata.name!;
  if (!old) return { kind: 'NodeSchedulable', node: name };
  const gained =
    (readyStatus(node) === 'True' && readyStatus(old) !== 'True') ||
    (!node.spec?.unschedulable && !!old.spec?.unschedulable) ||
    (!node.spec?.fenced && !!old.spec?.fenced) ||
    !sameJson(old.metadata.labels, node.metadata.labels) ||
    !sameJson(old.status?.allocatable, node.status?.allocatable) ||
    !sameJson(old.status?.capacity, node.status?.capacity) ||
    !sameJson(old.status?.bridges, node.status?.bridges);
  return gained ? { kind: 'NodeSchedulable', node: name } : undefined;
}

function readyHosts(assigned: readonly string[] | undefined, ready: (node: string) => boolean): Set<string> {
  return new Set((assigned ?? []).filter(ready));
}

function gainedAny(before: Set<string>, after: Set<string>): boolean {
  for (const n of after) if (!before.has(n)) return true;
  return false;
}

/** A pool add or update: PoolReady when it became assigned and HEALTHY on a node where it was not. */
export function poolEvent(old: StoragePool | undefined, pool: StoragePool): ClusterEvent | undefined {
  const healthy = (p: StoragePool | undefined) => readyHosts(p?.spec?.assignedNodes, (n) => p?.status?.hosts?.[n]?.health === 'HEALTHY');
  return gainedAny(healthy(old), healthy(pool)) ? { kind: 'PoolReady', pool: pool.metadata.name! } : undefined;
}

/** A Network add or update: NetworkReady when it became assigned and active on a node where it was not. */
export function networkEvent(old: Network | undefined, net: Network): ClusterEvent | undefined {
  const active = (x: Network | undefined) => readyHosts(x?.spec?.assignedNodes, (n) => x?.status?.hosts?.[n]?.active === true);
  return gainedAny(active(old), active(net)) ? { kind: 'NetworkReady', network: net.metadata.name! } : undefined;
}

/** The node whose capacity a VM update or delete (vm undefined) frees, if any. */
export function capacityFreed(old: VirtualMachine, vm: VirtualMachine | undefined): ClusterEvent | undefined {
  const claims = (v: VirtualMachine | undefined) => (v?.spec?.nodeName && v.status?.phase !== 'Terminated' ? v.spec.nodeName : undefined);
  const before = claims(old);
  if (!before) return undefined;
  if (claims(vm) === before) {
    const o = requestOf(old);
    const n = requestOf(vm!);
    if (n.cpu >= o.cpu && n.memoryBytes >= o.memoryBytes) return undefined;
  }
  return { kind: 'CapacityFreed', node: before };
}

/** The unschedulable VMs by key, their failed attempts, and the count of move events so far. */
export class UnschedulableVms {
  readonly #parked = new Map<string, WaitingVm & { retryAtMs: number }>();
  readonly #attempts = new Map<string, number>();
  #moveCycle = 0;

  /** Take before an attempt; pass to `park` (an event in between means: do not park). */
  cycle(): number {
    return this.#moveCycle;
  }

  get size(): number {
    return this.#parked.size;
  }

  isParked(key: string): boolean {
    return this.#parked.has(key);
  }

  /**
   * An attempt found no node: count it and park the VM until an event moves it. Returns the
   * delay to retry after instead when an event came during the attempt (`cycle` is older).
   */
  park(key: string, vm: WaitingVm, nowMs: number, cycle: number): { parked: true } | { parked: false; retryAfterMs: number } {
    const attempts = (this.#attempts.get(key) ?? 0) + 1;
    this.#attempts.set(key, attempts);
    const delay = backoffMs(attempts);
    if (cycle !== this.#moveCycle) {
      this.#parked.delete(key);
      return { parked: false, retryAfterMs: delay };
    }
    this.#parked.set(key, { ...vm, retryAtMs: nowMs + delay });
    return { parked: true };
  }

  /** The VM was bound, deleted, or no longer needs the scheduler: no parking, no backoff. */
  forget(key: string): void {
    this.#parked.delete(key);
    this.#attempts.delete(key);
  }

  /** The VM changed itself (its spec): it leaves the parked set to be tried at once, keeping its backoff count. */
  unpark(key: string): void {
    this.#parked.delete(key);
  }

  /**
   * The parked VMs `event` moves, each with the delay before it may be tried (what is left of
   * its backoff; 0 = now). They leave the parked set; an attempt that fails parks them again.
   */
  move(event: ClusterEvent, nowMs: number): { key: string; delayMs: number }[] {
    this.#moveCycle++;
    const out: { key: string; delayMs: number }[] = [];
    for (const [key, vm] of this.#parked) {
      if (!moves(event, vm)) continue;
      this.#parked.delete(key);
      out.push({ key, delayMs: Math.max(0, vm.retryAtMs - nowMs) });
    }
    return out;
  }
}
