/**
 * Networks on this host (pure): which libvirt network a Network means here, what to do to get
 * there, and what to report in status.hosts.<node>.
 *
 * A Network assigned to the node is defined and started as the libvirt network `qx-<name>`.
 * When its definition (mode, bridge, IPv4, DHCP range) no longer matches the spec, it is
 * stopped, redefined and started again — but not while a running VM on this host is attached
 * to it (stopping a libvirt network cuts its guests off, and libvirt does not re-attach them):
 * the old definition then stays, the report says why, and the change applies once no running
 * VM uses it. A Network no longer assigned (or deleted) is stopped and undefined only if this
 * agent defined it (the state dir remembers which: a host's own networks are not Quantix's to
 * touch), and likewise only once no running VM on this host is attached to it.
 */
import type { NetworkDefSpec, NetworkInfo } from '../hypervisor/driver.js';
import { sameNetworkDefinition } from '../hypervisor/validate.js';
import type { Network } from '../../api-types/generated/types.js';
import type { NetworkHostReport } from '../../api-types/proto/types.js';
import { defaultBridgeName, libvirtNetworkName } from './names.js';

export type NetworkAction = 'define' | 'start' | 'stop' | 'undefine';

export interface NetworkDecision {
  actions: NetworkAction[];
  /** A libvirt network of that name exists with another definition and is not this agent's to change. */
  conflict?: string;
  /** Why a wanted change (redefine, removal) waits: the VMs using the network. */
  waiting?: string;
  /** The network is not wanted here and is gone (or never was ours): report it removed. */
  removed: boolean;
}

export interface NetworkFacts {
  /** The definition the Network asks for; undefined when it is not assigned here (or deleted). */
  desired: NetworkDefSpec | undefined;
  actual: NetworkInfo | undefined;
  /** This agent defined it (managed-networks.json). */
  managed: boolean;
  /** VMs on this host (namespace/name) whose running domain is attached to the network. */
  usedBy: readonly string[];
}

/** The libvirt network definition a Network asks for on a host. */
export function networkDefFor(net: Network): NetworkDefSpec {
  const name = net.metadata.name!;
  const spec: NetworkDefSpec = {
    name: libvirtNetworkName(name),
    mode: net.spec?.mode ?? 'nat',
    bridgeName: net.spec?.bridgeName ?? defaultBridgeName(name),
  };
  const ip = net.spec?.ipv4;
  if (ip) {
    spec.ipv4 = { address: ip.address, prefix: ip.prefix };
    if (ip.dhcpStart !== undefined) spec.ipv4.dhcpStart = ip.dhcpStart;
    if (ip.dhcpEnd !== undefined) spec.ipv4.dhcpEnd = ip.dhcpEnd;
  }
  return spec;
}

function inUse(usedBy: readonly string[]): string {
  const shown = usedBy.slice(0, 3).join(', ');
  return `${usedBy.length} running VM${usedBy.length === 1 ? '' : 's'} on this host use${usedBy.length === 1 ? 's' : ''} it (${shown}${usedBy.length > 3 ? ', …' : ''})`;
}

function describe(info: NetworkInfo): string {
  const ip = info.ipv4 ? ` ${info.ipv4.address}/${info.ipv4.prefix}` : '';
  return `${info.mode}${ip}${info.bridgeName ? ` on bridge ${info.bridgeName}` : ''}`;
}

export function decideNetwork({ desired, actual, managed, usedBy }: NetworkFacts): NetworkDecision {
  if (!desired) {
    if (!actual || !managed) return { actions: [], removed: true };
    if (actual.active && usedBy.length > 0) {
      return { actions: [], removed: false, waiting: `no longer assigned here; it is removed once no VM uses it: ${inUse(usedBy)}` };
    }
    return { actions: actual.active ? ['stop', 'undefine'] : ['undefine'], removed: true };
  }
  if (!actual) return { actions: ['define', 'start'], removed: false };
  if (!sameNetworkDefinition(actual, desired)) {
    if (!managed) {
      return {
        actions: [],
        removed: false,
        conflict: `a libvirt network named "${desired.name}" with another definition (${describe(actual)}) already exists on this host and was not defined by Quantix`,
      };
    }
    if (!actual.active) return { actions: ['define', 'start'], removed: false };
    if (usedBy.length > 0) {
      return { actions: [], removed: false, waiting: `the spec changed; the new definition applies once no VM uses the network: ${inUse(usedBy)}` };
    }
    return { actions: ['stop', 'define', 'start'], removed: false };
  }
  return { actions: actual.active ? [] : ['start'], removed: false };
}

/** The report for status.hosts.<node> (`name` is the Network's name). */
export function networkReport(
  name: string,
  actual: NetworkInfo | undefined,
  decision: Pick<NetworkDecision, 'conflict' | 'waiting' | 'removed'>,
  lastError: { reason: string; message: string } | undefined,
): NetworkHostReport {
  const report: NetworkHostReport = { name, defined: false, active: false, bridgeName: '', dhcpRange: '', message: '', removed: decision.removed };
  if (decision.removed) return report;
  report.defined = actual !== undefined;
  // A network of that name with another definition is not this Network, active or not.
  report.active = actual?.active === true && !decision.conflict;
  if (report.active && actual?.bridgeName) report.bridgeName = actual.bridgeName;
  if (actual?.ipv4?.dhcpStart && actual.ipv4.dhcpEnd && !decision.conflict) report.dhcpRange = `${actual.ipv4.dhcpStart}-${actual.ipv4.dhcpEnd}`;
  if (decision.conflict) report.message = decision.conflict;
  else if (lastError && !report.active) report.message = lastError.message;
  else if (decision.waiting) report.message = decision.waiting;
  else if (!actual) report.message = 'the network is not defined on this host yet';
  else if (!actual.active) report.message = 'the network is defined but not active';
  else if (lastError) report.message = lastError.message;
  return report;
}
