import { FieldSet, formatPath } from './field-set.js';
import { fieldSetOf } from './managed-fields.js';
import type { StructuralSchema } from './schema.js';
import { vm, vmSchema } from './testdata.js';

describe('fieldSetOf: the FieldsV1 of an object', () => {
  const cases: [name: string, obj: Record<string, unknown>, expected: Record<string, unknown>, schema?: StructuralSchema, subresource?: 'status'][] = [
    [
      'scalars and a list-map item keyed by name (item owned as "." and field by field)',
      vm({ cpu: 2, disks: [{ name: 'root', size: '10Gi' }] }),
      { 'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:name': {}, 'f:size': {} } } } },
    ],
    ['an atomic list is one leaf', vm({ networks: [{ name: 'eth0', source: 'br0' }] }), { 'f:spec': { 'f:networks': {} } }],
    ['an atomic map is one leaf', vm({ firmware: { type: 'efi' } }), { 'f:spec': { 'f:firmware': {} } }],
    ['set items by value', vm({ tags: ['b', 'a'] }), { 'f:spec': { 'f:tags': { 'v:"a"': {}, 'v:"b"': {} } } }],
    [
      'multi-key list-map: keys sorted, typed JSON',
      vm({ ports: [{ port: 80, protocol: 'TCP', name: 'http' }] }),
      { 'f:spec': { 'f:ports': { 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {}, 'f:protocol': {} } } } },
    ],
    ['string map keys are members', vm({ nodeSelector: { zone: 'a' } }), { 'f:spec': { 'f:nodeSelector': { 'f:zone': {} } } }],
    ['empty object and null are leaves', vm({ nodeSelector: {}, memory: null }), { 'f:spec': { 'f:memory': {}, 'f:nodeSelector': {} } }],
    ['an empty spec is owned as a whole', vm({}), { 'f:spec': {} }],
    ['an empty list-map owns nothing (as in Kubernetes)', vm({ disks: [] }), {}],
    [
      'tracked metadata only; apiVersion, kind and status ignored',
      vm(
        { cpu: 1 },
        {
          metadata: {
            name: 'web',
            uid: 'u1',
            resourceVersion: '7',
            generation: 3,
            creationTimestamp: '2025-01-01T00:00:00Z',
            labels: { app: 'web', 'quantix.io/tier': 'db' },
            annotations: { note: 'x' },
            finalizers: ['quantix.io/cleanup'],
            ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'abc' }],
          },
          status: { phase: 'Running' },
        },
      ),
      {
        'f:metadata': {
          'f:annotations': { 'f:note': {} },
          'f:finalizers': { 'v:"quantix.io/cleanup"': {} },
          'f:labels': { 'f:app': {}, 'f:quantix.io/tier': {} },
          'f:ownerReferences': { 'k:{"uid":"abc"}': { '.': {}, 'f:apiVersion': {}, 'f:kind': {}, 'f:name': {}, 'f:uid': {} } },
        },
        'f:spec': { 'f:cpu': {} },
      },
    ],
    [
      'status subresource: only status',
      vm({ cpu: 1 }, { metadata: { labels: { a: 'b' } }, status: { phase: 'Running', conditions: [{ type: 'Ready', status: 'True' }] } }),
      { 'f:status': { 'f:conditions': { 'k:{"type":"Ready"}': { '.': {}, 'f:status': {}, 'f:type': {} } }, 'f:phase': {} } },
      vmSchema,
      'status',
    ],
    [
      'additionalProperties objects: each key owned as "." and field by field',
      { metadata: {}, status: { hosts: { n1: { health: 'HEALTHY' } } } },
      { 'f:status': { 'f:hosts': { 'f:n1': { '.': {}, 'f:health': {} } } } },
      vmSchema,
      'status',
    ],
    [
      'without a schema: every key is a member, lists atomic',
      vm({ cpu: 2, disks: [{ name: 'root' }] }),
      { 'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': {} } },
      undefined,
    ],
    ['undeclared fields under a schema are members', vm({ cpu: 2, extra: { a: 1 } }), { 'f:spec': { 'f:cpu': {}, 'f:extra': { '.': {}, 'f:a': {} } } }],
    ['a list-map item without its key makes the stored list atomic', vm({ disks: [{ size: '1Gi' }] }), { 'f:spec': { 'f:disks': {} } }],
    ['duplicate keys in a stored list make it atomic', vm({ disks: [{ name: 'a' }, { name: 'a' }] }), { 'f:spec': { 'f:disks': {} } }],
  ];

  test.each(cases)('%s', (_name, obj, expected, ...rest) => {
    const schema = rest.length > 0 ? rest[0] : vmSchema;
    expect(fieldSetOf(obj as never, schema, rest[1]).toFieldsV1()).toEqual(expected);
  });
});

describe('FieldSet', () => {
  const set = (fields: Record<string, unknown>) => FieldSet.fromFieldsV1(fields);
  const a = { 'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:size': {} } } } };
  const b = { 'f:spec': { 'f:cpu': {}, 'f:memory': {}, 'f:disks': { 'k:{"name":"root"}': { 'f:size': {} } } } };

  const cases: [name: string, got: () => FieldSet, expected: Record<string, unknown>][] = [
    ['round trip', () => set(a), a],
    ['union', () => set(a).union(set(b)), { 'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:size': {} } }, 'f:memory': {} } }],
    ['intersection', () => set(a).intersection(set(b)), { 'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { 'f:size': {} } } } }],
    ['difference keeps members whose children are removed', () => set(a).difference(set(b)), { 'f:spec': { 'f:disks': { 'k:{"name":"root"}': {} } } }],
    ['difference to empty', () => set(a).difference(set(a)), {}],
    [
      'withoutMember keeps children',
      () => set(a).withoutMember(['f:spec', 'f:disks', 'k:{"name":"root"}']),
      { 'f:spec': { 'f:cpu': {}, 'f:disks': { 'k:{"name":"root"}': { 'f:size': {} } } } },
    ],
    ['of(paths)', () => FieldSet.of([['f:a', 'f:b'], ['f:a'], ['f:c']]), { 'f:a': { '.': {}, 'f:b': {} }, 'f:c': {} }],
    [
      'encoding order: ".", fields, keys, values',
      () => FieldSet.of([['f:l', 'v:"x"'], ['f:l', 'k:{"a":1}'], ['f:l', 'f:z'], ['f:l']]),
      { 'f:l': { '.': {}, 'f:z': {}, 'k:{"a":1}': {}, 'v:"x"': {} } },
    ],
  ];
  test.each(cases)('%s', (_name, got, expected) => {
    const encoded = got().toFieldsV1();
    expect(encoded).toEqual(expected);
    expect(JSON.stringify(encoded)).toBe(JSON.stringify(expected)); // key order too
  });

  test('paths(), has() and equals()', () => {
    const s = set(a);
    expect(s.paths().map(formatPath)).toEqual(['.spec.cpu', '.spec.disks[name="root"]', '.spec.disks[name="root"].size']);
    expect(s.has(['f:spec', 'f:cpu'])).toBe(true);
    expect(s.has(['f:spec'])).toBe(false);
    expect(s.equals(set(JSON.parse(JSON.stringify(a))))).toBe(true);
    expect(s.equals(set(b))).toBe(false);
  });

  test.each([
    [['f:spec', 'f:cpu'], '.spec.cpu'],
    [['f:spec', 'k:{"name":"root"}', 'f:size'], '.spec[name="root"].size'],
    [['f:spec', 'f:ports', 'k:{"port":80,"protocol":"TCP"}'], '.spec.ports[port=80,protocol="TCP"]'],
    [['f:metadata', 'f:finalizers', 'v:"x"'], '.metadata.finalizers[="x"]'],
    [['f:list', 'i:3'], '.list[3]'],
  ])('formatPath(%j) = %s', (path, text) => {
    expect(formatPath(path)).toBe(text);
  });

  test.each([
    ['not an object', []],
    ['a non-object node', { 'f:a': 1 }],
    ['an unknown element kind', { 'x:a': {} }],
    ['a nested bad element', { 'f:a': { b: {} } }],
  ])('fromFieldsV1 rejects %s', (_name, fields) => {
    expect(() => FieldSet.fromFieldsV1(fields)).toThrow(/fieldsV1/);
  });
});
