import type { VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot } from './generated/types.js';
import { restoreAdmissionErrors, restoresBlockingDeletion, snapshotAdmissionErrors, vmIsStopped } from './snapshot-usage.js';

function vm(name: string, status: VirtualMachine['status'] = {}, disks = [{ name: 'root', size: '1Gi', storagePool: 'local' }]): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default', uid: `${name}-uid` },
    spec: { disks },
    status,
  } as VirtualMachine;
}
function snap(name: string, vmName: string, phase?: 'Ready' | 'Pending'): VirtualMachineSnapshot {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachineSnapshot',
    metadata: { name, namespace: 'default' },
    spec: { virtualMachineName: vmName },
    ...(phase ? { status: { phase } } : {}),
  };
}
function restore(vmName: string, snapName: string, phase?: 'Succeeded' | 'InProgress'): VirtualMachineRestore {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachineRestore',
    metadata: { name: `r-${vmName}`, namespace: 'default' },
    spec: { virtualMachineName: vmName, snapshotName: snapName },
    ...(phase ? { status: { phase } } : {}),
  };
}

const stopped = vm('web', { phase: 'Stopped', powerState: 'shutoff' });
const running = vm('web', { phase: 'Running', powerState: 'running' });
const lookup =
  <T extends { metadata: { name?: string } }>(items: T[]) =>
  (_ns: string, name: string) =>
    items.find((i) => i.metadata.name === name);

describe('snapshotAdmissionErrors', () => {
  it('accepts a snapshot of an existing VM with disks', () => {
    expect(snapshotAdmissionErrors(snap('s', 'web'), lookup([running]))).toEqual([]);
  });
  it('refuses a VM that does not exist, naming the field and the namespace', () => {
    expect(snapshotAdmissionErrors(snap('s', 'nope'), lookup([running]))).toEqual([
      {
        field: 'spec.virtualMachineName',
        type: 'FieldValueNotFound',
        value: 'nope',
        message: 'Not found: "nope": no VirtualMachine of that name in namespace default',
      },
    ]);
  });
  it('refuses a VM without disks', () => {
    const diskless = vm('empty', {}, []);
    expect(snapshotAdmissionErrors(snap('s', 'empty'), lookup([diskless]))).toEqual([
      {
        field: 'spec.virtualMachineName',
        type: 'FieldValueInvalid',
        value: 'empty',
        message: 'VirtualMachine "empty" has no disks (spec.disks is empty): there is nothing to snapshot',
      },
    ]);
  });
});

describe('restoreAdmissionErrors', () => {
  it('accepts a Ready snapshot of the same, stopped VM', () => {
    expect(restoreAdmissionErrors(restore('web', 's'), lookup([stopped]), lookup([snap('s', 'web', 'Ready')]))).toEqual([]);
  });
  it('refuses a running VM, saying it must be stopped', () => {
    const errs = restoreAdmissionErrors(restore('web', 's'), lookup([running]), lookup([snap('s', 'web', 'Ready')]));
    expect(errs).toHaveLength(1);
    expect(errs[0]).toMatchObject({ field: 'spec.virtualMachineName', type: 'FieldValueInvalid' });
    expect(errs[0]!.message).toBe('VirtualMachine "web" must be stopped to be restored (it is Running): stop it first (qxctl vm stop web)');
  });
  it('refuses a snapshot that is not Ready', () => {
    const errs = restoreAdmissionErrors(restore('web', 's'), lookup([stopped]), lookup([snap('s', 'web', 'Pending')]));
    expect(errs).toEqual([
      { field: 'spec.snapshotName', type: 'FieldValueInvalid', value: 's', message: 'VirtualMachineSnapshot "s" is not Ready (phase Pending)' },
    ]);
  });
  it('refuses a snapshot of another VM', () => {
    const errs = restoreAdmissionErrors(restore('web', 's'), lookup([stopped]), lookup([snap('s', 'db', 'Ready')]));
    expect(errs).toEqual([
      { field: 'spec.snapshotName', type: 'FieldValueInvalid', value: 's', message: 'is a snapshot of VirtualMachine "db", not of "web"' },
    ]);
  });
  it('refuses a missing VM and a missing snapshot, both named', () => {
    const errs = restoreAdmissionErrors(restore('nope', 'gone'), lookup([stopped]), lookup([]));
    expect(errs.map((e) => [e.field, e.type])).toEqual([
      ['spec.virtualMachineName', 'FieldValueNotFound'],
      ['spec.snapshotName', 'FieldValueNotFound'],
    ]);
  });
});

describe('vmIsStopped / restoresBlockingDeletion', () => {
  it('only Stopped and shut off is stopped', () => {
    expect(vmIsStopped(stopped)).toBe(true);
    expect(vmIsStopped(running)).toBe(false);
    expect(vmIsStopped(vm('web', { phase: 'Stopping', powerState: 'running' }))).toBe(false);
  });
  it('unfinished restores of the VM block its deletion; finished ones and other VMs do not', () => {
    const active = restore('web', 's', 'InProgress');
    expect(restoresBlockingDeletion(stopped, [active, restore('web', 's', 'Succeeded'), restore('db', 's')])).toEqual([active]);
  });
});
