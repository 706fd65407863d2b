/**
 * What a Network is called on the host: its libvirt network `qx-<name>` (the prefix keeps
 * Quantix's networks apart from the host's own, e.g. libvirt's `default`), and its Linux
 * bridge — spec.bridgeName, or `qx-<8 hex of sha256(name)>`: stable across agents and
 * restarts, and within Linux's 15 characters whatever the Network's name.
 */
import { createHash } from 'node:crypto';

export const LIBVIRT_NETWORK_PREFIX = 'qx-';

/** The libvirt network of the Network `name` (also what a VM's `network` NIC attaches to). */
export function libvirtNetworkName(name: string): string {
  return `${LIBVIRT_NETWORK_PREFIX}${name}`;
}

/** The bridge libvirt creates for the Network when its spec names none. */
export function defaultBridgeName(name: string): string {
  return `qx-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}
