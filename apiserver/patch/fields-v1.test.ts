import { FieldSet } from './field-set.js';
import { coversMembers, isCanonicalFieldsV1, sharesMember, withoutMembers } from './fields-v1.js';

const disk = 'k:{"name":"root"}';
const encoded = {
  'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
  'f:spec': { '.': {}, 'f:cpu': {}, 'f:disks': { '.': {}, [disk]: { '.': {}, 'f:name': {}, 'f:size': {} } } },
};
const set = (paths: string[][]) => FieldSet.of(paths);

describe('isCanonicalFieldsV1', () => {
  /** Canonical exactly when decoding and re-encoding gives the same JSON text. */
  const roundTrips = (fields: unknown) => {
    try {
      return JSON.stringify(FieldSet.fromFieldsV1(fields).toFieldsV1()) === JSON.stringify(fields) && JSON.stringify(fields) !== '{}';
    } catch {
      return false;
    }
  };

  test.each([
    ['as encoded', encoded],
    ['a leaf', { 'f:a': {} }],
    ['a root "."', { '.': {}, 'f:a': {} }],
    ['kinds in FieldsV1 order', { 'f:z': {}, 'k:{"a":1}': {}, 'v:"x"': {}, 'i:0': {} }],
    ['empty', {}],
    ['keys unsorted', { 'f:b': {}, 'f:a': {} }],
    ['kinds unsorted', { 'v:"x"': {}, 'f:a': {} }],
    ['"." alone', { 'f:a': { '.': {} } }],
    ['"." not first', { 'f:a': { 'f:b': {}, '.': {} } }],
    ['"." with content', { 'f:a': { '.': { 'f:c': {} }, 'f:b': {} } }],
    ['a bad element', { 'x:a': {} }],
    ['a non-object value', { 'f:a': true }],
    ['an array', [{}]],
    ['null', null],
  ])('%s', (_name, fields) => {
    expect(isCanonicalFieldsV1(fields)).toBe(roundTrips(fields));
  });
});

describe('questions on encoded fields', () => {
  test.each([
    [[['f:spec', 'f:cpu']], true, true],
    [[['f:spec']], true, true], // f:spec is a member ("."), so it is shared
    [[['f:metadata']], false, false], // f:metadata is only a container
    [[['f:spec', 'f:memory']], false, false],
    [
      [
        ['f:spec', 'f:disks', disk, 'f:size'],
        ['f:metadata', 'f:labels', 'f:app'],
      ],
      true,
      true,
    ],
    [
      [
        ['f:spec', 'f:disks', disk, 'f:bus'],
        ['f:spec', 'f:cpu'],
      ],
      true,
      false,
    ],
  ])('%j: shares %s, covers %s', (paths, shares, covers) => {
    expect(sharesMember(encoded, set(paths))).toBe(shares);
    expect(coversMembers(encoded, set(paths))).toBe(covers);
    const general = FieldSet.fromFieldsV1(encoded).difference(set(paths));
    expect(JSON.stringify(withoutMembers(encoded, set(paths)) ?? {})).toBe(JSON.stringify(general.toFieldsV1()));
  });

  test('withoutMembers drops what is left empty and shares what it does not reach', () => {
    const fields = { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:cpu': {} } };
    expect(
      withoutMembers(
        fields,
        set([
          ['f:spec', 'f:cpu'],
          ['f:metadata', 'f:labels', 'f:app'],
          ['f:metadata', 'f:labels'],
        ]),
      ),
    ).toBeUndefined();
    const rest = withoutMembers(fields, set([['f:spec', 'f:cpu']]))!;
    expect(rest).toEqual({ 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } } });
    expect(rest['f:metadata']).toBe(fields['f:metadata']);
  });
});
