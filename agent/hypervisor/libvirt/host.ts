/** hostInfo for the libvirt driver: libvirtd's view of the host, with the CPU's marketing name from /proc/cpuinfo. */
import { promises as fs } from 'node:fs';
import type { DomainType, HostInfo } from '../driver.js';
import type { LibvirtConnection } from './connection.js';
import { Procs } from './protocol.js';
import { hostCpuModelFromCapabilities } from './xml.js';

function versionString(v: number): string {
  const major = Math.floor(v / 1_000_000);
  const minor = Math.floor((v % 1_000_000) / 1000);
  const micro = v % 1000;
  return `${major}.${minor}.${micro}`;
}

export async function hostInfo(conn: LibvirtConnection, domainType: DomainType): Promise<HostInfo> {
  const ctx = { operation: 'hostInfo' };
  const [hostname, node, type, hvVer, libVer, caps, cpuName] = await Promise.all([
    conn.call(Procs.connectGetHostname, undefined, ctx),
    conn.call(Procs.nodeGetInfo, undefined, ctx),
    conn.call(Procs.connectGetType, undefined, ctx),
    conn.call(Procs.connectGetVersion, undefined, ctx),
    conn.call(Procs.connectGetLibVersion, undefined, ctx),
    conn.call(Procs.connectGetCapabilities, undefined, ctx),
    cpuModelName(),
  ]);
  return {
    hostname,
    cpuCount: node.cpus,
    cpuModel: cpuName ?? hostCpuModelFromCapabilities(caps) ?? node.model,
    cpuArch: node.model,
    cpuMhz: node.mhz,
    memoryBytes: node.memoryKiB * 1024,
    hypervisorType: type,
    hypervisorVersion: versionString(hvVer),
    libvirtVersion: versionString(libVer),
    domainType,
  };
}

let cachedCpuName: string | null | undefined;
async function cpuModelName(): Promise<string | undefined> {
  if (cachedCpuName !== undefined) return cachedCpuName ?? undefined;
  try {
    const text = await fs.readFile('/proc/cpuinfo', 'utf8');
    const m = /^model name\s*:\s*(.+)$/m.exec(text);
    cachedCpuName = m ? m[1]!.trim() : null;
  } catch {
    cachedCpuName = null;
  }
  return cachedCpuName ?? undefined;
}
