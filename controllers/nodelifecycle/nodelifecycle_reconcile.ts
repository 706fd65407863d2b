/**
 * The node-lifecycle controller's reconcile as a pure function. A node's heartbeat is
 * judged on this controller's own clock: `probeMs` is when it last saw
 * status.lastHeartbeatTime change (or first saw the node), so clock skew between hosts
 * and the control plane does not matter, and a freshly elected leader gives every node
 * a full grace period before judging it (as kube-controller-manager does).
 *
 * Heartbeat older than the grace period (default 40 s):
 *   - node: Ready=Unknown (NodeStatusUnknown), status.stateHash cleared so the gateway
 *     asks the agent for a full sync when it comes back; Event NodeNotReady;
 *   - its VMs: phase Unknown — not Lost, the host may still run them; nothing deletes or
 *     moves them (Lost/Terminated/Unknown VMs are left as they are);
 *   - its pool entries (status.hosts.<node>): UNMOUNTED with a message saying why.
 *   - fencing (recovery_reconcile.ts): condition Fenced True/False on the node, with an
 *     Event when it becomes True; requeue for the moment self-fencing counts.
 * Heartbeats back:
 *   - node: Ready=True again if this controller set it Unknown (Fenced=False); Event NodeReady. The
 *     agent's full sync then restores its VMs' phases and pool entries (the controller
 *     cannot know them).
 *   - requeue for the moment the heartbeat would expire.
 */
import type { Node, NodeCondition, NodeStatus, PoolHostStatus, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { getCondition, setCondition } from '../../lib/apimachinery/conditions.js';
import type { EventSpec } from '../runtime/events.js';
import { FENCED_CONDITION, fencedCondition, recoveryRecorded, type Fencing } from './recovery_reconcile.js';

export const DEFAULT_GRACE_PERIOD_MS = 40_000;
export const Reasons = { NodeStatusUnknown: 'NodeStatusUnknown', HeartbeatResumed: 'HeartbeatResumed' } as const;

export interface NodeInput {
  node: Node;
  probeMs: number;
  nowMs: number;
  gracePeriodMs: number;
  /** VMs bound to the node (spec.nodeName). */
  vms: readonly VirtualMachine[];
  /** Pools with an entry for the node in status.hosts. */
  pools: readonly StoragePool[];
  /** Whether the node is fenced (fencingOf), decided by the caller on the same clock. */
  fencing?: Fencing;
  /** The latest heartbeat time the node's liveness sources state (liveness.ts); default status.lastHeartbeatTime. */
  lastHeartbeat?: string;
}

export interface NodePlan {
  /** Desired node status, when it changes. */
  status?: NodeStatus;
  /** VMs to mark phase Unknown. */
  unknownVms: VirtualMachine[];
  /** Pool host entries to write (the node's entry in each pool). */
  poolHosts: { pool: StoragePool; host: PoolHostStatus }[];
  events: EventSpec[];
  requeueAfterMs?: number;
}

const UNTOUCHED_PHASES = new Set(['Unknown', 'Lost', 'Terminated']);

export function planNode(input: NodeInput): NodePlan {
  const { node, probeMs, nowMs, gracePeriodMs } = input;
  const name = node.metadata.name!;
  const now = new Date(nowMs).toISOString();
  const plan: NodePlan = { unknownVms: [], poolHosts: [], events: [] };
  const ready = getCondition(node.status?.conditions, 'Ready');
  const heartbeat = input.lastHeartbeat ?? node.status?.lastHeartbeatTime;
  const expiresAt = probeMs + gracePeriodMs;

  if (nowMs < expiresAt) {
    plan.requeueAfterMs = expiresAt - nowMs + 1;
    if (ready?.status === 'Unknown' && ready.reason === Reasons.NodeStatusUnknown) {
      let conditions = setCondition<NodeCondition>(
        node.status?.conditions,
        { type: 'Ready', status: 'True', reason: Reasons.HeartbeatResumed, message: 'quantix-agent is heartbeating again', lastHeartbeatTime: heartbeat },
        now,
      );
      if (getCondition(conditions, FENCED_CONDITION)) {
        conditions = setCondition<NodeCondition>(
          conditions,
          { type: FENCED_CONDITION, status: 'False', reason: 'NotFenced', message: `node ${name} is heartbeating` },
          now,
        );
      }
      plan.status = { ...structuredClone(node.status ?? {}), conditions };
      plan.events.push({ type: 'Normal', reason: 'NodeReady', message: `node ${name} is heartbeating again` });
    }
    return plan;
  }

  const graceS = Math.round(gracePeriodMs / 1000);
  const since = heartbeat ? `since ${heartbeat}` : 'ever';
  if (ready?.status !== 'Unknown') {
    const message = `quantix-agent stopped heartbeating: no heartbeat ${since} (grace period ${graceS}s)`;
    const conditions = setCondition<NodeCondition>(
      node.status?.conditions,
      { type: 'Ready', status: 'Unknown', reason: Reasons.NodeStatusUnknown, message, lastHeartbeatTime: ready?.lastHeartbeatTime ?? heartbeat },
      now,
    );
    const status: NodeStatus = { ...structuredClone(node.status ?? {}), conditions };
    delete status.stateHash; // the next heartbeat finds no hash and gets a full sync
    plan.status = status;
    plan.events.push({ type: 'Warning', reason: 'NodeNotReady', message: `node ${name}: ${message}` });
  }
  if (input.fencing) {
    const want = fencedCondition(input.fencing);
    const base = plan.status ?? node.status ?? {};
    const old = getCondition(base.conditions, FENCED_CONDITION);
    if (old?.status !== want.status || old.reason !== want.reason || old.message !== want.message) {
      plan.status = { ...structuredClone(base), conditions: setCondition<NodeCondition>(base.conditions, want, now) };
      if (want.status === 'True') plan.events.push({ type: 'Warning', reason: 'NodeFenced', message: want.message ?? '' });
    }
    if (input.fencing.dueAtMs !== undefined && input.fencing.dueAtMs > nowMs) plan.requeueAfterMs = input.fencing.dueAtMs - nowMs + 1;
  }
  for (const vm of input.vms) {
    if (vm.spec?.nodeName !== name) continue;
    if (UNTOUCHED_PHASES.has(vm.status?.phase ?? '')) continue;
    if (recoveryRecorded(vm, name)) continue; // leaving the node: the unbind follows
    plan.unknownVms.push(vm);
  }
  for (const pool of input.pools) {
    const host = pool.status?.hosts?.[name];
    if (!host || host.health === 'UNMOUNTED') continue;
    plan.poolHosts.push({
      pool,
      host: { ...host, health: 'UNMOUNTED', message: `node ${name} is not heartbeating (no heartbeat ${since}): pool state unknown` },
    });
  }
  return plan;
}
