import { applyJsonPatch, formatPointer, parsePointer, PatchError } from './json-patch.js';

const vm = () => ({
  metadata: { name: 'web', labels: { tier: 'web' } },
  spec: {
    cpu: 2,
    disks: [
      { name: 'root', size: '10Gi' },
      { name: 'data', size: '1Gi' },
    ],
    tags: ['a', 'b'],
  },
});

describe('applyJsonPatch: operations', () => {
  const cases: [name: string, doc: unknown, patch: unknown[], expected: unknown][] = [
    ['add a member', { a: 1 }, [{ op: 'add', path: '/b', value: 2 }], { a: 1, b: 2 }],
    ['add replaces an existing member', { a: 1 }, [{ op: 'add', path: '/a', value: 2 }], { a: 2 }],
    ['add null is a value', { a: 1 }, [{ op: 'add', path: '/b', value: null }], { a: 1, b: null }],
    ['add inserts into an array', { a: [1, 3] }, [{ op: 'add', path: '/a/1', value: 2 }], { a: [1, 2, 3] }],
    ['add at index = length appends', { a: [1] }, [{ op: 'add', path: '/a/1', value: 2 }], { a: [1, 2] }],
    ['add with - appends', { a: [1] }, [{ op: 'add', path: '/a/-', value: 2 }], { a: [1, 2] }],
    ['add at the root replaces the document', { a: 1 }, [{ op: 'add', path: '', value: [1] }], [1]],
    [
      'add a nested object',
      vm(),
      [{ op: 'add', path: '/spec/disks/-', value: { name: 'x', size: '1Mi' } }],
      { ...vm(), spec: { ...vm().spec, disks: [...vm().spec.disks, { name: 'x', size: '1Mi' }] } },
    ],
    ['remove a member', { a: 1, b: 2 }, [{ op: 'remove', path: '/a' }], { b: 2 }],
    ['remove an array element', { a: [1, 2, 3] }, [{ op: 'remove', path: '/a/1' }], { a: [1, 3] }],
    ['replace a member', vm(), [{ op: 'replace', path: '/spec/cpu', value: 4 }], { ...vm(), spec: { ...vm().spec, cpu: 4 } }],
    ['replace an array element', { a: [1, 2] }, [{ op: 'replace', path: '/a/0', value: 9 }], { a: [9, 2] }],
    ['replace the root', { a: 1 }, [{ op: 'replace', path: '', value: { b: 2 } }], { b: 2 }],
    ['move a member', { a: { x: 1 }, b: {} }, [{ op: 'move', from: '/a/x', path: '/b/y' }], { a: {}, b: { y: 1 } }],
    ['move within an array', { a: [1, 2, 3] }, [{ op: 'move', from: '/a/0', path: '/a/-' }], { a: [2, 3, 1] }],
    ['move onto itself is a no-op', { a: 1 }, [{ op: 'move', from: '/a', path: '/a' }], { a: 1 }],
    ['copy a member', { a: { x: [1] } }, [{ op: 'copy', from: '/a', path: '/b' }], { a: { x: [1] }, b: { x: [1] } }],
    ['copy into an array', { a: [1, 2] }, [{ op: 'copy', from: '/a/1', path: '/a/0' }], { a: [2, 1, 2] }],
    ['copy the root into itself', { a: 1 }, [{ op: 'copy', from: '', path: '/b' }], { a: 1, b: { a: 1 } }],
    [
      'test passes, later ops apply',
      vm(),
      [
        { op: 'test', path: '/spec/cpu', value: 2 },
        { op: 'replace', path: '/spec/cpu', value: 3 },
      ],
      { ...vm(), spec: { ...vm().spec, cpu: 3 } },
    ],
    [
      'test compares objects regardless of key order',
      { a: { x: 1, y: [1, { z: 2 }] } },
      [{ op: 'test', path: '/a', value: { y: [1, { z: 2 }], x: 1 } }],
      { a: { x: 1, y: [1, { z: 2 }] } },
    ],
    ['test null', { a: null }, [{ op: 'test', path: '/a', value: null }], { a: null }],
    ['test the whole document', [1], [{ op: 'test', path: '', value: [1] }], [1]],
    [
      '~1 escapes / in a key',
      { metadata: { labels: {} } },
      [{ op: 'add', path: '/metadata/labels/quantix.io~1role', value: 'db' }],
      { metadata: { labels: { 'quantix.io/role': 'db' } } },
    ],
    ['~0 escapes ~ in a key', { 'a~b': 1 }, [{ op: 'replace', path: '/a~0b', value: 2 }], { 'a~b': 2 }],
    ['~01 decodes to ~1, not /', { '~1': 1 }, [{ op: 'remove', path: '/~01' }], {}],
    ['the empty key', { '': 1 }, [{ op: 'replace', path: '/', value: 2 }], { '': 2 }],
    ['numeric-looking keys on objects are keys', { '0': 'x' }, [{ op: 'add', path: '/01', value: 'y' }], { '0': 'x', '01': 'y' }],
    [
      'ops see earlier ops',
      {},
      [
        { op: 'add', path: '/spec', value: {} },
        { op: 'add', path: '/spec/disks', value: [] },
        { op: 'add', path: '/spec/disks/-', value: { name: 'root' } },
        { op: 'copy', from: '/spec/disks/0', path: '/spec/disks/-' },
        { op: 'replace', path: '/spec/disks/1/name', value: 'data' },
      ],
      { spec: { disks: [{ name: 'root' }, { name: 'data' }] } },
    ],
    ['empty patch', { a: 1 }, [], { a: 1 }],
    ['extra members are ignored', { a: 1 }, [{ op: 'remove', path: '/a', value: 5, from: '/x' }], {}],
  ];

  test.each(cases)('%s', (_name, doc, patch, expected) => {
    const before = JSON.stringify(doc);
    expect(applyJsonPatch(doc, patch)).toEqual(expected);
    expect(JSON.stringify(doc)).toBe(before);
  });

  test('added and copied values are copies', () => {
    const value = { deep: { x: 1 } };
    const out = applyJsonPatch({}, [
      { op: 'add', path: '/a', value },
      { op: 'copy', from: '/a', path: '/b' },
    ]) as Record<string, { deep: object }>;
    expect(out.a).not.toBe(value);
    expect(out.b!.deep).not.toBe(out.a!.deep);
  });

  test('__proto__ is an ordinary key', () => {
    const out = applyJsonPatch({}, [{ op: 'add', path: '/__proto__', value: { polluted: true } }]) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(() => applyJsonPatch({}, [{ op: 'remove', path: '/toString' }])).toThrow('path does not exist');
  });
});

describe('applyJsonPatch: errors', () => {
  const cases: [name: string, doc: unknown, patch: unknown, message: string][] = [
    ['patch is not an array', {}, { op: 'add' }, 'a JSON patch must be an array of operations'],
    ['operation is not an object', {}, [{ op: 'test', path: '', value: {} }, 'add'], 'operation 1: an operation must be a JSON object'],
    ['missing op', {}, [{ path: '/a' }], 'operation 0: missing "op"'],
    ['missing path', {}, [{ op: 'add', value: 1 }], 'operation 0 (add): missing "path"'],
    ['unknown op', {}, [{ op: 'merge', path: '/a' }], 'operation 0 (merge /a): unknown operation "merge" (expected add, remove, replace, move, copy or test)'],
    ['pointer without leading /', {}, [{ op: 'add', path: 'a', value: 1 }], 'operation 0 (add a): invalid JSON pointer "a": must be empty or start with "/"'],
    ['bad ~ escape', {}, [{ op: 'add', path: '/a~2', value: 1 }], 'operation 0 (add /a~2): invalid JSON pointer "/a~2": "~" must be followed by 0 or 1'],
    ['trailing ~', {}, [{ op: 'add', path: '/a~', value: 1 }], 'operation 0 (add /a~): invalid JSON pointer'],
    ['add without value', {}, [{ op: 'add', path: '/a' }], 'operation 0 (add /a): missing "value"'],
    ['add under a missing parent', { a: 1 }, [{ op: 'add', path: '/b/c', value: 1 }], 'operation 0 (add /b/c): parent /b does not exist'],
    ['add under a scalar', { a: 1 }, [{ op: 'add', path: '/a/b', value: 1 }], 'operation 0 (add /a/b): parent /a is not an object or array'],
    ['add past the end of an array', { a: [1] }, [{ op: 'add', path: '/a/2', value: 1 }], 'operation 0 (add /a/2): array index 2 is out of bounds (length 1)'],
    ['add with a non-numeric index', { a: [1] }, [{ op: 'add', path: '/a/x', value: 1 }], 'operation 0 (add /a/x): invalid array index "x"'],
    ['add with a leading-zero index', { a: [1] }, [{ op: 'add', path: '/a/01', value: 1 }], 'operation 0 (add /a/01): invalid array index "01"'],
    ['add with a negative index', { a: [1] }, [{ op: 'add', path: '/a/-1', value: 1 }], 'operation 0 (add /a/-1): invalid array index "-1"'],
    ['remove a missing member', { a: 1 }, [{ op: 'remove', path: '/b' }], 'operation 0 (remove /b): path does not exist'],
    ['remove the document', { a: 1 }, [{ op: 'remove', path: '' }], 'operation 0 (remove ): cannot remove the whole document'],
    [
      'remove an array index out of range',
      { a: [1] },
      [{ op: 'remove', path: '/a/1' }],
      'operation 0 (remove /a/1): array index 1 is out of bounds (length 1)',
    ],
    [
      'remove with -',
      { a: [1] },
      [{ op: 'remove', path: '/a/-' }],
      'operation 0 (remove /a/-): "-" (past the end of the array) does not name an existing element',
    ],
    [
      'replace a missing member (the error names index and path)',
      vm(),
      [
        { op: 'test', path: '/spec/cpu', value: 2 },
        { op: 'remove', path: '/spec/cpu' },
        { op: 'replace', path: '/spec/cpu', value: 4 },
      ],
      'operation 2 (replace /spec/cpu): path does not exist',
    ],
    ['replace without value', { a: 1 }, [{ op: 'replace', path: '/a' }], 'operation 0 (replace /a): missing "value"'],
    ['replace through a scalar', { a: 1 }, [{ op: 'replace', path: '/a/b', value: 1 }], 'operation 0 (replace /a/b): path does not exist'],
    [
      'replace with - index',
      { a: [1] },
      [{ op: 'replace', path: '/a/-', value: 1 }],
      'operation 0 (replace /a/-): "-" (past the end of the array) does not name an existing element',
    ],
    ['move without from', { a: 1 }, [{ op: 'move', path: '/b' }], 'operation 0 (move /b): missing "from"'],
    ['move from a missing path', { a: 1 }, [{ op: 'move', from: '/x/y', path: '/b' }], 'operation 0 (move /b): from /x/y does not exist'],
    [
      'move into its own child',
      { a: { b: {} } },
      [{ op: 'move', from: '/a', path: '/a/b/c' }],
      'operation 0 (move /a/b/c): cannot move a value into one of its own children',
    ],
    ['move to a missing parent', { a: 1 }, [{ op: 'move', from: '/a', path: '/x/y' }], 'operation 0 (move /x/y): parent /x does not exist'],
    ['move with a bad from pointer', { a: 1 }, [{ op: 'move', from: 'a', path: '/b' }], 'operation 0 (move /b): "from": invalid JSON pointer "a"'],
    ['copy from a missing path', { a: 1 }, [{ op: 'copy', from: '/b', path: '/c' }], 'operation 0 (copy /c): from /b does not exist'],
    ['copy without from', { a: 1 }, [{ op: 'copy', path: '/c' }], 'operation 0 (copy /c): missing "from"'],
    ['test a different value', vm(), [{ op: 'test', path: '/spec/cpu', value: 4 }], 'operation 0 (test /spec/cpu): test failed: found 2, expected 4'],
    ['test a missing path', vm(), [{ op: 'test', path: '/spec/memory', value: '1Gi' }], 'operation 0 (test /spec/memory): path does not exist'],
    ['test without value', vm(), [{ op: 'test', path: '/spec/cpu' }], 'operation 0 (test /spec/cpu): missing "value"'],
    [
      'test: array order matters',
      { a: [1, 2] },
      [{ op: 'test', path: '/a', value: [2, 1] }],
      'operation 0 (test /a): test failed: found [1,2], expected [2,1]',
    ],
    ['test: 1 is not "1"', { a: 1 }, [{ op: 'test', path: '/a', value: '1' }], 'operation 0 (test /a): test failed: found 1, expected "1"'],
    ['too many operations', {}, Array.from({ length: 6 }, () => ({ op: 'test', path: '', value: {} })), 'the patch has 6 operations, more than the limit of 5'],
  ];

  test.each(cases)('%s', (_name, doc, patch, message) => {
    const before = JSON.stringify(doc);
    let error: unknown;
    try {
      applyJsonPatch(doc, patch, { maxOperations: 5 });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(PatchError);
    expect((error as PatchError).message).toContain(message);
    expect((error as PatchError).message.startsWith(message)).toBe(true);
    expect(JSON.stringify(doc)).toBe(before);
  });

  test('PatchError carries index, op, path and reason', () => {
    try {
      applyJsonPatch(vm(), [
        { op: 'test', path: '/spec/cpu', value: 2 },
        { op: 'replace', path: '/spec/nope/x', value: 1 },
      ]);
      throw new Error('expected a PatchError');
    } catch (err) {
      expect(err).toMatchObject({ name: 'PatchError', index: 1, op: 'replace', path: '/spec/nope/x', reason: 'path does not exist' });
    }
  });

  test('a failing patch leaves the input untouched even after earlier ops applied', () => {
    const doc = vm();
    expect(() =>
      applyJsonPatch(doc, [
        { op: 'remove', path: '/spec/disks/0' },
        { op: 'add', path: '/metadata/labels/x', value: 'y' },
        { op: 'test', path: '/spec/cpu', value: 99 },
      ]),
    ).toThrow(PatchError);
    expect(doc).toEqual(vm());
  });
});

describe('JSON pointers', () => {
  const cases: [pointer: string, tokens: string[]][] = [
    ['', []],
    ['/', ['']],
    ['/a/b', ['a', 'b']],
    ['/a~1b/c~0d', ['a/b', 'c~d']],
    ['/~01', ['~1']],
    ['/m~0n/0/-', ['m~n', '0', '-']],
  ];
  test.each(cases)('%j ⇄ %j', (pointer, tokens) => {
    expect(parsePointer(pointer)).toEqual(tokens);
    expect(formatPointer(tokens)).toBe(pointer);
  });
});
