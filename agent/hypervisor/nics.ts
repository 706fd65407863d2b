/**
 * NIC identity shared by both drivers: the MAC a NIC gets when the spec gives none. It is
 * derived from the domain UUID and the NIC's position, so a redefine keeps the MAC the guest
 * (and cloud-init's network config, DHCP leases, ...) already knows, where libvirt would pick
 * a new random one every time.
 */
import { createHash } from 'node:crypto';

/** QEMU's locally administered OUI, the one libvirt uses too. */
const QEMU_OUI = '52:54:00';

/** The NIC's MAC: the given one (lower-cased), else 52:54:00 + 3 bytes of sha256(uuid/index). */
export function nicMac(domainUuid: string, index: number, given?: string): string {
  if (given) return given.toLowerCase();
  const h = createHash('sha256').update(`${domainUuid.toLowerCase()}/${index}`).digest();
  return `${QEMU_OUI}:${[h[0], h[1], h[2]].map((b) => b!.toString(16).padStart(2, '0')).join(':')}`;
}
