/** Network aggregation against a real etcd + apiserver. */
import type { Event, Network } from '../../api-types/generated/types.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { adminClient, networkObject, SimulatedNodeAgents } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from '../runtime/client.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Events, Networks } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';

const REFUSED = 'internal error: Network is already in use by interface eth0';

describe('network controller (integration)', () => {
  let env: TestApiserver;
  let client: HttpApiClient;
  let agents: SimulatedNodeAgents;
  let manager: ControllerManager;
  let managerClient: { close(): void };

  beforeAll(async () => {
    setLogLevel('warn');
    env = await startTestApiserver();
    client = await adminClient(env.kubeconfig);
    await client.create(Networks, networkObject('lan', ['n1', 'n2', 'n3']));
    await client.create(Networks, networkObject('quiet', ['n1'], '10.213.8'));
    agents = new SimulatedNodeAgents(client);
    for (const n of ['n1', 'n2', 'n3']) await agents.register(n, { networks: { lan: { active: true } } });
    ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: env.kubeconfig, enabled: ['network'] }));
  }, 60_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    client?.close();
    await env?.stop();
  });

  const getNetwork = (name: string) => client.get<Network>(Networks, undefined, name);
  const ready = (n: Network) => n.status?.conditions?.find((c) => c.type === 'Ready');

  it('active on every assigned host: Ready; nothing reported yet: Pending', async () => {
    await eventually(async () => {
      const lan = await getNetwork('lan');
      expect(lan.status?.phase).toBe('Ready');
      expect(ready(lan)).toMatchObject({ status: 'True', reason: 'Ready', message: 'active on 3/3 assigned nodes' });
      expect(lan.status?.observedGeneration).toBe(1);
      const quiet = await getNetwork('quiet');
      expect(quiet.status?.phase).toBe('Pending');
      expect(ready(quiet)).toMatchObject({ status: 'False', reason: 'Pending', message: 'active on 0/1 assigned nodes; n1: not reported' });
    });
  });

  it("libvirt refuses it on one host: Degraded naming the host and libvirt's message, NetworkDegraded event; back to Ready after", async () => {
    agents.setNetworkState('n2', 'lan', false, REFUSED);
    await agents.heartbeat('n2');
    await eventually(async () => {
      const lan = await getNetwork('lan');
      expect(lan.status?.phase).toBe('Degraded');
      expect(ready(lan)).toMatchObject({ status: 'False', reason: 'Degraded', message: `active on 2/3 assigned nodes; n2: not active (${REFUSED})` });
    });
    await eventually(async () => {
      const ev = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=lan,reason=NetworkDegraded' });
      expect(ev.items).toHaveLength(1);
      expect(ev.items[0]!.involvedObject).toMatchObject({ kind: 'Network', name: 'lan' });
    });
    agents.setNetworkState('n2', 'lan', true);
    await agents.heartbeat('n2');
    await eventually(async () => expect((await getNetwork('lan')).status?.phase).toBe('Ready'));
  });

  it('unassigning a node drops its host entry; active on no remaining host → Error', async () => {
    const lan = await getNetwork('lan');
    await client.patch(Networks, undefined, 'lan', { metadata: { resourceVersion: lan.metadata.resourceVersion }, spec: { assignedNodes: ['n1', 'n2'] } });
    await eventually(async () => expect(Object.keys((await getNetwork('lan')).status?.hosts ?? {}).sort()).toEqual(['n1', 'n2']));
    agents.setNetworkState('n1', 'lan', false, REFUSED);
    agents.setNetworkState('n2', 'lan', false, REFUSED);
    await agents.heartbeat('n1');
    await agents.heartbeat('n2');
    await eventually(async () => {
      const net = await getNetwork('lan');
      expect(net.status?.phase).toBe('Error');
      expect(net.status?.observedGeneration).toBe(2);
    });
  });

  it('writes nothing when nothing changed (no hot loop)', async () => {
    await eventually(async () => expect((await getNetwork('quiet')).status?.phase).toBe('Pending'));
    const before = (await getNetwork('quiet')).metadata.resourceVersion;
    const c = manager.controllers.find((x) => x.name === 'network')!;
    const reconciles = c.stats.reconciles;
    c.enqueue('quiet');
    await eventually(() => c.stats.reconciles > reconciles);
    await c.queue.drained();
    expect((await getNetwork('quiet')).metadata.resourceVersion).toBe(before);
  });
});
