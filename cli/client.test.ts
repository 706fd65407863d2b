import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderKubeconfig } from '../apiserver/pki/kubeconfig.js';
import { storagePoolDefinition, virtualMachineDefinition, eventDefinition } from '../api-types/registry.js';
import { Client, defaultKubeconfigPath, loadKubeconfigList } from './client.js';
import { resourcePath } from '../api-types/group-version.js';
import { CliError } from './errors.js';
import { dryRunOutcome } from './commands/apply.js';

describe('resourcePath', () => {
  it('builds group, core, namespaced and cluster-scoped paths', () => {
    expect(resourcePath(virtualMachineDefinition, 'prod', 'web', 'status')).toBe('/apis/quantix.io/v1alpha1/namespaces/prod/virtualmachines/web/status');
    expect(resourcePath(virtualMachineDefinition)).toBe('/apis/quantix.io/v1alpha1/virtualmachines');
    expect(resourcePath(storagePoolDefinition, 'ignored', 'local')).toBe('/apis/quantix.io/v1alpha1/storagepools/local');
    expect(resourcePath(eventDefinition, 'default')).toBe('/api/v1/namespaces/default/events');
  });
});

describe('kubeconfig loading (kubectl semantics)', () => {
  let dir: string;
  const write = (name: string, o: { server: string; user: string; token?: string; namespace?: string; clusterName?: string }) => {
    const path = join(dir, name);
    writeFileSync(path, renderKubeconfig({ caCertPem: '-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n', token: o.token ?? 't', ...o }));
    return path;
  };
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'qxctl-kubeconfig-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('merges several files: first definition and first current-context win, missing files skipped', async () => {
    const a = write('a', { server: 'https://a:6443', user: 'admin' });
    const b = write('b', { server: 'https://b:6443', user: 'viewer', namespace: 'prod' });
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    loadKubeconfigList(k8s, kc, [a, join(dir, 'missing'), b]);
    expect(kc.getCurrentContext()).toBe('admin@quantix');
    expect(kc.getContexts().map((c) => c.name)).toEqual(['admin@quantix', 'viewer@quantix']);
    // Both files name their cluster "quantix": the first one's server is kept.
    expect(kc.clusters.map((c) => c.server)).toEqual(['https://a:6443']);
    expect(() => loadKubeconfigList(k8s, new k8s.KubeConfig(), [join(dir, 'missing')])).toThrow(CliError);
  });

  it('Client: --context switches, its namespace is the default, -n overrides', async () => {
    const a = write('c', { server: 'https://a:6443', user: 'admin' });
    const b = write('d', { server: 'https://b:6443', user: 'viewer', namespace: 'prod', clusterName: 'other' });
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = `${a}:${b}`;
    try {
      expect((await Client.create()).namespace).toBe('default');
      const viewer = await Client.create({ context: 'viewer@other' });
      expect(viewer.namespace).toBe('prod');
      expect(viewer.server).toBe('https://b:6443');
      expect((await Client.create({ context: 'viewer@other', namespace: 'dev' })).namespace).toBe('dev');
      await expect(Client.create({ context: 'nope' })).rejects.toThrow(
        /context "nope" does not exist in the kubeconfig \(contexts: admin@quantix, viewer@other\)/,
      );
      await expect(Client.create({ kubeconfig: join(dir, 'absent') })).rejects.toThrow(/kubeconfig .*absent does not exist/);
    } finally {
      if (saved === undefined) delete process.env.KUBECONFIG;
      else process.env.KUBECONFIG = saved;
    }
  });

  it('finds no kubeconfig when there is none', () => {
    expect(defaultKubeconfigPath({ KUBECONFIG: 'x' })).toBe('KUBECONFIG');
    // No KUBECONFIG, no ~/.kube/config: only the checkout's .quantix/kubeconfig (after `make up`) is left.
    const found = defaultKubeconfigPath({ HOME: dir });
    expect(found === undefined || found.endsWith(join('.quantix', 'kubeconfig'))).toBe(true);
  });
});

describe('dry-run outcome', () => {
  const vm = (cpu: number, rv: string) => ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'web', resourceVersion: rv, managedFields: [] },
    spec: { cpu },
  });
  it('compares the would-be object with the live one', () => {
    expect(dryRunOutcome(200, vm(1, '5'), vm(1, '5'))).toBe('unchanged');
    expect(dryRunOutcome(200, vm(1, '5'), vm(2, '5'))).toBe('configured');
    expect(dryRunOutcome(201, undefined, vm(2, ''))).toBe('created');
  });
});
