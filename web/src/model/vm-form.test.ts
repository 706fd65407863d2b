import { emptyForm, inputForField, localErrors, vmFromForm } from './vm-form.js';

describe('VM create form', () => {
  it('builds a VirtualMachine, pinning only when a node is chosen', () => {
    const f = { ...emptyForm(), name: ' web-1 ', disks: [{ name: 'root', storagePool: 'fast', size: '20Gi' }] };
    expect(vmFromForm(f)).toEqual({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'web-1', namespace: 'default' },
      spec: { runStrategy: 'Always', cpu: 1, memory: '1Gi', disks: [{ name: 'root', storagePool: 'fast', size: '20Gi', bootOrder: 1 }] },
    });
    expect(vmFromForm({ ...f, nodeName: 'n1' }).spec.nodeName).toBe('n1');
  });

  it.each([
    ['spec.memory', 'memory'],
    ['spec.disks[1].size', 'disks.1.size'],
    ['spec.disks[0]', 'disks.0.name'],
    ['metadata.name', 'name'],
    ['spec.nodeSelector', 'form'],
  ])('maps server field %s to input %s', (field, want) => {
    expect(inputForField(field)).toBe(want);
  });

  it('flags what the server would refuse', () => {
    const errors = localErrors({ ...emptyForm(), cpu: '0', memory: '2GB', disks: [{ name: 'root', storagePool: '', size: 'x' }] });
    expect(Object.keys(errors).sort()).toEqual(['cpu', 'disks.0.size', 'disks.0.storagePool', 'memory', 'name']);
  });
});
