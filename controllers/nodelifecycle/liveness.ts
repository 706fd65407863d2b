/**
 * A node's liveness, from three sources (api-types/node-lease.ts; docs/architecture.md,
 * "Heartbeats and node Leases"), each judged on this controller's own clock by when it last
 * saw the source change (clock skew between hosts does not matter):
 *   - the node's Lease (quantix-node-lease/<node>): taken, refreshed and released by the gateway
 *     replica holding the agent's session;
 *   - the Lease of the replica the node Lease names as holder (quantix-system/gateway-<id>):
 *     renewed by that replica, it vouches for every node Lease it holds;
 *   - Node status.lastHeartbeatTime: written by the gateway when the status changes or every
 *     5 min, and by writers that only write status (the controllers' hollow nodes).
 * The probe time is the latest of "node Lease or status last changed" and "holder's Lease
 * last renewed". A replica that dies stops renewing: its nodes expire one grace period after
 * its last renewal seen. A released Lease (holder cleared) is a change too, seen no earlier
 * than the agent's last heartbeat: the probe is then later than that heartbeat, the safe side
 * for fencing (docs/fencing.md).
 */
import type { Lease, Node } from '../../api-types/generated/types.js';
import { gatewayLeaseName, replicaOfHolder } from '../../api-types/node-lease.js';

/** What of the node and its Lease counts as a sign of life when it changes. */
export function nodeLivenessToken(node: Node, nodeLease: Lease | undefined): string {
  return JSON.stringify([node.status?.lastHeartbeatTime ?? '', nodeLease?.spec?.renewTime ?? '', nodeLease?.spec?.holderIdentity ?? '']);
}

/** The name of the replica Lease that vouches for the node (quantix-system), or undefined when the node Lease names no gateway holder. */
export function vouchingLeaseName(nodeLease: Lease | undefined): string | undefined {
  const replica = replicaOfHolder(nodeLease?.spec?.holderIdentity);
  return replica ? gatewayLeaseName(replica) : undefined;
}

/** When a key's value was last seen to change, on the observer's clock. */
export class ChangeClock {
  readonly #seen = new Map<string, { value: string; atMs: number }>();

  /** Records `value` for `key` at `nowMs`; returns when it last changed (`nowMs` when new or changed). */
  observe(key: string, value: string, nowMs: number): number {
    const seen = this.#seen.get(key);
    if (seen && seen.value === value) return seen.atMs;
    this.#seen.set(key, { value, atMs: nowMs });
    return nowMs;
  }

  /** When `key` was last seen to change, if it was seen. */
  changedAt(key: string): number | undefined {
    return this.#seen.get(key)?.atMs;
  }

  forget(key: string): void {
    this.#seen.delete(key);
  }
}

/**
 * The probe time: the latest of when the node's own token last changed and when the vouching
 * replica Lease last changed (only while that Lease exists).
 */
export function probeTime(nodeChangedAtMs: number, vouchChangedAtMs: number | undefined): number {
  return vouchChangedAtMs === undefined ? nodeChangedAtMs : Math.max(nodeChangedAtMs, vouchChangedAtMs);
}

/** The latest time the three sources state (RFC 3339), for messages and display; undefined when none does. */
export function lastHeartbeatStated(node: Node, nodeLease: Lease | undefined, vouching: Lease | undefined): string | undefined {
  const times = [node.status?.lastHeartbeatTime, nodeLease?.spec?.renewTime, vouching?.spec?.renewTime].filter((t): t is string => !!t);
  let best: { ms: number; text: string } | undefined;
  for (const text of times) {
    const ms = Date.parse(text);
    if (Number.isFinite(ms) && (!best || ms > best.ms)) best = { ms, text };
  }
  return best && new Date(best.ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
