import type { KubeObject } from '../../api-types/meta.js';
import { FrozenSharing } from './frozen-sharing.js';

const fieldsV1 = () => ({
  'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
  'f:spec': { 'f:disks': { 'k:{"name":"root"}': { '.': {}, 'f:size': {} } }, 'f:cpu': {} },
});

function vm(name: string, extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: {
      name,
      labels: { app: 'web' },
      annotations: {},
      managedFields: [
        {
          manager: 'kubectl',
          operation: 'Apply',
          apiVersion: 'quantix.io/v1alpha1',
          time: '2026-11-23T10:00:00Z',
          fieldsType: 'FieldsV1',
          fieldsV1: fieldsV1(),
        },
      ],
    },
    spec: { cpu: 2, disks: [{ name: 'root', size: '10Gi', options: {} }], ...extra },
  } as KubeObject;
}

function isDeepFrozen(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return true;
  return Object.isFrozen(value) && Object.values(value).every(isDeepFrozen);
}

describe('FrozenSharing', () => {
  it('deep-freezes and keeps the object equal to what it was', () => {
    const sharing = new FrozenSharing();
    const obj = sharing.freeze(vm('a', { nested: [{}, [{}], { deep: {} }] }));
    expect(isDeepFrozen(obj)).toBe(true);
    expect(obj).toEqual(vm('a', { nested: [{}, [{}], { deep: {} }] }));
    expect(JSON.stringify(obj)).toBe(JSON.stringify(vm('a', { nested: [{}, [{}], { deep: {} }] })));
  });

  it('shares identical fieldsV1 trees and empty objects between objects', () => {
    const sharing = new FrozenSharing();
    const a = sharing.freeze(vm('a'));
    const b = sharing.freeze(vm('b'));
    expect(b.metadata.managedFields![0]!.fieldsV1).toBe(a.metadata.managedFields![0]!.fieldsV1);
    expect(b.metadata.annotations).toBe(a.metadata.annotations);
    expect((b.spec as { disks: { options: object }[] }).disks[0]!.options).toBe(a.metadata.annotations);
    expect(sharing.trees).toBe(1);
  });

  it('keeps distinct trees apart', () => {
    const sharing = new FrozenSharing();
    const a = sharing.freeze(vm('a'));
    const other = vm('b');
    (other.metadata.managedFields![0]!.fieldsV1 as Record<string, unknown>)['f:status'] = {};
    const b = sharing.freeze(other);
    expect(b.metadata.managedFields![0]!.fieldsV1).not.toBe(a.metadata.managedFields![0]!.fieldsV1);
    expect(b.metadata.managedFields![0]!.fieldsV1).toHaveProperty('f:status');
    expect(a.metadata.managedFields![0]!.fieldsV1).not.toHaveProperty('f:status');
    expect(sharing.trees).toBe(2);
  });

  it('empties its table when full and still freezes correctly', () => {
    const sharing = new FrozenSharing({ maxTrees: 2 });
    for (let i = 0; i < 5; i++) {
      const obj = vm(`v${i}`);
      (obj.metadata.managedFields![0]!.fieldsV1 as Record<string, unknown>)[`f:x${i}`] = {};
      const frozen = sharing.freeze(obj);
      expect(isDeepFrozen(frozen)).toBe(true);
      expect(frozen.metadata.managedFields![0]!.fieldsV1).toHaveProperty(`f:x${i}`);
    }
    expect(sharing.trees).toBeLessThanOrEqual(2);
  });

  it('leaves an already frozen object alone and tolerates malformed managedFields', () => {
    const sharing = new FrozenSharing();
    const frozen = Object.freeze({ metadata: { name: 'x' } }) as unknown as KubeObject;
    expect(sharing.freeze(frozen)).toBe(frozen);
    const odd = { metadata: { name: 'y', managedFields: [null, 'text', { fieldsV1: 'not a tree' }, { fieldsV1: [{}] }] } } as unknown as KubeObject;
    const out = sharing.freeze(odd);
    expect(isDeepFrozen(out)).toBe(true);
    expect(out).toEqual({ metadata: { name: 'y', managedFields: [null, 'text', { fieldsV1: 'not a tree' }, { fieldsV1: [{}] }] } });
  });

  it('keeps an own "__proto__" key from JSON as data', () => {
    const sharing = new FrozenSharing();
    const parsed = JSON.parse('{"metadata":{"name":"p"},"spec":{"__proto__":{"a":{}}}}') as KubeObject;
    const out = sharing.freeze(parsed);
    expect(JSON.stringify(out)).toBe('{"metadata":{"name":"p"},"spec":{"__proto__":{"a":{}}}}');
    expect(Object.getPrototypeOf(out.spec)).toBe(Object.prototype);
  });
});
