/**
 * Networks through the whole control plane with agents on the sim driver (which follows
 * libvirt's network semantics, `strictNetworks`: a domain does not start on an inactive
 * network): real etcd, apiserver, node gateway and controllers (scheduler, vm, network). What
 * the agents report lands in status.hosts and Node.status.bridges, the network controller
 * aggregates it, the scheduler follows it, and a host that cannot start the network recovers
 * once it can.
 */
import type { Network, Node, VirtualMachine } from '../../api-types/generated/types.js';
import type { HttpApiClient } from '../../controllers/runtime/client.js';
import type { ControllerManager } from '../../controllers/runtime/manager.js';
import { Networks, Nodes, VirtualMachines } from '../../controllers/runtime/resources.js';
import { startControllerManager } from '../../controllers/setup.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../../hack/testenv/agent.js';
import { adminClient, networkObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import { defaultBridgeName } from './names.js';

const REFUSED = 'internal error: Network is already in use by interface eth0';
const NODES = ['net-node-0', 'net-node-1'];

let cp: TestControlPlane;
let client: HttpApiClient;
let manager: ControllerManager;
let managerClient: { close(): void };
const drivers: SimDriver[] = [];
const agents: TestAgent[] = [];
/** The Linux bridges each sim host has (besides its networks'), as its agent lists them. */
const hostBridges: Record<string, string[]> = { 'net-node-0': ['br0'], 'net-node-1': [] };

beforeAll(async () => {
  setLogLevel('warn');
  cp = await startTestControlPlane();
  client = await adminClient(cp.env.kubeconfig);
  ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: cp.env.kubeconfig, enabled: ['scheduler', 'vm', 'network'] }));
  for (const hostname of NODES) {
    const driver = new SimDriver({ hostname, strictNetworks: true, bridges: hostBridges[hostname] });
    drivers.push(driver);
    // The sim driver has no bridge listing: the agent lists what bridgeExists confirms.
    const listBridges = async () => {
      const names = [...hostBridges[hostname]!, ...(await driver.listNetworks()).map((n) => n.bridgeName ?? '')];
      const found = await Promise.all(names.filter(Boolean).map(async (n) => ((await driver.bridgeExists(n)) ? n : '')));
      return found.filter(Boolean).sort();
    };
    agents.push(await startAgent(cp, { driver, hostname, listBridges }));
  }
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  for (const d of drivers) await d.close();
  await manager?.stop();
  managerClient?.close();
  client?.close();
  await cp?.stop();
});

const getNetwork = (name: string) => client.get<Network>(Networks, undefined, name);
const getVm = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);

function vm(name: string, networks: NonNullable<VirtualMachine['spec']['networks']>): VirtualMachine {
  return { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: { name, namespace: 'default' }, spec: { memory: '64Mi', networks } };
}

describe('Networks with sim agents', () => {
  it('a host that cannot start the network: Degraded naming it; VMs on the network go to the other host; Ready once it recovers', async () => {
    drivers[1]!.injectFailure('startNetwork', 'OperationFailed', REFUSED, Number.POSITIVE_INFINITY);
    await client.create(Networks, networkObject('lan', NODES));
    await eventually(
      async () => {
        const lan = await getNetwork('lan');
        expect(lan.status?.hosts?.['net-node-0']).toMatchObject({ defined: true, active: true, bridgeName: defaultBridgeName('lan') });
        expect(lan.status?.hosts?.['net-node-1']).toMatchObject({ defined: true, active: false, message: REFUSED });
        expect(lan.status?.phase).toBe('Degraded');
        expect(lan.status?.conditions?.find((c) => c.type === 'Ready')?.message).toBe(`active on 1/2 assigned nodes; net-node-1: not active (${REFUSED})`);
      },
      { timeoutMs: 15_000 },
    );

    await client.create(VirtualMachines, vm('on-lan', [{ name: 'eth0', type: 'network', source: 'lan' }]));
    await eventually(
      async () => {
        const v = await getVm('on-lan');
        expect(v.spec.nodeName).toBe('net-node-0');
        expect(v.status?.phase).toBe('Running');
      },
      { timeoutMs: 15_000 },
    );

    // The host can start it now: the agent's retry (after its backoff) brings it up.
    drivers[1]!.clearFailures();
    await eventually(async () => expect((await getNetwork('lan')).status?.phase).toBe('Ready'), { timeoutMs: 20_000 });
  });

  it("bridges: each Node lists its host's bridges (its networks' included); a bridge NIC goes where its bridge is", async () => {
    await eventually(
      async () => {
        const bridges = async (n: string) => (await client.get<Node>(Nodes, undefined, n)).status?.bridges;
        expect(await bridges('net-node-0')).toEqual(['br0', defaultBridgeName('lan')].sort());
        expect(await bridges('net-node-1')).toEqual([defaultBridgeName('lan')]);
      },
      { timeoutMs: 15_000 },
    );
    await client.create(VirtualMachines, vm('on-br0', [{ name: 'eth0', type: 'bridge', source: 'br0' }]));
    await eventually(async () => expect((await getVm('on-br0')).spec.nodeName).toBe('net-node-0'), { timeoutMs: 15_000 });
  });

  it('deleting the Network: removed from the hosts where no running VM uses it, kept where one does', async () => {
    await client.delete(Networks, undefined, 'lan');
    await eventually(async () => expect((await drivers[1]!.listNetworks()).map((n) => n.name)).toEqual([]), { timeoutMs: 15_000 });
    expect((await drivers[0]!.getNetwork('qx-lan')).active).toBe(true);
    await eventually(() => expect(agents[0]!.agent.networks.reports().find((r) => r.name === 'lan')?.message).toContain('default/on-lan'));
  });
});
