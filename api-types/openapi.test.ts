import { OBJECT_META_REF, openAPIDocument, openAPIName, openAPISchemaFor } from './openapi.js';
import { eventDefinition, leaseDefinition, virtualMachineDefinition } from './registry.js';

describe('openapi', () => {
  test('component names follow the Kubernetes convention', () => {
    expect(openAPIName(virtualMachineDefinition, 'VirtualMachine')).toBe('io.quantix.v1alpha1.VirtualMachine');
    expect(openAPIName(eventDefinition, 'Event')).toBe('io.k8s.api.core.v1.Event');
    expect(openAPIName(leaseDefinition, 'Lease')).toBe('io.k8s.api.coordination.v1.Lease');
  });

  test('a kind schema carries its GVK and references ObjectMeta', () => {
    const s = openAPISchemaFor(virtualMachineDefinition) as { properties: Record<string, Record<string, unknown>> } & Record<string, unknown>;
    expect(s['x-kubernetes-group-version-kind']).toEqual([{ group: 'quantix.io', version: 'v1alpha1', kind: 'VirtualMachine' }]);
    expect(s.properties.metadata).toEqual({ allOf: [{ $ref: OBJECT_META_REF }], default: {}, description: "Standard object's metadata." });
    expect((s.properties.spec as { required: string[] }).required).toEqual(['memory']);
    // The source definition is untouched.
    expect(virtualMachineDefinition.schema.properties!.metadata).toEqual({ type: 'object', description: "Standard object's metadata." });
  });

  test('a group/version document holds its kinds, lists and the meta types, and every $ref resolves', () => {
    const doc = openAPIDocument('quantix.io', 'v1alpha1');
    const names = Object.keys(doc.components.schemas);
    expect(names).toEqual(
      expect.arrayContaining([
        'io.quantix.v1alpha1.VirtualMachine',
        'io.quantix.v1alpha1.VirtualMachineList',
        'io.quantix.v1alpha1.StoragePool',
        'io.quantix.v1alpha1.Node',
        'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta',
        'io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta',
      ]),
    );
    expect(names).not.toContain('io.k8s.api.core.v1.Event');
    const refs = JSON.stringify(doc).match(/"\$ref":"[^"]+"/g) ?? [];
    expect(refs.length).toBeGreaterThan(0);
    for (const r of refs) expect(names).toContain(r.slice('"$ref":"#/components/schemas/'.length, -1));
    expect(Object.keys(openAPIDocument('', 'v1').components.schemas)).toContain('io.k8s.api.core.v1.EventList');
  });
});
