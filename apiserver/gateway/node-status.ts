/** Node status from heartbeats (pure). */
import type { NodeCondition, NodeStatus } from '../../api-types/generated/types.js';
import type { HeartbeatRequest } from '../../api-types/proto/types.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { apiNodeInfo, apiResources, nodeAddresses } from './registration.js';

/** Sets a node condition; lastTransitionTime moves only when the status changes, lastHeartbeatTime always. */
export function setNodeCondition(
  conditions: NodeCondition[] | undefined,
  next: Omit<NodeCondition, 'lastTransitionTime' | 'lastHeartbeatTime'>,
  now: Date,
): NodeCondition[] {
  const stamp = isoSeconds(now);
  return setCondition(conditions, { ...next, lastHeartbeatTime: stamp }, stamp).sort((a, b) => a.type.localeCompare(b.type));
}

export function heartbeatStatus(
  current: NodeStatus | undefined,
  req: HeartbeatRequest,
  nodeName: string,
  peer: string | undefined,
  acknowledgedHash: string,
  assignedPools: string[],
  now: Date,
): NodeStatus {
  const status: NodeStatus = structuredClone(current ?? {});
  status.lastHeartbeatTime = isoSeconds(now);
  const ready = req.hypervisorReady
    ? { type: 'Ready', status: 'True' as const, reason: 'AgentReady', message: 'quantix-agent is heartbeating' }
    : { type: 'Ready', status: 'False' as const, reason: 'HypervisorUnavailable', message: req.hypervisorMessage || 'the agent cannot reach its hypervisor' };
  status.conditions = setNodeCondition(status.conditions, ready, now);
  const capacity = apiResources(req.capacity);
  const allocatable = apiResources(req.allocatable) ?? capacity;
  if (capacity) status.capacity = capacity;
  if (allocatable) status.allocatable = allocatable;
  if (req.nodeInfo) status.nodeInfo = apiNodeInfo(req.nodeInfo, status.nodeInfo?.machineID ?? req.nodeInfo.machineId);
  if (req.addresses.length > 0 || !status.addresses) status.addresses = nodeAddresses(req.addresses, peer, nodeName);
  if (acknowledgedHash) status.stateHash = acknowledgedHash;
  status.assignedPools = [...assignedPools].sort();
  return status;
}
