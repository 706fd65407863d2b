/**
 * What "converged" means for each kind, as pure functions (unit-tested): given the
 * object as it is now, is it where the user asked it to be, what is it doing, and has it
 * failed in a way waiting will not fix?
 *
 *   VirtualMachine  runStrategy Always | RerunOnFailure → Running (Paused when spec.paused)
 *                   Halted → Stopped; Manual → Running, Stopped or Paused
 *                   and the status reflects the latest spec (observedGeneration ≥ generation)
 *   StoragePool     phase Ready (and observedGeneration ≥ generation)
 *   Image           Ready on every node that imports it (spec.nodeNames, and nodes that
 *                   started an import); Failed on one of them fails the wait
 *   anything else   converged once written
 */
import type { Image, ImageNodeStatus, StoragePool, VirtualMachine, VirtualMachinePhase } from '../api-types/generated/types.js';
import type { KubeObject } from '../api-types/meta.js';

export interface Convergence {
  done: boolean;
  /** What the object is doing now, e.g. `phase Scheduled on n1`. */
  state: string;
  /** What it should reach, e.g. `phase Running`. */
  want: string;
  /** Set when waiting cannot help (Lost, Terminated, deleted). */
  failure?: string;
}

/** Phases from which a VM never moves on by itself. */
const TERMINAL_VM_PHASES: ReadonlySet<string> = new Set(['Lost', 'Terminated']);

export function vmTargetPhases(vm: Pick<VirtualMachine, 'spec'>): VirtualMachinePhase[] {
  const strategy = vm.spec?.runStrategy ?? 'Always';
  if (strategy === 'Halted') return ['Stopped'];
  if (strategy === 'Manual') return vm.spec?.paused ? ['Paused'] : ['Running', 'Stopped', 'Paused'];
  return vm.spec?.paused ? ['Paused'] : ['Running'];
}

function generationLag(obj: KubeObject & { status?: { observedGeneration?: number } }): string | undefined {
  const generation = obj.metadata.generation;
  const observed = obj.status?.observedGeneration;
  if (generation !== undefined && observed !== undefined && observed < generation) {
    return `status reflects generation ${observed}, spec is at ${generation}`;
  }
  return undefined;
}

function readyMessage(conditions: readonly { type: string; status: string; reason?: string; message?: string }[] | undefined): string | undefined {
  const ready = conditions?.find((c) => c.type === 'Ready');
  if (!ready || ready.status === 'True') return undefined;
  return [ready.reason, ready.message].filter(Boolean).join(': ') || undefined;
}

export function vmState(vm: VirtualMachine): string {
  const phase = vm.status?.phase ?? 'not reported';
  const node = vm.status?.nodeName ?? vm.spec?.nodeName;
  const why = readyMessage(vm.status?.conditions);
  return `phase ${phase}${node ? ` on ${node}` : ''}${why && phase !== 'Running' ? ` (${why})` : ''}`;
}

export function vmConvergence(vm: VirtualMachine | undefined, targets?: readonly VirtualMachinePhase[]): Convergence {
  if (!vm) return { done: false, state: 'deleted', want: 'the VM to exist', failure: 'the VM was deleted' };
  const want = targets ?? vmTargetPhases(vm);
  const wantText = `phase ${want.join(' or ')}`;
  const phase = vm.status?.phase;
  const state = vmState(vm);
  if (vm.metadata.deletionTimestamp) return { done: false, state: `${state}, being deleted`, want: wantText, failure: 'the VM is being deleted' };
  if (phase && TERMINAL_VM_PHASES.has(phase) && !want.includes(phase)) {
    const reason = vm.status?.lostReason ? `: ${vm.status.lostReason}` : '';
    return { done: false, state, want: wantText, failure: `the VM is ${phase}${reason} (it will not reach ${want.join(' or ')} without an explicit decision)` };
  }
  const lag = generationLag(vm);
  if (lag) return { done: false, state: `${state}; ${lag}`, want: wantText };
  return { done: phase !== undefined && want.includes(phase), state, want: wantText };
}

export function poolState(pool: StoragePool): string {
  const phase = pool.status?.phase ?? 'not reported';
  const assigned = pool.spec?.assignedNodes ?? [];
  const hosts = pool.status?.hosts ?? {};
  const parts = assigned.map((node) => {
    const h = hosts[node];
    if (!h?.health) return `${node} not reported`;
    return h.health === 'HEALTHY' ? `${node} ${h.health}` : `${node} ${h.health}${h.message ? `: ${h.message}` : ''}`;
  });
  if (assigned.length === 0) parts.push('assigned to no node');
  return `phase ${phase} (${parts.join(', ')})`;
}

export function poolConvergence(pool: StoragePool | undefined): Convergence {
  if (!pool) return { done: false, state: 'deleted', want: 'the pool to exist', failure: 'the pool was deleted' };
  const state = poolState(pool);
  if (pool.metadata.deletionTimestamp) return { done: false, state: `${state}, being deleted`, want: 'phase Ready', failure: 'the pool is being deleted' };
  const lag = generationLag(pool);
  if (lag) return { done: false, state: `${state}; ${lag}`, want: 'phase Ready' };
  return { done: pool.status?.phase === 'Ready', state, want: 'phase Ready' };
}

const BAR_WIDTH = 20;

/** `[#########-----------] 45% 120.0/260.0 MiB` (bytes only when the total is unknown). */
export function progressBar(done: number, total: number | undefined): string {
  const mib = (n: number) => (n / 2 ** 20).toFixed(1);
  if (!total) return `${mib(done)} MiB`;
  const pct = Math.min(100, Math.floor((done * 100) / total));
  const filled = Math.round((pct / 100) * BAR_WIDTH);
  return `[${'#'.repeat(filled)}${'-'.repeat(BAR_WIDTH - filled)}] ${pct}% ${mib(done)}/${mib(total)} MiB`;
}

function imageNodeState(node: string, n: ImageNodeStatus | undefined): string {
  if (!n?.phase) return `${node} not started`;
  if (n.phase === 'Importing')
    return `${node} ${(n.progress?.step ?? 'importing').toLowerCase()} ${progressBar(n.progress?.bytesDone ?? 0, n.progress?.bytesTotal)}`;
  if (n.phase === 'Failed') return `${node} Failed: ${n.reason ? `${n.reason}: ` : ''}${n.message ?? ''}`;
  return `${node} ${n.phase}${n.phase === 'Pending' && n.message ? ` (${n.message})` : ''}`;
}

export function imageConvergence(image: Image | undefined): Convergence {
  if (!image) return { done: false, state: 'deleted', want: 'the image to exist', failure: 'the image was deleted' };
  const nodes = image.status?.nodes ?? {};
  const wanted = [...new Set([...(image.spec?.nodeNames ?? []), ...Object.keys(nodes)])].sort();
  const want = 'phase Ready on the nodes importing it';
  if (image.metadata.deletionTimestamp) return { done: false, state: 'being deleted', want, failure: 'the image is being deleted' };
  if (wanted.length === 0) return { done: true, state: 'not imported anywhere yet: a node imports it when a VM there needs it', want };
  const state = `phase ${image.status?.phase ?? 'Pending'} (${wanted.map((n) => imageNodeState(n, nodes[n])).join(', ')})`;
  const failed = wanted.find((n) => nodes[n]?.phase === 'Failed');
  if (failed) return { done: false, state, want, failure: `the import failed on ${imageNodeState(failed, nodes[failed])} (retried with backoff)` };
  return { done: wanted.every((n) => nodes[n]?.phase === 'Ready'), state, want };
}

/** The convergence rule for an applied object of `kind`. */
export function convergenceFor(kind: string | undefined): ((obj: KubeObject | undefined) => Convergence) | undefined {
  if (kind === 'VirtualMachine') return (o) => vmConvergence(o as VirtualMachine | undefined);
  if (kind === 'StoragePool') return (o) => poolConvergence(o as StoragePool | undefined);
  if (kind === 'Image') return (o) => imageConvergence(o as Image | undefined);
  return undefined;
}

/** Deletion: converged once the object is gone. */
export function goneConvergence(obj: KubeObject | undefined): Convergence {
  if (!obj) return { done: true, state: 'deleted', want: 'deleted' };
  const finalizers = obj.metadata.finalizers ?? [];
  return {
    done: false,
    state: obj.metadata.deletionTimestamp ? `being deleted${finalizers.length ? `, waiting for finalizers ${finalizers.join(', ')}` : ''}` : 'not deleted yet',
    want: 'deleted',
  };
}
