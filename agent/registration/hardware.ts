/**
 * Hardware discovery for the registration API: what an admin sees before the host joins.
 * CPU and memory come from the hypervisor driver when it answers (libvirt's view, with its
 * and QEMU's versions), else from /proc; disks from /sys/block; NICs from /sys/class/net and
 * the kernel's addresses. Each source that fails is left out, never fatal.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { arch, cpus, hostname as osHostname, networkInterfaces, totalmem } from 'node:os';
import path from 'node:path';
import type { HostDisk, HostHardware, HostNic } from '../../lib/host-join/protocol.js';
import type { HostInfo } from '../hypervisor/driver.js';

export interface DiscoverOptions {
  agentVersion: string;
  hostname?: string;
  /** The driver's host facts (libvirt's getNodeInfo, versions); absent or failing: /proc. */
  hostInfo?: () => Promise<HostInfo>;
  /** Root of /proc and /sys (tests point it elsewhere). */
  root?: string;
}

function read(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function cpuModelFromProc(root: string): string {
  const info = read(path.join(root, 'proc/cpuinfo')) ?? '';
  return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? cpus()[0]?.model ?? 'unknown';
}

/** Whole disks (not partitions, loop, ram or device-mapper devices) and their sizes. */
export function discoverDisks(root = '/'): HostDisk[] {
  const dir = path.join(root, 'sys/block');
  if (!existsSync(dir)) return [];
  const disks: HostDisk[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (/^(loop|ram|dm-|zram|sr|fd)/.test(name)) continue;
    const sectors = Number(read(path.join(dir, name, 'size')));
    if (!Number.isFinite(sectors) || sectors <= 0) continue;
    const model = read(path.join(dir, name, 'device/model'));
    const rotational = read(path.join(dir, name, 'queue/rotational'));
    disks.push({ name, sizeBytes: sectors * 512, ...(model ? { model } : {}), ...(rotational !== undefined ? { rotational: rotational === '1' } : {}) });
  }
  return disks;
}

/** Network interfaces other than loopback, with MAC, state, speed and addresses. */
export function discoverNics(root = '/'): HostNic[] {
  const dir = path.join(root, 'sys/class/net');
  const addrs = networkInterfaces();
  const names = existsSync(dir) ? readdirSync(dir) : Object.keys(addrs);
  const nics: HostNic[] = [];
  for (const name of names.sort()) {
    if (name === 'lo') continue;
    const mac = read(path.join(dir, name, 'address'));
    const state = read(path.join(dir, name, 'operstate'));
    const speed = Number(read(path.join(dir, name, 'speed')));
    nics.push({
      name,
      ...(mac ? { mac } : {}),
      addresses: (addrs[name] ?? []).map((a) => a.address),
      ...(state ? { state } : {}),
      ...(Number.isFinite(speed) && speed > 0 ? { speedMbps: speed } : {}),
    });
  }
  return nics;
}

export async function discoverHardware(o: DiscoverOptions): Promise<HostHardware> {
  const root = o.root ?? '/';
  let host: HostInfo | undefined;
  try {
    host = await o.hostInfo?.();
  } catch {
    host = undefined; // libvirt down: the host is still worth describing
  }
  return {
    hostname: o.hostname ?? host?.hostname ?? osHostname(),
    agentVersion: o.agentVersion,
    cpu: { model: host?.cpuModel ?? cpuModelFromProc(root), count: host?.cpuCount ?? cpus().length, arch: host?.cpuArch ?? arch() },
    memoryBytes: host?.memoryBytes ?? totalmem(),
    disks: discoverDisks(root),
    nics: discoverNics(root),
    ...(host?.libvirtVersion ? { libvirtVersion: host.libvirtVersion } : {}),
    ...(host?.hypervisorVersion ? { hypervisorVersion: host.hypervisorVersion } : {}),
    kvm: existsSync(path.join(root, 'dev/kvm')),
  };
}
