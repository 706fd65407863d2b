/**
 * End-to-end: an informer from @kubernetes/client-node lists, watches, survives an
 * apiserver restart, and relists after the restarted server answers 410 Expired to its
 * old resourceVersion.
 */
import { CustomObjectsApi, KubeConfig, makeInformer, type KubernetesObject } from '@kubernetes/client-node';
import { Etcd3 } from 'etcd3';
import { virtualMachineDefinition } from '../api-types/registry.js';
import { storageResourceOf } from './registry/served-resource.js';
import { EtcdStore } from './storage/etcd-store.js';
import { eventually } from '../hack/testenv/eventually.js';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';

const GROUP = 'quantix.io';
const VERSION = 'v1alpha1';
const PLURAL = 'virtualmachines';

function vm(name: string) {
  return {
    apiVersion: `${GROUP}/${VERSION}`,
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: { memory: '128Mi', disks: [{ name: 'root', storagePool: 'p', size: '1Gi' }] },
  };
}

describe('client-node informer against quantix-apiserver', () => {
  let env: TestApiserver;
  beforeAll(async () => {
    env = await startTestApiserver();
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('lists, watches, survives a restart and relists after 410', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(env.kubeconfig);
    const api = kc.makeApiClient(CustomObjectsApi);
    await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL, body: vm('before') });

    let lists = 0;
    const listFn = async () => {
      lists++;
      return (await api.listNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL })) as {
        metadata: { resourceVersion: string };
        items: KubernetesObject[];
      };
    };
    const informer = makeInformer(kc, `/apis/${GROUP}/${VERSION}/namespaces/default/${PLURAL}`, listFn as never);
    const seen = new Map<string, KubernetesObject>();
    const errors: unknown[] = [];
    informer.on('add', (obj) => seen.set(obj.metadata!.name!, obj));
    informer.on('update', (obj) => seen.set(obj.metadata!.name!, obj));
    informer.on('delete', (obj) => seen.delete(obj.metadata!.name!));
    let restarting = false;
    let finished = false;
    informer.on('error', (err) => {
      errors.push(err);
      // The informer stops on a connection error; restart it (with backoff in real code).
      if (!restarting && !finished) {
        restarting = true;
        setTimeout(() => {
          restarting = false;
          if (!finished) void informer.start().catch(() => undefined);
        }, 200);
      }
    });
    await informer.start();
    try {
      await eventually(() => seen.has('before'), { message: 'initial list' });
      expect(lists).toBe(1);

      await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL, body: vm('watched') });
      await eventually(() => seen.has('watched'), { message: 'ADDED through the watch' });

      await env.stopApiserver();
      await eventually(() => errors.length > 0, { message: 'informer noticed the server going away' });
      // While the server is down, the world moves on (written straight through the storage
      // layer to the same etcd), so the informer's resourceVersion is older than anything
      // the restarted server's watch cache holds.
      const etcd = new Etcd3(env.etcd.etcd3Options());
      const store = new EtcdStore(etcd, storageResourceOf(virtualMachineDefinition as never));
      await store.create(vm('while-down') as never);
      etcd.close();
      await env.restartApiserver();

      // The informer's watch from its old resourceVersion is answered with 410 Expired; it relists.
      await eventually(() => lists >= 2, { timeoutMs: 20_000, message: 'informer relisted after 410' });
      await eventually(() => seen.has('while-down'), { message: 'object written while the server was down, found by the relist' });
      await api.createNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL, body: vm('after') });
      await eventually(() => seen.has('after'), { timeoutMs: 20_000, message: 'watch resumed after restart' });
      await api.deleteNamespacedCustomObject({ group: GROUP, version: VERSION, namespace: 'default', plural: PLURAL, name: 'before' });
      await eventually(() => !seen.has('before'), { message: 'DELETED delivered' });
      expect([...seen.keys()].sort()).toEqual(['after', 'watched', 'while-down']);
    } finally {
      finished = true;
      await informer.stop();
    }
  });
});
