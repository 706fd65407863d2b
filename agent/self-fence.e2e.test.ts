/**
 * Self-fencing on real libvirt (docs/fencing.md): an agent on qemu:///system with
 * --self-fence-timeout runs one tiny diskless Always VM (TCG, sits in its BIOS); a TCP proxy
 * between it and the gateway is cut. The agent force-stops the domain once its timeout passed,
 * the control plane waits out timeout + margin and the VM is recovered on a second (sim) node;
 * the cut heals and the agent undefines its stale copy. After each step the domain runs on at
 * most one node (libvirt and sim). Real etcd, apiserver, gateway and controller-manager;
 * every libvirt name `qxtest-…`, removed afterwards even on failure.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type { Node, VirtualMachine } from '../api-types/generated/types.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../hack/testenv/agent.js';
import { adminClient, vmObject } from '../hack/testenv/controllers.js';
import { eventually } from '../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh, virshQuiet } from '../hack/testenv/libvirt.js';
import { startTcpProxy, type TcpProxy } from '../hack/testenv/tcp-proxy.js';
import { setLogLevel } from '../lib/logging/logger.js';
import type { HttpApiClient } from '../controllers/runtime/client.js';
import type { ControllerManager } from '../controllers/runtime/manager.js';
import { Nodes, VirtualMachines } from '../controllers/runtime/resources.js';
import { startControllerManager } from '../controllers/setup.js';
import { LibvirtDriver } from './hypervisor/libvirt/driver.js';
import { SimDriver } from './hypervisor/sim/driver.js';

const ns = qxTestName('fence');
const lvNode = qxTestName('flv');
const simNode = qxTestName('fsim');
const VM_NAME = 'web';
const domainName = `${ns}_${VM_NAME}`;
const workDir = path.join('/tmp', `${lvNode}-work`);
const SELF_FENCE_MS = 4_000;
const MARGIN_MS = 1_000;
const cleanup = new LibvirtCleanup();

let cp: TestControlPlane;
let client: HttpApiClient;
let manager: ControllerManager;
let managerClient: { close(): void };
let proxy: TcpProxy;
let lvDriver: LibvirtDriver;
const simDriver = new SimDriver({ hostname: simNode });
const agents: TestAgent[] = [];

const get = () => client.get<VirtualMachine>(VirtualMachines, ns, VM_NAME);
const libvirtState = async (): Promise<string> =>
  (await virshQuiet('dominfo', domainName)) ? (await virsh('domstate', domainName)).stdout.trim() : 'undefined';
const simRunning = async (uuid: string) => (await simDriver.listDomains()).some((d) => d.uuid === uuid && d.state === 'Running');

/** Where the domain `uuid` runs now (libvirt's own list through the driver, and the sim host). */
async function runningCopies(uuid: string): Promise<string[]> {
  const lv = (await lvDriver.listDomains()).some((d) => d.uuid === uuid && d.state !== 'Shutoff' && d.state !== 'Crashed');
  return [lv ? lvNode : '', (await simRunning(uuid)) ? simNode : ''].filter(Boolean);
}

/** Every moment the background sampler saw the VM run on two nodes. */
const seenTwice: string[] = [];
let sampler: NodeJS.Timeout | undefined;

/** The never-on-two-nodes check after each step, and what the sampler saw in between. */
async function expectAtMostOneCopyRunning(uuid: string): Promise<void> {
  expect((await runningCopies(uuid)).length).toBeLessThanOrEqual(1);
  expect(seenTwice).toEqual([]);
}

beforeAll(async () => {
  setLogLevel('error');
  await ensureLibvirt();
  mkdirSync(workDir, { recursive: true });
  cleanup.path(workDir);
  cleanup.domain(domainName);
  cp = await startTestControlPlane();
  client = await adminClient(cp.env.kubeconfig);
  ({ manager, client: managerClient } = await startControllerManager({
    kubeconfig: cp.env.kubeconfig,
    nodelifecycle: { gracePeriodMs: 3_000, selfFenceMarginMs: MARGIN_MS },
  }));
  proxy = await startTcpProxy(cp.gatewayAddress);
  lvDriver = new LibvirtDriver();
  await lvDriver.connect();
  agents.push(
    await startAgent(cp, {
      driver: lvDriver,
      hostname: lvNode,
      stateDir: path.join(workDir, 'state'),
      gateway: proxy.address,
      selfFenceTimeoutMs: SELF_FENCE_MS,
      shutdownTimeoutMs: 3_000,
      safetyPollIntervalMs: 2_000,
    }),
  );
  agents.push(await startAgent(cp, { driver: simDriver, hostname: simNode }));
}, 60_000);

afterAll(async () => {
  clearInterval(sampler);
  await client?.delete(VirtualMachines, ns, VM_NAME).catch(() => undefined);
  for (const a of agents) await a.stop().catch(() => undefined);
  await manager?.stop();
  managerClient?.close();
  await proxy?.close();
  await cleanup.run();
  await lvDriver?.close().catch(() => undefined);
  await simDriver.close().catch(() => undefined);
  client?.close();
  await cp?.stop();
});

describe('self-fencing on libvirt', () => {
  it('a cut-off agent stops its domain after its timeout; the VM runs on another node only after; the agent returns and undefines its copy', async () => {
    await client.create(VirtualMachines, { ...vmObject(VM_NAME, { pools: [], memory: '64Mi', nodeName: lvNode }), metadata: { name: VM_NAME, namespace: ns } });
    const vm = await eventually(
      async () => {
        const v = await get();
        expect(v.status?.phase).toBe('Running');
        expect(await libvirtState()).toBe('running');
        return v;
      },
      { timeoutMs: 60_000 },
    );
    const uid = vm.metadata.uid!;
    sampler = setInterval(() => {
      runningCopies(uid)
        .then((copies) => {
          if (copies.length > 1) seenTwice.push(`${new Date().toISOString()} on ${copies.join('+')}`);
        })
        .catch(() => undefined);
    }, 100);
    expect((await client.get<Node>(Nodes, undefined, lvNode)).status?.selfFencing).toEqual({ enabled: true, timeoutSeconds: SELF_FENCE_MS / 1000 });

    const cutAt = Date.now();
    proxy.cut();
    await eventually(
      async () => {
        expect(await libvirtState()).toBe('shut off');
        await expectAtMostOneCopyRunning(uid);
      },
      { timeoutMs: 30_000 },
    );
    const stoppedAfterMs = Date.now() - cutAt;
    await eventually(
      async () => {
        await expectAtMostOneCopyRunning(uid);
        const v = await get();
        expect(v.spec.nodeName).toBe(simNode);
        expect(v.status?.phase).toBe('Running');
        expect(v.status?.recovery).toMatchObject({ recoveredFrom: lvNode, count: 1 });
        expect(await simRunning(uid)).toBe(true);
      },
      { timeoutMs: 60_000 },
    );
    const recoveredAfterMs = Date.now() - cutAt;
    process.stdout.write(
      `libvirt self-fence: domain shut off ${stoppedAfterMs} ms after the cut; running on ${simNode} ${recoveredAfterMs} ms after the cut (timeout ${SELF_FENCE_MS} ms + margin ${MARGIN_MS} ms; target ≤ timeout + 30000 ms)\n`,
    );
    expect(await libvirtState()).toBe('shut off');

    proxy.restore();
    await eventually(
      async () => {
        expect((await client.get<Node>(Nodes, undefined, lvNode)).status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        expect(await libvirtState()).toBe('undefined');
        await expectAtMostOneCopyRunning(uid);
      },
      { timeoutMs: 60_000 },
    );
    expect((await get()).spec.nodeName).toBe(simNode);
    expect(await simRunning(uid)).toBe(true);
  });
});
