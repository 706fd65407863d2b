import type { Image } from '../../../api-types/generated/types.js';
import { emptyForm, inputForField, localErrors, sshKeyLines, vmFromForm } from './vm-form.js';

const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0b3RzYWZlc29tZXRoaW5nMTIzNDU2Nzg5MA me@laptop';

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
    ['spec.disks[0].image', 'image'],
    ['spec.disks[0].imageClone', 'image'],
    ['spec.cloudInit.sshAuthorizedKeys[1]', 'sshKeys'],
    ['spec.networks[0].portForwards[0].hostPort', 'sshHostPort'],
    ['spec.networks[0].name', 'network'],
  ])('maps server field %s to input %s', (field, want) => {
    expect(inputForField(field)).toBe(want);
  });

  it('flags what the server would refuse', () => {
    const errors = localErrors({ ...emptyForm(), cpu: '0', memory: '2GB', disks: [{ name: 'root', storagePool: '', size: 'x' }] });
    expect(Object.keys(errors).sort()).toEqual(['cpu', 'disks.0.size', 'disks.0.storagePool', 'memory', 'name']);
  });

  it('boots the first disk from an image, with SSH keys and a port forward to 22', () => {
    const f = {
      ...emptyForm(),
      name: 'web-1',
      image: 'debian-12',
      sshKeys: `${KEY}\n\n# a comment\n  ${KEY}  \n`,
      network: 'user' as const,
      sshHostPort: '2222',
      disks: [
        { name: 'root', storagePool: 'fast', size: '20Gi' },
        { name: 'data', storagePool: 'fast', size: '5Gi' },
      ],
    };
    const spec = vmFromForm(f).spec;
    expect(spec.disks).toEqual([
      { name: 'root', storagePool: 'fast', size: '20Gi', bootOrder: 1, image: 'debian-12' },
      { name: 'data', storagePool: 'fast', size: '5Gi' },
    ]);
    expect(spec.cloudInit).toEqual({ sshAuthorizedKeys: [KEY, KEY] });
    expect(spec.networks).toEqual([{ name: 'default', type: 'user', portForwards: [{ guestPort: 22, hostPort: 2222 }] }]);
    expect(vmFromForm({ ...f, sshHostPort: '' }).spec.networks).toEqual([{ name: 'default', type: 'user' }]);
    expect(sshKeyLines('# only a comment\n\n')).toEqual([]);
  });

  it('wants the boot disk at least as large as its image, keys that look like keys, and a real port', () => {
    const img: Image = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Image',
      metadata: { name: 'big' },
      spec: { source: { url: 'https://e.org/big.qcow2' } },
      status: { phase: 'Ready', virtualSizeBytes: 20 * 1024 ** 3 },
    };
    const f = { ...emptyForm(), name: 'x', image: 'big', disks: [{ name: 'root', storagePool: 'fast', size: '10Gi' }] };
    expect(localErrors(f, [img])['disks.0.size']).toBe("At least 20Gi: the image's virtual size");
    expect(localErrors({ ...f, disks: [{ name: 'root', storagePool: 'fast', size: '20Gi' }] }, [img])).toEqual({});
    expect(localErrors({ ...f, image: '', sshKeys: 'ssh-rsa' }).sshKeys).toMatch(/Not an OpenSSH public key line: ssh-rsa/);
    expect(localErrors({ ...f, image: '', sshKeys: KEY })).toEqual({});
    expect(localErrors({ ...f, image: '', network: 'user', sshHostPort: '70000' }).sshHostPort).toMatch(/1 to 65535/);
  });
});
