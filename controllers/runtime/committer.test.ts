import { applyMergePatch, mergePatch, statusPatch } from './committer.js';
import { setCondition } from '../../lib/apimachinery/conditions.js';

describe('mergePatch', () => {
  it.each([
    ['equal objects', { a: 1, b: { c: [1, 2] } }, { a: 1, b: { c: [1, 2] } }, undefined],
    ['a changed scalar', { a: 1, b: 2 }, { a: 1, b: 3 }, { b: 3 }],
    ['an added field', { a: 1 }, { a: 1, b: { c: 1 } }, { b: { c: 1 } }],
    ['a removed field', { a: 1, b: 2 }, { a: 1 }, { b: null }],
    ['a nested change only', { s: { x: 1, y: { z: 1, w: 2 } } }, { s: { x: 1, y: { z: 5, w: 2 } } }, { s: { y: { z: 5 } } }],
    ['an array replaced whole', { l: [1, 2, 3] }, { l: [1, 2, 4] }, { l: [1, 2, 4] }],
    ['a map entry removed', { hosts: { n1: { h: 'A' }, n2: { h: 'B' } } }, { hosts: { n1: { h: 'A' } } }, { hosts: { n2: null } }],
  ])('%s', (_label, from, to, expected) => {
    const patch = mergePatch(from, to);
    expect(patch).toEqual(expected);
    if (patch) expect(applyMergePatch(from, patch)).toEqual(to);
  });
});

describe('statusPatch', () => {
  const obj = { metadata: { resourceVersion: '17' } };
  it('is undefined when nothing changed', () => {
    expect(statusPatch(obj, { phase: 'Running', conditions: [] }, { phase: 'Running', conditions: [] })).toBeUndefined();
  });
  it('holds only the changed scalar, unguarded', () => {
    expect(statusPatch(obj, { phase: 'Pending', nodeName: 'n' }, { phase: 'Scheduled', nodeName: 'n' })).toEqual({ status: { phase: 'Scheduled' } });
  });
  it('guards a patch that replaces an array with the resourceVersion', () => {
    const now = '2026-01-01T00:00:00Z';
    const conditions = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Pending' }, now);
    expect(statusPatch(obj, {}, { conditions })).toEqual({ metadata: { resourceVersion: '17' }, status: { conditions } });
  });
});

describe('setCondition', () => {
  const t0 = '2026-01-01T00:00:00Z';
  const t1 = '2026-01-01T00:01:00Z';
  it('keeps lastTransitionTime when the status does not change', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'True', reason: 'Running' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'True', reason: 'Running' }, t1);
    expect(b).toEqual(a);
    const c = setCondition(b, { type: 'Ready', status: 'True', reason: 'Other', message: 'm' }, t1);
    expect(c[0]).toEqual({ type: 'Ready', status: 'True', reason: 'Other', message: 'm', lastTransitionTime: t0 });
  });
  it('moves lastTransitionTime on a status change and keeps other conditions in order', () => {
    const a = setCondition(setCondition(undefined, { type: 'Scheduled', status: 'True' }, t0), { type: 'Ready', status: 'False' }, t0);
    const b = setCondition(a, { type: 'Scheduled', status: 'False', reason: 'Unschedulable' }, t1);
    expect(b.map((c) => c.type)).toEqual(['Scheduled', 'Ready']);
    expect(b[0]!.lastTransitionTime).toBe(t1);
    expect(b[1]!.lastTransitionTime).toBe(t0);
  });
  it('drops a message that is no longer set', () => {
    const a = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'X', message: 'why' }, t0);
    const b = setCondition(a, { type: 'Ready', status: 'False', reason: 'X', message: undefined }, t0);
    expect(b[0]).toEqual({ type: 'Ready', status: 'False', reason: 'X', lastTransitionTime: t0 });
  });
});
