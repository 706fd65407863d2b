/**
 * Input checks shared by the drivers, so that both refuse the same specs with the same
 * `InvalidSpec` / `PathEscape` errors, and helpers for UUIDs and pool-relative paths.
 */
import path from 'node:path';
import type { DomainSpec, NetworkDefSpec, NetworkInfo, NetworkSpec, PoolSpec, VolumeSpec } from './driver.js';
import { HypervisorError } from './errors.js';
import { ipv4ToInt, isIPv4, subnetBounds } from './ipv4.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[?[0-9a-fA-F:.]+\]?$/;
const IFACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
/** A Linux interface name a bridge can have: at most 15 characters (IFNAMSIZ - 1), no '/', ':' or spaces. */
const BRIDGE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,14}$/;

/**
 * PCI devices a domain may have. The libvirt driver places every PCI device itself on bus 0 of
 * the i440fx ("pc") machine, slots 0x03..0x1f (libvirt/xml.ts), because devices passed on
 * QEMU's command line are invisible to libvirt's own slot allocator; the sim refuses the same.
 */
export const MAX_PCI_DEVICES = 0x1f - 0x03 + 1;

export const NIL_UUID = '00000000-0000-0000-0000-000000000000';

export function normalizeUuid(uuid: string): string {
  const u = uuid.trim().toLowerCase();
  if (!UUID_RE.test(u)) throw new HypervisorError('InvalidSpec', `invalid UUID "${uuid}"`, { target: uuid });
  return u;
}

export function isUuid(s: string): boolean {
  return UUID_RE.test(s.toLowerCase());
}

export function uuidToBytes(uuid: string): Buffer {
  return Buffer.from(normalizeUuid(uuid).replace(/-/g, ''), 'hex');
}

export function bytesToUuid(b: Uint8Array): string {
  const h = Buffer.from(b).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}

function invalid(message: string, target?: string): never {
  throw new HypervisorError('InvalidSpec', message, target === undefined ? {} : { target });
}

export function validateName(kind: string, name: string): void {
  if (typeof name !== 'string' || !NAME_RE.test(name)) {
    invalid(`invalid ${kind} name "${name}": use 1-200 characters [A-Za-z0-9_.+-], starting with a letter or digit`, name);
  }
}

function validateAbsolutePath(what: string, p: string): void {
  if (typeof p !== 'string' || !path.isAbsolute(p) || p.includes('\0')) invalid(`${what} must be an absolute path, got "${p}"`, p);
  if (p.split('/').includes('..')) invalid(`${what} must not contain "..", got "${p}"`, p);
}

export function validateDomainSpec(spec: DomainSpec): void {
  normalizeUuid(spec.uuid);
  if (spec.uuid.toLowerCase() === NIL_UUID) invalid('the nil UUID cannot name a domain', spec.uuid);
  validateName('domain', spec.name);
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1 || spec.vcpus > 4096) invalid(`vcpus must be an integer in 1..4096, got ${spec.vcpus}`);
  if (!Number.isInteger(spec.memoryBytes) || spec.memoryBytes < 16 * 1024 * 1024) {
    invalid(`memoryBytes must be an integer of at least 16 MiB, got ${spec.memoryBytes}`);
  }
  if (!spec.owner || typeof spec.owner.namespace !== 'string' || typeof spec.owner.name !== 'string' || !spec.owner.namespace || !spec.owner.name) {
    invalid('owner.namespace and owner.name are required');
  }
  if (spec.domainType !== undefined && spec.domainType !== 'kvm' && spec.domainType !== 'qemu') {
    invalid(`unsupported domainType "${spec.domainType}" (kvm, qemu)`);
  }
  if (spec.guestAgent !== undefined && typeof spec.guestAgent !== 'boolean') invalid('guestAgent must be a boolean');
  if (spec.disks.length > 26) invalid('at most 26 disks');
  for (const d of spec.disks) {
    validateAbsolutePath('disk path', d.path);
    if (d.bus && !['virtio', 'sata', 'scsi', 'ide'].includes(d.bus)) invalid(`unsupported disk bus "${d.bus}"`);
    if (d.format && !['qcow2', 'raw'].includes(d.format)) invalid(`unsupported disk format "${d.format}"`);
    if (d.device !== undefined && d.device !== 'disk' && d.device !== 'cdrom') invalid(`unsupported disk device "${d.device}" (disk, cdrom)`);
    if (d.device === 'cdrom' && d.bus === 'virtio') invalid(`cdrom ${d.path}: a CD-ROM cannot be on the virtio bus (use sata, scsi or ide)`, d.path);
  }
  const forwarded = new Map<string, string>();
  spec.networks.forEach((n, i) => {
    validateNic(n, i, forwarded);
  });
  const pci = pciDeviceCount(spec);
  if (pci > MAX_PCI_DEVICES) {
    invalid(`too many PCI devices: ${pci} (NICs, virtio disks, storage and agent controllers, balloon); at most ${MAX_PCI_DEVICES}`);
  }
}

/** How a NIC is named in error messages: its VM interface name when known, and its position. */
export function nicLabel(n: Pick<NetworkSpec, 'name'>, index: number): string {
  return n.name ? `network "${n.name}" (NIC ${index})` : `NIC ${index}`;
}

function validateNic(n: NetworkSpec, i: number, forwarded: Map<string, string>): void {
  const label = nicLabel(n, i);
  const target = n.name ?? `nic${i}`;
  const bad = (msg: string): never => invalid(`${label}: ${msg}`, target);
  if (n.mac !== undefined && !MAC_RE.test(String(n.mac).toLowerCase())) bad(`invalid MAC address "${n.mac}"`);
  if (n.model && !['virtio', 'e1000', 'rtl8139'].includes(n.model)) bad(`unsupported NIC model "${n.model}"`);
  if (n.type === 'network' && !IFACE_RE.test(n.network)) bad(`invalid network name "${n.network}"`);
  else if (n.type === 'bridge' && !IFACE_RE.test(n.bridge)) bad(`invalid bridge name "${n.bridge}"`);
  else if (!['user', 'network', 'bridge'].includes(n.type)) bad(`unsupported network type "${(n as { type: string }).type}"`);
  const forwards = (n as { portForwards?: unknown }).portForwards;
  if (forwards === undefined) return;
  if (n.type !== 'user') bad(`port forwards need a user NIC (this one is type ${n.type})`);
  if (!Array.isArray(forwards)) bad('portForwards must be a list');
  for (const f of forwards as NonNullable<Extract<NetworkSpec, { type: 'user' }>['portForwards']>) {
    if (!f || (f.protocol !== 'tcp' && f.protocol !== 'udp')) bad(`port forward protocol must be tcp or udp, got "${f?.protocol}"`);
    if (typeof f.hostAddress !== 'string' || !isIPv4(f.hostAddress)) {
      bad(`port forward host address must be an IPv4 literal such as 127.0.0.1, got "${f.hostAddress}" (QEMU user networking forwards IPv4 only)`);
    }
    for (const [what, port] of [
      ['host port', f.hostPort],
      ['guest port', f.guestPort],
    ] as const) {
      if (!Number.isInteger(port) || port < 1 || port > 65535) bad(`port forward ${what} must be an integer in 1..65535, got ${port}`);
    }
    const key = `${f.protocol}/${f.hostPort}`;
    const earlier = forwarded.get(key);
    if (earlier !== undefined) bad(`host port ${f.protocol} ${f.hostPort} is already forwarded by ${earlier}`);
    forwarded.set(key, label);
  }
}

/** PCI devices the domain gets (see MAX_PCI_DEVICES): NICs, virtio disks, SATA/SCSI/virtio-serial controllers, balloon. */
export function pciDeviceCount(spec: Pick<DomainSpec, 'disks' | 'networks' | 'guestAgent'>): number {
  const bus = (d: DomainSpec['disks'][number]): string => d.bus ?? (d.device === 'cdrom' ? 'sata' : 'virtio');
  return (
    spec.networks.length +
    spec.disks.filter((d) => bus(d) === 'virtio').length +
    (spec.disks.some((d) => bus(d) === 'sata') ? 1 : 0) +
    (spec.disks.some((d) => bus(d) === 'scsi') ? 1 : 0) +
    (spec.guestAgent !== false ? 1 : 0) +
    1
  );
}

export function validateNetworkDefSpec(spec: NetworkDefSpec): void {
  validateName('network', spec.name);
  if (spec.mode !== 'nat' && spec.mode !== 'isolated') invalid(`network ${spec.name}: unsupported mode "${spec.mode}" (nat, isolated)`, spec.name);
  if (spec.bridgeName !== undefined && !BRIDGE_NAME_RE.test(spec.bridgeName)) {
    invalid(`network ${spec.name}: invalid bridge name "${spec.bridgeName}" (1-15 characters [A-Za-z0-9_.-])`, spec.name);
  }
  const ip = spec.ipv4;
  if (ip === undefined) return;
  const bad = (msg: string): never => invalid(`network ${spec.name}: ${msg}`, spec.name);
  if (typeof ip.address !== 'string' || !isIPv4(ip.address)) bad(`ipv4.address must be an IPv4 address, got "${ip.address}"`);
  if (!Number.isInteger(ip.prefix) || ip.prefix < 8 || ip.prefix > 30) bad(`ipv4.prefix must be an integer in 8..30, got ${ip.prefix}`);
  const { network, broadcast } = subnetBounds(ip.address, ip.prefix);
  const addr = ipv4ToInt(ip.address);
  if (addr === network || addr === broadcast) bad(`ipv4.address ${ip.address} is the network or broadcast address of /${ip.prefix}`);
  if ((ip.dhcpStart === undefined) !== (ip.dhcpEnd === undefined)) bad('ipv4.dhcpStart and ipv4.dhcpEnd go together');
  if (ip.dhcpStart === undefined || ip.dhcpEnd === undefined) return;
  for (const [what, v] of [
    ['dhcpStart', ip.dhcpStart],
    ['dhcpEnd', ip.dhcpEnd],
  ] as const) {
    if (typeof v !== 'string' || !isIPv4(v)) bad(`ipv4.${what} must be an IPv4 address, got "${v}"`);
    const n = ipv4ToInt(v);
    if (n <= network || n >= broadcast) bad(`ipv4.${what} ${v} is outside ${ip.address}/${ip.prefix}`);
  }
  const start = ipv4ToInt(ip.dhcpStart);
  const end = ipv4ToInt(ip.dhcpEnd);
  if (start > end) bad(`ipv4.dhcpStart ${ip.dhcpStart} is after dhcpEnd ${ip.dhcpEnd}`);
  if (addr >= start && addr <= end) bad(`the DHCP range ${ip.dhcpStart}-${ip.dhcpEnd} contains the network's own address ${ip.address}`);
}

/**
 * Whether a network's current definition already is `spec` (both drivers' defineNetwork
 * idempotence). An unset bridge name matches whatever bridge the hypervisor picked.
 */
export function sameNetworkDefinition(current: Pick<NetworkInfo, 'mode' | 'bridgeName' | 'ipv4'>, spec: NetworkDefSpec): boolean {
  if (current.mode !== spec.mode) return false;
  if (spec.bridgeName !== undefined && current.bridgeName !== spec.bridgeName) return false;
  const a = current.ipv4;
  const b = spec.ipv4;
  if (!a || !b) return a === b;
  return a.address === b.address && a.prefix === b.prefix && a.dhcpStart === b.dhcpStart && a.dhcpEnd === b.dhcpEnd;
}

/** A Linux bridge name as `bridgeExists` takes it (also keeps the /sys lookup inside /sys/class/net). */
export function validateBridgeName(name: string): void {
  if (typeof name !== 'string' || !BRIDGE_NAME_RE.test(name)) invalid(`invalid bridge name "${name}" (1-15 characters [A-Za-z0-9_.-])`, String(name));
}

export function validatePoolSpec(spec: PoolSpec): void {
  validateName('pool', spec.name);
  validateAbsolutePath('pool target path', spec.targetPath);
  if (spec.targetPath === '/') invalid('pool target path must not be /');
  if (spec.type === 'nfs') {
    if (!spec.source || !HOST_RE.test(spec.source.host)) invalid(`invalid nfs server host "${spec.source?.host}"`);
    validateAbsolutePath('nfs export dir', spec.source.dir);
  } else if (spec.type !== 'dir') {
    throw new HypervisorError('Unsupported', `pool type "${(spec as { type: string }).type}" is not supported (dir, nfs)`);
  }
}

export function validateVolumeSpec(spec: VolumeSpec): void {
  validateName('volume', spec.name);
  if (!Number.isInteger(spec.capacityBytes) || spec.capacityBytes <= 0) invalid(`capacityBytes must be a positive integer, got ${spec.capacityBytes}`);
  if (spec.format !== undefined && spec.format !== 'qcow2') invalid(`unsupported volume format "${spec.format}" (qcow2)`);
  if (spec.backingPath !== undefined) validateAbsolutePath('backing image path', spec.backingPath);
}

/**
 * Splits a pool-relative path into segments. Refuses absolute paths and any `..` segment
 * (even ones that would stay inside: there is no reason for a client to send them).
 * "", ".", "/"-free relative paths and repeated slashes are fine.
 */
export function poolRelativeSegments(relPath: string): string[] {
  if (typeof relPath !== 'string') throw new HypervisorError('InvalidSpec', 'path must be a string');
  if (relPath.includes('\0')) throw new HypervisorError('PathEscape', 'path contains a NUL byte', { target: relPath });
  if (relPath.startsWith('/') || relPath.startsWith('\\') || path.isAbsolute(relPath)) {
    throw new HypervisorError('PathEscape', `absolute paths are not allowed: "${relPath}"`, { target: relPath });
  }
  const segments = relPath.split('/').filter((s) => s !== '' && s !== '.');
  if (segments.some((s) => s === '..')) {
    throw new HypervisorError('PathEscape', `".." is not allowed in pool paths: "${relPath}"`, { target: relPath });
  }
  return segments;
}

/** True when `child` (absolute, resolved) is `root` or below it. */
export function isWithin(root: string, child: string): boolean {
  if (child === root) return true;
  const prefix = root.endsWith(path.sep) ? root : root + path.sep;
  return child.startsWith(prefix);
}
