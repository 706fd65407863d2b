/** IPv4 arithmetic for network definitions (validation, libvirt's netmask form, the sim's addresses). */
import { isIPv4 } from 'node:net';

export { isIPv4 };

/** Dotted quad → unsigned 32-bit integer. The caller checks isIPv4 first. */
export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => acc * 256 + Number(part), 0);
}

export function intToIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** 255.255.255.0 → 24; undefined for a mask that is not contiguous ones then zeros. */
export function netmaskToPrefix(mask: string): number | undefined {
  if (!isIPv4(mask)) return undefined;
  const n = ipv4ToInt(mask);
  for (let p = 0; p <= 32; p++) {
    if (prefixMask(p) === n) return p;
  }
  return undefined;
}

export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Network and broadcast addresses of `ip/prefix`, as integers. */
export function subnetBounds(ip: string, prefix: number): { network: number; broadcast: number } {
  const mask = prefixMask(prefix);
  const network = (ipv4ToInt(ip) & mask) >>> 0;
  return { network, broadcast: (network | (~mask >>> 0)) >>> 0 };
}
