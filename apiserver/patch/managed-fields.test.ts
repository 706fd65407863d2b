import type { KubeObject, ManagedFieldsEntry } from '../../api-types/meta.js';
import { decodeManagedFields, describeManager, encodeManagedFields, recordUpdate, withManagedFields } from './managed-fields.js';
import { API_VERSION, T1, T2, T3, vm, vmSchema } from './testdata.js';

const entry = (manager: string, fieldsV1: Record<string, unknown>, time = '2025-01-01T09:00:00Z', extra: Partial<ManagedFieldsEntry> = {}): ManagedFieldsEntry => ({
  manager, operation: 'Update', apiVersion: API_VERSION, time, fieldsType: 'FieldsV1', fieldsV1, ...extra,
});

/** `obj` with the given managedFields. */
const owned = (obj: KubeObject, managedFields: ManagedFieldsEntry[]): KubeObject => ({ ...obj, metadata: { ...obj.metadata, managedFields } });

describe('recordUpdate', () => {
  const spec = { cpu: 2, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] };
  const creator = entry('kubectl-create', {
    'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
  });

  const cases: [name: string, old: KubeObject | undefined, next: KubeObject, manager: string, subresource: 'status' | undefined, expected: ManagedFieldsEntry[]][] = [
    ['create: everything the object sets, new containers owned as "."', undefined,
      vm(spec, { metadata: { name: 'web', labels: { app: 'web' }, uid: 'u' } }), 'kubectl-create', undefined,
      [entry('kubectl-create', {
        'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
        'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
      }, '2025-01-01T10:00:00Z')]],
    ['a changed field moves to the writer', owned(vm(spec), [creator]), vm({ ...spec, cpu: 4 }), 'kubectl-edit', undefined,
      [
        entry('kubectl-create', { 'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} } }),
        entry('kubectl-edit', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T10:00:00Z'),
      ]],
    ['a list-map item field moves alone', owned(vm(spec), [creator]), vm({ ...spec, disks: [{ name: 'root', size: '20Gi' }] }), 'resizer', undefined,
      [
        entry('kubectl-create', { 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {} } }, 'f:memory': {} } }),
        entry('resizer', { 'f:spec': { 'f:disks': { 'k:{"name":"root"}': { 'f:size': {} } } } }, '2025-01-01T10:00:00Z'),
      ]],
    ['an added item is owned as a whole by the writer', owned(vm(spec), [creator]),
      vm({ ...spec, disks: [...spec.disks, { name: 'data', size: '1Gi' }] }), 'kubectl-edit', undefined,
      [creator, entry('kubectl-edit', { 'f:spec': { 'f:disks': { 'k:{"name":"data"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } }, '2025-01-01T10:00:00Z')]],
    ['a removed field leaves every manager; the writer gets no entry', owned(vm(spec), [creator]),
      vm({ cpu: 2, disks: spec.disks }), 'kubectl-edit', undefined,
      [entry('kubectl-create', { 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } })]],
    ['an entry left empty is dropped',
      owned(vm(spec), [creator, entry('cpu-bot', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T09:30:00Z')]),
      vm({ ...spec, cpu: 8 }), 'kubectl-edit', undefined,
      [
        entry('kubectl-create', { 'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} } }),
        entry('kubectl-edit', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T10:00:00Z'),
      ]],
    ['the same manager accumulates, its time moves, shared fields stay shared',
      owned(vm(spec), [creator, entry('kubectl-edit', { 'f:spec': { 'f:memory': {} } })]),
      vm({ ...spec, cpu: 8 }), 'kubectl-edit', undefined,
      [
        entry('kubectl-create', { 'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} } }),
        entry('kubectl-edit', { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } }, '2025-01-01T10:00:00Z'),
      ]],
    ['Apply owners lose fields to an update too',
      owned(vm(spec), [entry('kubectl', { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } }, '2025-01-01T08:00:00Z', { operation: 'Apply' })]),
      vm({ ...spec, cpu: 3 }), 'autoscaler', undefined,
      [
        entry('kubectl', { 'f:spec': { 'f:memory': {} } }, '2025-01-01T08:00:00Z', { operation: 'Apply' }),
        entry('autoscaler', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T10:00:00Z'),
      ]],
    ['labels are tracked, other metadata is not',
      owned(vm(spec, { metadata: { name: 'web', resourceVersion: '1', generation: 1 } }), [creator]),
      vm(spec, { metadata: { name: 'web', resourceVersion: '2', generation: 2, labels: { env: 'prod' }, annotations: { a: 'b' } } }),
      'labeler', undefined,
      [creator, entry('labeler', { 'f:metadata': { 'f:annotations': { '.': {}, 'f:a': {} }, 'f:labels': { '.': {}, 'f:env': {} } } }, '2025-01-01T10:00:00Z')]],
    ['main resource: status changes are not tracked (no-op keeps managedFields as they were)',
      owned(vm(spec, { status: { phase: 'Pending' } }), [creator]), vm(spec, { status: { phase: 'Running' } }), 'someone', undefined,
      [creator]],
    ['status subresource: only status, entry marked subresource',
      owned(vm(spec, { status: { phase: 'Pending' } }), [creator]),
      vm({ ...spec, cpu: 99 }, { status: { phase: 'Running', nodeName: 'n1' } }), 'quantix-agent', 'status',
      [creator, entry('quantix-agent', { 'f:status': { 'f:nodeName': {}, 'f:phase': {} } }, '2025-01-01T10:00:00Z', { subresource: 'status' })]],
    ['status subresource: first status write owns status as "."',
      owned(vm(spec), [creator]), vm(spec, { status: { phase: 'Pending' } }), 'quantix-agent', 'status',
      [creator, entry('quantix-agent', { 'f:status': { '.': {}, 'f:phase': {} } }, '2025-01-01T10:00:00Z', { subresource: 'status' })]],
    ['status subresource and main resource entries of one manager are distinct',
      owned(vm(spec, { status: { phase: 'Pending' } }), [creator, entry('ctl', { 'f:spec': { 'f:memory': {} } })]),
      vm(spec, { status: { phase: 'Running' } }), 'ctl', 'status',
      [entry('ctl', { 'f:spec': { 'f:memory': {} } }), creator, entry('ctl', { 'f:status': { 'f:phase': {} } }, '2025-01-01T10:00:00Z', { subresource: 'status' })]],
    ['the atomic list changes as one field', owned(vm({ networks: [{ name: 'a' }] }), [entry('a', { 'f:spec': { 'f:networks': {} } })]),
      vm({ networks: [{ name: 'a' }, { name: 'b' }] }), 'b', undefined,
      [entry('b', { 'f:spec': { 'f:networks': {} } }, '2025-01-01T10:00:00Z')]],
  ];

  test.each(cases)('%s', (_name, old, next, manager, subresource, expected) => {
    const oldBefore = JSON.stringify(old);
    const nextBefore = JSON.stringify(next);
    const got = recordUpdate(old, next, manager, subresource, { schema: vmSchema, now: T1 });
    expect(got).toEqual(expected);
    expect(JSON.stringify(got)).toBe(JSON.stringify(expected)); // order and key order too
    expect(JSON.stringify(old)).toBe(oldBefore);
    expect(JSON.stringify(next)).toBe(nextBefore);
  });

  test('a no-op write returns the old managedFields untouched (nothing to bump)', () => {
    const old = owned(vm(spec), [creator]);
    const got = recordUpdate(old, vm(spec, { metadata: { name: 'web', resourceVersion: '9' } }), 'kubectl-edit', undefined, { schema: vmSchema, now: T2 });
    expect(got).toEqual([creator]);
    expect(got).not.toBe(old.metadata.managedFields);
  });

  test('an object without managedFields stays without them after a no-op', () => {
    const old = vm(spec);
    const got = recordUpdate(old, vm(spec), 'kubectl-edit', undefined, { schema: vmSchema, now: T2 });
    expect(got).toEqual([]);
    expect(withManagedFields(vm(spec), got)).toEqual(old);
    expect('managedFields' in withManagedFields(vm(spec), got).metadata).toBe(false);
    expect(withManagedFields(vm(spec), [creator]).metadata.managedFields).toEqual([creator]);
  });

  test('without a schema lists are atomic', () => {
    const got = recordUpdate(undefined, vm(spec), 'm', undefined, { now: T1 });
    expect(got[0]!.fieldsV1).toEqual({ 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': {}, 'f:memory': {} } });
  });

  test('time defaults to now, second precision', () => {
    const [e] = recordUpdate(undefined, vm(spec), 'm');
    expect(e!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Math.abs(Date.parse(e!.time!) - Date.now())).toBeLessThan(5_000);
  });
});

describe('managedFields codec', () => {
  test('decoding drops what it cannot read and merges duplicates', () => {
    const decoded = decodeManagedFields([
      entry('a', { 'f:spec': { 'f:cpu': {} } }),
      entry('a', { 'f:spec': { 'f:memory': {} } }),
      { manager: 'bad-fields', operation: 'Update', fieldsType: 'FieldsV1', fieldsV1: { nope: {} } },
      { manager: 'bad-op', operation: 'Patch', fieldsV1: {} },
      { manager: 'other-type', operation: 'Update', fieldsType: 'FieldsV2', fieldsV1: {} },
      'junk',
    ]);
    expect(decoded.map((m) => [m.manager, m.fields.toFieldsV1()])).toEqual([['a', { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } }]]);
  });

  test('encoding sorts Apply first, then by time, manager, apiVersion, subresource', () => {
    const m = (manager: string, operation: 'Apply' | 'Update', time: string, subresource?: string) =>
      ({ manager, operation, apiVersion: API_VERSION, time, ...(subresource ? { subresource } : {}), fields: decodeManagedFields([entry('x', { 'f:a': {} })])[0]!.fields });
    const encoded = encodeManagedFields([
      m('z', 'Update', T1.toISOString()), m('b', 'Update', T3.toISOString()), m('a', 'Update', T3.toISOString(), 'status'),
      m('a', 'Update', T3.toISOString()), m('y', 'Apply', T3.toISOString()), m('x', 'Apply', T2.toISOString()),
    ]);
    expect(encoded.map((e) => `${e.operation} ${e.manager} ${e.subresource ?? ''}`.trim())).toEqual([
      'Apply x', 'Apply y', 'Update z', 'Update a', 'Update a status', 'Update b',
    ]);
  });

  test.each([
    [{ manager: 'kubectl', operation: 'Apply' as const, apiVersion: API_VERSION }, '"kubectl"'],
    [{ manager: 'kubectl-client-side-apply', operation: 'Update' as const, apiVersion: API_VERSION }, '"kubectl-client-side-apply" using quantix.io/v1alpha1'],
    [{ manager: 'agent', operation: 'Update' as const, apiVersion: API_VERSION, subresource: 'status' }, '"agent" with subresource "status" using quantix.io/v1alpha1'],
    [{ manager: 'ctl', operation: 'Apply' as const, apiVersion: API_VERSION, subresource: 'status' }, '"ctl" with subresource "status"'],
  ])('describeManager(%j) = %s', (m, text) => {
    expect(describeManager(m)).toBe(text);
  });
});
