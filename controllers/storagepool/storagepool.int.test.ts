/** StoragePool aggregation against a real etcd + apiserver. */
import { POOL_IN_USE_FINALIZER } from '../../api-types/finalizers.js';
import type { Event, StoragePool } from '../../api-types/generated/types.js';
import type { ApiError } from '../../lib/apimachinery/status-error.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { adminClient, GiB, poolObject, SimulatedNodeAgents, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from '../runtime/client.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Events, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';

describe('storagepool controller (integration)', () => {
  let env: TestApiserver;
  let client: HttpApiClient;
  let agents: SimulatedNodeAgents;
  let manager: ControllerManager;
  let managerClient: { close(): void };

  beforeAll(async () => {
    setLogLevel('warn');
    env = await startTestApiserver();
    client = await adminClient(env.kubeconfig);
    await client.create(StoragePools, poolObject('local', ['n1', 'n2', 'n3']));
    await client.create(StoragePools, poolObject('shared', ['n1', 'n2'], 'nfs'));
    agents = new SimulatedNodeAgents(client);
    for (const n of ['n1', 'n2', 'n3']) {
      await agents.register(n, {
        pools: {
          local: { health: 'HEALTHY', totalBytes: 100 * GiB, usedBytes: 10 * GiB },
          ...(n !== 'n3' ? { shared: { health: 'HEALTHY' as const, totalBytes: 1000 * GiB, usedBytes: 300 * GiB } } : {}),
        },
      });
    }
    ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: env.kubeconfig, enabled: ['storagepool'] }));
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    client?.close();
    await env?.stop();
  });

  const getPool = (name: string) => client.get<StoragePool>(StoragePools, undefined, name);

  it('every host HEALTHY: Ready; dir capacity summed, nfs capacity counted once', async () => {
    await eventually(async () => {
      const local = await getPool('local');
      expect(local.status?.phase).toBe('Ready');
      expect(local.status?.capacity).toEqual({ totalBytes: 300 * GiB, usedBytes: 30 * GiB, availableBytes: 270 * GiB });
      const shared = await getPool('shared');
      expect(shared.status?.phase).toBe('Ready');
      expect(shared.status?.capacity).toEqual({ totalBytes: 1000 * GiB, usedBytes: 300 * GiB, availableBytes: 700 * GiB });
    });
  });

  it('one host unhealthy: Degraded, capacity recomputed, PoolDegraded event; back to Ready after', async () => {
    agents.setPoolHealth('n2', 'local', 'UNMOUNTED', 'mount: /var/lib/quantix/pools/local: No such device');
    await agents.heartbeat('n2');
    await eventually(async () => {
      const local = await getPool('local');
      expect(local.status?.phase).toBe('Degraded');
      expect(local.status?.capacity?.totalBytes).toBe(200 * GiB);
      expect(local.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
        status: 'False',
        reason: 'Degraded',
        message: 'healthy on 2/3 assigned nodes; n2: UNMOUNTED (mount: /var/lib/quantix/pools/local: No such device)',
      });
    });
    await eventually(async () => {
      const ev = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=local,reason=PoolDegraded' });
      expect(ev.items).toHaveLength(1);
      expect(ev.items[0]!.involvedObject).toMatchObject({ kind: 'StoragePool', name: 'local' });
    });
    agents.setPoolHealth('n2', 'local', 'HEALTHY');
    await agents.heartbeat('n2');
    await eventually(async () => {
      const local = await getPool('local');
      expect(local.status?.phase).toBe('Ready');
      expect(local.status?.capacity?.totalBytes).toBe(300 * GiB);
    });
  });

  it('unassigning a node drops its host entry; no host healthy → Error', async () => {
    const pool = await getPool('shared');
    await client.patch(StoragePools, undefined, 'shared', { metadata: { resourceVersion: pool.metadata.resourceVersion }, spec: { assignedNodes: ['n1'] } });
    await eventually(async () => expect(Object.keys((await getPool('shared')).status?.hosts ?? {})).toEqual(['n1']));
    agents.setPoolHealth('n1', 'shared', 'ERROR', 'mount.nfs: Connection timed out');
    await agents.heartbeat('n1');
    await eventually(async () => {
      const shared = await getPool('shared');
      expect(shared.status?.phase).toBe('Error');
      expect(shared.status?.capacity).toBeUndefined();
    });
  });

  it('a pool VMs use carries pool-in-use; their node cannot be unassigned (the VMs named); a delete waits until no VM uses it', async () => {
    await client.create(StoragePools, poolObject('used', ['n1', 'n2']));
    await client.create(VirtualMachines, vmObject('user', { pools: ['used'], nodeName: 'n1' }));
    await eventually(async () => expect((await getPool('used')).metadata.finalizers).toEqual([POOL_IN_USE_FINALIZER]));

    const refused = await client.patch(StoragePools, undefined, 'used', { spec: { assignedNodes: ['n2'] } }).then(
      () => undefined,
      (err: unknown) => err as ApiError,
    );
    expect(refused).toMatchObject({ code: 422 });
    expect(refused!.message).toContain('spec.assignedNodes: Forbidden: node "n1" cannot be removed: a VM on it uses pool "used": default/user');
    // n2 has no VM using the pool: it may go.
    await client.patch(StoragePools, undefined, 'used', { spec: { assignedNodes: ['n1'] } });

    await client.delete(StoragePools, undefined, 'used');
    const deleting = await getPool('used');
    expect(deleting.metadata.deletionTimestamp).toBeDefined();
    expect(deleting.metadata.finalizers).toEqual([POOL_IN_USE_FINALIZER]);

    // The VM goes (its cleanup finalizer released as the vm controller would after the agent's cleanup).
    await client.delete(VirtualMachines, 'default', 'user');
    await client.patch(VirtualMachines, 'default', 'user', { metadata: { finalizers: null } });
    await eventually(async () =>
      expect(
        await getPool('used').then(
          () => 'still there',
          (err: ApiError) => err.code,
        ),
      ).toBe(404),
    );
  });

  it('writes nothing when nothing changed (no hot loop)', async () => {
    await eventually(async () => expect((await getPool('local')).status?.phase).toBe('Ready'));
    const before = (await getPool('local')).metadata.resourceVersion;
    const c = manager.controllers.find((x) => x.name === 'storagepool')!;
    const reconciles = c.stats.reconciles;
    c.enqueue('local');
    await eventually(() => c.stats.reconciles > reconciles);
    await c.queue.drained();
    expect((await getPool('local')).metadata.resourceVersion).toBe(before);
  });
});
