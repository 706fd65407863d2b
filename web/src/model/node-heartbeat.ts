/**
 * When a node was last seen alive (docs/architecture.md, "Heartbeats and node Leases"): the
 * latest of its status.lastHeartbeatTime (written on change or every 5 min), its node Lease's
 * renewTime, and, while the Lease names a gateway replica as holder, that replica Lease's
 * renewTime (the replica vouches for the heartbeats it receives).
 */
import type { Lease, Node } from '../../../api-types/generated/types.js';
import { GATEWAY_LEASE_NAMESPACE, gatewayLeaseName, NODE_LEASE_NAMESPACE, replicaOfHolder } from '../../../api-types/node-lease.js';

export function lastHeartbeatOf(node: Node, leases: readonly Lease[]): string | undefined {
  const find = (namespace: string, name: string) => leases.find((l) => l.metadata.namespace === namespace && l.metadata.name === name);
  const lease = find(NODE_LEASE_NAMESPACE, node.metadata.name ?? '');
  const replica = replicaOfHolder(lease?.spec?.holderIdentity);
  const vouching = replica ? find(GATEWAY_LEASE_NAMESPACE, gatewayLeaseName(replica)) : undefined;
  let best: number | undefined;
  for (const t of [node.status?.lastHeartbeatTime, lease?.spec?.renewTime, vouching?.spec?.renewTime]) {
    const ms = Date.parse(t ?? '');
    if (Number.isFinite(ms) && (best === undefined || ms > best)) best = ms;
  }
  return best === undefined ? undefined : new Date(best).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
