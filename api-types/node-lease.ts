/**
 * Node liveness Leases (docs/architecture.md, "Heartbeats and node Leases"), shared by the
 * gateway that writes them, node-lifecycle that reads them, and qxctl and the UI that show them.
 *
 * - One coordination.k8s.io/v1 Lease per Node in NODE_LEASE_NAMESPACE, named after the Node:
 *   holderIdentity `gateway/<replica id>` while that gateway replica holds the agent's session,
 *   '' once released; renewTime = when the holder last vouched for a heartbeat in etcd (on
 *   release: the last heartbeat it received).
 * - One Lease per gateway replica, GATEWAY_LEASE_NAMESPACE/gateway-<replica id>, renewed by the
 *   replica on its own timer: it vouches for every node Lease naming that replica, so a
 *   heartbeat that changes nothing costs no etcd write.
 */
export const NODE_LEASE_NAMESPACE = 'quantix-node-lease';
export const GATEWAY_LEASE_NAMESPACE = 'quantix-system';
/** spec.leaseDurationSeconds of node Leases (node-lifecycle's default grace period). */
export const NODE_LEASE_DURATION_SECONDS = 40;
/** How often a gateway replica renews its own Lease. */
export const GATEWAY_LEASE_RENEW_SECONDS = 10;
const HOLDER_PREFIX = 'gateway/';
const REPLICA_LEASE_PREFIX = 'gateway-';

/** spec.holderIdentity of a node Lease held by gateway replica `replica`. */
export function gatewayHolderIdentity(replica: string): string {
  return HOLDER_PREFIX + replica;
}

/** The replica id a holderIdentity names, or undefined (none, or not a gateway). */
export function replicaOfHolder(holder: string | undefined): string | undefined {
  return holder?.startsWith(HOLDER_PREFIX) && holder.length > HOLDER_PREFIX.length ? holder.slice(HOLDER_PREFIX.length) : undefined;
}

/** The name of gateway replica `replica`'s own Lease (in GATEWAY_LEASE_NAMESPACE). */
export function gatewayLeaseName(replica: string): string {
  return REPLICA_LEASE_PREFIX + replica;
}
