import { apiVersionOf, resourcePath } from './group-version.js';

const vms = { group: 'quantix.io', version: 'v1alpha1', plural: 'virtualmachines', namespaced: true };
const events = { group: '', version: 'v1', plural: 'events', namespaced: true };
const nodes = { group: 'quantix.io', version: 'v1alpha1', plural: 'nodes', namespaced: false };

describe('group-version', () => {
  it.each([
    ['named group', vms, 'quantix.io/v1alpha1'],
    ['core group', events, 'v1'],
  ])('apiVersionOf: %s', (_name, r, want) => {
    expect(apiVersionOf(r)).toBe(want);
  });

  it.each([
    ['collection across namespaces', resourcePath(vms), '/apis/quantix.io/v1alpha1/virtualmachines'],
    ['namespaced collection', resourcePath(vms, 'default'), '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines'],
    ['object, escaped', resourcePath(vms, 'a b', 'x/y'), '/apis/quantix.io/v1alpha1/namespaces/a%20b/virtualmachines/x%2Fy'],
    ['subresource', resourcePath(vms, 'default', 'web', 'status'), '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/web/status'],
    ['core group', resourcePath(events, 'default'), '/api/v1/namespaces/default/events'],
    ['cluster-scoped ignores the namespace', resourcePath(nodes, 'default', 'n1'), '/apis/quantix.io/v1alpha1/nodes/n1'],
  ])('resourcePath: %s', (_name, got, want) => {
    expect(got).toBe(want);
  });
});
