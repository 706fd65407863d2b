import { readFileSync } from 'node:fs';
import { type AuditAttributes, AuditPolicyError, evaluatePolicy, parseAuditPolicy } from './policy.js';

const admin = { name: 'admin', uid: 'admin', groups: ['quantix:admins', 'system:authenticated'] };
const viewer = { name: 'viewer', uid: 'viewer', groups: ['quantix:viewers', 'system:authenticated'] };
const node = { name: 'quantix:node:n1', uid: 'n1', groups: ['quantix:nodes'] };

const vmRequest = (verb: string, extra: Partial<NonNullable<AuditAttributes['resource']>> = {}, user = admin): AuditAttributes => ({
  user,
  verb,
  path: '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/web',
  resource: { apiGroup: 'quantix.io', resource: 'virtualmachines', namespace: 'default', name: 'web', ...extra },
});

const POLICY = `
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    nonResourceURLs: ["/healthz*", "/readyz", "/livez"]
  - level: None
    users: ["quantix:node:n1"]
    verbs: ["get", "watch"]
  - level: RequestResponse
    userGroups: ["quantix:viewers"]
    resources:
      - group: quantix.io
        resources: ["hostjoins"]
  - level: Request
    resources:
      - group: quantix.io
        resources: ["virtualmachines/status"]
    omitStages: [ResponseStarted]
  - level: Request
    resources:
      - group: quantix.io
        resources: ["*/console"]
  - level: RequestResponse
    resources:
      - group: quantix.io
        resources: ["storagepools/*"]
  - level: None
    resources:
      - group: quantix.io
        resources: ["images"]
        resourceNames: ["noisy"]
  - level: Request
    namespaces: ["kube-system", ""]
    resources:
      - group: ""
  - level: None
    resources:
      - group: ""
        resources: ["events"]
  - level: Metadata
    verbs: ["post"]
    nonResourceURLs: ["/logs/*"]
  - level: Metadata
    resources:
      - group: quantix.io
`;

describe('evaluatePolicy: first matching rule wins', () => {
  const policy = parseAuditPolicy(POLICY);
  const images = (name: string): AuditAttributes => ({
    user: admin,
    verb: 'get',
    path: `/apis/quantix.io/v1alpha1/images/${name}`,
    resource: { apiGroup: 'quantix.io', resource: 'images', name },
  });
  it.each<[string, AuditAttributes, string]>([
    ['nonResourceURL prefix', { verb: 'get', path: '/healthz/etcd' }, 'None'],
    ['nonResourceURL exact', { verb: 'get', path: '/readyz' }, 'None'],
    ['nonResourceURL exact does not prefix', { verb: 'get', path: '/readyzz' }, 'None'],
    ['a user and verbs', vmRequest('get', {}, node), 'None'],
    ['the same user, another verb', vmRequest('patch', { subresource: 'status' }, node), 'Request'],
    [
      'a user group and a resource',
      { ...vmRequest('get', {}, viewer), resource: { apiGroup: 'quantix.io', resource: 'hostjoins', name: 'h' } },
      'RequestResponse',
    ],
    ['another group, same resource', { ...vmRequest('get'), resource: { apiGroup: 'quantix.io', resource: 'hostjoins', name: 'h' } }, 'Metadata'],
    ['resource/subresource', vmRequest('update', { subresource: 'status' }), 'Request'],
    ['the main resource is not its subresource', vmRequest('update'), 'Metadata'],
    ['*/subresource', vmRequest('get', { subresource: 'console' }), 'Request'],
    [
      'resource/* matches the subresources',
      { ...vmRequest('get'), resource: { apiGroup: 'quantix.io', resource: 'storagepools', name: 'p', subresource: 'files' } },
      'RequestResponse',
    ],
    [
      'resource/* matches the resource itself',
      { ...vmRequest('get'), resource: { apiGroup: 'quantix.io', resource: 'storagepools', name: 'p' } },
      'RequestResponse',
    ],
    ['resourceNames match', images('noisy'), 'None'],
    ['resourceNames do not match', images('debian'), 'Metadata'],
    ['namespaces: "" is cluster-scoped', { ...vmRequest('get'), resource: { apiGroup: '', resource: 'namespaces', name: 'x' } }, 'Request'],
    ['namespaces: a namespace', { ...vmRequest('get'), resource: { apiGroup: '', resource: 'events', namespace: 'kube-system' } }, 'Request'],
    ['a core resource by group ""', { ...vmRequest('list'), resource: { apiGroup: '', resource: 'events', namespace: 'default' } }, 'None'],
    ['verb and nonResourceURLs together', { user: viewer, verb: 'post', path: '/logs/ui' }, 'Metadata'],
    ['verb does not match', { user: viewer, verb: 'get', path: '/logs/ui' }, 'None'],
    ['a non-resource rule never matches a resource request', { ...vmRequest('get'), path: '/logs/x', resource: { apiGroup: 'other', resource: 'x' } }, 'None'],
    ['a group with no resources matches every resource in it', vmRequest('delete'), 'Metadata'],
    ['no rule matches → None', { ...vmRequest('get'), resource: { apiGroup: 'other.io', resource: 'things', namespace: 'default' } }, 'None'],
    [
      'no user: rules with users or groups do not match',
      { verb: 'get', path: '/apis/quantix.io/v1alpha1/hostjoins', resource: { apiGroup: 'quantix.io', resource: 'hostjoins' } },
      'Metadata',
    ],
  ])('%s', (_name, attrs, level) => {
    expect(evaluatePolicy(policy, attrs).level).toBe(level);
  });

  it("omits the policy's stages and the rule's", () => {
    expect([...evaluatePolicy(policy, vmRequest('update', { subresource: 'status' })).omitStages].sort()).toEqual(['RequestReceived', 'ResponseStarted']);
    expect([...evaluatePolicy(policy, vmRequest('update')).omitStages]).toEqual(['RequestReceived']);
  });
});

describe('parseAuditPolicy: a bad file names the rule and the field', () => {
  const wrap = (rules: string) => `apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n${rules}`;
  it.each<[string, string, RegExp]>([
    ['an unknown level', wrap('  - level: Everything'), /rules\[0\]\.level: Unsupported value: "Everything"/],
    ['a missing level', wrap('  - verbs: [get]'), /rules\[0\]\.level: Required value/],
    ['a misspelt field', wrap('  - level: None\n  - level: Metadata\n    verb: [get]'), /rules\[1\]\.verb: unknown field/],
    ['verbs not a list', wrap('  - level: None\n    verbs: get'), /rules\[0\]\.verbs: must be a list of strings/],
    ['a bad stage', wrap('  - level: Metadata\n    omitStages: [Received]'), /rules\[0\]\.omitStages\[0\]: Unsupported value: "Received"/],
    [
      'resources and nonResourceURLs together',
      wrap('  - level: None\n    nonResourceURLs: ["/x"]\n    resources: [{group: ""}]'),
      /rules\[0\]\.nonResourceURLs: .*both/,
    ],
    ['a URL without /', wrap('  - level: None\n    nonResourceURLs: ["healthz"]'), /rules\[0\]\.nonResourceURLs\[0\]: .*must start with "\/"/],
    [
      'a bad resource pattern',
      wrap('  - level: None\n    resources: [{group: "", resources: ["a/b/c"]}]'),
      /rules\[0\]\.resources\[0\]\.resources\[0\]: Invalid value: "a\/b\/c"/,
    ],
    ['an unknown resource field', wrap('  - level: None\n    resources: [{groups: [""]}]'), /rules\[0\]\.resources\[0\]\.groups: unknown field/],
    ['upper-case verbs', wrap('  - level: None\n    verbs: [GET]'), /rules\[0\]\.verbs\[0\]: Invalid value: "GET"/],
    ['the wrong apiVersion', 'apiVersion: audit.k8s.io/v1beta1\nkind: Policy\nrules: [{level: None}]', /apiVersion: must be "audit.k8s.io\/v1"/],
    ['no rules', 'apiVersion: audit.k8s.io/v1\nkind: Policy\n', /rules: Required value/],
    ['not YAML', 'rules: [', /not valid YAML/],
  ])('%s', (_name, text, message) => {
    expect(() => parseAuditPolicy(text, 'policy.yaml')).toThrow(AuditPolicyError);
    expect(() => parseAuditPolicy(text, 'policy.yaml')).toThrow(message);
  });

  it('names the file', () => {
    expect(() => parseAuditPolicy(wrap('  - level: Bad'), '/etc/quantix/audit.yaml')).toThrow(/^\/etc\/quantix\/audit.yaml: rules\[0\]\.level/);
  });
});

describe('manifests/audit/policy.yaml', () => {
  const policy = parseAuditPolicy(readFileSync('manifests/audit/policy.yaml', 'utf8'), 'manifests/audit/policy.yaml');
  const levels = policy.rules.map((r) => r.level);

  it('records nothing at Request or RequestResponse level', () => {
    expect(levels).not.toContain('RequestResponse');
    expect(levels).not.toContain('Request');
  });

  it('audits every write at Metadata, for users and nodes alike', () => {
    for (const user of [admin, viewer, node]) {
      for (const verb of ['create', 'update', 'patch', 'delete', 'deletecollection']) {
        expect(evaluatePolicy(policy, vmRequest(verb, {}, user)).level).toBe('Metadata');
        expect(evaluatePolicy(policy, vmRequest(verb, { subresource: 'status' }, user)).level).toBe('Metadata');
      }
    }
  });

  it("audits people's reads and console sessions at Metadata", () => {
    expect(evaluatePolicy(policy, vmRequest('get', {}, viewer)).level).toBe('Metadata');
    expect(evaluatePolicy(policy, vmRequest('list', {}, admin)).level).toBe('Metadata');
    expect(evaluatePolicy(policy, vmRequest('get', { subresource: 'console' }, admin)).level).toBe('Metadata');
    expect(evaluatePolicy(policy, { user: admin, verb: 'post', path: '/admin/etcd/defragment' }).level).toBe('Metadata');
    // Who read the logs (the audit log included) is audited.
    expect(evaluatePolicy(policy, { user: viewer, verb: 'get', path: '/logs' }).level).toBe('Metadata');
  });

  it('audits node registration and the node streams, not heartbeats or status reports', () => {
    const call = (method: string) => evaluatePolicy(policy, { user: node, verb: 'post', path: `/quantix.gateway.v1.NodeGateway/${method}` }).level;
    expect(evaluatePolicy(policy, { verb: 'post', path: '/quantix.gateway.v1.NodeGateway/RegisterNode' }).level).toBe('Metadata');
    expect(call('WatchDesiredState')).toBe('Metadata');
    expect(call('Tunnel')).toBe('Metadata');
    expect(call('ConsoleSession')).toBe('Metadata');
    expect(call('Heartbeat')).toBe('None');
    expect(call('NotifyVMChange')).toBe('None');
  });

  it("drops the noise: probes, metrics, the UI's static files and log posts, the nodes' reads, Leases", () => {
    expect(evaluatePolicy(policy, { verb: 'get', path: '/readyz' }).level).toBe('None');
    expect(evaluatePolicy(policy, { user: admin, verb: 'get', path: '/metrics' }).level).toBe('None');
    expect(evaluatePolicy(policy, { verb: 'get', path: '/ui/assets/index.js' }).level).toBe('None');
    expect(evaluatePolicy(policy, vmRequest('watch', {}, node)).level).toBe('None');
    expect(evaluatePolicy(policy, vmRequest('get', {}, node)).level).toBe('None');
    expect(evaluatePolicy(policy, { user: viewer, verb: 'post', path: '/logs/ui' }).level).toBe('None');
    expect(
      evaluatePolicy(policy, {
        ...vmRequest('create', {}, admin),
        resource: { apiGroup: 'coordination.k8s.io', resource: 'leases', namespace: 'quantix-system', name: 'x' },
      }).level,
    ).toBe('None');
  });
});
