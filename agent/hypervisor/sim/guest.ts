/**
 * What the simulated guest agent reports: deterministic, so tests can assert on it. A running
 * domain with the agent channel answers with hostname = the owner's VM name (the domain name
 * for foreign domains), Debian 12's os-release, UTC, and interfaces as a Debian guest on the
 * libvirt driver's PCI layout names them (lo, then enp0s3, enp0s4, ... in NIC order) with:
 * - user NICs: QEMU user networking's 10.0.2.15/24;
 * - network NICs of a sim network with IPv4: an address of its DHCP range (else of its subnet)
 *   picked from the MAC;
 * - other NICs: 10.<mac4>.<mac5>.<2..254>/24 from the MAC;
 * and the EUI-64 IPv6 link-local address of each MAC.
 */
import type { GuestInfo, GuestInterface, NetworkSpec } from '../driver.js';
import { intToIpv4, ipv4ToInt, subnetBounds } from '../ipv4.js';
import { nicMac } from '../nics.js';
import type { SimDomain, SimHost } from './host.js';

export const SIM_GUEST_OS: NonNullable<GuestInfo['os']> = {
  id: 'debian',
  name: 'Debian GNU/Linux',
  prettyName: 'Debian GNU/Linux 12 (bookworm)',
  version: '12 (bookworm)',
  versionId: '12',
  kernelRelease: '6.1.0-28-amd64',
  machine: 'x86_64',
};

/** First PCI slot of the NICs in the libvirt driver's layout (libvirt/xml.ts pciLayout). */
const FIRST_NIC_SLOT = 3;

export function simGuestInfo(host: SimHost, d: SimDomain): GuestInfo {
  const c = d.live ?? d.config;
  const interfaces: GuestInterface[] = [
    {
      name: 'lo',
      mac: '00:00:00:00:00:00',
      addresses: [
        { ip: '127.0.0.1', prefix: 8, family: 'ipv4' },
        { ip: '::1', prefix: 128, family: 'ipv6' },
      ],
    },
  ];
  c.networks.forEach((n, i) => {
    const mac = nicMac(d.uuid, i, n.mac);
    interfaces.push({
      name: `enp0s${FIRST_NIC_SLOT + i}`,
      mac,
      addresses: [
        { ip: guestIpv4(host, n, mac), prefix: guestPrefix(host, n), family: 'ipv4' },
        { ip: linkLocal(mac), prefix: 64, family: 'ipv6' },
      ],
    });
  });
  return { connected: true, hostname: c.owner?.name ?? c.name, os: { ...SIM_GUEST_OS }, interfaces, timezone: 'UTC' };
}

function macBytes(mac: string): number[] {
  return mac.split(':').map((h) => parseInt(h, 16));
}

function simNetworkIpv4(host: SimHost, n: NetworkSpec) {
  return n.type === 'network' ? host.networks.get(n.network)?.spec.ipv4 : undefined;
}

function guestPrefix(host: SimHost, n: NetworkSpec): number {
  return simNetworkIpv4(host, n)?.prefix ?? 24;
}

function guestIpv4(host: SimHost, n: NetworkSpec, mac: string): string {
  const b = macBytes(mac);
  if (n.type === 'user') return '10.0.2.15';
  const net = simNetworkIpv4(host, n);
  if (net) {
    const { network, broadcast } = subnetBounds(net.address, net.prefix);
    const first = net.dhcpStart ? ipv4ToInt(net.dhcpStart) : network + 1;
    const last = net.dhcpEnd ? ipv4ToInt(net.dhcpEnd) : broadcast - 1;
    const gateway = ipv4ToInt(net.address);
    const size = last - first + 1;
    const seed = (b[3]! << 16) | (b[4]! << 8) | b[5]!;
    for (let k = 0; k < size; k++) {
      const ip = first + ((seed + k) % size);
      if (ip !== gateway) return intToIpv4(ip);
    }
  }
  return `10.${b[4]}.${b[5]}.${2 + (b[3]! % 253)}`;
}

/** fe80::/64 with the MAC's modified EUI-64 interface id, in RFC 5952 short form. */
export function linkLocal(mac: string): string {
  const b = macBytes(mac);
  const eui = [b[0]! ^ 0x02, b[1]!, b[2]!, 0xff, 0xfe, b[3]!, b[4]!, b[5]!];
  const groups = [0xfe80, 0, 0, 0, ...[0, 2, 4, 6].map((k) => (eui[k]! << 8) | eui[k + 1]!)];
  // The longest run of zero groups (two or more) becomes "::".
  let best = { at: -1, len: 0 };
  for (let i = 0; i < groups.length; ) {
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j > i ? j : i + 1;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.len < 2) return hex.join(':');
  return `${hex.slice(0, best.at).join(':')}::${hex.slice(best.at + best.len).join(':')}`;
}
