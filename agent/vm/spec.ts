/**
 * VirtualMachine spec → what the hypervisor driver takes (pure): domain name and spec,
 * volume names and specs. Per-item defaults the API leaves out (disk bus, NIC type and
 * model) are resolved here, as api-types/schema/virtualmachine.ts documents.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';
import { libvirtNetworkName } from '../networks/names.js';
import type { DiskBus, DiskFormat, DiskSpec, DomainSpec, DomainType, NetworkSpec, NicModel, PortForward, VolumeSpec } from '../hypervisor/driver.js';
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

/** The volume a clone's disk is copied from: the source VM's volume for that disk (same naming as volumeName). */
export function cloneSourceVolumeName(source: NonNullable<VirtualMachineDisk['cloneFrom']>): string {
  return volumeName({ metadata: { name: source.virtualMachine, uid: source.uid } } as VirtualMachine, { name: source.disk });
}

function backingFormat(file: string): DiskFormat {
  return /\.(img|raw|iso)$/i.test(file) ? 'raw' : 'qcow2';
}

/**
 * The MAC of a NIC without spec.networks[].macAddress: 52:54:00 (QEMU's prefix) and three
 * bytes of sha256(uid/nic), so it stays the same across redefinitions and agent restarts,
 * and differs between VMs.
 */
export function stableMac(uid: string, nicName: string): string {
  const h = createHash('sha256').update(`${uid}/${nicName}`).digest();
  return `52:54:00:${[h[0]!, h[1]!, h[2]!].map((b) => b.toString(16).padStart(2, '0')).join(':')}`;
}

/** The MAC each NIC gets (given, or stable from the uid), by NIC name. */
export function nicMacs(vm: VirtualMachine): Map<string, string> {
  return new Map((vm.spec.networks ?? []).map((n) => [n.name, n.macAddress?.toLowerCase() ?? stableMac(vm.metadata.uid!, n.name)]));
}

/** The volume a disk needs; `poolRoot` is the pool's target path on this host; `imagePath` the node's cached copy of disk.image. */
export function volumeSpecFor(vm: VirtualMachine, disk: VirtualMachineDisk, poolRoot: string, imagePath?: string): VolumeSpec {
  const spec: VolumeSpec = { name: volumeName(vm, disk), capacityBytes: parseBytes(disk.size), format: 'qcow2' };
  if (disk.image) {
    if (!imagePath) throw new HypervisorError('InvalidSpec', `disk ${disk.name}: Image ${disk.image} is not available on this node`, { target: disk.name });
    // Overlay: the cached copy is the backing file (qcow2 always); Copy disks are made apart.
    if ((disk.imageClone ?? 'Overlay') === 'Overlay') {
      spec.backingPath = imagePath;
      spec.backingFormat = 'qcow2';
    }
    return spec;
  }
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

export interface DomainExtras {
  /** kvm or qemu (TCG): the node's acceleration. */
  domainType?: DomainType;
  /** The cloud-init seed ISO, attached as a read-only SATA CD-ROM. */
  seedIsoPath?: string;
}

function portForwardsOf(n: NonNullable<VirtualMachine['spec']['networks']>[number]): PortForward[] | undefined {
  if (!n.portForwards?.length) return undefined;
  return n.portForwards.map((f) => ({
    protocol: f.protocol === 'UDP' ? 'udp' : 'tcp',
    hostAddress: f.hostAddress ?? '127.0.0.1',
    hostPort: f.hostPort,
    guestPort: f.guestPort,
  }));
}

export function domainSpecFor(vm: VirtualMachine, volumePaths: ReadonlyMap<string, string>, extras: DomainExtras = {}): DomainSpec {
  const spec = vm.spec;
  const disks: DiskSpec[] = (spec.disks ?? []).map((d) => {
    const p = volumePaths.get(d.name);
    if (!p) throw new HypervisorError('InvalidSpec', `disk ${d.name}: no volume path`, { target: d.name });
    return { path: p, bus: (d.bus ?? spec.diskBus ?? 'virtio') as DiskBus, format: 'qcow2' as const };
  });
  if (extras.seedIsoPath) disks.push({ path: extras.seedIsoPath, device: 'cdrom', bus: 'sata', format: 'raw', readonly: true });
  const macs = nicMacs(vm);
  const networks: NetworkSpec[] = (spec.networks ?? []).map((n) => {
    const model = (n.model ?? 'virtio') as NicModel;
    if (!NIC_MODELS.has(model)) {
      throw new HypervisorError('InvalidSpec', `network ${n.name}: model "${n.model}" is not supported (use virtio, e1000 or rtl8139)`, { target: n.name });
    }
    const mac = macs.get(n.name);
    switch (n.type ?? 'user') {
      case 'network':
        // A Quantix Network is the libvirt network qx-<name> on every host (networks/names.ts).
        return { type: 'network', name: n.name, network: libvirtNetworkName(n.source ?? ''), model, mac };
      case 'bridge':
        return { type: 'bridge', name: n.name, bridge: n.source ?? '', model, mac };
      default: {
        const portForwards = portForwardsOf(n);
        return { type: 'user', name: n.name, model, mac, ...(portForwards ? { portForwards } : {}) };
      }
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
    guestAgent: true,
    ...(extras.domainType ? { domainType: extras.domainType } : {}),
  };
}
