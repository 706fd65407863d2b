import { applyMergePatch, applyMergePatchSharing } from './merge-patch.js';

describe('applyMergePatch (RFC 7386)', () => {
  // The RFC 7386 appendix A examples, plus Kubernetes-shaped cases.
  const cases: [name: string, target: unknown, patch: unknown, expected: unknown][] = [
    ['replaces a member', { a: 'b' }, { a: 'c' }, { a: 'c' }],
    ['adds a member', { a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }],
    ['null deletes a member', { a: 'b' }, { a: null }, {}],
    ['null deletes one of several', { a: 'b', b: 'c' }, { a: null }, { b: 'c' }],
    ['arrays replace wholesale', { a: ['b'] }, { a: 'c' }, { a: 'c' }],
    ['scalar replaced by array', { a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    ['nested merge with null deletion', { a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }],
    ['array of objects is replaced, not merged', { a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    ['array patch replaces object target', ['a', 'b'], ['c', 'd'], ['c', 'd']],
    ['object target replaced by array patch', { a: 'b' }, ['c'], ['c']],
    ['null patch value replaces the document', { a: 'foo' }, null, null],
    ['string patch replaces the document', { a: 'foo' }, 'bar', 'bar'],
    ['null already in the target is kept', { e: null }, { a: 1 }, { e: null, a: 1 }],
    ['object patch onto array target', [1, 2], { a: 'b', c: null }, { a: 'b' }],
    ['null under a new parent still creates the parent', {}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
    ['deleting an absent key is a no-op', { a: 1 }, { b: null }, { a: 1 }],
    ['empty patch is a no-op', { a: 1 }, {}, { a: 1 }],
    ['patch onto absent target', undefined, { a: 1 }, { a: 1 }],
    [
      'k8s: remove a label, change cpu',
      { metadata: { name: 'vm', labels: { tier: 'web', env: 'prod' } }, spec: { cpu: 2, memory: '1Gi' } },
      { metadata: { labels: { env: null } }, spec: { cpu: 4 } },
      { metadata: { name: 'vm', labels: { tier: 'web' } }, spec: { cpu: 4, memory: '1Gi' } },
    ],
    [
      'k8s: list-valued field replaced whole',
      {
        spec: {
          disks: [
            { name: 'root', size: '10Gi' },
            { name: 'data', size: '1Gi' },
          ],
        },
      },
      { spec: { disks: [{ name: 'root', size: '20Gi' }] } },
      { spec: { disks: [{ name: 'root', size: '20Gi' }] } },
    ],
  ];

  test.each(cases)('%s', (_name, target, patch, expected) => {
    const targetBefore = JSON.stringify(target);
    const patchBefore = JSON.stringify(patch);
    expect(applyMergePatch(target, patch)).toEqual(expected);
    expect(JSON.stringify(target)).toBe(targetBefore);
    expect(JSON.stringify(patch)).toBe(patchBefore);
  });

  test('the result shares no structure with target or patch', () => {
    const target = { keep: { x: 1 }, a: { b: 1 } };
    const patch = { a: { c: { d: 1 } } };
    const out = applyMergePatch(target, patch) as { keep: object; a: { c: object } };
    expect(out.keep).not.toBe(target.keep);
    expect(out.a.c).not.toBe(patch.a.c);
  });

  test('__proto__ is an ordinary key', () => {
    const patch = JSON.parse('{"__proto__": {"polluted": true}, "a": 1}');
    const out = applyMergePatch({}, patch) as Record<string, unknown>;
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(applyMergePatch(out, JSON.parse('{"__proto__": null}'))).toEqual({ a: 1 });
  });
});

describe('applyMergePatchSharing', () => {
  test('gives what applyMergePatch gives, without mutating either input', () => {
    const targets: unknown[] = [
      undefined,
      null,
      'x',
      [1, 2],
      { a: 'b', e: null, keep: { x: [1, { y: 2 }] } },
      { metadata: { name: 'vm', labels: { tier: 'web', env: 'prod' }, annotations: { a: '1' } }, spec: { cpu: 2, disks: [{ name: 'root' }] } },
    ];
    const patches: unknown[] = [
      {},
      null,
      'bar',
      ['c'],
      { a: null },
      { a: { bb: { ccc: null } } },
      { keep: { x: null, z: 1 } },
      { metadata: { labels: { env: null, new: 'x' } }, spec: { cpu: 4, disks: [{ name: 'data' }] } },
      JSON.parse('{"__proto__": {"polluted": true}, "a": 1}'),
    ];
    for (const target of targets) {
      for (const patch of patches) {
        const before = [JSON.stringify(target), JSON.stringify(patch)];
        expect(applyMergePatchSharing(target, patch)).toEqual(applyMergePatch(target, patch));
        expect([JSON.stringify(target), JSON.stringify(patch)]).toEqual(before);
      }
    }
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  test('copies only the objects on the patch paths', () => {
    const target = { keep: { x: 1 }, a: { b: 1, c: { d: 1 } } };
    const patch = { a: { b: 2 } };
    const out = applyMergePatchSharing(target, patch) as typeof target;
    expect(out).not.toBe(target);
    expect(out.a).not.toBe(target.a);
    expect(out.keep).toBe(target.keep);
    expect(out.a.c).toBe(target.a.c);
    expect(target.a.b).toBe(1);
  });

  test('__proto__ stays an ordinary key', () => {
    const out = applyMergePatchSharing(JSON.parse('{"__proto__": {"x": 1}, "a": 1}'), JSON.parse('{"__proto__": {"y": 2}}')) as Record<string, unknown>;
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.keys(out)).toEqual(['__proto__', 'a']);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')!.value).toEqual({ x: 1, y: 2 });
  });
});
