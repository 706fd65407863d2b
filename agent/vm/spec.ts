/**
 * VirtualMachine spec → what the hypervisor driver takes (pure): domain name and spec,
 * volume names and specs. Per-item defaults the API leaves out (disk bus, NIC type and
 * model) are resolved here, as api-types/schema/virtualmachine.ts documents.
 */
import path from 'node:path';
import { libvirtNetworkName } from '../networks/names.js';
import type { DiskBus, DiskFormat, DomainSpec, DomainType, NetworkSpec, NicModel, VolumeSpec } from '../hypervisor/driver.js';
import { HypervisorError } from '../hypervisor/errors.js';
import type { VirtualMachine, VirtualMachineDisk } from '../../api-types/generated/types.js';
import { parseBytes } from '../../api-types/quantity.js';

const NIC_MODELS: ReadonlySet<string> = new Set(['virtio', 'e1000', 'rtl8139']);

/** `<namespace>_<name>`: both are DNS-1123 labels, so `_` cannot be ambiguous. */
export function domainName(vm: VirtualMachine): string {
  return `${vm.metadata.namespace}_${vm.metadata.name}`;
}

/**
 * `<vm>_<disk>_<uid8>.qcow2`: readable in the file browser, and the uid part keeps a
 * leftover volume of an earlier VM with the same name from ever being reused.
 */
export function volumeName(vm: VirtualMachine, disk: Pick<VirtualMachineDisk, 'name'>): string {
  return `${vm.metadata.name}_${disk.name}_${vm.metadata.uid!.slice(0, 8)}.qcow2`;
}

function backingFormat(file: string): DiskFormat {
  return /\.(img|raw|iso)$/i.test(file) ? 'raw' : 'qcow2';
}

/** The volume a disk needs; `poolRoot` is the pool's target path on this host. */
export function volumeSpecFor(vm: VirtualMachine, disk: VirtualMachineDisk, poolRoot: string): VolumeSpec {
  const spec: VolumeSpec = { name: volumeName(vm, disk), capacityBytes: parseBytes(disk.size), format: 'qcow2' };
  if (disk.sourceImage) {
    const rel = path.posix.normalize(disk.sourceImage.replace(/^\/+/, ''));
    if (rel === '..' || rel.startsWith('../') || path.posix.isAbsolute(disk.sourceImage)) {
      throw new HypervisorError('InvalidSpec', `disk ${disk.name}: sourceImage "${disk.sourceImage}" must be a path inside pool ${disk.storagePool}`, {
        target: disk.name,
      });
    }
    spec.backingPath = path.posix.join(poolRoot, rel);
    spec.backingFormat = backingFormat(rel);
  }
  return spec;
}

export function domainSpecFor(vm: VirtualMachine, volumePaths: ReadonlyMap<string, string>, _domainType?: DomainType): DomainSpec {
  const spec = vm.spec;
  const disks = (spec.disks ?? []).map((d) => {
    const p = volumePaths.get(d.name);
    if (!p) throw new HypervisorError('InvalidSpec', `disk ${d.name}: no volume path`, { target: d.name });
    return { path: p, bus: (d.bus ?? spec.diskBus ?? 'virtio') as DiskBus, format: 'qcow2' as const };
  });
  const networks: NetworkSpec[] = (spec.networks ?? []).map((n) => {
    const model = (n.model ?? 'virtio') as NicModel;
    if (!NIC_MODELS.has(model)) {
      throw new HypervisorError('InvalidSpec', `network ${n.name}: model "${n.model}" is not supported (use virtio, e1000 or rtl8139)`, { target: n.name });
    }
    const mac = n.macAddress?.toLowerCase();
    switch (n.type ?? 'user') {
      case 'network':
        // A Quantix Network is the libvirt network qx-<name> on every host (networks/names.ts).
        return { type: 'network', network: libvirtNetworkName(n.source ?? ''), model, mac };
      case 'bridge':
        return { type: 'bridge', bridge: n.source ?? '', model, mac };
      default:
        return { type: 'user', model, mac };
    }
  });
  return {
    uuid: vm.metadata.uid!,
    name: domainName(vm),
    vcpus: spec.cpu ?? 1,
    memoryBytes: parseBytes(spec.memory),
    disks,
    networks,
    owner: { namespace: vm.metadata.namespace!, name: vm.metadata.name!, uid: vm.metadata.uid! },
    autostart: false,
  };
}
