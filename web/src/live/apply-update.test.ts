import type { KubeObject } from '../../../api-types/meta.js';
import type { WatchEvent } from '../../../api-types/meta.js';
import { applyUpdate, isNewerVersion, replaceList } from './apply-update.js';

function obj(uid: string, rv: string, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { uid, name: `n-${uid}`, namespace: 'default', resourceVersion: rv }, ...extra };
}

const ev = (type: WatchEvent['type'], object: KubeObject): WatchEvent => ({ type, object });

describe('applyUpdate', () => {
  const a = obj('a', '10');
  const b = obj('b', '11');
  const list = [a, b];

  const cases: { name: string; event: WatchEvent; want: readonly KubeObject[] | 'same' }[] = [
    { name: 'ADDED appends a new uid', event: ev('ADDED', obj('c', '12')), want: [a, b, obj('c', '12')] },
    { name: 'MODIFIED of an unknown uid appends it', event: ev('MODIFIED', obj('c', '12')), want: [a, b, obj('c', '12')] },
    { name: 'MODIFIED newer replaces in place', event: ev('MODIFIED', obj('a', '13', { x: 1 })), want: [obj('a', '13', { x: 1 }), b] },
    { name: 'MODIFIED older is skipped', event: ev('MODIFIED', obj('a', '9', { x: 1 })), want: 'same' },
    { name: 'MODIFIED same version is a duplicate', event: ev('MODIFIED', obj('a', '10', { x: 1 })), want: 'same' },
    { name: 'ADDED of a known uid with a newer version updates', event: ev('ADDED', obj('b', '20')), want: [a, obj('b', '20')] },
    { name: 'DELETED removes', event: ev('DELETED', obj('a', '14')), want: [b] },
    { name: 'DELETED at the same version removes', event: ev('DELETED', obj('a', '10')), want: [b] },
    { name: 'DELETED older than ours is skipped', event: ev('DELETED', obj('b', '5')), want: 'same' },
    { name: 'DELETED of an unknown uid changes nothing', event: ev('DELETED', obj('z', '50')), want: 'same' },
    { name: 'BOOKMARK changes nothing', event: ev('BOOKMARK', { metadata: { resourceVersion: '99' } }), want: 'same' },
    { name: 'ERROR changes nothing', event: ev('ERROR', { metadata: {} }), want: 'same' },
  ];

  it.each(cases)('$name', ({ event, want }) => {
    const got = applyUpdate(list, event);
    if (want === 'same') expect(got).toBe(list);
    else expect(got).toEqual(want);
  });

  it('matches by uid, not by name: a re-created object is a new row', () => {
    const recreated: KubeObject = { metadata: { uid: 'a2', name: 'n-a', namespace: 'default', resourceVersion: '30' } };
    const afterDelete = applyUpdate(list, ev('DELETED', obj('a', '29')));
    expect(applyUpdate(afterDelete, ev('ADDED', recreated)).map((o) => o.metadata.uid)).toEqual(['b', 'a2']);
  });

  it('never mutates its input', () => {
    const frozen = Object.freeze([Object.freeze(obj('a', '1'))]);
    expect(() => applyUpdate(frozen, ev('MODIFIED', obj('a', '2')))).not.toThrow();
    expect(frozen[0]!.metadata.resourceVersion).toBe('1');
  });

  it('converges to the same list whatever order duplicated events arrive in', () => {
    const events = [ev('ADDED', obj('a', '1')), ev('MODIFIED', obj('a', '3', { v: 3 })), ev('MODIFIED', obj('a', '2', { v: 2 }))];
    const forward = events.reduce<readonly KubeObject[]>((l, e) => applyUpdate(l, e), []);
    const replayed = [...events, ...events].reduce<readonly KubeObject[]>((l, e) => applyUpdate(l, e), []);
    expect(forward).toEqual([obj('a', '3', { v: 3 })]);
    expect(replayed).toEqual(forward);
  });
});

describe('isNewerVersion', () => {
  it.each([
    ['11', '10', true],
    ['10', '11', false],
    ['10', '10', false],
    ['100', '99', true], // numeric, not lexical
    ['12345678901234567890', '12345678901234567889', true], // beyond 2^53
    ['abc', 'abd', true], // opaque: arrival order
    ['abc', 'abc', false],
    ['5', undefined, true],
    [undefined, '5', true],
  ])('%s newer than %s: %s', (incoming, current, want) => {
    expect(isNewerVersion(incoming, current)).toBe(want);
  });
});

describe('replaceList', () => {
  it('keeps unchanged objects by reference and drops vanished ones', () => {
    const a = obj('a', '1');
    const b = obj('b', '2');
    const fresh = [obj('a', '1'), obj('c', '5')];
    const got = replaceList([a, b], fresh);
    expect(got[0]).toBe(a);
    expect(got[1]).toBe(fresh[1]);
    expect(got).toHaveLength(2);
  });

  it('takes the fresh object when the version changed', () => {
    const fresh = [obj('a', '2')];
    expect(replaceList([obj('a', '1')], fresh)[0]).toBe(fresh[0]);
  });
});
