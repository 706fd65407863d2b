import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { filtersFromParams, matchesLabels, paramsWithFilters, parseLabelSelector, vmPredicate } from './vm-filters.js';

function vm(name: string, o: { ns?: string; phase?: string; node?: string; labels?: Record<string, string> } = {}): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: o.ns ?? 'default', labels: o.labels },
    spec: { memory: '1Gi' },
    status: o.phase || o.node ? { phase: o.phase as never, nodeName: o.node } : undefined,
  };
}

describe('VM filters in the URL', () => {
  it('round-trips through URLSearchParams and keeps unrelated parameters', () => {
    const p = paramsWithFilters(new URLSearchParams('sort=name'), { namespace: 'prod', phase: 'Running', labels: 'app=web', q: '', node: '' });
    expect(p.toString()).toBe('sort=name&namespace=prod&phase=Running&labels=app%3Dweb');
    expect(filtersFromParams(p)).toEqual({ namespace: 'prod', phase: 'Running', node: '', labels: 'app=web', q: '' });
    expect(paramsWithFilters(p, { phase: '' }).has('phase')).toBe(false);
  });
});

describe('label selectors', () => {
  it.each([
    ['app=web', [{ key: 'app', op: '=', value: 'web' }]],
    [
      'app==web, tier!=db',
      [
        { key: 'app', op: '=', value: 'web' },
        { key: 'tier', op: '!=', value: 'db' },
      ],
    ],
    [
      'env,!legacy',
      [
        { key: 'env', op: 'exists' },
        { key: 'legacy', op: '!exists' },
      ],
    ],
    ['', []],
  ])('parses %j', (text, want) => {
    expect(parseLabelSelector(text)).toEqual(want);
  });

  it('rejects garbage', () => {
    expect(() => parseLabelSelector('a=b=c')).toThrow(/invalid label selector term "a=b=c"/);
  });

  it('matches like kubectl', () => {
    const labels = { app: 'web', env: 'prod' };
    expect(matchesLabels(labels, parseLabelSelector('app=web,env'))).toBe(true);
    expect(matchesLabels(labels, parseLabelSelector('app!=web'))).toBe(false);
    expect(matchesLabels(labels, parseLabelSelector('tier!=db,!legacy'))).toBe(true);
    expect(matchesLabels(undefined, parseLabelSelector('app'))).toBe(false);
  });
});

describe('vmPredicate', () => {
  const vms = [
    vm('web-1', { phase: 'Running', node: 'n1', labels: { app: 'web' } }),
    vm('web-2', { ns: 'prod', phase: 'Stopped', node: 'n2', labels: { app: 'web' } }),
    vm('db-1', { phase: 'Running', node: 'n1', labels: { app: 'db' } }),
    vm('fresh'),
  ];
  const names = (f: Partial<Parameters<typeof vmPredicate>[0]>) => {
    const { test } = vmPredicate({ namespace: '', phase: '', node: '', labels: '', q: '', ...f });
    return vms.filter(test).map((v) => v.metadata.name);
  };

  it.each([
    [{}, ['web-1', 'web-2', 'db-1', 'fresh']],
    [{ namespace: 'prod' }, ['web-2']],
    [{ phase: 'Running' }, ['web-1', 'db-1']],
    [{ phase: 'Pending' }, ['fresh']],
    [{ node: 'n1', labels: 'app=web' }, ['web-1']],
    [{ q: 'WEB' }, ['web-1', 'web-2']],
  ])('%j', (f, want) => {
    expect(names(f)).toEqual(want);
  });

  it('reports an invalid selector instead of throwing', () => {
    expect(vmPredicate({ namespace: '', phase: '', node: '', labels: 'a=b=c', q: '' }).error).toMatch(/invalid/);
  });
});
