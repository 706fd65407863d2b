/**
 * Scheduler against a real etcd + apiserver, three simulated nodes.
 */
import type { Event, Node, VirtualMachine } from '../../api-types/generated/types.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { adminClient, networkObject, poolObject, SimulatedNodeAgents, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from '../runtime/client.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Events, Networks, Nodes, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startControllerManager } from '../setup.js';

describe('scheduler (integration)', () => {
  let env: TestApiserver;
  let client: HttpApiClient;
  let agents: SimulatedNodeAgents;
  let manager: ControllerManager;
  let managerClient: { close(): void };

  beforeAll(async () => {
    setLogLevel('warn');
    env = await startTestApiserver();
    client = await adminClient(env.kubeconfig);
    await client.create(StoragePools, poolObject('fast', ['node-a', 'node-b']));
    await client.create(StoragePools, poolObject('slow', ['node-a', 'node-b', 'node-c']));
    agents = new SimulatedNodeAgents(client);
    await agents.register('node-a', { memGi: 8, pools: { fast: { health: 'HEALTHY' }, slow: { health: 'HEALTHY' } } });
    await agents.register('node-b', { memGi: 8, pools: { fast: { health: 'HEALTHY' }, slow: { health: 'HEALTHY' } } });
    await agents.register('node-c', { memGi: 64, pools: { slow: { health: 'HEALTHY' } } });
    ({ manager, client: managerClient } = await startControllerManager({
      kubeconfig: env.kubeconfig,
      enabled: ['scheduler', 'nodeallocation', 'vm', 'storagepool'],
      nodeallocation: { batchMs: 200 },
    }));
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    client?.close();
    await env?.stop();
  });

  const getVm = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);

  it('a pool assigned to 2 of 3 nodes: its VMs land only there, spread over both', async () => {
    const names = Array.from({ length: 6 }, (_, i) => `fast-${i}`);
    await Promise.all(names.map((n) => client.create(VirtualMachines, vmObject(n, { pools: ['fast'] }))));
    const bound = await eventually(
      async () => {
        const vms = await Promise.all(names.map(getVm));
        return vms.every((v) => v.spec.nodeName) && vms.map((v) => v.spec.nodeName!);
      },
      { timeoutMs: 15_000, message: 'all fast VMs bound' },
    );
    expect(new Set(bound)).toEqual(new Set(['node-a', 'node-b']));
    // The vm controller follows: phase Scheduled, Scheduled=True, finalizer.
    await eventually(async () => {
      const v = await getVm('fast-0');
      expect(v.status?.phase).toBe('Scheduled');
      expect(v.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'True', reason: 'Bound' });
      expect(v.metadata.finalizers).toContain('quantix.io/vm-cleanup');
    });
    const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=fast-0,reason=Scheduled' });
    expect(events.items[0]?.message).toMatch(/^Successfully assigned default\/fast-0 to node-[ab]$/);
  });

  it('an unschedulable VM explains why in its Scheduled condition and a FailedScheduling Event, and is bound once it fits', async () => {
    await client.create(VirtualMachines, vmObject('big', { pools: ['fast'], memory: '16Gi' }));
    const expected = '0/3 nodes available: 2 insufficient memory, 1 pool "fast" not assigned';
    await eventually(
      async () => {
        const v = await getVm('big');
        expect(v.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable', message: expected });
        expect(v.status?.phase).toBe('Pending');
      },
      { timeoutMs: 15_000 },
    );
    await eventually(async () => {
      const ev = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=big,reason=FailedScheduling' });
      expect(ev.items).toHaveLength(1);
      expect(ev.items[0]).toMatchObject({ type: 'Warning', message: expected, involvedObject: { kind: 'VirtualMachine', name: 'big' } });
    });
    // node-c gets the pool: the pool change wakes the scheduler.
    const pool = await client.get(StoragePools, undefined, 'fast');
    await client.patch(StoragePools, undefined, 'fast', {
      metadata: { resourceVersion: pool.metadata.resourceVersion },
      spec: { assignedNodes: ['node-a', 'node-b', 'node-c'] },
    });
    agents.setPoolHealth('node-c', 'fast', 'HEALTHY');
    await agents.heartbeat('node-c');
    await eventually(async () => expect((await getVm('big')).spec.nodeName).toBe('node-c'), { timeoutMs: 15_000 });
    await eventually(async () =>
      expect((await getVm('big')).status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'True', reason: 'Bound' }),
    );
  });

  it('a VM pinned to a node without its pool is flagged, not bound elsewhere', async () => {
    await client.create(VirtualMachines, vmObject('pinned', { pools: ['slow', 'ghost'], nodeName: 'node-a' }));
    await eventually(
      async () => {
        const v = await getVm('pinned');
        expect(v.spec.nodeName).toBe('node-a');
        expect(v.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({
          status: 'False',
          reason: 'NodeNotSuitable',
          message: 'node "node-a" cannot run the VM: pool "ghost" not found',
        });
        expect(v.status?.phase).toBe('Pending');
      },
      { timeoutMs: 15_000 },
    );
  });

  it('node status.allocated follows the VMs bound to each node', async () => {
    await eventually(
      async () => {
        const { items } = await client.list<VirtualMachine>(VirtualMachines, { namespace: 'default' });
        for (const name of ['node-a', 'node-b', 'node-c']) {
          const bound = items.filter((v) => v.spec.nodeName === name);
          const node = await client.get<Node>(Nodes, undefined, name);
          expect(node.status?.allocated?.vmCount ?? 0).toBe(bound.length);
          expect(node.status?.allocated?.cpu ?? 0).toBe(bound.reduce((n, v) => n + (v.spec.cpu ?? 1), 0));
        }
      },
      { timeoutMs: 15_000 },
    );
  });

  it('converged VMs cost no writes: every controller reconciles them again and nothing changes', async () => {
    await eventually(async () => expect((await getVm('fast-1')).status?.phase).toBe('Scheduled'));
    const before = (await getVm('fast-1')).metadata.resourceVersion;
    for (const c of manager.controllers) {
      const n = c.stats.reconciles;
      c.enqueue('default/fast-1');
      await eventually(() => c.stats.reconciles > n);
      await c.queue.drained();
    }
    expect((await getVm('fast-1')).metadata.resourceVersion).toBe(before);
  });

  it('a cordoned node gets no new VMs', async () => {
    const node = await client.get(Nodes, undefined, 'node-c');
    await client.patch(Nodes, undefined, 'node-c', { metadata: { resourceVersion: node.metadata.resourceVersion }, spec: { unschedulable: true } });
    await client.create(VirtualMachines, vmObject('cordon-test', { pools: ['slow'], memory: '20Gi' }));
    await eventually(
      async () =>
        expect((await getVm('cordon-test')).status?.conditions?.find((c) => c.type === 'Scheduled')?.message).toBe(
          '0/3 nodes available: 2 insufficient memory, 1 node unschedulable',
        ),
      { timeoutMs: 15_000 },
    );
    await client.patch(Nodes, undefined, 'node-c', { spec: { unschedulable: false } });
    await eventually(async () => expect((await getVm('cordon-test')).spec.nodeName).toBe('node-c'), { timeoutMs: 15_000 });
  });

  it('a VM waits for its Network to be active on a node, and for its host bridge to exist; the reasons name the nodes', async () => {
    const scheduledMessage = async (name: string) => (await getVm(name)).status?.conditions?.find((c) => c.type === 'Scheduled')?.message;
    await client.create(Networks, networkObject('lan', ['node-a', 'node-b']));
    agents.setNetworkState('node-a', 'lan', false, 'internal error: Network is already in use by interface eth0');
    agents.setNetworkState('node-b', 'lan', false);
    await agents.heartbeat('node-a');
    await agents.heartbeat('node-b');

    await client.create(
      VirtualMachines,
      vmObject('on-lan', { pools: ['slow'], memory: '256Mi', networks: [{ name: 'eth0', type: 'network', source: 'lan' }] }),
    );
    await eventually(
      async () =>
        expect(await scheduledMessage('on-lan')).toBe(
          '0/3 nodes available: 2 network "lan" is not active (node-a, node-b), 1 network "lan" is not assigned (node-c)',
        ),
      { timeoutMs: 15_000 },
    );
    // node-b's agent reports the network active: the Network's status change wakes the scheduler.
    agents.setNetworkState('node-b', 'lan', true);
    await agents.heartbeat('node-b');
    await eventually(async () => expect((await getVm('on-lan')).spec.nodeName).toBe('node-b'), { timeoutMs: 15_000 });

    await client.create(VirtualMachines, vmObject('on-br0', { pools: ['slow'], memory: '256Mi', networks: [{ name: 'eth0', type: 'bridge', source: 'br0' }] }));
    await eventually(async () => expect(await scheduledMessage('on-br0')).toBe('0/3 nodes available: 3 bridge "br0" does not exist (node-a, node-b, node-c)'), {
      timeoutMs: 15_000,
    });
    await eventually(async () => {
      const ev = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=on-br0,reason=FailedScheduling' });
      expect(ev.items[0]?.message).toContain('bridge "br0" does not exist');
    });
    // The bridge appears on node-c (Node.status.bridges): the node change wakes the scheduler.
    agents.setBridges('node-c', ['br0']);
    await agents.heartbeat('node-c');
    await eventually(async () => expect((await getVm('on-br0')).spec.nodeName).toBe('node-c'), { timeoutMs: 15_000 });
  });
});
