/** The VM a clone request creates, and when a source cannot be cloned (pure). */
import type { VirtualMachine } from './generated/types.js';
import { cloneRefusal, clonedVirtualMachine } from './vm-clone.js';

const SRC_UID = '6f1c2a8e-0000-4000-8000-00000000000a';

function source(over: Partial<VirtualMachine['spec']> = {}, status: VirtualMachine['status'] = { phase: 'Stopped', powerState: 'shutoff' }): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name: 'web',
      namespace: 'prod',
      uid: SRC_UID,
      resourceVersion: '42',
      labels: { app: 'web' },
      annotations: { 'quantix.io/restart-requested-at': '2026-01-01T00:00:00Z' },
      finalizers: ['quantix.io/vm-cleanup'],
    },
    spec: {
      memory: '512Mi',
      cpu: 2,
      runStrategy: 'Halted',
      nodeName: 'n1',
      paused: false,
      disks: [
        { name: 'root', storagePool: 'local', size: '4Gi', image: 'debian-12', imageClone: 'Overlay', bootOrder: 1 },
        { name: 'data', storagePool: 'fast', size: '1Gi', bus: 'sata' },
      ],
      networks: [
        { name: 'eth0', type: 'user', macAddress: '52:54:00:aa:bb:cc', portForwards: [{ guestPort: 22, hostPort: 2222 }] },
        { name: 'lan', type: 'network', source: 'lan', model: 'e1000' },
      ],
      cloudInit: { hostname: 'web-host', userData: '#cloud-config\n', sshAuthorizedKeys: ['ssh-ed25519 AAAA k'] },
      ...over,
    },
    status,
  };
}

describe('clonedVirtualMachine', () => {
  it('copies the spec onto the same node; disks start from the source disks; MACs, forwards and the host name are its own', () => {
    const clone = clonedVirtualMachine(source(), 'web-2');
    expect(clone).toEqual({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'web-2', namespace: 'prod', labels: { app: 'web' } },
      spec: {
        memory: '512Mi',
        cpu: 2,
        runStrategy: 'Halted',
        nodeName: 'n1',
        disks: [
          { name: 'root', storagePool: 'local', size: '4Gi', bootOrder: 1, cloneFrom: { virtualMachine: 'web', uid: SRC_UID, disk: 'root' } },
          { name: 'data', storagePool: 'fast', size: '1Gi', bus: 'sata', cloneFrom: { virtualMachine: 'web', uid: SRC_UID, disk: 'data' } },
        ],
        networks: [
          { name: 'eth0', type: 'user' },
          { name: 'lan', type: 'network', source: 'lan', model: 'e1000' },
        ],
        cloudInit: { userData: '#cloud-config\n', sshAuthorizedKeys: ['ssh-ed25519 AAAA k'] },
      },
    });
  });

  it('a source that booted from an Image without cloudInit: the clone gets a seed (new instance id, its name as host name)', () => {
    const clone = clonedVirtualMachine(source({ cloudInit: undefined }), 'web-2');
    expect(clone.spec.cloudInit).toEqual({});
  });

  it('a source without a seed (no cloudInit, no Image) gets none; no disks, no disks', () => {
    const clone = clonedVirtualMachine(source({ cloudInit: undefined, disks: undefined, networks: undefined }), 'bare');
    expect(clone.spec.cloudInit).toBeUndefined();
    expect(clone.spec.disks).toBeUndefined();
    expect(clone.spec.networks).toBeUndefined();
  });

  it('leaves the source object untouched', () => {
    const src = source();
    const before = structuredClone(src);
    clonedVirtualMachine(src, 'web-2');
    expect(src).toEqual(before);
  });
});

describe('cloneRefusal', () => {
  it('a shut-off source can be cloned', () => {
    expect(cloneRefusal(source())).toBeUndefined();
  });

  it.each<[string, VirtualMachine, RegExp]>([
    ['running', source({}, { phase: 'Running', powerState: 'running' }), /is not stopped \(running\): stop it first \(qxctl vm stop web\)/],
    ['paused', source({}, { phase: 'Paused', powerState: 'paused' }), /is not stopped \(paused\)/],
    ['never started', source({}, { phase: 'Scheduled' }), /is not stopped \(Scheduled\)/],
    ['not bound', source({ nodeName: undefined }, {}), /not bound to a node yet: it has no volumes to copy/],
    ['host-discovered', source({}, { origin: 'host-discovered', managed: false, powerState: 'shutoff' }), /not managed by Quantix/],
    ['being deleted', { ...source(), metadata: { ...source().metadata, deletionTimestamp: '2026-01-01T00:00:00Z' } }, /is being deleted/],
  ])('%s: refused with the reason', (_name, vm, message) => {
    expect(cloneRefusal(vm)).toMatch(message);
  });
});
