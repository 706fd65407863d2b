/**
 * End-to-end: a real etcd, a real quantix-apiserver, and the real /usr/bin/kubectl with
 * default flags.
 */
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Groups, NODE_USER_PREFIX, type Authenticator } from './auth/identity.js';
import { eventually } from '../hack/testenv/eventually.js';
import { kubectl, startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';

const NODE_A_TOKEN = 'node-a-test-token';
const nodeAuthenticator: Authenticator = {
  async authenticate(token) {
    return token === NODE_A_TOKEN ? { name: `${NODE_USER_PREFIX}node-a`, uid: 'node-a', groups: [Groups.nodes, Groups.authenticated] } : undefined;
  },
};

const POOL = `apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: e2e-local
spec:
  type: dir
  dir:
    path: /var/lib/quantix/pools/e2e-local
  assignedNodes: [node-a]
`;

function vmManifest(name: string, extra: { cpu?: number; labels?: string; nodeName?: string; unknown?: boolean } = {}): string {
  return `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: default
  labels:
    app: ${extra.labels ?? 'web'}
spec:
  cpu: ${extra.cpu ?? 1}
  memory: 256Mi
${extra.nodeName ? `  nodeName: ${extra.nodeName}\n` : ''}${extra.unknown ? '  cpus: 4\n' : ''}  disks:
    - name: root
      storagePool: e2e-local
      size: 1Gi
`;
}

describe('kubectl against quantix-apiserver', () => {
  let env: TestApiserver;
  let k: (args: string[], input?: string) => ReturnType<typeof kubectl>;
  const file = (name: string, text: string) => {
    const path = join(env.dataDir, name);
    writeFileSync(path, text);
    return path;
  };

  beforeAll(async () => {
    env = await startTestApiserver({ extraAuthenticators: [nodeAuthenticator] });
    k = (args, input) => kubectl(env.kubeconfig, args, input);
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('lists the API resources with short names and categories', async () => {
    const result = await k(['api-resources', '--api-group=quantix.io']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/virtualmachines\s+vm.*quantix\.io\/v1alpha1\s+true\s+VirtualMachine/);
    expect(result.stdout).toMatch(/storagepools\s+sp\s+quantix\.io\/v1alpha1\s+false\s+StoragePool/);
    expect(result.stdout).toMatch(/nodes\s+\S*\s*quantix\.io\/v1alpha1\s+false\s+Node/);
    const categories = await k(['get', 'quantix', '-A']);
    expect(categories.code).toBe(0);
  });

  it('applies client-side: created, configured, unchanged', async () => {
    const pool = file('pool.yaml', POOL);
    expect((await k(['apply', '-f', pool])).stdout).toContain('storagepool.quantix.io/e2e-local created');
    const vm = file('vm1.yaml', vmManifest('vm1'));
    const created = await k(['apply', '-f', vm]);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('virtualmachine.quantix.io/vm1 created');
    expect((await k(['apply', '-f', vm])).stdout).toContain('virtualmachine.quantix.io/vm1 unchanged');
    const changed = file('vm1b.yaml', vmManifest('vm1', { cpu: 2 }));
    const configured = await k(['apply', '-f', changed]);
    expect(configured.stderr).toBe('');
    expect(configured.stdout).toContain('virtualmachine.quantix.io/vm1 configured');
    const cpu = await k(['get', 'vm', 'vm1', '-o', 'jsonpath={.spec.cpu} {.metadata.generation}']);
    expect(cpu.stdout).toBe('2 2');
  });

  it('applies server-side, and reports conflicts with other managers', async () => {
    const vm = file('vm2.yaml', vmManifest('vm2'));
    const created = await k(['apply', '--server-side', '-f', vm]);
    expect(created.stderr).toBe('');
    expect(created.stdout).toContain('virtualmachine.quantix.io/vm2 serverside-applied');
    const again = await k(['apply', '--server-side', '-f', vm]);
    expect(again.code).toBe(0);
    const managers = await k(['get', 'vm', 'vm2', '--show-managed-fields', '-o', 'jsonpath={.metadata.managedFields[*].manager}']);
    expect(managers.stdout).toContain('kubectl');
    // Another manager changes cpu; re-applying a different cpu conflicts until forced.
    expect((await k(['patch', 'vm', 'vm2', '--type', 'merge', '-p', '{"spec":{"cpu":3}}'])).code).toBe(0);
    const conflicting = file('vm2b.yaml', vmManifest('vm2', { cpu: 4 }));
    const conflict = await k(['apply', '--server-side', '-f', conflicting]);
    expect(conflict.code).not.toBe(0);
    expect(conflict.stderr).toMatch(/conflict/i);
    expect(conflict.stderr).toContain('.spec.cpu');
    const forced = await k(['apply', '--server-side', '--force-conflicts', '-f', conflicting]);
    expect(forced.stderr).toBe('');
    expect((await k(['get', 'vm', 'vm2', '-o', 'jsonpath={.spec.cpu}'])).stdout).toBe('4');
  });

  it('gets tables, wide, yaml, json, by label and across namespaces', async () => {
    await k(['apply', '-f', file('vm3.yaml', vmManifest('vm3', { labels: 'db' }))]);
    const table = await k(['get', 'vms']);
    expect(table.stderr).toBe('');
    expect(table.stdout.split('\n')[0]).toMatch(/^NAME\s+PHASE\s+NODE\s+IP\s+CPU\s+MEMORY\s+(READY\s+)?AGE/);
    expect(table.stdout).toMatch(/vm1\s+.*\s+2\s+256Mi/);
    const wide = await k(['get', 'vms', '-o', 'wide']);
    expect(wide.stdout.split('\n')[0]).toMatch(/ORIGIN\s+MANAGED$/);
    const yaml = await k(['get', 'vm', 'vm1', '-o', 'yaml']);
    expect(yaml.stdout).toContain('kind: VirtualMachine');
    expect(yaml.stdout).toContain('runStrategy: Always');
    const json = JSON.parse((await k(['get', 'vms', '-o', 'json'])).stdout);
    expect(json.kind).toBe('List');
    expect(json.items.every((item: { kind: string }) => item.kind === 'VirtualMachine')).toBe(true);
    const byLabel = await k(['get', 'vms', '-l', 'app=db', '-o', 'name']);
    expect(byLabel.stdout.trim()).toBe('virtualmachine.quantix.io/vm3');
    const notIn = await k(['get', 'vms', '-l', 'app notin (db)', '-o', 'name']);
    expect(notIn.stdout).not.toContain('vm3');
    const all = await k(['get', 'vms', '-A']);
    expect(all.stdout.split('\n')[0]).toMatch(/^NAMESPACE\s+NAME/);
    const pools = await k(['get', 'storagepools']);
    expect(pools.stdout.split('\n')[0]).toMatch(/^NAME\s+TYPE\s+PHASE\s+CAPACITY\s+NODES/);
    const byField = await k(['get', 'vms', '--field-selector', 'metadata.name=vm3', '-o', 'name']);
    expect(byField.stdout.trim()).toBe('virtualmachine.quantix.io/vm3');
    const badField = await k(['get', 'vms', '--field-selector', 'spec.bogus=x']);
    expect(badField.code).not.toBe(0);
    expect(badField.stderr).toContain('spec.bogus');
  });

  it('watches with get -w and prints changes', async () => {
    const child = spawn('kubectl', ['--kubeconfig', env.kubeconfig, 'get', 'vms', '-w'], {
      env: { ...process.env, KUBECACHEDIR: join(env.dataDir, 'kube-cache') },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    try {
      await eventually(() => output.includes('vm1'), { message: 'initial list printed' });
      await k(['apply', '-f', file('vm-watch.yaml', vmManifest('vm-watch'))]);
      await eventually(() => output.includes('vm-watch'), { message: 'new VM printed by the watch' });
    } finally {
      child.kill();
    }
    expect(output).not.toMatch(/error/i);
  });

  it('patches with merge and json patches, and status through the subresource', async () => {
    const merge = await k(['patch', 'vm', 'vm1', '--type', 'merge', '-p', '{"metadata":{"labels":{"tier":"gold"}}}']);
    expect(merge.stdout).toContain('virtualmachine.quantix.io/vm1 patched');
    const json = await k(['patch', 'vm', 'vm1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/cpu","value":3}]']);
    expect(json.stdout).toContain('patched');
    const noop = await k(['patch', 'vm', 'vm1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/cpu","value":3}]']);
    expect(noop.stdout).toContain('patched (no change)');
    const badJson = await k(['patch', 'vm', 'vm1', '--type', 'json', '-p', '[{"op":"replace","path":"/spec/nothere/x","value":3}]']);
    expect(badJson.code).not.toBe(0);
    // status in the main resource is ignored…
    await k(['patch', 'vm', 'vm1', '--type', 'merge', '-p', '{"status":{"phase":"Running"}}']);
    expect((await k(['get', 'vm', 'vm1', '-o', 'jsonpath={.status.phase}'])).stdout).toBe('');
    // …and written through /status, which leaves spec alone.
    const status = await k(['patch', 'vm', 'vm1', '--subresource=status', '--type', 'merge', '-p', '{"status":{"phase":"Running"},"spec":{"cpu":8}}']);
    expect(status.stderr).toBe('');
    expect((await k(['get', 'vm', 'vm1', '-o', 'jsonpath={.status.phase} {.spec.cpu}'])).stdout).toBe('Running 3');
    const smp = await k(['patch', 'vm', 'vm1', '-p', '{"spec":{"cpu":2}}']);
    expect(smp.code).not.toBe(0);
    expect(smp.stderr).toMatch(/415|media type|UnsupportedMediaType/i);
  });

  it('waits for a jsonpath condition', async () => {
    const result = await k(['wait', 'vm/vm1', '--for=jsonpath={.status.phase}=Running', '--timeout=20s']);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('condition met');
  });

  it('describes a VM with its events, and explains the schema', async () => {
    const uid = (await k(['get', 'vm', 'vm1', '-o', 'jsonpath={.metadata.uid}'])).stdout;
    const event = {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'vm1.started', namespace: 'default' },
      involvedObject: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', name: 'vm1', namespace: 'default', uid },
      reason: 'Started',
      message: 'Domain started on node-a',
      type: 'Normal',
      count: 1,
      firstTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      lastTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      source: { component: 'quantix-agent', host: 'node-a' },
    };
    const created = await k(['create', '-f', '-'], JSON.stringify(event));
    expect(created.stderr).toBe('');
    const described = await k(['describe', 'vm', 'vm1']);
    expect(described.stderr).toBe('');
    expect(described.stdout).toMatch(/Name:\s+vm1/);
    expect(described.stdout).toMatch(/Events:[\s\S]*Started[\s\S]*Domain started on node-a/);
    const explained = await k(['explain', 'vm.spec']);
    expect(explained.stderr).toBe('');
    expect(explained.stdout).toContain('runStrategy');
    expect(explained.stdout).toContain('memory');
  });

  it('rejects unknown fields under strict validation and warns by default', async () => {
    const bad = file('vm-bad.yaml', vmManifest('vm-bad', { unknown: true }));
    const strict = await k(['apply', '--validate=strict', '-f', bad]);
    expect(strict.code).not.toBe(0);
    expect(strict.stderr).toContain('unknown field "spec.cpus"');
    expect((await k(['get', 'vm', 'vm-bad'])).code).not.toBe(0);
    const warn = await k(['create', '--validate=warn', '-f', bad]);
    expect(warn.code).toBe(0);
    expect(warn.stderr).toContain('unknown field "spec.cpus"');
    const invalid = await k(['apply', '-f', '-'], vmManifest('vm-invalid').replace('memory: 256Mi', 'memory: lots'));
    expect(invalid.code).not.toBe(0);
    expect(invalid.stderr).toContain('spec.memory');
  });

  it('refuses writes for a viewer and spec changes or foreign VMs for a node', async () => {
    const viewer = await kubectl(env.viewerKubeconfig, ['delete', 'vm', 'vm1']);
    expect(viewer.code).not.toBe(0);
    expect(viewer.stderr).toMatch(/forbidden: User "viewer" cannot delete resource "virtualmachines"/);
    expect((await kubectl(env.viewerKubeconfig, ['get', 'vms'])).code).toBe(0);

    await k(['apply', '-f', file('vm-a.yaml', vmManifest('vm-on-a', { nodeName: 'node-a' }))]);
    await k(['apply', '-f', file('vm-b.yaml', vmManifest('vm-on-b', { nodeName: 'node-b' }))]);
    const nodeConfig = env.kubeconfigFor('node-a', NODE_A_TOKEN);
    const asNode = (args: string[]) => kubectl(nodeConfig, args);
    const statusOwn = await asNode(['patch', 'vm', 'vm-on-a', '--subresource=status', '--type', 'merge', '-p', '{"status":{"phase":"Running"}}']);
    expect(statusOwn.stderr).toBe('');
    const specOwn = await asNode(['patch', 'vm', 'vm-on-a', '--type', 'merge', '-p', '{"spec":{"cpu":4}}']);
    expect(specOwn.code).not.toBe(0);
    expect(specOwn.stderr).toContain('forbidden');
    const foreign = await asNode(['patch', 'vm', 'vm-on-b', '--subresource=status', '--type', 'merge', '-p', '{"status":{"phase":"Running"}}']);
    expect(foreign.code).not.toBe(0);
    expect(foreign.stderr).toContain('forbidden');
    const visible = await asNode(['get', 'vms', '-o', 'name']);
    expect(visible.stdout.trim()).toBe('virtualmachine.quantix.io/vm-on-a');

    // A shared pool: each node reads its own host entry only, in get, list and watch.
    const hosts = { 'node-a': { health: 'HEALTHY', message: 'a' }, 'node-b': { health: 'DEGRADED', message: 'b' } };
    const patched = await k(['patch', 'sp', 'e2e-local', '--subresource=status', '--type', 'merge', '-p', JSON.stringify({ status: { hosts } })]);
    expect(patched.stderr).toBe('');
    expect(Object.keys(JSON.parse((await k(['get', 'sp', 'e2e-local', '-o', 'json'])).stdout).status.hosts)).toEqual(['node-a', 'node-b']);
    expect(JSON.parse((await asNode(['get', 'sp', 'e2e-local', '-o', 'json'])).stdout).status.hosts).toEqual({ 'node-a': hosts['node-a'] });
    const listed = JSON.parse((await asNode(['get', 'sp', '-o', 'json'])).stdout) as { items: { status: { hosts: object } }[] };
    expect(listed.items.map((p) => p.status.hosts)).toEqual([{ 'node-a': hosts['node-a'] }]);
    const watched = await asNode(['get', '--raw', '/apis/quantix.io/v1alpha1/storagepools?watch=true&resourceVersion=0&timeoutSeconds=1']);
    const events = watched.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; object: { status: { hosts: object } } });
    expect(events.map((e) => [e.type, e.object.status.hosts])).toEqual([['ADDED', { 'node-a': hosts['node-a'] }]]);
  });

  it('answers kubectl auth whoami and kubectl auth can-i for admin, viewer and node identities', async () => {
    const admin = await k(['auth', 'whoami', '-o', 'json']);
    expect(admin.stderr).toBe('');
    expect(admin.code).toBe(0);
    expect(JSON.parse(admin.stdout)).toMatchObject({
      kind: 'SelfSubjectReview',
      status: { userInfo: { username: 'admin', groups: expect.arrayContaining([Groups.admins]) } },
    });
    const viewerWho = await kubectl(env.viewerKubeconfig, ['auth', 'whoami']);
    expect(viewerWho.stdout).toMatch(/Username\s+viewer/);
    const nodeConfig = env.kubeconfigFor('node-a', NODE_A_TOKEN);
    expect((await kubectl(nodeConfig, ['auth', 'whoami'])).stdout).toMatch(/Username\s+quantix:node:node-a/);

    // can-i: "yes" with exit code 0, "no - <the rule that refused>" with exit code 1, as kubectl prints them.
    const canI = async (config: string, args: string[]) => {
      const r = await kubectl(config, ['auth', 'can-i', ...args]);
      return `${r.stdout.trim()}${r.stderr.trim()} ${r.code}`;
    };
    expect(await canI(env.kubeconfig, ['delete', 'vms'])).toBe('yes 0');
    expect(await canI(env.kubeconfig, ['*', '*'])).toBe('yes 0');
    expect(await canI(env.viewerKubeconfig, ['list', 'virtualmachines.quantix.io'])).toBe('yes 0');
    expect(await canI(env.viewerKubeconfig, ['create', 'vms', '-n', 'default'])).toBe('no - viewers may only get, list and watch 1');
    expect(await canI(env.viewerKubeconfig, ['get', '/metrics'])).toBe('yes 0');
    expect(await canI(nodeConfig, ['patch', 'vms', '--subresource=status'])).toBe('yes 0');
    expect(await canI(nodeConfig, ['create', 'vms'])).toBe('no - a node may only read VMs bound to it and write their status 1');
    expect(await canI(nodeConfig, ['get', 'nodes.quantix.io/node-b', '-A'])).toBe('no - a node may only access its own Node "node-a" 1');
    expect(await canI(nodeConfig, ['get', '/metrics'])).toBe('no - no role grants get on /metrics 1');
    expect(await canI(nodeConfig, ['create', 'events', '-n', 'finance'])).toBe('no - not permitted for node credentials 1');
  });

  it('deletes with and without finalizers', async () => {
    const plain = await k(['delete', 'vm', 'vm3']);
    expect(plain.stdout).toContain('virtualmachine.quantix.io "vm3" deleted');
    expect((await k(['get', 'vm', 'vm3'])).stderr).toContain('NotFound');

    await k(['patch', 'vm', 'vm2', '--type', 'merge', '-p', '{"metadata":{"finalizers":["quantix.io/test"]}}']);
    const pending = await k(['delete', 'vm', 'vm2', '--wait=false']);
    expect(pending.code).toBe(0);
    const deleting = await k(['get', 'vm', 'vm2', '-o', 'jsonpath={.metadata.deletionTimestamp}']);
    expect(deleting.stdout).not.toBe('');
    await k(['patch', 'vm', 'vm2', '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']);
    await eventually(async () => (await k(['get', 'vm', 'vm2'])).stderr.includes('NotFound'), { message: 'vm2 removed after its finalizer' });

    const vm1File = file('vm1-delete.yaml', vmManifest('vm1'));
    const byFile = await k(['delete', '-f', vm1File]);
    expect(byFile.stdout).toContain('virtualmachine.quantix.io "vm1" deleted');
  });
});
