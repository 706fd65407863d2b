/** Node lifecycle against a real etcd + apiserver: heartbeats stop → Unknown; back → Ready. */
import type { Event, Lease, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { NODE_LEASE_NAMESPACE } from '../../api-types/node-lease.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { adminClient, poolObject, SimulatedNodeAgents, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from '../runtime/client.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Events, Leases, Nodes, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';

const GRACE_MS = 2000;
const HEARTBEAT_MS = 300;

describe('node-lifecycle controller (integration)', () => {
  let env: TestApiserver;
  let client: HttpApiClient;
  let agents: SimulatedNodeAgents;
  let manager: ControllerManager;
  let managerClient: { close(): void };

  beforeAll(async () => {
    setLogLevel('warn');
    env = await startTestApiserver();
    client = await adminClient(env.kubeconfig);
    await client.create(StoragePools, poolObject('fast', ['n1', 'n2']));
    agents = new SimulatedNodeAgents(client, HEARTBEAT_MS);
    await agents.register('n1', { pools: { fast: { health: 'HEALTHY' } } });
    await agents.register('n2', { pools: { fast: { health: 'HEALTHY' } } });
    agents.start();
    ({ manager, client: managerClient } = await startControllerManager({
      kubeconfig: env.kubeconfig,
      nodelifecycle: { gracePeriodMs: GRACE_MS, resyncPeriodMs: 1000 },
    }));
    for (const n of ['n1', 'n2']) await client.create(VirtualMachines, vmObject(`vm-${n}`, { nodeName: n }));
    // The agents start their VMs (a full sync reports them Running).
    await eventually(async () => expect((await client.get<VirtualMachine>(VirtualMachines, 'default', 'vm-n1')).status?.phase).toBe('Scheduled'));
    await agents.fullSync('n1');
    await agents.fullSync('n2');
  }, 60_000);

  afterAll(async () => {
    await agents?.stop();
    await manager?.stop();
    managerClient?.close();
    client?.close();
    await env?.stop();
  });

  const ready = async (name: string) => (await client.get<Node>(Nodes, undefined, name)).status?.conditions?.find((c) => c.type === 'Ready');
  const vm = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);

  it('heartbeats stop → node Ready=Unknown, its VMs Unknown (not Lost), its pool entry UNMOUNTED, within grace + one resync', async () => {
    await eventually(async () => expect((await vm('vm-n1')).status?.phase).toBe('Running'));
    agents.setHeartbeating('n1', false);
    await eventually(async () => expect(await ready('n1')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' }), {
      timeoutMs: GRACE_MS + 1000 + 5000,
    });
    await eventually(async () => {
      const v = await vm('vm-n1');
      expect(v.status?.phase).toBe('Unknown');
      expect(v.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeUnreachable' });
    });
    await eventually(async () => {
      const pool = await client.get<StoragePool>(StoragePools, undefined, 'fast');
      expect(pool.status?.hosts?.n1).toMatchObject({ health: 'UNMOUNTED', message: expect.stringContaining('node n1 is not heartbeating') });
      expect(pool.status?.phase).toBe('Degraded');
    });
    // The other node and its VM are untouched.
    expect(await ready('n2')).toMatchObject({ status: 'True' });
    expect((await vm('vm-n2')).status?.phase).toBe('Running');
    const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=n1,reason=NodeNotReady' });
    expect(events.items).toHaveLength(1);
    // A new VM is not scheduled onto the silent node.
    await client.create(VirtualMachines, vmObject('new'));
    await eventually(async () => expect((await vm('new')).spec.nodeName).toBe('n2'));
  });

  it('heartbeats return → node Ready again; the full sync restores its VMs and pool entry', async () => {
    agents.setHeartbeating('n1', true);
    await eventually(async () => expect((await ready('n1'))?.status).toBe('True'), { timeoutMs: 10_000 });
    await agents.fullSync('n1');
    await eventually(async () => {
      const v = await vm('vm-n1');
      expect(v.status?.phase).toBe('Running');
      expect(v.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
      const pool = await client.get<StoragePool>(StoragePools, undefined, 'fast');
      expect(pool.status?.hosts?.n1?.health).toBe('HEALTHY');
      expect(pool.status?.phase).toBe('Ready');
    });
  });

  it('a deleted Node takes its node Lease with it; a Lease whose Node never existed goes too; a live node keeps its Lease', async () => {
    const lease = (name: string): Lease => ({
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { name, namespace: NODE_LEASE_NAMESPACE },
      spec: { holderIdentity: 'gateway/test', leaseDurationSeconds: 40, renewTime: new Date().toISOString() },
    });
    const leaseGone = async (name: string) => {
      await expect(client.get<Lease>(Leases, NODE_LEASE_NAMESPACE, name)).rejects.toMatchObject({ code: 404 });
      return true;
    };
    await client.create<Node>(Nodes, { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'leaving' }, spec: {} });
    await client.create(Leases, lease('leaving'));
    await client.create(Leases, lease('n2'));
    await client.create(Leases, lease('never-joined'));
    await eventually(() => leaseGone('never-joined'), { message: 'the Lease without a Node deleted' });
    // Reconciled with their Nodes present (each Lease's add was enqueued with the orphan's): kept.
    expect((await client.get<Lease>(Leases, NODE_LEASE_NAMESPACE, 'leaving')).spec?.holderIdentity).toBe('gateway/test');
    expect((await client.get<Lease>(Leases, NODE_LEASE_NAMESPACE, 'n2')).spec?.holderIdentity).toBe('gateway/test');

    await client.delete(Nodes, undefined, 'leaving');
    await eventually(() => leaseGone('leaving'), { message: "the deleted Node's Lease deleted" });
    expect((await client.get<Lease>(Leases, NODE_LEASE_NAMESPACE, 'n2')).metadata.name).toBe('n2');
    expect(await ready('n2')).toMatchObject({ status: 'True' });
  });
});
