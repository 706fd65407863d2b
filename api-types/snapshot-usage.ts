/**
 * The rules of VirtualMachineSnapshot and VirtualMachineRestore against the VM they name:
 * one definition for the apiserver's admission (so bad input is refused before anything is
 * stored), the snapshot controller and the UI.
 */
import { fieldError, type FieldError } from './field-errors.js';
import type { VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot } from './generated/types.js';

import { vmIsStopped } from './vm-stopped.js';

export { vmIsStopped };

/** A restore that has not finished yet (it holds its VM: the VM may not be deleted or started meanwhile). */
export function restoreActive(r: VirtualMachineRestore): boolean {
  return r.status?.phase !== 'Succeeded' && r.status?.phase !== 'Failed' && !r.metadata.deletionTimestamp;
}

function notFound(field: string, value: string, message: string): FieldError {
  return { field, type: 'FieldValueNotFound', message: `Not found: ${JSON.stringify(value)}: ${message}`, value };
}

/** Why a new snapshot cannot be taken of the VM it names (checked on create only). */
export function snapshotAdmissionErrors(snap: VirtualMachineSnapshot, vmNamed: (namespace: string, name: string) => VirtualMachine | undefined): FieldError[] {
  const name = snap.spec?.virtualMachineName;
  if (typeof name !== 'string') return [];
  const vm = vmNamed(snap.metadata.namespace ?? 'default', name);
  if (!vm) return [notFound('spec.virtualMachineName', name, `no VirtualMachine of that name in namespace ${snap.metadata.namespace ?? 'default'}`)];
  if (vm.metadata.deletionTimestamp) return [fieldError.forbidden('spec.virtualMachineName', `VirtualMachine "${name}" is being deleted`)];
  if ((vm.spec?.disks ?? []).length === 0) {
    return [fieldError.invalid('spec.virtualMachineName', name, `VirtualMachine "${name}" has no disks (spec.disks is empty): there is nothing to snapshot`)];
  }
  return [];
}

/** Why a restore cannot start (checked on create only): the VM must exist and be stopped, the snapshot be Ready and of that VM. */
export function restoreAdmissionErrors(
  restore: VirtualMachineRestore,
  vmNamed: (namespace: string, name: string) => VirtualMachine | undefined,
  snapshotNamed: (namespace: string, name: string) => VirtualMachineSnapshot | undefined,
): FieldError[] {
  const ns = restore.metadata.namespace ?? 'default';
  const vmName = restore.spec?.virtualMachineName;
  const snapName = restore.spec?.snapshotName;
  if (typeof vmName !== 'string' || typeof snapName !== 'string') return [];
  const errs: FieldError[] = [];
  const vm = vmNamed(ns, vmName);
  if (!vm) errs.push(notFound('spec.virtualMachineName', vmName, `no VirtualMachine of that name in namespace ${ns}`));
  else if (vm.metadata.deletionTimestamp) errs.push(fieldError.forbidden('spec.virtualMachineName', `VirtualMachine "${vmName}" is being deleted`));
  else if (!vmIsStopped(vm)) {
    errs.push(
      fieldError.invalid(
        'spec.virtualMachineName',
        vmName,
        `VirtualMachine "${vmName}" must be stopped to be restored (it is ${vm.status?.phase ?? 'not yet started'}): stop it first (qxctl vm stop ${vmName})`,
      ),
    );
  }
  const snap = snapshotNamed(ns, snapName);
  if (!snap) errs.push(notFound('spec.snapshotName', snapName, `no VirtualMachineSnapshot of that name in namespace ${ns}`));
  else if (snap.spec?.virtualMachineName !== vmName) {
    errs.push(
      fieldError.invalid('spec.snapshotName', snapName, `is a snapshot of VirtualMachine "${snap.spec?.virtualMachineName ?? ''}", not of "${vmName}"`),
    );
  } else if (snap.metadata.deletionTimestamp) errs.push(fieldError.forbidden('spec.snapshotName', `VirtualMachineSnapshot "${snapName}" is being deleted`));
  else if (snap.status?.phase !== 'Ready') {
    errs.push(
      fieldError.invalid('spec.snapshotName', snapName, `VirtualMachineSnapshot "${snapName}" is not Ready (phase ${snap.status?.phase ?? 'Pending'})`),
    );
  }
  return errs;
}

/** The restores that keep a VM from being deleted (unfinished restores of it). */
export function restoresBlockingDeletion(vm: VirtualMachine, restores: readonly VirtualMachineRestore[]): VirtualMachineRestore[] {
  return restores.filter((r) => r.metadata.namespace === vm.metadata.namespace && r.spec?.virtualMachineName === vm.metadata.name && restoreActive(r));
}
