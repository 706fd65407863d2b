/**
 * Input checks shared by the drivers, so that both refuse the same specs with the same
 * `InvalidSpec` / `PathEscape` errors, and helpers for UUIDs and pool-relative paths.
 */
import path from 'node:path';
import type { DomainSpec, PoolSpec, VolumeSpec } from './driver.js';
import { HypervisorError } from './errors.js';

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,199}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const HOST_RE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$|^\[?[0-9a-fA-F:.]+\]?$/;
const IFACE_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

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
  if (spec.disks.length > 26) invalid('at most 26 disks');
  for (const d of spec.disks) {
    validateAbsolutePath('disk path', d.path);
    if (d.bus && !['virtio', 'sata', 'scsi', 'ide'].includes(d.bus)) invalid(`unsupported disk bus "${d.bus}"`);
    if (d.format && !['qcow2', 'raw'].includes(d.format)) invalid(`unsupported disk format "${d.format}"`);
  }
  for (const n of spec.networks) {
    if (n.mac !== undefined && !MAC_RE.test(n.mac.toLowerCase())) invalid(`invalid MAC address "${n.mac}"`);
    if (n.model && !['virtio', 'e1000', 'rtl8139'].includes(n.model)) invalid(`unsupported NIC model "${n.model}"`);
    if (n.type === 'network' && !IFACE_RE.test(n.network)) invalid(`invalid network name "${n.network}"`);
    else if (n.type === 'bridge' && !IFACE_RE.test(n.bridge)) invalid(`invalid bridge name "${n.bridge}"`);
    else if (!['user', 'network', 'bridge'].includes(n.type)) invalid(`unsupported network type "${(n as { type: string }).type}"`);
  }
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
