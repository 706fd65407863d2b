/**
 * Networks end to end on the real libvirtd, with real etcd, the real apiserver + node gateway,
 * the controller-manager (scheduler, vm, network) and an agent on the libvirt driver: a Network
 * assigned to the node becomes a libvirt network on its bridge and is reported Ready; a VM with
 * a `network` NIC is scheduled there and attached; a VM naming a missing host bridge stays
 * Pending, the reason naming the bridge; a subnet libvirt refuses is reported with libvirt's
 * message; unassigning stops and undefines the network once no VM uses it.
 *
 * No traffic is sent anywhere. The test networks are isolated, on a /24 no host route covers
 * (freeTestSubnet), and every object is named `qxtest-…` (the libvirt networks `qx-qxtest-…`)
 * and removed afterwards, also when a test fails: other suites share this libvirtd.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Event, Network, Node, VirtualMachine } from '../../api-types/generated/types.js';
import type { HttpApiClient } from '../../controllers/runtime/client.js';
import type { ControllerManager } from '../../controllers/runtime/manager.js';
import { Events, Networks, Nodes, VirtualMachines } from '../../controllers/runtime/resources.js';
import { startControllerManager } from '../../controllers/setup.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../../hack/testenv/agent.js';
import { adminClient } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { ensureLibvirt, freeTestSubnet, hostRoutes, LibvirtCleanup, qxTestName, virsh, virshQuiet } from '../../hack/testenv/libvirt.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { LibvirtDriver } from '../hypervisor/libvirt/driver.js';

const ns = qxTestName('ns');
const node = qxTestName('node');
const lan = qxTestName('net');
/** Within Linux's 15 characters, and recognisable as a test's. */
const bridge = `qxtest-${qxTestName('b').slice(-6)}`;
const refused = qxTestName('refused');
const missingBridge = `qxtest-${qxTestName('m').slice(-6)}`;
const stateDir = path.join('/tmp', `${node}-state`);

let cp: TestControlPlane;
let client: HttpApiClient;
let manager: ControllerManager;
let managerClient: { close(): void };
let driver: LibvirtDriver;
let agent: TestAgent;
let subnet: string;
const cleanup = new LibvirtCleanup();

const getNetwork = (name: string) => client.get<Network>(Networks, undefined, name);
const getVm = (name: string) => client.get<VirtualMachine>(VirtualMachines, ns, name);
const hostEntry = async (name: string) => (await getNetwork(name)).status?.hosts?.[node];
const domainName = (vm: string) => `${ns}_${vm}`;

function networkObject(name: string, spec: Network['spec']): Network {
  return { apiVersion: 'quantix.io/v1alpha1', kind: 'Network', metadata: { name }, spec };
}

function vmObject(name: string, networks: NonNullable<VirtualMachine['spec']['networks']>): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: ns },
    spec: { runStrategy: 'Always', cpu: 1, memory: '64Mi', networks },
  };
}

async function netInfo(name: string): Promise<Record<string, string>> {
  const { stdout } = await virsh('net-info', name);
  return Object.fromEntries(
    stdout
      .split('\n')
      .map((l) => l.split(/:\s+/))
      .filter((kv) => kv.length === 2)
      .map(([k, v]) => [k!.trim(), v!.trim()]),
  );
}

beforeAll(async () => {
  setLogLevel('warn');
  await ensureLibvirt();
  subnet = await freeTestSubnet();
  cleanup.path(stateDir);
  cleanup.network(`qx-${lan}`);
  cleanup.network(`qx-${refused}`);
  cp = await startTestControlPlane();
  client = await adminClient(cp.env.kubeconfig);
  ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: cp.env.kubeconfig, enabled: ['scheduler', 'vm', 'network'] }));
  driver = new LibvirtDriver();
  await driver.connect();
  agent = await startAgent(cp, { driver, hostname: node, stateDir, shutdownTimeoutMs: 3_000, safetyPollIntervalMs: 2_000 });
});

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  await manager?.stop().catch(() => undefined);
  managerClient?.close();
  client?.close();
  // Whatever a failed test left behind: every domain of this run's namespace.
  const { stdout } = await virsh('list', '--all', '--name').catch(() => ({ stdout: '' }));
  for (const name of stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(`${ns}_`)))
    cleanup.domain(name);
  await cleanup.run();
  await driver?.close().catch(() => undefined);
  await cp?.stop();
});

describe('Networks on libvirt', () => {
  it('an isolated Network assigned to the node: libvirt network qx-<name> active on its bridge; host entry active, phase Ready; the bridge in Node.status.bridges', async () => {
    await client.create(
      Networks,
      networkObject(lan, {
        mode: 'isolated',
        bridgeName: bridge,
        ipv4: { address: `${subnet}.1`, prefix: 24, dhcpStart: `${subnet}.10`, dhcpEnd: `${subnet}.99` },
        assignedNodes: [node],
      }),
    );
    await eventually(
      async () => {
        expect(await hostEntry(lan)).toMatchObject({ defined: true, active: true, bridgeName: bridge, dhcpRange: `${subnet}.10-${subnet}.99` });
        const net = await getNetwork(lan);
        expect(net.status?.phase).toBe('Ready');
        expect(net.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', message: 'active on 1/1 assigned nodes' });
      },
      { timeoutMs: 30_000 },
    );
    expect(await netInfo(`qx-${lan}`)).toMatchObject({ Active: 'yes', Persistent: 'yes', Autostart: 'yes', Bridge: bridge });
    const xml = (await virsh('net-dumpxml', `qx-${lan}`)).stdout;
    expect(xml).not.toContain('<forward'); // isolated
    expect(xml).toContain(`<ip address='${subnet}.1' prefix='24'>`);
    expect(xml).toContain(`<range start='${subnet}.10' end='${subnet}.99'`);
    expect(existsSync(`/sys/class/net/${bridge}/bridge`)).toBe(true);
    expect(JSON.parse(readFileSync(path.join(stateDir, 'managed-networks.json'), 'utf8'))).toContain(lan);
    await eventually(async () => expect((await client.get<Node>(Nodes, undefined, node)).status?.bridges).toContain(bridge), { timeoutMs: 15_000 });
  });

  it('a VM with a network NIC is scheduled onto the node and its domain is attached to qx-<name>', async () => {
    await client.create(VirtualMachines, vmObject('web', [{ name: 'eth0', type: 'network', source: lan }]));
    const vm = await eventually(
      async () => {
        const v = await getVm('web');
        return v.spec.nodeName === node && v.status?.phase === 'Running' && v;
      },
      { timeoutMs: 180_000, message: 'web bound and Running' },
    );
    expect(vm.status?.domainUUID).toBe(vm.metadata.uid);
    const xml = (await virsh('dumpxml', domainName('web'))).stdout;
    const nic = /<interface type='network'>[\s\S]*?<\/interface>/.exec(xml)?.[0] ?? '';
    expect(nic).toContain(`<source network='qx-${lan}'`);
    expect(nic).toContain(`bridge='${bridge}'`);
    const events = await client.list<Event>(Events, { namespace: ns, fieldSelector: 'involvedObject.name=web,reason=Scheduled' });
    expect(events.items[0]?.message).toMatch(new RegExp(`^Successfully assigned ${ns}/web to ${node}`));
  }, 240_000);

  it('a VM naming a host bridge that does not exist stays Pending, FailedScheduling naming the bridge and the node', async () => {
    await client.create(VirtualMachines, vmObject('bridged', [{ name: 'eth0', type: 'bridge', source: missingBridge }]));
    const expected = `0/1 nodes available: 1 bridge "${missingBridge}" does not exist (${node})`;
    await eventually(
      async () => {
        const v = await getVm('bridged');
        expect(v.spec.nodeName).toBeUndefined();
        expect(v.status?.phase).toBe('Pending');
        expect(v.status?.conditions?.find((c) => c.type === 'Scheduled')).toMatchObject({ status: 'False', reason: 'Unschedulable', message: expected });
      },
      { timeoutMs: 30_000 },
    );
    await eventually(async () => {
      const ev = await client.list<Event>(Events, { namespace: ns, fieldSelector: 'involvedObject.name=bridged,reason=FailedScheduling' });
      expect(ev.items[0]).toMatchObject({ type: 'Warning', message: expected });
    });
    expect(await virshQuiet('dominfo', domainName('bridged'))).toBe(false);
    await client.delete(VirtualMachines, ns, 'bridged');
  });

  it("a subnet libvirt refuses (it is a host route's): inactive with libvirt's message, phase Error; the agent goes on; deleting it undefines it", async () => {
    const route = (await hostRoutes()).find((r) => r.prefix >= 8 && r.prefix <= 30);
    if (!route) throw new Error('this test needs a host route with a prefix of 8..30 (see /proc/net/route)');
    const base = route.network.split('.').reduce((n, o) => n * 256 + Number(o), 0) >>> 0;
    const last = base + 2 ** (32 - route.prefix) - 2;
    const address = [24, 16, 8, 0].map((s) => (last >>> s) & 255).join('.');
    await client.create(Networks, networkObject(refused, { mode: 'isolated', ipv4: { address, prefix: route.prefix }, assignedNodes: [node] }));
    await eventually(
      async () => {
        expect(await hostEntry(refused)).toMatchObject({
          defined: true,
          active: false,
          message: expect.stringContaining(`already in use by interface ${route.iface}`),
        });
        const net = await getNetwork(refused);
        expect(net.status?.phase).toBe('Error');
        expect(net.status?.conditions?.find((c) => c.type === 'Ready')?.message).toContain(`${node}: not active (`);
      },
      { timeoutMs: 30_000 },
    );
    expect((await netInfo(`qx-${refused}`)).Active).toBe('no');
    // The agent is unharmed: the other network is still Ready, the node heartbeats.
    expect((await getNetwork(lan)).status?.phase).toBe('Ready');
    const ready = (await client.get<Node>(Nodes, undefined, node)).status?.conditions?.find((c) => c.type === 'Ready');
    expect(ready?.status).toBe('True');

    await client.delete(Networks, undefined, refused);
    await eventually(async () => expect(await virshQuiet('net-info', `qx-${refused}`)).toBe(false), { timeoutMs: 30_000 });
  });

  it('unassigned while a VM is attached: kept until the VM is gone, then stopped and undefined', async () => {
    const net = await getNetwork(lan);
    await client.patch(Networks, undefined, lan, { metadata: { resourceVersion: net.metadata.resourceVersion }, spec: { assignedNodes: [] } });
    await eventually(
      () => {
        const report = agent.agent.networks.reports().find((r) => r.name === lan);
        expect(report?.message).toContain(`no longer assigned here; it is removed once no VM uses it: 1 running VM on this host uses it (${ns}/web)`);
      },
      { timeoutMs: 30_000 },
    );
    expect((await netInfo(`qx-${lan}`)).Active).toBe('yes');

    await client.delete(VirtualMachines, ns, 'web');
    await eventually(async () => expect(await virshQuiet('dominfo', domainName('web'))).toBe(false), { timeoutMs: 60_000 });
    await eventually(async () => expect(await virshQuiet('net-info', `qx-${lan}`)).toBe(false), { timeoutMs: 30_000 });
    expect(existsSync(`/sys/class/net/${bridge}`)).toBe(false);
    expect(JSON.parse(readFileSync(path.join(stateDir, 'managed-networks.json'), 'utf8'))).not.toContain(lan);
    await eventually(
      async () => {
        const n = await getNetwork(lan);
        expect(n.status?.hosts?.[node]).toBeUndefined();
        expect(n.status?.phase).toBe('Pending');
        expect((await client.get<Node>(Nodes, undefined, node)).status?.bridges ?? []).not.toContain(bridge);
      },
      { timeoutMs: 15_000 },
    );
  });
});
