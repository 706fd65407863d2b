/** Node status from what the agent reports at registration and in heartbeats (pure). */
import { createHash } from 'node:crypto';
import type {
  NodeAddress,
  NodeCondition,
  NodeInfo as ApiNodeInfo,
  NodeResources,
  NodeStatus,
  NodeTelemetry as ApiNodeTelemetry,
} from '../../api-types/generated/types.js';
import { isIPAddress } from '../../api-types/names.js';
import { stripPort } from '../../api-types/proto/contract.js';
import type { HeartbeatRequest, Init, NodeInfo, NodeTelemetry, Resources, SelfFencing } from '../../api-types/proto/types.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { NO_CHANGE } from './writes.js';

/** Management addresses for Node status: ports stripped, IPs as InternalIP, names as Hostname. */
export function nodeAddresses(reported: string[], peer: string | undefined, hostname: string): NodeAddress[] {
  const seen = new Set<string>();
  const out: NodeAddress[] = [];
  const candidates = reported.length > 0 ? reported : peer ? [peer] : [];
  for (const raw of candidates) {
    const address = stripPort(raw);
    if (!address || seen.has(address)) continue;
    seen.add(address);
    if (isIPAddress(address).length === 0) out.push({ type: 'InternalIP', address });
  }
  out.push({ type: 'Hostname', address: hostname });
  return out;
}

/**
 * What Node status shows of a machine id: a fingerprint (`sha256:` and 16 hex digits). The id
 * itself is what proves a machine owns its hostname at registration, so it is never shown to
 * viewers, returned in errors or logged.
 */
export function machineFingerprint(machineID: string): string {
  return machineID ? `sha256:${createHash('sha256').update(machineID).digest('hex').slice(0, 16)}` : '';
}

/** `fingerprint`: machineFingerprint of the registered machine id. */
export function apiNodeInfo(info: Init<NodeInfo> | null | undefined, fingerprint: string): ApiNodeInfo {
  const out: ApiNodeInfo = {};
  const set = (key: keyof ApiNodeInfo, value: string | undefined) => {
    if (value) out[key] = value;
  };
  set('hypervisor', info?.hypervisor);
  set('hypervisorVersion', info?.hypervisorVersion);
  set('libvirtVersion', info?.libvirtVersion);
  set('agentVersion', info?.agentVersion);
  set('cpuModel', info?.cpuModel);
  set('kernelVersion', info?.kernelVersion);
  set('osImage', info?.osImage);
  // A Node stored before fingerprints held the id itself: fingerprint it now.
  const shown = fingerprint.startsWith('sha256:') ? fingerprint : machineFingerprint(fingerprint);
  set('machineID', shown || machineFingerprint(info?.machineId ?? ''));
  return out;
}

export function apiResources(r: Init<Resources> | null | undefined): NodeResources | undefined {
  if (!r) return undefined;
  return { cpu: Math.max(0, r.cpu ?? 0), memoryBytes: Math.max(0, r.memoryBytes ?? 0) };
}

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
  if (req.nodeInfo) status.nodeInfo = apiNodeInfo(req.nodeInfo, status.nodeInfo?.machineID ?? '');
  if (req.addresses.length > 0 || !status.addresses) status.addresses = nodeAddresses(req.addresses, peer, nodeName);
  if (acknowledgedHash) status.stateHash = acknowledgedHash;
  status.assignedPools = [...assignedPools].sort();
  setHostNetworking(status, req);
  status.selfFencing = selfFencingStatus(req.selfFencing);
  if (req.telemetry) {
    const next = nodeTelemetry(req.telemetry);
    if (telemetryChanged(status.telemetry, next, now)) status.telemetry = next;
  }
  return status;
}

/**
 * A heartbeat writes Node status only when something in it changed, or when the stored
 * lastHeartbeatTime is NODE_STATUS_REFRESH_MS old: liveness is the node Lease's business
 * (node-lease.ts), so the heartbeat times alone are no reason to write.
 */
export const NODE_STATUS_REFRESH_MS = 5 * 60_000;

/** The status without its heartbeat times (what a heartbeat that changes nothing leaves as it is). */
function withoutHeartbeatTimes(status: NodeStatus | undefined): NodeStatus {
  const out: NodeStatus = { ...(status ?? {}) };
  delete out.lastHeartbeatTime;
  if (out.conditions) out.conditions = out.conditions.map(({ lastHeartbeatTime: _t, ...c }) => c as NodeCondition);
  return out;
}

/** heartbeatStatus, or NO_CHANGE when only the heartbeat times would move and the stored ones are younger than NODE_STATUS_REFRESH_MS. */
export function heartbeatStatusWrite(
  current: NodeStatus | undefined,
  req: HeartbeatRequest,
  nodeName: string,
  peer: string | undefined,
  acknowledgedHash: string,
  assignedPools: string[],
  now: Date,
): NodeStatus | typeof NO_CHANGE {
  const next = heartbeatStatus(current, req, nodeName, peer, acknowledgedHash, assignedPools, now);
  const age = now.getTime() - Date.parse(current?.lastHeartbeatTime ?? '');
  if (!(age < NODE_STATUS_REFRESH_MS)) return next;
  return JSON.stringify(withoutHeartbeatTimes(next)) === JSON.stringify(withoutHeartbeatTimes(current)) ? NO_CHANGE : next;
}

/** The longest self-fencing timeout an agent may report (a day): anything longer is a mistake. */
export const MAX_SELF_FENCE_TIMEOUT_SECONDS = 86_400;

/**
 * Node status.selfFencing from the heartbeat (agents from before self-fencing send none: off).
 * The node-lifecycle controller trusts this timeout to recover VMs, so one that cannot be
 * true is refused naming the field.
 */
export function selfFencingStatus(reported: Init<SelfFencing> | null | undefined): NonNullable<NodeStatus['selfFencing']> {
  if (!reported?.enabled) return { enabled: false };
  const t = reported.timeoutSeconds ?? 0;
  if (!Number.isInteger(t) || t <= 0 || t > MAX_SELF_FENCE_TIMEOUT_SECONDS) {
    throw errors.badRequest(`selfFencing.timeoutSeconds: ${t} is out of range (1 to ${MAX_SELF_FENCE_TIMEOUT_SECONDS} when enabled)`, [
      { reason: 'FieldValueInvalid', field: 'selfFencing.timeoutSeconds', message: `must be 1 to ${MAX_SELF_FENCE_TIMEOUT_SECONDS} when enabled` },
    ]);
  }
  return { enabled: true, timeoutSeconds: t };
}

/**
 * When Node status.telemetry is rewritten: a sample is written only when it differs
 * meaningfully from the stored one, so that watchers of Nodes are not woken by noise on every
 * heartbeat — a different size or path; CPU by 5 points or more, memory or disk use by 2 % of
 * the total or more, once the stored sample is TELEMETRY_MIN_INTERVAL_MS old (a busy host's CPU
 * moves that much between most heartbeats: each would be a write) — or when the stored one is
 * older than TELEMETRY_MAX_AGE_MS.
 */
export const TELEMETRY_MAX_AGE_MS = 5 * 60_000;
export const TELEMETRY_MIN_INTERVAL_MS = 2 * 60_000;
const CPU_STEP_PERCENT = 5;
const USE_STEP_SHARE = 0.02;

export function telemetryChanged(stored: ApiNodeTelemetry | undefined, next: ApiNodeTelemetry, now: Date): boolean {
  if (!stored) return true;
  const age = now.getTime() - Date.parse(stored.sampleTime ?? '');
  if (!(age < TELEMETRY_MAX_AGE_MS)) return true;
  const moved = (a: number | undefined, b: number | undefined, step: number) => Math.abs((a ?? 0) - (b ?? 0)) >= step;
  const resized =
    stored.cpuCores !== next.cpuCores ||
    stored.memoryTotalBytes !== next.memoryTotalBytes ||
    stored.diskTotalBytes !== next.diskTotalBytes ||
    stored.diskPath !== next.diskPath;
  if (resized) return true;
  if (age < TELEMETRY_MIN_INTERVAL_MS) return false;
  return (
    moved(stored.cpuPercent, next.cpuPercent, CPU_STEP_PERCENT) ||
    moved(stored.memoryUsedBytes, next.memoryUsedBytes, (next.memoryTotalBytes ?? 0) * USE_STEP_SHARE) ||
    moved(stored.diskUsedBytes, next.diskUsedBytes, (next.diskTotalBytes ?? 0) * USE_STEP_SHARE)
  );
}

/** The reported sample as Node status.telemetry; a sample that cannot be true is refused naming the field. */
export function nodeTelemetry(t: Init<NodeTelemetry>): ApiNodeTelemetry {
  const field = (name: string, value: number | undefined, max = Number.MAX_SAFE_INTEGER): number => {
    const v = value ?? 0;
    if (!Number.isFinite(v) || v < 0 || v > max) throw errors.badRequest(`telemetry.${name}: ${v} is out of range (0 to ${max})`);
    return v;
  };
  const memoryTotalBytes = field('memoryTotalBytes', t.memoryTotalBytes);
  const diskTotalBytes = field('diskTotalBytes', t.diskTotalBytes);
  const sampleTimeMs = field('sampleTimeMs', t.sampleTimeMs);
  if (!sampleTimeMs) throw errors.badRequest('telemetry.sampleTimeMs: required');
  return {
    sampleTime: isoSeconds(new Date(sampleTimeMs)),
    cpuPercent: Math.round(field('cpuPercent', t.cpuPercent, 100)),
    cpuCores: field('cpuCores', t.cpuCores),
    memoryUsedBytes: field('memoryUsedBytes', t.memoryUsedBytes, memoryTotalBytes),
    memoryTotalBytes,
    ...(t.diskPath ? { diskPath: t.diskPath } : {}),
    diskUsedBytes: field('diskUsedBytes', t.diskUsedBytes, diskTotalBytes),
    diskTotalBytes,
  };
}

const ACCELERATIONS: ReadonlySet<string> = new Set(['kvm', 'tcg']);

/**
 * Acceleration (kvm or tcg, and why) and the host's Linux bridges, as the heartbeat reports
 * them. An agent that reports no acceleration leaves none: the Node never claims one the agent
 * did not state. Bridges are kept sorted and without repeats, so an unchanged host writes the
 * same list.
 */
function setHostNetworking(status: NodeStatus, req: HeartbeatRequest): void {
  const acceleration = req.acceleration ?? '';
  if (acceleration && !ACCELERATIONS.has(acceleration)) throw errors.badRequest(`acceleration: "${acceleration}" is not one of kvm, tcg`);
  if (acceleration) {
    status.acceleration = acceleration as NonNullable<NodeStatus['acceleration']>;
    if (req.accelerationSource) status.accelerationSource = req.accelerationSource;
    else delete status.accelerationSource;
  } else {
    delete status.acceleration;
    delete status.accelerationSource;
  }
  const bridges = [...new Set(req.bridges ?? [])].filter(Boolean).sort();
  if (bridges.length > 0) status.bridges = bridges;
  else delete status.bridges;
}
