/** Pure view logic of a Network: subnet text, per-host state, and the VMs attached to it. */
import type { Network, NetworkHostStatus, VirtualMachine } from '../../../api-types/generated/types.js';

/** `192.168.150.1/24`, or undefined without an IPv4 subnet. */
export function subnetText(n: Network): string | undefined {
  return n.spec.ipv4 ? `${n.spec.ipv4.address}/${n.spec.ipv4.prefix}` : undefined;
}

/** `192.168.150.10 – 192.168.150.250`, or undefined without a DHCP range. */
export function dhcpText(n: Network): string | undefined {
  const v = n.spec.ipv4;
  return v?.dhcpStart && v.dhcpEnd ? `${v.dhcpStart} – ${v.dhcpEnd}` : undefined;
}

/** One word for a host's report: Active (started), Inactive (defined, not started), Undefined. */
export function hostState(h: NetworkHostStatus | undefined): 'Active' | 'Inactive' | 'Undefined' | undefined {
  if (!h) return undefined;
  if (h.active) return 'Active';
  return h.defined ? 'Inactive' : 'Undefined';
}

/** Active hosts of the assigned ones: `1 / 2`. */
export function activeHostsText(n: Network): string {
  const assigned = n.spec.assignedNodes ?? [];
  return `${assigned.filter((node) => n.status?.hosts?.[node]?.active).length} / ${assigned.length}`;
}

/** VMs with an interface on this network (type network, source = its name). */
export function vmsOnNetwork(vms: readonly VirtualMachine[], network: string): VirtualMachine[] {
  return vms.filter((v) => v.spec.networks?.some((n) => n.type === 'network' && n.source === network));
}
