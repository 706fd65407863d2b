import { applyDefaults, defaulted } from './defaults.js';
import type { VirtualMachine } from './generated/types.js';
import { validate } from './validation.js';

const table: [string, string, unknown, unknown][] = [
  [
    'VM: runStrategy, cpu, paused and the VM-wide disk bus (list items are left as written)',
    'VirtualMachine',
    {
      kind: 'VirtualMachine',
      metadata: { name: 'a' },
      spec: { memory: '1Gi', disks: [{ name: 'd', storagePool: 'p', size: '1Gi' }], networks: [{ name: 'n' }] },
    },
    {
      kind: 'VirtualMachine',
      metadata: { name: 'a' },
      spec: {
        memory: '1Gi',
        runStrategy: 'Always',
        cpu: 1,
        paused: false,
        diskBus: 'virtio',
        disks: [{ name: 'd', storagePool: 'p', size: '1Gi' }],
        networks: [{ name: 'n' }],
      },
    },
  ],
  [
    'VM: explicit values are kept',
    'VirtualMachine',
    {
      metadata: { name: 'a' },
      spec: {
        memory: '1Gi',
        runStrategy: 'Halted',
        cpu: 4,
        paused: true,
        diskBus: 'scsi',
        disks: [{ name: 'd', storagePool: 'p', size: '1Gi', bus: 'sata' }],
        networks: [{ name: 'n', type: 'bridge', source: 'br0', model: 'e1000' }],
      },
    },
    {
      metadata: { name: 'a' },
      spec: {
        memory: '1Gi',
        runStrategy: 'Halted',
        cpu: 4,
        paused: true,
        diskBus: 'scsi',
        disks: [{ name: 'd', storagePool: 'p', size: '1Gi', bus: 'sata' }],
        networks: [{ name: 'n', type: 'bridge', source: 'br0', model: 'e1000' }],
      },
    },
  ],
  ['VM without spec: nothing invented', 'VirtualMachine', { metadata: { name: 'a' } }, { metadata: { name: 'a' } }],
  ['VM with wrong types: left for validation', 'VirtualMachine', { metadata: { name: 'a' }, spec: 'x' }, { metadata: { name: 'a' }, spec: 'x' }],
  ['Node: unschedulable false', 'Node', { metadata: { name: 'h' }, spec: {} }, { metadata: { name: 'h' }, spec: { unschedulable: false } }],
  [
    'StoragePool: no defaults, unknown fields kept',
    'StoragePool',
    { metadata: { name: 'p' }, spec: { type: 'dir', dir: { path: '/p' }, x: 1 } },
    { metadata: { name: 'p' }, spec: { type: 'dir', dir: { path: '/p' }, x: 1 } },
  ],
];

describe('applyDefaults', () => {
  test.each(table)('%s', (_name, kind, input, expected) => {
    const before = JSON.stringify(input);
    expect(applyDefaults(kind, input)).toEqual(expected);
    expect(JSON.stringify(input)).toBe(before);
  });

  test('defaulted objects still validate and defaulting is idempotent', () => {
    const vm = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'a' },
      spec: { memory: '256Mi', disks: [{ name: 'd', storagePool: 'p', size: '1Gi' }] },
    } as VirtualMachine;
    const once = defaulted(vm);
    expect(validate('VirtualMachine', once)).toEqual([]);
    expect(defaulted(once)).toEqual(once);
    expect(once.spec.diskBus).toBe('virtio');
  });

  test('defaults are copies, not shared', () => {
    const a = applyDefaults('VirtualMachine', { metadata: {}, spec: { memory: '1Gi' } }) as VirtualMachine;
    const b = applyDefaults('VirtualMachine', { metadata: {}, spec: { memory: '1Gi' } }) as VirtualMachine;
    expect(a.spec).not.toBe(b.spec);
  });
});
