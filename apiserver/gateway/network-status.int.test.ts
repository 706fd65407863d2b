/**
 * Heartbeats carrying Network reports, host bridges and acceleration, through the real
 * apiserver and node gateway on real etcd (hack/testenv), with a raw gateway client holding
 * a real node credential: what lands in Network.status.hosts.<node> and Node.status, and what
 * is never written.
 */
import type { Network, Node } from '../../api-types/generated/types.js';
import type { NetworkHostReport } from '../../api-types/proto/types.js';
import { networkDefinition, nodeDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { gatewayClients, startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';

const NETWORK = networkDefinition as unknown as ResourceDefinition;
const NODE = nodeDefinition as unknown as ResourceDefinition;

let cp: TestControlPlane;
let clients: ReturnType<typeof gatewayClients>;

beforeAll(async () => {
  cp = await startTestControlPlane();
  clients = gatewayClients(cp);
});

afterAll(async () => {
  clients.close();
  await cp.stop();
});

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getNetwork = async (name: string) => (await store(NETWORK).get(undefined, name)) as Network;
const getNode = async (name: string) => (await store(NODE).get(undefined, name)) as Node;

async function createNetwork(name: string, assignedNodes: string[]): Promise<void> {
  await store(NETWORK).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Network',
    metadata: { name },
    spec: { mode: 'isolated', ipv4: { address: '10.213.9.1', prefix: 24, dhcpStart: '10.213.9.10', dhcpEnd: '10.213.9.99' }, assignedNodes },
  });
}

function report(name: string, over: Partial<NetworkHostReport> = {}): NetworkHostReport {
  return {
    name,
    defined: true,
    active: true,
    bridgeName: `qx-${name}`.slice(0, 15),
    dhcpRange: '10.213.9.10-10.213.9.99',
    message: '',
    removed: false,
    ...over,
  };
}

describe('heartbeat: Network host entries', () => {
  it("writes the node's entry for assigned networks only; nothing when unchanged; removed drops it", async () => {
    const a = await clients.registered('net-a');
    await clients.registered('net-b');
    await createNetwork('lan', ['net-a', 'net-b']);
    await createNetwork('other', ['net-b']);

    await a.heartbeat({ stateHash: '', hypervisorReady: true, networks: [report('lan'), report('other')] });
    const lan = await getNetwork('lan');
    expect(lan.status?.hosts).toEqual({
      'net-a': { defined: true, active: true, bridgeName: 'qx-lan', dhcpRange: '10.213.9.10-10.213.9.99', lastReported: expect.any(String) },
    });
    // A network assigned elsewhere only: this node's report about it is not written.
    expect((await getNetwork('other')).status?.hosts).toBeUndefined();

    // The same report again: no write (the resourceVersion stays).
    await a.heartbeat({ stateHash: '', hypervisorReady: true, networks: [report('lan')] });
    expect((await getNetwork('lan')).metadata.resourceVersion).toBe(lan.metadata.resourceVersion);

    // libvirt refused to start it: inactive, with libvirt's message.
    const refused = 'internal error: Network is already in use by interface eth0';
    await a.heartbeat({ stateHash: '', hypervisorReady: true, networks: [report('lan', { active: false, bridgeName: '', message: refused })] });
    expect((await getNetwork('lan')).status?.hosts?.['net-a']).toMatchObject({ defined: true, active: false, message: refused });

    // Removed on the host: the entry goes.
    await a.heartbeat({ stateHash: '', hypervisorReady: true, networks: [report('lan', { removed: true })] });
    expect((await getNetwork('lan')).status?.hosts).toEqual({});

    // A report about a network that does not exist is dropped; the heartbeat still goes through.
    await expect(a.heartbeat({ stateHash: '', hypervisorReady: true, networks: [report('ghost')] })).resolves.toMatchObject({ requestFullSync: true });
  });

  it('writes Node.status.bridges, acceleration and its source; refuses an unknown acceleration naming the field', async () => {
    const c = await clients.registered('net-c');
    await c.heartbeat({ stateHash: '', hypervisorReady: true, acceleration: 'tcg', accelerationSource: 'probe', bridges: ['br1', 'br0'] });
    expect((await getNode('net-c')).status).toMatchObject({ acceleration: 'tcg', accelerationSource: 'probe', bridges: ['br0', 'br1'] });

    await c.heartbeat({ stateHash: '', hypervisorReady: true, acceleration: 'kvm', accelerationSource: 'flag', bridges: [] });
    const status = (await getNode('net-c')).status!;
    expect(status).toMatchObject({ acceleration: 'kvm', accelerationSource: 'flag' });
    expect(status.bridges).toBeUndefined();

    await expect(c.heartbeat({ stateHash: '', hypervisorReady: true, acceleration: 'hvf' })).rejects.toMatchObject({
      reason: 'BadRequest',
      message: expect.stringContaining('acceleration: "hvf" is not one of kvm, tcg'),
    });
  });
});
