import { emptyImageForm, imageFromForm, imageInputForField, imageLocalErrors } from './image-form.js';

describe('Image create form', () => {
  it('builds an Image from a URL, with a lower-cased checksum and only the fields set', () => {
    const f = { ...emptyImageForm(), name: ' debian-12 ', url: ' https://example.org/d.qcow2 ', sha256: 'AB'.repeat(32) };
    expect(imageFromForm(f)).toEqual({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Image',
      metadata: { name: 'debian-12' },
      spec: { source: { url: 'https://example.org/d.qcow2', sha256: 'ab'.repeat(32) } },
    });
  });

  it('builds an Image from a pool file, imported ahead of time', () => {
    const f = { ...emptyImageForm(), name: 'base', sourceKind: 'pool' as const, pool: 'local', path: '/iso/base.img', format: 'raw' as const };
    expect(imageFromForm({ ...f, storagePool: 'fast', nodeNames: ['hv-2', 'hv-1'] }).spec).toEqual({
      source: { pool: 'local', path: 'iso/base.img' },
      format: 'raw',
      storagePool: 'fast',
      nodeNames: ['hv-1', 'hv-2'],
    });
  });

  it.each([
    ['spec.source.url', 'url'],
    ['spec.source.sha256', 'sha256'],
    ['spec.source.pool', 'pool'],
    ['spec.source.path', 'path'],
    ['spec.source', 'source'],
    ['spec.storagePool', 'storagePool'],
    ['spec.nodeNames[0]', 'nodeNames'],
    ['metadata.name', 'name'],
    ['spec.somethingElse', 'form'],
  ])('maps server field %s to input %s', (field, want) => {
    expect(imageInputForField(field)).toBe(want);
  });

  it('asks for what each source needs, and checks a checksum’s shape', () => {
    expect(Object.keys(imageLocalErrors(emptyImageForm())).sort()).toEqual(['name', 'url']);
    expect(Object.keys(imageLocalErrors({ ...emptyImageForm(), name: 'x', sourceKind: 'pool' })).sort()).toEqual(['path', 'pool']);
    expect(imageLocalErrors({ ...emptyImageForm(), name: 'x', url: 'https://e.org/x', sha256: 'abc' }).sha256).toMatch(/64 hex digits/);
    expect(imageLocalErrors({ ...emptyImageForm(), name: 'x', url: 'https://e.org/x', nodeNames: ['hv-1'] }).storagePool).toMatch(/pool/);
    // The scheme is the server's to judge (its message lands next to the URL).
    expect(imageLocalErrors({ ...emptyImageForm(), name: 'x', url: 'ftp://e.org/x' })).toEqual({});
  });
});
