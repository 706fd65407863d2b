import type { KubeObject, ManagedFieldsEntry } from '../../api-types/meta.js';
import { isoSeconds } from '../../lib/apimachinery/time.js';
import { decodeManagedFields, describeManager, encodeManagedFields, recordUpdate, setManagedFields } from './managed-fields.js';
import { recordUpdateGeneral } from './managed-fields.reference.test-support.js';
import type { StructuralSchema } from './schema.js';
import { apply } from './server-side-apply.js';
import { API_VERSION, T1, T2, T3, vm, vmSchema } from './testdata.js';

const entry = (
  manager: string,
  fieldsV1: Record<string, unknown>,
  time = '2025-01-01T09:00:00Z',
  extra: Partial<ManagedFieldsEntry> = {},
): ManagedFieldsEntry => ({
  manager,
  operation: 'Update',
  apiVersion: API_VERSION,
  time,
  fieldsType: 'FieldsV1',
  fieldsV1,
  ...extra,
});

/** `obj` with the given managedFields. */
const owned = (obj: KubeObject, managedFields: ManagedFieldsEntry[]): KubeObject => ({ ...obj, metadata: { ...obj.metadata, managedFields } });

describe('recordUpdate', () => {
  const spec = { cpu: 2, memory: '1Gi', disks: [{ name: 'root', size: '10Gi' }] };
  const creator = entry('kubectl-create', {
    'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
  });

  const cases: [
    name: string,
    old: KubeObject | undefined,
    next: KubeObject,
    manager: string,
    subresource: 'status' | undefined,
    expected: ManagedFieldsEntry[],
  ][] = [
    [
      'create: everything the object sets, new containers owned as "."',
      undefined,
      vm(spec, { metadata: { name: 'web', labels: { app: 'web' }, uid: 'u' } }),
      'kubectl-create',
      undefined,
      [
        entry(
          'kubectl-create',
          {
            'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
            'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
          },
          '2025-01-01T10:00:00Z',
        ),
      ],
    ],
    [
      'a changed field moves to the writer',
      owned(vm(spec), [creator]),
      vm({ ...spec, cpu: 4 }),
      'kubectl-edit',
      undefined,
      [
        entry('kubectl-create', {
          'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
        }),
        entry('kubectl-edit', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T10:00:00Z'),
      ],
    ],
    [
      'a list-map item field moves alone',
      owned(vm(spec), [creator]),
      vm({ ...spec, disks: [{ name: 'root', size: '20Gi' }] }),
      'resizer',
      undefined,
      [
        entry('kubectl-create', { 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {} } }, 'f:memory': {} } }),
        entry('resizer', { 'f:spec': { 'f:disks': { 'k:{"name":"root"}': { 'f:size': {} } } } }, '2025-01-01T10:00:00Z'),
      ],
    ],
    [
      'an added item is owned as a whole by the writer',
      owned(vm(spec), [creator]),
      vm({ ...spec, disks: [...spec.disks, { name: 'data', size: '1Gi' }] }),
      'kubectl-edit',
      undefined,
      [creator, entry('kubectl-edit', { 'f:spec': { 'f:disks': { 'k:{"name":"data"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } }, '2025-01-01T10:00:00Z')],
    ],
    [
      'a removed field leaves every manager; the writer gets no entry',
      owned(vm(spec), [creator]),
      vm({ cpu: 2, disks: spec.disks }),
      'kubectl-edit',
      undefined,
      [entry('kubectl-create', { 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } })],
    ],
    [
      'an entry left empty is dropped',
      owned(vm(spec), [creator, entry('cpu-bot', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T09:30:00Z')]),
      vm({ ...spec, cpu: 8 }),
      'kubectl-edit',
      undefined,
      [
        entry('kubectl-create', {
          'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
        }),
        entry('kubectl-edit', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T10:00:00Z'),
      ],
    ],
    [
      'the same manager accumulates, its time moves, shared fields stay shared',
      owned(vm(spec), [creator, entry('kubectl-edit', { 'f:spec': { 'f:memory': {} } })]),
      vm({ ...spec, cpu: 8 }),
      'kubectl-edit',
      undefined,
      [
        entry('kubectl-create', {
          'f:spec': { '.': {}, 'f:disks': { '.': {}, 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } }, 'f:memory': {} },
        }),
        entry('kubectl-edit', { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } }, '2025-01-01T10:00:00Z'),
      ],
    ],
    [
      'Apply owners lose fields to an update too',
      owned(vm(spec), [entry('kubectl', { 'f:spec': { 'f:cpu': {}, 'f:memory': {} } }, '2025-01-01T08:00:00Z', { operation: 'Apply' })]),
      vm({ ...spec, cpu: 3 }),
      'autoscaler',
      undefined,
      [
        entry('kubectl', { 'f:spec': { 'f:memory': {} } }, '2025-01-01T08:00:00Z', { operation: 'Apply' }),
        entry('autoscaler', { 'f:spec': { 'f:cpu': {} } }, '2025-01-01T10:00:00Z'),
      ],
    ],
    [
      'labels are tracked, other metadata is not',
      owned(vm(spec, { metadata: { name: 'web', resourceVersion: '1', generation: 1 } }), [creator]),
      vm(spec, { metadata: { name: 'web', resourceVersion: '2', generation: 2, labels: { env: 'prod' }, annotations: { a: 'b' } } }),
      'labeler',
      undefined,
      [creator, entry('labeler', { 'f:metadata': { 'f:annotations': { '.': {}, 'f:a': {} }, 'f:labels': { '.': {}, 'f:env': {} } } }, '2025-01-01T10:00:00Z')],
    ],
    [
      'main resource: status changes are not tracked (no-op keeps managedFields as they were)',
      owned(vm(spec, { status: { phase: 'Pending' } }), [creator]),
      vm(spec, { status: { phase: 'Running' } }),
      'someone',
      undefined,
      [creator],
    ],
    [
      'status subresource: only status, entry marked subresource',
      owned(vm(spec, { status: { phase: 'Pending' } }), [creator]),
      vm({ ...spec, cpu: 99 }, { status: { phase: 'Running', nodeName: 'n1' } }),
      'quantix-agent',
      'status',
      [creator, entry('quantix-agent', { 'f:status': { 'f:nodeName': {}, 'f:phase': {} } }, '2025-01-01T10:00:00Z', { subresource: 'status' })],
    ],
    [
      'status subresource: first status write owns status as "."',
      owned(vm(spec), [creator]),
      vm(spec, { status: { phase: 'Pending' } }),
      'quantix-agent',
      'status',
      [creator, entry('quantix-agent', { 'f:status': { '.': {}, 'f:phase': {} } }, '2025-01-01T10:00:00Z', { subresource: 'status' })],
    ],
    [
      'status subresource and main resource entries of one manager are distinct',
      owned(vm(spec, { status: { phase: 'Pending' } }), [creator, entry('ctl', { 'f:spec': { 'f:memory': {} } })]),
      vm(spec, { status: { phase: 'Running' } }),
      'ctl',
      'status',
      [
        entry('ctl', { 'f:spec': { 'f:memory': {} } }),
        creator,
        entry('ctl', { 'f:status': { 'f:phase': {} } }, '2025-01-01T10:00:00Z', { subresource: 'status' }),
      ],
    ],
    [
      'the atomic list changes as one field',
      owned(vm({ networks: [{ name: 'a' }] }), [entry('a', { 'f:spec': { 'f:networks': {} } })]),
      vm({ networks: [{ name: 'a' }, { name: 'b' }] }),
      'b',
      undefined,
      [entry('b', { 'f:spec': { 'f:networks': {} } }, '2025-01-01T10:00:00Z')],
    ],
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
    expect(setManagedFields(vm(spec), got)).toEqual(old);
    expect('managedFields' in setManagedFields(vm(spec), got).metadata).toBe(false);
    expect(setManagedFields(vm(spec), [creator]).metadata.managedFields).toEqual([creator]);
  });

  test('without a schema lists are atomic', () => {
    const got = recordUpdate(undefined, vm(spec), 'm', undefined, { now: T1 });
    expect(got[0]!.fieldsV1).toEqual({ 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': {}, 'f:memory': {} } });
  });

  test('time defaults to now, second precision', () => {
    const before = Math.floor(Date.now() / 1000) * 1000;
    const [e] = recordUpdate(undefined, vm(spec), 'm');
    const after = Date.now();
    expect(e!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    expect(Date.parse(e!.time!)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(e!.time!)).toBeLessThanOrEqual(after);
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
    const m = (manager: string, operation: 'Apply' | 'Update', time: string, subresource?: string) => ({
      manager,
      operation,
      apiVersion: API_VERSION,
      time,
      ...(subresource ? { subresource } : {}),
      fields: decodeManagedFields([entry('x', { 'f:a': {} })])[0]!.fields,
    });
    const encoded = encodeManagedFields([
      m('z', 'Update', T1.toISOString()),
      m('b', 'Update', T3.toISOString()),
      m('a', 'Update', T3.toISOString(), 'status'),
      m('a', 'Update', T3.toISOString()),
      m('y', 'Apply', T3.toISOString()),
      m('x', 'Apply', T2.toISOString()),
    ]);
    expect(encoded.map((e) => `${e.operation} ${e.manager} ${e.subresource ?? ''}`.trim())).toEqual([
      'Apply x',
      'Apply y',
      'Update z',
      'Update a',
      'Update a status',
      'Update b',
    ]);
  });

  test.each([
    [{ manager: 'kubectl', operation: 'Apply' as const, apiVersion: API_VERSION }, '"kubectl"'],
    [{ manager: 'kubectl-client-side-apply', operation: 'Update' as const, apiVersion: API_VERSION }, '"kubectl-client-side-apply" using quantix.io/v1alpha1'],
    [
      { manager: 'agent', operation: 'Update' as const, apiVersion: API_VERSION, subresource: 'status' },
      '"agent" with subresource "status" using quantix.io/v1alpha1',
    ],
    [{ manager: 'ctl', operation: 'Apply' as const, apiVersion: API_VERSION, subresource: 'status' }, '"ctl" with subresource "status"'],
  ])('describeManager(%j) = %s', (m, text) => {
    expect(describeManager(m)).toBe(text);
  });
});

/**
 * `recordUpdate` takes shortcuts (a create encoded in one walk, entries left encoded when
 * a write does not touch them); `recordUpdateGeneral` is the plain algorithm. They must
 * agree byte for byte on every input, canonical stored managedFields or not.
 */
describe('recordUpdate equals the general algorithm', () => {
  const expectSameAsGeneral = (
    old: KubeObject | undefined,
    next: KubeObject,
    manager: string,
    subresource?: 'status',
    schema: StructuralSchema | undefined = vmSchema,
    now = T1,
  ) => {
    const fast = recordUpdate(old, next, manager, subresource, { schema, now });
    const general = recordUpdateGeneral(old, next, manager, subresource, { schema, now });
    // The same JSON text: equal values, entries in the same order, keys in the same order.
    expect(JSON.stringify(fast)).toBe(JSON.stringify(general));
    return general;
  };

  const spec = {
    cpu: 2,
    memory: '1Gi',
    runStrategy: 'Always',
    disks: [
      { name: 'root', size: '10Gi', storagePool: 'local' },
      { name: 'data', size: '1Gi', bus: 'scsi' },
    ],
    ports: [
      { protocol: 'TCP', port: 22, name: 'ssh' },
      { protocol: 'UDP', port: 53 },
    ],
    networks: [{ name: 'default' }],
    tags: ['b', 'a'],
    nodeSelector: { zone: 'a' },
    firmware: { type: 'efi', secureBoot: true },
  };
  const meta = {
    name: 'web',
    namespace: 'default',
    uid: 'u',
    resourceVersion: '7',
    generation: 3,
    labels: { app: 'web' },
    annotations: { note: 'x' },
    finalizers: ['quantix.io/volumes'],
    ownerReferences: [{ apiVersion: 'v1', kind: 'Thing', name: 'o', uid: 'o-1', controller: true }],
  };
  const status = {
    phase: 'Running',
    nodeName: 'n1',
    conditions: [{ type: 'Ready', status: 'True' }],
    hosts: { h1: { health: 'ok' } } as Record<string, { health: string }>,
  };
  const full = vm(spec, { metadata: meta, status });

  /** The object after `recordUpdateGeneral` recorded the write, as the server stores it. */
  const stored = (old: KubeObject | undefined, next: KubeObject, manager: string, subresource?: 'status', now = T1): KubeObject =>
    setManagedFields(next, recordUpdateGeneral(old, next, manager, subresource, { schema: vmSchema, now }));

  const created = stored(undefined, full, 'kubectl-create');
  const withStatus = stored(created, full, 'quantix-agent', 'status', T2);
  const applied = apply({
    live: withStatus,
    applied: { apiVersion: API_VERSION, kind: 'VirtualMachine', metadata: { name: 'web' }, spec: { cpu: 2, memory: '1Gi' } },
    manager: 'kubectl',
    schema: vmSchema,
    now: T2,
    force: true,
  }).object;

  const edit = (base: KubeObject, change: (o: KubeObject & { spec: typeof spec; status: typeof status }) => void): KubeObject => {
    const copy = structuredClone(base) as KubeObject & { spec: typeof spec; status: typeof status };
    change(copy);
    return copy;
  };

  test.each([
    ['create', undefined, full, undefined],
    ['create: status subresource', undefined, full, 'status'],
    ['create: nothing tracked', undefined, { apiVersion: API_VERSION, kind: 'VirtualMachine', metadata: { name: 'web' } } as KubeObject, undefined],
    [
      'create: empty and null values',
      undefined,
      vm({ nodeSelector: {}, memory: null, disks: [], tags: [] }, { metadata: { name: 'web', labels: {} } }),
      undefined,
    ],
    ['create: unkeyable list-map and duplicate set items are atomic', undefined, vm({ disks: [{ size: '1Gi' }], tags: ['a', 'a'] }), undefined],
    ['create: undeclared fields', undefined, vm({ cpu: 1, extra: { deep: { list: [1, 2] } } }, { other: { x: 1 } } as Partial<KubeObject>), undefined],
  ] as [string, KubeObject | undefined, KubeObject, 'status' | undefined][])('%s', (_name, old, next, subresource) => {
    expectSameAsGeneral(old, next, 'kubectl-create', subresource);
    expectSameAsGeneral(old, next, 'kubectl-create', subresource, undefined);
  });

  const changes: [string, (o: KubeObject & { spec: typeof spec; status: typeof status }) => void][] = [
    ['nothing', () => {}],
    [
      'untracked metadata and status only',
      (o) => {
        o.metadata.resourceVersion = '8';
        o.status.phase = 'Stopped';
      },
    ],
    [
      'a scalar',
      (o) => {
        o.spec.cpu = 4;
      },
    ],
    [
      'a scalar removed',
      (o) => {
        delete (o.spec as Partial<typeof spec>).memory;
      },
    ],
    [
      'a scalar becomes an object',
      (o) => {
        (o.spec as Record<string, unknown>).cpu = { cores: 2 };
      },
    ],
    [
      'an object becomes a scalar',
      (o) => {
        (o.spec as Record<string, unknown>).nodeSelector = 'zone=a';
      },
    ],
    [
      'null',
      (o) => {
        (o.spec as Record<string, unknown>).runStrategy = null;
      },
    ],
    [
      'a label added',
      (o) => {
        o.metadata.labels!.tier = 'db';
      },
    ],
    [
      'a label changed',
      (o) => {
        o.metadata.labels!.app = 'api';
      },
    ],
    [
      'labels removed',
      (o) => {
        delete o.metadata.labels;
      },
    ],
    [
      'labels emptied',
      (o) => {
        o.metadata.labels = {};
      },
    ],
    [
      'an annotation added',
      (o) => {
        o.metadata.annotations!.more = 'y';
      },
    ],
    [
      'a finalizer added',
      (o) => {
        o.metadata.finalizers!.push('x/y');
      },
    ],
    [
      'finalizers removed',
      (o) => {
        o.metadata.finalizers = [];
      },
    ],
    [
      'an owner reference changed',
      (o) => {
        o.metadata.ownerReferences![0]!.controller = false;
      },
    ],
    [
      'an owner reference added',
      (o) => {
        o.metadata.ownerReferences!.push({ apiVersion: 'v1', kind: 'K', name: 'p', uid: 'o-2' });
      },
    ],
    [
      'a list-map item added',
      (o) => {
        o.spec.disks.push({ name: 'logs', size: '5Gi', storagePool: 'local' });
      },
    ],
    [
      'a list-map item removed',
      (o) => {
        o.spec.disks.shift();
      },
    ],
    [
      'a list-map item changed',
      (o) => {
        o.spec.disks[1]!.size = '2Gi';
      },
    ],
    [
      'a list-map item field removed',
      (o) => {
        delete (o.spec.disks[1] as Partial<(typeof spec.disks)[1]>).bus;
      },
    ],
    [
      'list-map items reordered',
      (o) => {
        o.spec.disks.reverse();
      },
    ],
    [
      'a multi-key list-map item changed',
      (o) => {
        o.spec.ports[0]!.name = 'sshd';
      },
    ],
    [
      'a set item added and one removed',
      (o) => {
        o.spec.tags = ['a', 'c'];
      },
    ],
    [
      'an atomic list changed',
      (o) => {
        o.spec.networks.push({ name: 'b' });
      },
    ],
    [
      'an atomic map changed',
      (o) => {
        o.spec.firmware.secureBoot = false;
      },
    ],
    [
      'the spec removed',
      (o) => {
        delete (o as Partial<typeof o>).spec;
      },
    ],
    [
      'status: a condition changed',
      (o) => {
        o.status.conditions[0]!.status = 'False';
      },
    ],
    [
      'status: a condition added',
      (o) => {
        o.status.conditions.push({ type: 'Synced', status: 'True' });
      },
    ],
    [
      'status: a host added, one removed',
      (o) => {
        o.status.hosts = { h2: { health: 'bad' } };
      },
    ],
    [
      'status removed',
      (o) => {
        delete (o as Partial<typeof o>).status;
      },
    ],
  ];
  const bases: [string, KubeObject][] = [
    ['created', created],
    ['with status', withStatus],
    ['applied', applied],
  ];
  const writers: [string, 'status' | undefined][] = [
    ['kubectl-create', undefined],
    ['kubectl-edit', undefined],
    ['quantix-agent', 'status'],
    ['kubectl', undefined],
    ['quantix-agent', undefined],
  ];

  describe.each(bases)('from the %s object', (_base, base) => {
    test.each(changes)('%s', (_name, change) => {
      const next = edit(base, change);
      for (const [manager, subresource] of writers) {
        expectSameAsGeneral(base, next, manager, subresource, vmSchema, T3);
        expectSameAsGeneral(base, next, manager, subresource, undefined, T3);
      }
    });
  });

  test('a writer with another apiVersion is another manager', () => {
    const next = edit(created, (o) => {
      o.spec.cpu = 9;
      o.apiVersion = 'quantix.io/v1beta1';
    });
    expectSameAsGeneral(created, next, 'kubectl-create');
  });

  test('a writer that owns everything it changes keeps its fields, only its time moves', () => {
    const next = edit(withStatus, (o) => {
      o.status.phase = 'Stopped';
      o.status.nodeName = 'n2';
    });
    const general = expectSameAsGeneral(withStatus, next, 'quantix-agent', 'status', vmSchema, T3);
    expect(general.find((e) => e.manager === 'quantix-agent')!.time).toBe(isoSeconds(T3));
  });

  /** Stored managedFields not in the encoder's form: the fast path must not trust them. */
  const odd: [string, (entries: ManagedFieldsEntry[]) => unknown][] = [
    ['keys unsorted', (es) => es.map((e) => ({ ...e, fieldsV1: Object.fromEntries(Object.entries(e.fieldsV1!).reverse()) }))],
    ['entry keys in another order', (es) => es.map(({ fieldsV1, ...rest }) => ({ fieldsV1, ...rest }))],
    ['no fieldsType', (es) => es.map(({ fieldsType: _, ...rest }) => rest)],
    ['a duplicate manager', (es) => [...es, { ...es[0]!, fieldsV1: { 'f:spec': { 'f:extra': {} } } }]],
    ['an invalid entry', (es) => [...es, { manager: 'x', operation: 'Patch', fieldsV1: {} }, 'junk']],
    ['an undecodable entry', (es) => [...es, entry('broken', { nope: {} })]],
    ['an empty entry', (es) => [...es, entry('empty', {})]],
    ['a "." alone', (es) => [...es, entry('dot', { 'f:spec': { 'f:cpu': { '.': {} } } })]],
    ['a "." not first', (es) => [...es, entry('dot', { 'f:spec': { 'f:disks': { 'k:{"name":"root"}': {}, '.': {} } } })]],
    ['a "." with content', (es) => [...es, entry('dot', { 'f:spec': { 'f:disks': { '.': { 'f:x': {} }, 'k:{"name":"root"}': {} } } })]],
    ['a root "."', (es) => [...es, entry('root', { '.': {}, 'f:spec': { 'f:cpu': {} } })]],
    ['an empty time', (es) => es.map((e) => ({ ...e, time: '' }))],
    ['no time', (es) => es.map(({ time: _, ...rest }) => rest)],
    ['a time that is not a string', (es) => es.map((e) => ({ ...e, time: 5 }))],
    ['an empty subresource', (es) => es.map((e) => ({ ...e, subresource: '' }))],
    ['a subresource that is not a string', (es) => es.map((e) => ({ ...e, subresource: 7 }))],
    ['a manager that is not a string', (es) => [...es, { ...es[0]!, manager: 3 }]],
    ['a non-string apiVersion', (es) => es.map((e) => ({ ...e, apiVersion: 1 }))],
    ['an extra key', (es) => es.map((e) => ({ ...e, extra: true }))],
    ['unsorted entries', (es) => [...es].reverse()],
    ['not an array', () => ({ manager: 'x' })],
    ['none', () => undefined],
    ['empty', () => []],
  ];

  test.each(odd)('previous managedFields with %s', (_name, mangle) => {
    const base = { ...applied, metadata: { ...applied.metadata, managedFields: mangle(applied.metadata.managedFields!) as ManagedFieldsEntry[] } };
    for (const [, change] of changes.slice(0, 20)) {
      const next = edit(base, change);
      for (const [manager, subresource] of writers) expectSameAsGeneral(base, next, manager, subresource, vmSchema, T3);
    }
  });

  test('random walks of writes and applies', () => {
    const random = seeded(20250101);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    for (let walk = 0; walk < 30; walk++) {
      let live: KubeObject | undefined;
      for (let step = 0; step < 20; step++) {
        const now = new Date(T1.getTime() + step * 1_500); // some steps share a second: the sort's later keys count
        const [manager, subresource] = pick(writers);
        if (live && random() < 0.15) {
          const config = { apiVersion: API_VERSION, kind: 'VirtualMachine', metadata: { name: 'web' }, ...randomParts(random, subresource) };
          live = apply({ live, applied: config, manager: pick(['kubectl', 'gitops']), subresource, schema: vmSchema, now, force: true }).object;
          continue;
        }
        const next = randomObject(random, live);
        live = setManagedFields(next, expectSameAsGeneral(live, next, manager, live ? subresource : undefined, vmSchema, now));
      }
    }
  });
});

/** A small deterministic generator (mulberry32). */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `live` (or a new VM) with a few random parts replaced, managedFields as stored. */
function randomObject(random: () => number, live: KubeObject | undefined): KubeObject {
  const next = structuredClone(live ?? vm({})) as KubeObject & Record<string, unknown>;
  const parts = randomParts(random, undefined);
  const statusParts = randomParts(random, 'status');
  if (random() < 0.6) next.spec = { ...(next.spec as object), ...(parts.spec as object) };
  if (random() < 0.3) delete (next.spec as Record<string, unknown>)[['cpu', 'disks', 'tags', 'nodeSelector'][Math.floor(random() * 4)]!];
  if (random() < 0.4) next.metadata = { ...next.metadata, ...(parts.metadata as object) };
  if (random() < 0.4) next.status = statusParts.status;
  if (random() < 0.05) delete next.status;
  return next;
}

/** Random spec and metadata parts (or a random status for the status subresource). */
function randomParts(random: () => number, subresource: 'status' | undefined): Record<string, unknown> {
  const some = <T>(items: readonly T[]): T[] => items.filter(() => random() < 0.5);
  if (subresource === 'status') {
    return {
      status: {
        phase: some(['Running', 'Stopped'])[0] ?? 'Pending',
        conditions: some(['Ready', 'Synced', 'Scheduled']).map((type) => ({ type, status: random() < 0.5 ? 'True' : 'False' })),
        ...(random() < 0.5 ? { hosts: Object.fromEntries(some(['h1', 'h2']).map((h) => [h, { health: random() < 0.5 ? 'ok' : 'bad' }])) } : {}),
      },
    };
  }
  const spec: Record<string, unknown> = {};
  if (random() < 0.5) spec.cpu = Math.floor(random() * 3) + 1;
  if (random() < 0.3) spec.memory = random() < 0.8 ? '1Gi' : null;
  if (random() < 0.5)
    spec.disks = some(['root', 'data', 'logs']).map((name) => ({
      name,
      ...(random() < 0.7 ? { size: `${Math.floor(random() * 3) + 1}Gi` } : {}),
      ...(random() < 0.3 ? { bus: 'scsi' } : {}),
    }));
  if (random() < 0.3) spec.tags = some(['a', 'b', 'c']);
  if (random() < 0.3) spec.networks = some([{ name: 'a' }, { name: 'b' }]);
  if (random() < 0.3) spec.nodeSelector = Object.fromEntries(some(['zone', 'rack']).map((k) => [k, random() < 0.5 ? 'x' : 'y']));
  if (random() < 0.2) spec.firmware = { type: random() < 0.5 ? 'efi' : 'bios' };
  if (random() < 0.1) spec.cpu = { odd: true };
  const metadata: Record<string, unknown> = { name: 'web' };
  if (random() < 0.5) metadata.labels = Object.fromEntries(some(['app', 'tier', 'env']).map((k) => [k, random() < 0.5 ? 'x' : 'y']));
  if (random() < 0.3) metadata.annotations = Object.fromEntries(some(['a', 'b']).map((k) => [k, 'v']));
  if (random() < 0.3) metadata.finalizers = some(['f/one', 'f/two']);
  if (random() < 0.2)
    metadata.ownerReferences = some(['o-1', 'o-2']).map((uid) => ({ apiVersion: 'v1', kind: 'K', name: uid, uid, controller: random() < 0.5 }));
  return { spec, metadata };
}
