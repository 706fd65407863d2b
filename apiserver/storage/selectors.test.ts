import type { KubeObject } from '../../api-types/meta.js';
import { InvalidRequestError } from './errors.js';
import { ObjectSelector, indexDimensionValue, matchLabels, parseFieldSelector, parseLabelSelector, selectableFieldNames } from './selectors.js';

describe('parseLabelSelector', () => {
  it.each([
    ['', []],
    ['  ', []],
    ['app=web', [{ key: 'app', operator: '=', values: ['web'] }]],
    ['app==web', [{ key: 'app', operator: '=', values: ['web'] }]],
    ['app!=web', [{ key: 'app', operator: '!=', values: ['web'] }]],
    ['app=', [{ key: 'app', operator: '=', values: [''] }]],
    ['app', [{ key: 'app', operator: 'exists', values: [] }]],
    ['!app', [{ key: 'app', operator: '!', values: [] }]],
    ['env in (prod, staging)', [{ key: 'env', operator: 'in', values: ['prod', 'staging'] }]],
    ['env notin (dev)', [{ key: 'env', operator: 'notin', values: ['dev'] }]],
    ['env in (a,)', [{ key: 'env', operator: 'in', values: ['a', ''] }]],
    ['quantix.io/node=n-1', [{ key: 'quantix.io/node', operator: '=', values: ['n-1'] }]],
    [
      ' a = b , !c,d in(x,y) ,e',
      [
        { key: 'a', operator: '=', values: ['b'] },
        { key: 'c', operator: '!', values: [] },
        { key: 'd', operator: 'in', values: ['x', 'y'] },
        { key: 'e', operator: 'exists', values: [] },
      ],
    ],
  ])('parses %j', (sel, want) => {
    expect(parseLabelSelector(sel)).toEqual(want);
  });

  it.each([
    ['a=b,', /trailing ","/],
    [',a', /expected a label key/],
    ['a b', /expected an operator/],
    ['a in ()', /must not be empty/],
    ['a in (x', /expected a value, "," or "\)"/],
    ['a in x', /expected "\(" after "in"/],
    ['a>1', /unsupported operator ">"/],
    ['-a=b', /key "-a"/],
    ['a=-b', /value "-b" for key "a"/],
    ['Upper.Case/x=y', /prefix must be a DNS subdomain/],
    [`${'k'.repeat(64)}=v`, /at most 63 characters/],
    ['a=b=c', /expected "," or end of selector/],
    ['!', /expected a label key after "!"/],
  ])('rejects %j with a clear message', (sel, msg) => {
    let err: unknown;
    try {
      parseLabelSelector(sel);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).field).toBe('labelSelector');
    expect((err as Error).message).toMatch(msg);
    expect((err as Error).message).toContain(sel);
  });
});

describe('matchLabels', () => {
  const labels = { app: 'web', env: 'prod' };
  it.each([
    ['', true],
    ['app=web', true],
    ['app=db', false],
    ['app!=db', true],
    ['app!=web', false],
    ['missing!=x', true], // != matches objects without the label (Kubernetes semantics)
    ['env in (prod,staging)', true],
    ['env in (dev)', false],
    ['missing in (x)', false],
    ['env notin (dev)', true],
    ['env notin (prod)', false],
    ['missing notin (x)', true],
    ['app', true],
    ['missing', false],
    ['!missing', true],
    ['!app', false],
    ['app=web,env=prod', true],
    ['app=web,env=dev', false],
  ])('%j → %s', (sel, want) => {
    expect(matchLabels(parseLabelSelector(sel), labels)).toBe(want);
  });

  it('treats absent labels as empty', () => {
    expect(matchLabels(parseLabelSelector('!a'), undefined)).toBe(true);
    expect(matchLabels(parseLabelSelector('a'), undefined)).toBe(false);
  });
});

describe('parseFieldSelector', () => {
  const allowed = ['metadata.name', 'metadata.namespace', 'spec.nodeName'];
  it.each([
    ['', []],
    ['metadata.name=a', [{ field: 'metadata.name', operator: '=', value: 'a' }]],
    ['metadata.name==a', [{ field: 'metadata.name', operator: '=', value: 'a' }]],
    ['spec.nodeName!=', [{ field: 'spec.nodeName', operator: '!=', value: '' }]],
    [
      'metadata.namespace=ns,spec.nodeName=n1',
      [
        { field: 'metadata.namespace', operator: '=', value: 'ns' },
        { field: 'spec.nodeName', operator: '=', value: 'n1' },
      ],
    ],
    ['metadata.name=a\\,b\\=c\\\\', [{ field: 'metadata.name', operator: '=', value: 'a,b=c\\' }]],
  ])('parses %j', (sel, want) => {
    expect(parseFieldSelector(sel, allowed)).toEqual(want);
  });

  it.each([
    ['status.phase=Running', /field label not supported: "status.phase"/],
    ['metadata.name', /has no operator/],
    ['=a', /has no field name/],
    ['metadata.name=a=b', /unescaped "="/],
    ['metadata.name=a\\x', /invalid escape/],
    ['metadata.name=a,,', /empty requirement/],
  ])('rejects %j', (sel, msg) => {
    expect(() => parseFieldSelector(sel, allowed)).toThrow(InvalidRequestError);
    expect(() => parseFieldSelector(sel, allowed)).toThrow(msg);
  });

  it('names the supported fields of the resource', () => {
    const fields = selectableFieldNames({ selectableFields: { 'spec.nodeName': () => '' } });
    expect(() => parseFieldSelector('spec.other=x', fields)).toThrow(
      'field label not supported: "spec.other" (supported: metadata.name, metadata.namespace, spec.nodeName)',
    );
  });
});

describe('ObjectSelector', () => {
  const resource = {
    selectableFields: {
      'spec.nodeName': (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
      'status.phase': (o: KubeObject) => (o.status as { phase?: string } | undefined)?.phase ?? '',
    },
  };
  const vm = (name: string, ns: string, node: string, labels: Record<string, string> = {}): KubeObject => ({
    metadata: { name, namespace: ns, labels },
    spec: { nodeName: node },
  });

  it.each([
    [undefined, undefined, vm('a', 'x', 'n1'), true],
    ['app=web', undefined, vm('a', 'x', 'n1', { app: 'web' }), true],
    ['app=web', undefined, vm('a', 'x', 'n1'), false],
    [undefined, 'spec.nodeName=n1', vm('a', 'x', 'n1'), true],
    [undefined, 'spec.nodeName=n1', vm('a', 'x', 'n2'), false],
    [undefined, 'spec.nodeName!=n1,metadata.namespace=x', vm('a', 'x', 'n2'), true],
    [undefined, 'status.phase=', vm('a', 'x', 'n2'), true],
    [undefined, 'metadata.name=a', vm('a', 'x', 'n2'), true],
    ['app=web', 'metadata.name=a', vm('a', 'x', 'n2'), false],
  ])('label %j field %j', (ls, fs, obj, want) => {
    expect(new ObjectSelector(resource, ls, fs).matches(obj)).toBe(want);
  });

  it('exposes the namespace and name a field selector pins', () => {
    const s = new ObjectSelector(resource, undefined, 'metadata.namespace=ns1,metadata.name=vm1');
    expect(s.namespace).toBe('ns1');
    expect(s.name).toBe('vm1');
    expect(new ObjectSelector(resource, undefined, 'metadata.name!=vm1').name).toBeUndefined();
    expect(new ObjectSelector(resource).empty).toBe(true);
  });
});

describe('ObjectSelector.indexTerm (watcher index of the watch cache)', () => {
  const resource = {
    selectableFields: { 'spec.nodeName': (o: KubeObject) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '' },
  };
  const obj = { metadata: { name: 'vm1', labels: { node: 'n7' } }, spec: { nodeName: 'n3' } } as unknown as KubeObject;

  it.each([
    ['node=n7', undefined, { dimension: 'label:node', value: 'n7' }],
    ['node in (n7)', undefined, { dimension: 'label:node', value: 'n7' }],
    ['tier,node==n7', undefined, { dimension: 'label:node', value: 'n7' }],
    [undefined, 'spec.nodeName=n3', { dimension: 'field:spec.nodeName', value: 'n3' }],
    [undefined, 'metadata.namespace=a,metadata.name=vm1', { dimension: 'field:metadata.name', value: 'vm1' }],
    ['node in (n1,n2)', undefined, undefined],
    ['node!=n7', 'spec.nodeName!=n3', undefined],
    [undefined, 'metadata.namespace=a', undefined],
    [undefined, undefined, undefined],
  ])('labels %p, fields %p → %p', (labels, fields, term) => {
    expect(new ObjectSelector(resource, labels, fields).indexTerm).toEqual(term);
  });

  it('reads the dimension value an object carries, undefined for an absent label', () => {
    expect(indexDimensionValue(resource, 'label:node', obj)).toBe('n7');
    expect(indexDimensionValue(resource, 'label:tier', obj)).toBeUndefined();
    expect(indexDimensionValue(resource, 'field:spec.nodeName', obj)).toBe('n3');
    expect(indexDimensionValue(resource, 'field:metadata.name', obj)).toBe('vm1');
  });

  it('every object a selector matches carries its index term', () => {
    for (const [labels, fields] of [
      ['node=n7', undefined],
      [undefined, 'spec.nodeName=n3'],
      ['node in (n7)', 'metadata.name=vm1'],
    ] as const) {
      const selector = new ObjectSelector(resource, labels, fields);
      expect(selector.matches(obj)).toBe(true);
      const term = selector.indexTerm!;
      expect(indexDimensionValue(resource, term.dimension, obj)).toBe(term.value);
    }
  });
});
