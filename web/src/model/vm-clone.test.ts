import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { cloneOption, defaultCloneName } from './vm-clone.js';

const vm = (status: VirtualMachine['status']): VirtualMachine => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'web', namespace: 'default', uid: '6f1c2a8e-0000-4000-8000-00000000000a' },
  spec: { memory: '1Gi', nodeName: 'n1' },
  status,
});

describe('Clone action', () => {
  it('offered for a shut-off VM, disabled with the reason otherwise', () => {
    expect(cloneOption(vm({ phase: 'Stopped', powerState: 'shutoff' }))).toMatchObject({ enabled: true });
    expect(cloneOption(vm({ phase: 'Running', powerState: 'running' }))).toEqual({
      enabled: false,
      title: 'virtual machine "web" is not stopped (running): stop it first (qxctl vm stop web); its disks are copied while it is shut off',
    });
  });

  it('proposes NAME-clone, within 63 characters', () => {
    expect(defaultCloneName('web')).toBe('web-clone');
    const long = defaultCloneName(`${'a'.repeat(56)}-bbbbbbb`);
    expect(long).toBe(`${'a'.repeat(56)}-clone`);
    expect(long.length).toBeLessThanOrEqual(63);
  });
});
