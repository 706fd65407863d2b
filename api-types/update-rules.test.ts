/** The per-kind update rules and server-set fields: spec.nodeName immutable, the VM cleanup finalizer, pool usage. */
import { CLEANUP_FINALIZER, POOL_IN_USE_FINALIZER } from './finalizers.js';
import type { StoragePool, VirtualMachine } from './generated/types.js';
import { poolAssignedTo, poolUnassignmentErrors, vmsUsingPool } from './pool-usage.js';
import { virtualMachineDefinition } from './registry.js';

const vm = (
  name: string,
  o: { nodeName?: string; statusNode?: string; pools?: string[]; volumesIn?: string[]; deleting?: boolean; finalizers?: string[] } = {},
) =>
  ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      namespace: 'default',
      ...(o.finalizers ? { finalizers: o.finalizers } : {}),
      ...(o.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z' } : {}),
    },
    spec: {
      memory: '512Mi',
      disks: (o.pools ?? []).map((p, i) => ({ name: `d${i}`, storagePool: p, size: '1Gi' })),
      ...(o.nodeName !== undefined ? { nodeName: o.nodeName } : {}),
    },
    status: { ...(o.statusNode ? { nodeName: o.statusNode } : {}), ...(o.volumesIn ? { volumes: o.volumesIn.map((pool) => ({ name: 'x', pool })) } : {}) },
  }) as VirtualMachine;

const pool = (assignedNodes: string[]) =>
  ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name: 'fast' },
    spec: { type: 'dir', dir: { path: '/p' }, assignedNodes },
  }) as StoragePool;

const lines = (errs: { field: string; type: string; message: string }[]) => errs.map((e) => `${e.field} ${e.type} ${e.message}`);

describe('VirtualMachine validateUpdate: spec.nodeName is immutable once set', () => {
  const validateUpdate = virtualMachineDefinition.validateUpdate!;
  it.each([
    ['set when empty (bind, pin)', vm('a', { nodeName: 'n1' }), vm('a'), []],
    ['unchanged', vm('a', { nodeName: 'n1' }), vm('a', { nodeName: 'n1' }), []],
    ['unbound stays unbound', vm('a'), vm('a'), []],
    [
      'changed to another node',
      vm('a', { nodeName: 'n2' }),
      vm('a', { nodeName: 'n1' }),
      ['spec.nodeName FieldValueInvalid spec.nodeName is immutable once set; moving a VM is an explicit operation (bound to "n1")'],
    ],
    [
      'cleared',
      vm('a'),
      vm('a', { nodeName: 'n1' }),
      ['spec.nodeName FieldValueInvalid spec.nodeName is immutable once set; moving a VM is an explicit operation (bound to "n1")'],
    ],
    [
      'set to empty string',
      vm('a', { nodeName: '' }),
      vm('a', { nodeName: 'n1' }),
      ['spec.nodeName FieldValueInvalid spec.nodeName is immutable once set; moving a VM is an explicit operation (bound to "n1")'],
    ],
    [
      'set on a VM being deleted',
      vm('a', { nodeName: 'n1' }),
      vm('a', { deleting: true }),
      ['spec.nodeName FieldValueForbidden Forbidden: may not be set on a VM being deleted'],
    ],
  ])('%s', (_name, next, old, want) => {
    expect(lines(validateUpdate(next, old))).toEqual(want);
  });

  const recovering = (from: string, phase: 'Pending' | 'Unknown' = 'Pending', deleting = false): VirtualMachine => {
    const v = vm('a', { nodeName: 'n1', deleting });
    return { ...v, status: { ...v.status, phase, recovery: { recoveredFrom: from, count: 1, lastRecoveryTime: '2026-01-01T00:00:00Z' } } };
  };
  const immutable = ['spec.nodeName FieldValueInvalid spec.nodeName is immutable once set; moving a VM is an explicit operation (bound to "n1")'];
  it.each([
    ['cleared after the recovery from the bound node was recorded', vm('a'), recovering('n1'), []],
    ['recorded recovery, but moved to another node (only the scheduler binds again)', vm('a', { nodeName: 'n2' }), recovering('n1'), immutable],
    ['recovery recorded from another node', vm('a'), recovering('n0'), immutable],
    ['recovery not waiting (phase Unknown)', vm('a'), recovering('n1', 'Unknown'), immutable],
    ['recovery of a VM being deleted', vm('a', { deleting: true }), recovering('n1', 'Pending', true), immutable],
  ])('recovery unbind: %s', (_name, next, old, want) => {
    expect(lines(validateUpdate(next, old))).toEqual(want);
  });
});

describe('VirtualMachine prepareWrite: the cleanup finalizer on every bound VM', () => {
  const prepareWrite = virtualMachineDefinition.prepareWrite!;
  it.each([
    ['pinned at create', vm('a', { nodeName: 'n1' }), undefined, [CLEANUP_FINALIZER]],
    ['unbound at create: none (the bind adds it)', vm('a'), undefined, undefined],
    ['pinned after create', vm('a', { nodeName: 'n1' }), vm('a'), [CLEANUP_FINALIZER]],
    ['kept beside others, not doubled', vm('a', { nodeName: 'n1', finalizers: ['x.io/y', CLEANUP_FINALIZER] }), undefined, ['x.io/y', CLEANUP_FINALIZER]],
    ['appended after others', vm('a', { nodeName: 'n1', finalizers: ['x.io/y'] }), vm('a', { nodeName: 'n1' }), ['x.io/y', CLEANUP_FINALIZER]],
    ['not re-added while deleting', vm('a', { nodeName: 'n1' }), vm('a', { nodeName: 'n1', deleting: true }), undefined],
  ])('%s', (_name, next, old, want) => {
    const input = structuredClone(next);
    expect(prepareWrite(next, old).metadata.finalizers).toEqual(want);
    expect(next).toEqual(input); // never mutates
  });
});

describe('pool usage', () => {
  const vms = [
    vm('web', { nodeName: 'n1', pools: ['fast'] }),
    vm('db', { nodeName: 'n1', pools: ['slow', 'fast'] }),
    vm('other', { nodeName: 'n1', pools: ['slow'] }),
    vm('elsewhere', { nodeName: 'n2', pools: ['fast'] }),
    vm('leftover', { statusNode: 'n3', volumesIn: ['fast'] }),
    vm('unbound', { pools: ['fast'] }),
  ];

  it('lists the VMs whose disks or reported volumes use a pool', () => {
    expect(vmsUsingPool('fast', vms)).toEqual(['default/db', 'default/elsewhere', 'default/leftover', 'default/unbound', 'default/web']);
    expect(vmsUsingPool('none', vms)).toEqual([]);
  });

  it.each([
    ['adding a node', ['n1', 'n2', 'n3', 'n4'], []],
    ['removing a node no VM there uses', ['n1', 'n2', 'n3'], []],
    [
      'removing a node whose VMs use the pool: names them',
      ['n2', 'n3', 'n4'],
      [
        'spec.assignedNodes FieldValueForbidden Forbidden: node "n1" cannot be removed: 2 VMs on it use pool "fast": default/db, default/web; delete them or remove their disks from the pool first',
      ],
    ],
    [
      'removing several: one error per node (status.nodeName counts)',
      ['n1', 'n4'],
      [
        'spec.assignedNodes FieldValueForbidden Forbidden: node "n2" cannot be removed: a VM on it uses pool "fast": default/elsewhere; delete them or remove their disks from the pool first',
        'spec.assignedNodes FieldValueForbidden Forbidden: node "n3" cannot be removed: a VM on it uses pool "fast": default/leftover; delete them or remove their disks from the pool first',
      ],
    ],
  ])('%s', (_name, assigned, want) => {
    expect(lines(poolUnassignmentErrors(pool(assigned), pool(['n1', 'n2', 'n3', 'n4']), vms))).toEqual(want);
  });

  it('names at most 10 VMs per node and counts the rest', () => {
    const many = Array.from({ length: 13 }, (_, i) => vm(`vm-${String(i).padStart(2, '0')}`, { nodeName: 'n1', pools: ['fast'] }));
    const [err] = poolUnassignmentErrors(pool([]), pool(['n1']), many);
    expect(err!.message).toContain('13 VMs on it use pool "fast": default/vm-00, default/vm-01');
    expect(err!.message).toContain('default/vm-09 and 3 more;');
  });
});

describe('poolAssignedTo: a pool VMs use stays on its hosts while it is being deleted', () => {
  const pool = (over: Partial<StoragePool['metadata']> = {}): StoragePool => ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name: 'p', ...over },
    spec: { type: 'dir', dir: { path: '/srv/p' }, assignedNodes: ['n1'] },
  });
  it.each([
    ['assigned, live', pool(), 'n1', true],
    ['not assigned to this node', pool(), 'n2', false],
    ['being deleted, no VM uses it', pool({ deletionTimestamp: '2026-01-01T00:00:00Z' }), 'n1', false],
    ['being deleted while VMs use it (pool-in-use)', pool({ deletionTimestamp: '2026-01-01T00:00:00Z', finalizers: [POOL_IN_USE_FINALIZER] }), 'n1', true],
  ])('%s', (_name, p, node, wanted) => {
    expect(poolAssignedTo(p, node)).toBe(wanted);
  });
});
