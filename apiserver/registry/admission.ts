/**
 * The apiserver's view of api-types: defaulting, server-set fields (prepareWrite), validation
 * (with each kind's update rules), unknown-field detection and pruning for one resource
 * definition, and the admission checks that read other resources through the watch caches
 * (a Lister, as Kubernetes' admission plugins read informers). A thin seam so the strategy
 * stays readable.
 */
import type { KubeObject, StatusCause } from '../../api-types/meta.js';
import type { Image, StoragePool, VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot } from '../../api-types/generated/types.js';
import type { FieldError, ResourceDefinition } from '../../api-types/schema/types.js';
import { toStatusCause } from '../../api-types/field-errors.js';
import { applyDefaults } from '../../api-types/defaults.js';
import { poolUnassignmentErrors } from '../../api-types/pool-usage.js';
import {
  imageDefinition,
  storagePoolDefinition,
  virtualMachineDefinition,
  virtualMachineRestoreDefinition,
  virtualMachineSnapshotDefinition,
} from '../../api-types/registry.js';
import { restoreAdmissionErrors, restoresBlockingDeletion, snapshotAdmissionErrors } from '../../api-types/snapshot-usage.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { diskImageSizeErrors } from '../../api-types/image-usage.js';
import { findUnknownFields, pruneUnknownFields, validateObject, validateStatusOf } from '../../api-types/validation.js';
import type { Lister } from './served-resource.js';

const VM_DEF = virtualMachineDefinition as unknown as ResourceDefinition;
const IMAGE_DEF = imageDefinition as unknown as ResourceDefinition;
const SNAPSHOT_DEF = virtualMachineSnapshotDefinition as unknown as ResourceDefinition;
const RESTORE_DEF = virtualMachineRestoreDefinition as unknown as ResourceDefinition;

function namespacedLookup<T extends KubeObject>(lister: Lister, def: ResourceDefinition): (namespace: string, name: string) => T | undefined {
  return (namespace, name) => lister.list(def).find((o) => o.metadata.namespace === namespace && o.metadata.name === name) as T | undefined;
}

/**
 * Checks of a write of the main resource that need other objects (`old` undefined on create).
 * StoragePool: a node may not leave spec.assignedNodes while VMs on it use the pool (their
 * volumes live there). VirtualMachine: a disk from an Image may not be smaller than the
 * image's virtual size, once some node has imported it (before that, the agent refuses it).
 */
const lookups: Partial<Record<string, (obj: KubeObject, old: KubeObject | undefined, lister: Lister) => FieldError[]>> = {
  [storagePoolDefinition.kind]: (obj, old, lister) =>
    old ? poolUnassignmentErrors(obj as StoragePool, old as StoragePool, lister.list(VM_DEF) as readonly VirtualMachine[]) : [],
  [virtualMachineDefinition.kind]: (obj, old, lister) =>
    diskImageSizeErrors(obj as VirtualMachine, old as VirtualMachine | undefined, (name) =>
      (lister.list(IMAGE_DEF) as readonly Image[]).find((i) => i.metadata.name === name),
    ),
  // Snapshots and restores: checked when created (the VM they name must exist, have disks, be stopped…).
  [virtualMachineSnapshotDefinition.kind]: (obj, old, lister) =>
    old ? [] : snapshotAdmissionErrors(obj as VirtualMachineSnapshot, namespacedLookup<VirtualMachine>(lister, VM_DEF)),
  [virtualMachineRestoreDefinition.kind]: (obj, old, lister) =>
    old
      ? []
      : restoreAdmissionErrors(
          obj as VirtualMachineRestore,
          namespacedLookup<VirtualMachine>(lister, VM_DEF),
          namespacedLookup<VirtualMachineSnapshot>(lister, SNAPSHOT_DEF),
        ),
};

export const admission = {
  defaults(def: ResourceDefinition, obj: KubeObject): KubeObject {
    return applyDefaults(def.kind, obj) as KubeObject;
  },
  /** What the server sets on a write of the main resource (`old` undefined on create). */
  prepareWrite(def: ResourceDefinition, obj: KubeObject, old: KubeObject | undefined): KubeObject {
    return def.prepareWrite ? def.prepareWrite(obj, old) : obj;
  },
  validate(def: ResourceDefinition, obj: KubeObject, opts: { subresource?: string; old?: KubeObject; lister?: Lister }): FieldError[] {
    if (opts.subresource === 'status') return validateStatusOf(def.kind, obj);
    const errs = validateObject(def.kind, obj);
    if (opts.old && def.validateUpdate) errs.push(...def.validateUpdate(obj, opts.old));
    const lookup = lookups[def.kind];
    if (lookup && opts.lister && errs.length === 0) errs.push(...lookup(obj, opts.old, opts.lister));
    return errs;
  },
  unknownFields(def: ResourceDefinition, obj: KubeObject): string[] {
    return findUnknownFields(def.kind, obj);
  },
  prune(def: ResourceDefinition, obj: KubeObject): KubeObject {
    return pruneUnknownFields(def.kind, obj) as KubeObject;
  },
  /**
   * Why an object may not be deleted now, as the Status to answer (undefined: it may). A VM
   * with an unfinished restore: deleting it would pull its disks from under the revert.
   */
  deleteRefusal(def: ResourceDefinition, obj: KubeObject, lister: Lister | undefined): ApiError | undefined {
    if (def.kind !== virtualMachineDefinition.kind || !lister) return undefined;
    const blocking = restoresBlockingDeletion(obj as VirtualMachine, lister.list(RESTORE_DEF) as readonly VirtualMachineRestore[]);
    if (blocking.length === 0) return undefined;
    const names = blocking.map((r) => r.metadata.name).join(', ');
    const err = errors.conflict(
      { group: def.group, resource: def.plural, kind: def.kind, name: obj.metadata.name },
      `VirtualMachineRestore ${names} of it is running; delete the VM once the restore has finished (or delete the restore first)`,
    );
    const causes = blocking.map((r) => ({
      reason: 'RestoreInProgress',
      message: `VirtualMachineRestore ${r.metadata.name} is ${r.status?.phase ?? 'Pending'}`,
    }));
    return new ApiError(err.code, err.reason, err.message, { ...err.details, causes });
  },
  toCause(problem: FieldError): StatusCause {
    return toStatusCause(problem);
  },
};
