/**
 * Cloning a VM (`POST …/virtualmachines/SRC/clone`, `qxctl vm clone SRC DST`), as pure
 * functions the apiserver's clone route uses.
 *
 * Why a subresource that writes an ordinary VM, and not a client-side copy: the checks that
 * make a clone safe (the source exists, is shut off, is managed) and the create happen in one
 * server-side request with Kubernetes errors (404 for the source, 409 AlreadyExists for the
 * new name, 409 Conflict for a running source), for every client alike (qxctl, the web UI,
 * curl). What it writes is declarative: each disk of the new VM names the disk it starts
 * from (spec.disks[].cloneFrom, like a CDI DataVolume's pvc source), and the agent of the
 * source's node makes the copy level-triggered, like any other volume. The clone is bound to
 * the source's node (the volumes are there).
 *
 * The source must be stopped (status.powerState shutoff): a copy of a running guest's disk
 * would be torn. The agent checks it again right before it copies (the source may have been
 * started since), and does not start the source while a copy from it runs.
 */
import type { VirtualMachine, VirtualMachineDisk, VirtualMachineNetwork } from './generated/types.js';

/** The body of a clone request: the new VM's name (same namespace). */
export interface VirtualMachineCloneOptions {
  apiVersion?: string;
  kind?: 'VirtualMachineCloneOptions';
  /** The new VM's name. */
  name: string;
}

/** The cause reason of a 409 for a source that is not shut off. */
export const VM_NOT_STOPPED = 'VMNotStopped';

/**
 * Why `src` cannot be cloned now (a Conflict), or undefined. Deleting, unmanaged, not bound
 * to a node (no volumes yet) or not shut off.
 */
export function cloneRefusal(src: VirtualMachine): string | undefined {
  const name = src.metadata.name;
  if (src.metadata.deletionTimestamp) return `virtual machine "${name}" is being deleted`;
  if (src.status?.origin === 'host-discovered' || src.status?.managed === false) {
    return `virtual machine "${name}" is not managed by Quantix (import it first): its volumes are not Quantix's to copy`;
  }
  if (!src.spec.nodeName) return `virtual machine "${name}" is not bound to a node yet: it has no volumes to copy`;
  if (src.status?.powerState !== 'shutoff') {
    const state = src.status?.powerState ?? src.status?.phase ?? 'not started yet';
    return `virtual machine "${name}" is not stopped (${state}): stop it first (qxctl vm stop ${name}); its disks are copied while it is shut off`;
  }
  return undefined;
}

/** The new VM's disk: the same size, pool and bus, started from a copy of the source's disk. */
function clonedDisk(src: VirtualMachine, d: VirtualMachineDisk): VirtualMachineDisk {
  const disk: VirtualMachineDisk = { name: d.name, storagePool: d.storagePool, size: d.size };
  if (d.bus !== undefined) disk.bus = d.bus;
  if (d.bootOrder !== undefined) disk.bootOrder = d.bootOrder;
  disk.cloneFrom = { virtualMachine: src.metadata.name!, uid: src.metadata.uid!, disk: d.name };
  return disk;
}

/**
 * A NIC of the new VM: a fixed MAC is dropped (the clone's is derived from its own uid), and
 * so are host port forwards (a host port is the node's, one VM at a time; the clone runs on
 * the same node).
 */
function clonedNetwork(n: VirtualMachineNetwork): VirtualMachineNetwork {
  const { macAddress: _mac, portForwards: _forwards, ...rest } = structuredClone(n);
  return rest;
}

/**
 * The VM a clone request creates: `src`'s spec with copies of its disks, on its node, with
 * its labels; a new uid (so new MACs and a new cloud-init instance id: the guest runs its
 * first-boot set-up again) and its own host name (an explicit cloudInit.hostname is dropped,
 * the VM's name is the default). A source that booted from an Image got a cloud-init seed for
 * it; the clone keeps one (cloudInit {}) so its guest learns the new instance id and name.
 */
export function clonedVirtualMachine(src: VirtualMachine, name: string): VirtualMachine {
  const spec = structuredClone(src.spec);
  spec.disks = (src.spec.disks ?? []).map((d) => clonedDisk(src, d));
  if (spec.disks.length === 0) delete spec.disks;
  if (src.spec.networks) spec.networks = src.spec.networks.map(clonedNetwork);
  const hadSeed = Boolean(src.spec.cloudInit) || (src.spec.disks ?? []).some((d) => Boolean(d.image));
  if (hadSeed) {
    const { hostname: _own, ...cloudInit } = src.spec.cloudInit ?? {};
    spec.cloudInit = cloudInit;
  }
  delete spec.paused;
  const metadata: VirtualMachine['metadata'] = { name, namespace: src.metadata.namespace };
  if (src.metadata.labels) metadata.labels = { ...src.metadata.labels };
  return { apiVersion: src.apiVersion ?? 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata, spec };
}
