/**
 * Finalizers Quantix puts on its objects, and who adds and removes each. They live in
 * api-types because the apiserver adds some at write time and the controllers and the
 * node gateway act on them.
 */
import type { KubeObject } from './meta.js';

/**
 * On every VirtualMachine bound to a node (spec.nodeName set). Added by the apiserver on the
 * write that sets spec.nodeName (a pinned create, an admin's pin, the scheduler's bind), so no
 * agent ever sees a bound VM without it; the vm controller also ensures it on every live VM.
 * Removed by the vm controller alone, once the agent reports Synced=True/Deleted (domain
 * undefined and volumes deleted) or the VM needs no cleanup (controllers/vm/vm_reconcile_deletion.ts).
 */
export const CLEANUP_FINALIZER = 'quantix.io/vm-cleanup';

/**
 * On every StoragePool some VirtualMachine's disks (or reported volumes) use. Added and
 * removed by the storagepool controller (controllers/storagepool), so deleting a pool in use
 * waits, with deletionTimestamp set, until no VM uses it.
 */
export const POOL_IN_USE_FINALIZER = 'quantix.io/pool-in-use';

/** `obj` with `finalizer` appended, or `obj` itself when it already has it. */
export function withFinalizer<T extends KubeObject>(obj: T, finalizer: string): T {
  const finalizers = obj.metadata.finalizers ?? [];
  if (finalizers.includes(finalizer)) return obj;
  return { ...obj, metadata: { ...obj.metadata, finalizers: [...finalizers, finalizer] } };
}

/**
 * On every Image some VirtualMachine's disks name (spec.disks[].image). Added and removed by
 * the image controller (controllers/image), so deleting an image in use waits, with
 * deletionTimestamp set and a condition naming the VMs, until none uses it: overlay disks
 * keep reading the node's cached copy.
 */
export const IMAGE_IN_USE_FINALIZER = 'quantix.io/image-in-use';

/**
 * On every VirtualMachineSnapshot. Added by the apiserver when the snapshot is created;
 * removed by the snapshot controller (controllers/snapshot) once the VM's agent deleted the
 * snapshot from the disk files, or right away when nothing was taken or the VM (and so its
 * disks) is gone.
 */
export const SNAPSHOT_CLEANUP_FINALIZER = 'quantix.io/snapshot-cleanup';
