/**
 * The informer against the real apiserver: list → watch, reconnect after the apiserver
 * goes away, relist when the restarted server answers 410 to the old resourceVersion,
 * and deletes for objects that vanished meanwhile.
 */
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { Etcd3 } from 'etcd3';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { adminClient, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from './client.js';
import { Informer, listerWatcher } from './informer.js';
import { VirtualMachines } from './resources.js';

describe('Informer (integration)', () => {
  let env: TestApiserver;
  let client: HttpApiClient;

  beforeAll(async () => {
    setLogLevel('error');
    env = await startTestApiserver();
    client = await adminClient(env.kubeconfig);
  }, 60_000);

  afterAll(async () => {
    client?.close();
    await env?.stop();
  });

  it('lists, watches, survives an apiserver restart and relists (deleting what vanished)', async () => {
    await client.create(VirtualMachines, vmObject('before'));
    await client.create(VirtualMachines, vmObject('doomed'));
    const informer = new Informer<VirtualMachine>(listerWatcher(client, VirtualMachines), { name: 'vms', initialBackoffMs: 50, maxBackoffMs: 400 });
    const log: string[] = [];
    informer.on({
      add: (o) => log.push(`add ${o.metadata.name}`),
      update: (_o, n) => log.push(`update ${n.metadata.name}`),
      delete: (o) => log.push(`delete ${o.metadata.name}`),
    });
    informer.start();
    try {
      await informer.waitForSync();
      expect(informer.store.keys().sort()).toEqual(['default/before', 'default/doomed']);

      await client.create(VirtualMachines, vmObject('watched'));
      await eventually(() => informer.store.get('default/watched') !== undefined, { message: 'ADDED through the watch' });
      await client.patch(VirtualMachines, 'default', 'watched', { metadata: { labels: { x: 'y' } } });
      await eventually(() => informer.store.get('default/watched')?.metadata.labels?.x === 'y', { message: 'MODIFIED through the watch' });

      // The apiserver goes away and comes back: the informer reconnects from its resourceVersion.
      await env.stopApiserver();
      await eventually(() => informer.stats.reconnects > 0, { message: 'watch ended with the server' });
      await env.restartApiserver();
      await client.create(VirtualMachines, vmObject('after'));
      await eventually(() => informer.store.get('default/after') !== undefined, { timeoutMs: 20_000, message: 'watch resumed after restart' });
      expect(informer.stats.lists).toBe(1);

      // Disconnected, it misses a delete; the apiserver restarts on an etcd whose history
      // before that point is compacted: the old resourceVersion is answered 410 Expired,
      // the informer relists and reports the delete it missed.
      informer.stop();
      await client.delete(VirtualMachines, 'default', 'doomed');
      await env.stopApiserver();
      const etcd = new Etcd3(env.etcd.etcd3Options());
      try {
        const rev = (await etcd.kv.range({ key: Buffer.from('/') })).header.revision;
        await etcd.kv.compact({ revision: rev, physical: true });
      } finally {
        etcd.close();
      }
      await env.restartApiserver();
      informer.start();
      await eventually(() => informer.stats.relistsAfterGone > 0, { timeoutMs: 20_000, message: 'relist after 410 ' + JSON.stringify(informer.stats) });
      await eventually(() => informer.store.get('default/doomed') === undefined, { message: 'vanished object reported deleted' });
      expect(log).toEqual(expect.arrayContaining(['add before', 'add doomed', 'add watched', 'update watched', 'delete doomed', 'add after']));
      expect(informer.backoffMs).toBe(0);
      await client.create(VirtualMachines, vmObject('last'));
      await eventually(() => informer.store.get('default/last') !== undefined, { message: 'watching again after the relist' });
    } finally {
      informer.stop();
    }
  }, 60_000);
});
