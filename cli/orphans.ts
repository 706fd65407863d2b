/**
 * The orphan check behind `qxctl node check` (pure): a node's pool listings and every VM →
 * what no VM owns. Read-only by construction: it only returns findings.
 *
 *   - volume: a file at a pool's root named as the agent names volumes
 *     (`<vm>_<disk>_<uid8>.qcow2`, agent/vm/spec.ts volumeName) that no VM owns: neither a
 *     VM's status.volumes path in that pool nor the name the rule gives for one of a VM's
 *     disks in that pool. Any VM counts, on any node (a shared pool holds the volumes of VMs
 *     bound elsewhere). Other files (images, ISOs, user files, directories) are not Quantix
 *     volumes and are not findings.
 *   - domain: a domain on the node whose Quantix owner metadata names a VM that does not
 *     exist. The gateway records such a domain as a host-discovered VM on the node with the
 *     annotation FORMER_OWNER_ANNOTATION (apiserver/gateway/vm-status.ts discoveredVm); one
 *     that is not Terminated (its domain still exists) is a finding, unless a VM with the
 *     named uid exists by now.
 */
import type { VirtualMachine } from '../api-types/generated/types.js';
import { DISCOVERED_ON_LABEL, FORMER_OWNER_ANNOTATION } from '../api-types/proto/contract.js';

export interface OrphanFinding {
  kind: 'volume' | 'domain';
  /** The file name (volume) or the libvirt domain name (domain). */
  name: string;
  /** The pool (volume) or the host-discovered VM recording the domain, `NAMESPACE/NAME`. */
  where: string;
  reason: string;
}

export interface PoolFiles {
  pool: string;
  entries: readonly { name: string; type: string }[];
}

/** The agent's volume file name: `<vm>_<disk>_<uid8>.qcow2`, VM and disk names being DNS-1123 labels. */
export const VOLUME_NAME_PATTERN = /^([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)_([a-z0-9](?:[-a-z0-9]*[a-z0-9])?)_([0-9a-f]{8})\.qcow2$/;

function basename(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

/** `pool\0file` for every volume some VM owns; pool `*` when a status entry names no pool. */
function ownedVolumes(vms: readonly VirtualMachine[]): Set<string> {
  const owned = new Set<string>();
  for (const vm of vms) {
    for (const v of vm.status?.volumes ?? []) if (v.path) owned.add(`${v.pool ?? '*'}\0${basename(v.path)}`);
    const uid = vm.metadata.uid;
    if (!uid) continue;
    for (const d of vm.spec?.disks ?? []) owned.add(`${d.storagePool}\0${vm.metadata.name}_${d.name}_${uid.slice(0, 8)}.qcow2`);
  }
  return owned;
}

function volumeReason(file: string, vms: readonly VirtualMachine[]): string {
  const m = VOLUME_NAME_PATTERN.exec(file)!;
  const [, vmName, disk] = m;
  const sameName = vms.filter((vm) => vm.metadata.name === vmName && !vm.status?.origin?.startsWith('host'));
  if (sameName.length === 0) return `no VM named "${vmName}" exists (disk "${disk}")`;
  const which = sameName.map((vm) => `${vm.metadata.namespace}/${vm.metadata.name} uid ${vm.metadata.uid?.slice(0, 8) ?? '?'}`).join(', ');
  return `not a volume of the VMs named "${vmName}" (${which}): left by an earlier VM of that name`;
}

const OWNER_UID = /\(uid ([^)]+)\)\s*$/;

export function findOrphans(node: string, pools: readonly PoolFiles[], vms: readonly VirtualMachine[]): OrphanFinding[] {
  const findings: OrphanFinding[] = [];
  const owned = ownedVolumes(vms);
  for (const { pool, entries } of pools) {
    for (const e of entries) {
      if (e.type === 'dir' || !VOLUME_NAME_PATTERN.test(e.name)) continue;
      if (owned.has(`${pool}\0${e.name}`) || owned.has(`*\0${e.name}`)) continue;
      findings.push({ kind: 'volume', name: e.name, where: pool, reason: volumeReason(e.name, vms) });
    }
  }
  const uids = new Set(vms.map((vm) => vm.metadata.uid).filter(Boolean));
  for (const vm of vms) {
    const formerOwner = vm.metadata.annotations?.[FORMER_OWNER_ANNOTATION];
    if (!formerOwner || vm.metadata.labels?.[DISCOVERED_ON_LABEL] !== node) continue;
    if (vm.status?.phase === 'Terminated' || vm.metadata.deletionTimestamp) continue;
    const ownerUid = OWNER_UID.exec(formerOwner)?.[1];
    if (ownerUid && uids.has(ownerUid)) continue;
    findings.push({
      kind: 'domain',
      name: vm.status?.domainName ?? vm.metadata.annotations?.['quantix.io/discovered-domain'] ?? vm.metadata.name!,
      where: `${vm.metadata.namespace}/${vm.metadata.name}`,
      reason: `owner metadata names ${formerOwner}, which has no VM`,
    });
  }
  const order = { volume: 0, domain: 1 };
  return findings.sort((a, b) => order[a.kind] - order[b.kind] || a.where.localeCompare(b.where) || a.name.localeCompare(b.name));
}
