/**
 * The HostJoin flow as pure functions (controller in hostjoin_controller.ts): what to do with
 * an object as it is, and the status each step of the flow writes. Phases run in order
 * Ping → ValidateToken → Discover → Complete; each has a condition of its own type, Unknown
 * while it runs, True once passed, False (reason = the host-join code) when it failed. The
 * flow ends Succeeded (status.nodeName) or Failed (errorCode, message, guidance).
 */
import type { Condition, HostJoin, HostJoinHardware, HostJoinStatus } from '../../api-types/generated/types.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';
import { guidanceFor, type HostJoinErrorCode } from '../../lib/host-join/codes.js';
import type { HostHardware } from '../../lib/host-join/protocol.js';

export const HOSTJOIN_PHASES = ['Ping', 'ValidateToken', 'Discover', 'Complete'] as const;
export type HostJoinRunPhase = (typeof HOSTJOIN_PHASES)[number];

/** What the controller does with a HostJoin. */
export type HostJoinAction =
  /** Run the flow from Ping (new object, or one a previous controller left mid-flow). */
  | { kind: 'run' }
  /** The flow ended but the host token is still in spec: remove it. */
  | { kind: 'removeHostToken' }
  | { kind: 'nothing' };

export function isFinished(hj: HostJoin): boolean {
  return hj.status?.phase === 'Succeeded' || hj.status?.phase === 'Failed';
}

export function planHostJoin(hj: HostJoin): HostJoinAction {
  if (hj.metadata.deletionTimestamp) return { kind: 'nothing' };
  if (isFinished(hj)) return hj.spec?.hostToken !== undefined ? { kind: 'removeHostToken' } : { kind: 'nothing' };
  return { kind: 'run' };
}

const RUNNING_MESSAGE: Record<HostJoinRunPhase, string> = {
  Ping: 'reaching the host’s registration API',
  ValidateToken: 'checking the host token with the host',
  Discover: 'reading the host’s hardware',
  Complete: 'handing the host a bootstrap token and the CA hash; the host joins',
};

function withCondition(status: HostJoinStatus, condition: Omit<Condition, 'lastTransitionTime'>, now: string): HostJoinStatus {
  return { ...status, conditions: setCondition<Condition>(status.conditions, condition, now) };
}

/** The status when a phase starts: phase set, its condition Unknown (Running). */
export function phaseStarted(status: HostJoinStatus | undefined, hj: HostJoin, phase: HostJoinRunPhase, now: string): HostJoinStatus {
  const base: HostJoinStatus =
    phase === 'Ping'
      ? // A fresh run: nothing of an earlier, interrupted run is kept.
        { startTime: now, observedGeneration: hj.metadata.generation }
      : { ...status };
  return withCondition(
    { ...base, phase, message: RUNNING_MESSAGE[phase] },
    { type: phase, status: 'Unknown', reason: 'Running', message: RUNNING_MESSAGE[phase] },
    now,
  );
}

/** The status when a phase passed: its condition True, with what it found. */
export function phasePassed(
  status: HostJoinStatus,
  phase: HostJoinRunPhase,
  message: string,
  now: string,
  found: Partial<HostJoinStatus> = {},
): HostJoinStatus {
  return withCondition({ ...status, ...found }, { type: phase, status: 'True', reason: 'Passed', message }, now);
}

/** The status of a failed flow: phase Failed, the phase's condition False with the code. */
export function phaseFailed(
  status: HostJoinStatus,
  phase: HostJoinRunPhase,
  code: HostJoinErrorCode,
  message: string,
  now: string,
  found: Partial<HostJoinStatus> = {},
): HostJoinStatus {
  return withCondition(
    { ...status, ...found, phase: 'Failed', errorCode: code, message, guidance: guidanceFor(code), completionTime: now },
    { type: phase, status: 'False', reason: code, message },
    now,
  );
}

export function succeeded(status: HostJoinStatus, nodeName: string, now: string): HostJoinStatus {
  return { ...status, phase: 'Succeeded', nodeName, message: `the host joined as Node "${nodeName}"`, completionTime: now };
}

/** No fingerprint was given: Ping ran (it sends nothing secret), and the admin must confirm what the host presented. */
export function unconfirmedFingerprintMessage(presented: string | undefined): string {
  return presented
    ? `the host presented certificate ${presented}; confirm it is the one \`quantix-agent token\` prints on the host and pass it with --fingerprint ${presented}`
    : 'the host presented no certificate fingerprint; nothing was sent to it';
}

/** Hardware as status holds it (the protocol's answer, trimmed to the schema). */
export function hardwareStatus(hw: HostHardware): HostJoinHardware {
  return {
    hostname: hw.hostname,
    agentVersion: hw.agentVersion,
    cpu: { model: hw.cpu.model, count: hw.cpu.count, ...(hw.cpu.arch ? { arch: hw.cpu.arch } : {}) },
    memoryBytes: hw.memoryBytes,
    disks: hw.disks.map((d) => ({
      name: d.name,
      sizeBytes: d.sizeBytes,
      ...(d.model ? { model: d.model } : {}),
      ...(d.rotational !== undefined ? { rotational: d.rotational } : {}),
    })),
    nics: hw.nics.map((n) => ({
      name: n.name,
      addresses: n.addresses,
      ...(n.mac ? { mac: n.mac } : {}),
      ...(n.state ? { state: n.state } : {}),
      ...(n.speedMbps !== undefined ? { speedMbps: n.speedMbps } : {}),
    })),
    ...(hw.libvirtVersion ? { libvirtVersion: hw.libvirtVersion } : {}),
    ...(hw.hypervisorVersion ? { hypervisorVersion: hw.hypervisorVersion } : {}),
    ...(hw.kvm !== undefined ? { kvm: hw.kvm } : {}),
  };
}

/** One line summing up the hardware, for the Discover condition and the log. */
export function hardwareSummary(hw: HostHardware): string {
  const gib = (hw.memoryBytes / 2 ** 30).toFixed(1);
  return `${hw.cpu.count} × ${hw.cpu.model}, ${gib} GiB memory, ${hw.disks.length} disk(s), ${hw.nics.length} NIC(s), agent ${hw.agentVersion}${hw.libvirtVersion ? `, libvirt ${hw.libvirtVersion}` : ''}`;
}

/** The bootstrap token the Complete phase asks the apiserver for. */
export function bootstrapTokenRequest(url: string, ttlSeconds: number) {
  return { metadata: {}, spec: { ttlSeconds, description: `Add host ${url}`, singleUse: true } };
}
