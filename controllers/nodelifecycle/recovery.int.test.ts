/**
 * Fencing and recovery end to end (docs/fencing.md): real etcd, apiserver, node gateway and
 * controller-manager; three agents on sim hosts that share one dir pool's storage (spec.shared),
 * each through a TCP proxy the test can cut.
 *   - admin fence: a node powers off; its VMs stay Unknown until `spec.fenced`, then the
 *     runStrategy Always VM on shared storage runs on another node, the others stay with
 *     a Recovery=False condition saying why; the node comes back and removes its stale copy,
 *     disks untouched;
 *   - self-fence: a node is cut off while its agent runs; the agent force-stops the domains
 *     of recoverable VMs after its timeout (a VM on local storage keeps running), the control
 *     plane waits out timeout + margin and recovers; the cut is healed and the agent removes
 *     its stale copy.
 * After every step: no domain runs on two hosts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { SimDriver, SimSharedStorage } from '../../agent/hypervisor/sim/driver.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../../hack/testenv/agent.js';
import { adminClient, poolObject, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { startTcpProxy, type TcpProxy } from '../../hack/testenv/tcp-proxy.js';
import type { HttpApiClient } from '../runtime/client.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Events, Nodes, StoragePools, VirtualMachines } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';

const A = 'fence-a'; // no self-fencing: fenced by the admin
const B = 'fence-b'; // self-fencing
const C = 'fence-c'; // a spare
const HOSTS = [A, B, C];
const GRACE_MS = 3_000;
const SELF_FENCE_MS = 4_000;
const MARGIN_MS = 1_000;

describe('fencing and recovery with sim agents on shared storage (integration)', () => {
  let cp: TestControlPlane;
  let client: HttpApiClient;
  let manager: ControllerManager;
  let managerClient: { close(): void };
  const shared = new SimSharedStorage();
  const drivers = new Map<string, SimDriver>();
  const agents = new Map<string, TestAgent>();
  const proxies = new Map<string, TcpProxy>();
  const stateDirs = new Map<string, string>();
  /** Every double run the background sampler saw (sim state is in memory: sampling it is cheap). */
  const seenTwice: string[] = [];
  let sampler: NodeJS.Timeout | undefined;

  const start = async (host: string) => {
    agents.set(
      host,
      await startAgent(cp, {
        driver: drivers.get(host)!,
        hostname: host,
        stateDir: stateDirs.get(host)!,
        gateway: proxies.get(host)!.address,
        selfFenceTimeoutMs: host === B ? SELF_FENCE_MS : 0,
      }),
    );
  };

  beforeAll(async () => {
    setLogLevel('error');
    cp = await startTestControlPlane();
    client = await adminClient(cp.env.kubeconfig);
    for (const host of HOSTS) {
      drivers.set(host, new SimDriver({ hostname: host, sharedStorage: shared }));
      stateDirs.set(host, mkdtempSync(join(tmpdir(), `quantix-fence-${host}-`)));
      proxies.set(host, await startTcpProxy(cp.gatewayAddress));
      await start(host);
    }
    const sharedPool = poolObject('shared', HOSTS);
    sharedPool.spec.shared = true;
    await client.create(StoragePools, sharedPool);
    await client.create(StoragePools, poolObject('local', [A]));
    await client.create(StoragePools, poolObject('local-b', [B]));
    ({ manager, client: managerClient } = await startControllerManager({
      kubeconfig: cp.env.kubeconfig,
      nodelifecycle: { gracePeriodMs: GRACE_MS, selfFenceMarginMs: MARGIN_MS },
    }));
    sampler = setInterval(() => {
      doubleRuns()
        .then((found) => {
          for (const f of found) if (!seenTwice.includes(f)) seenTwice.push(f);
        })
        .catch(() => undefined);
    }, 25);
  }, 90_000);

  afterAll(async () => {
    clearInterval(sampler);
    await manager?.stop();
    managerClient?.close();
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    for (const d of drivers.values()) await d.close().catch(() => undefined);
    for (const p of proxies.values()) await p.close();
    client?.close();
    await cp?.stop();
    for (const dir of stateDirs.values()) rmSync(dir, { recursive: true, force: true });
  });

  const get = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);
  const node = (name: string) => client.get<Node>(Nodes, undefined, name);
  const condition = (o: { status?: { conditions?: { type: string; status: string }[] } }, type: string) => o.status?.conditions?.find((c) => c.type === type);

  /** Hosts on which the domain `uuid` runs (sim state, not the API). */
  const runningOn = async (uuid: string): Promise<string[]> => {
    const out: string[] = [];
    for (const [host, d] of drivers) if ((await d.listDomains()).some((x) => x.uuid === uuid && x.state !== 'Shutoff' && x.state !== 'Crashed')) out.push(host);
    return out;
  };

  /** Domains running on more than one sim host right now, as `uuid on a+b`. */
  const doubleRuns = async (): Promise<string[]> => {
    const hostsOf = new Map<string, string[]>();
    for (const [host, d] of drivers) {
      for (const x of await d.listDomains()) {
        if (x.state === 'Shutoff' || x.state === 'Crashed') continue;
        hostsOf.set(x.uuid, [...(hostsOf.get(x.uuid) ?? []), host]);
      }
    }
    return [...hostsOf].filter(([, hosts]) => hosts.length > 1).map(([uuid, hosts]) => `${uuid} on ${hosts.join('+')}`);
  };

  /** The never-on-two-nodes check after each step, and what the sampler saw in between. */
  const expectNoDomainOnTwoHosts = async () => {
    expect(await doubleRuns()).toEqual([]);
    expect(seenTwice).toEqual([]);
  };

  const sharedVolumes = async () => (await drivers.get(C)!.listVolumes('shared')).map((v) => v.name).sort();

  it('VMs start on their nodes; the shared pool holds one volume per VM, seen alike by every host', async () => {
    await eventually(async () => expect((await client.get<StoragePool>(StoragePools, undefined, 'shared')).status?.phase).toBe('Ready'), { timeoutMs: 20_000 });
    await client.create(VirtualMachines, vmObject('web-a', { pools: ['shared'], memory: '128Mi', nodeName: A }));
    await client.create(VirtualMachines, vmObject('manual-a', { pools: ['shared'], memory: '128Mi', nodeName: A, runStrategy: 'Manual' }));
    await client.create(VirtualMachines, vmObject('local-a', { pools: ['local'], memory: '128Mi', nodeName: A }));
    await client.create(VirtualMachines, vmObject('web-b', { pools: ['shared'], memory: '128Mi', nodeName: B }));
    await client.create(VirtualMachines, vmObject('local-b', { pools: ['local-b'], memory: '128Mi', nodeName: B }));
    await eventually(
      async () => {
        for (const n of ['web-a', 'manual-a', 'local-a', 'web-b', 'local-b']) expect((await get(n)).status?.phase).toBe('Running');
      },
      { timeoutMs: 30_000 },
    );
    const nodeB = await node(B);
    expect(nodeB.status?.selfFencing).toEqual({ enabled: true, timeoutSeconds: SELF_FENCE_MS / 1000 });
    expect((await node(A)).status?.selfFencing).toEqual({ enabled: false });
    expect(await sharedVolumes()).toHaveLength(3);
    expect((await drivers.get(A)!.listVolumes('shared')).map((v) => v.name).sort()).toEqual(await sharedVolumes());
    await expectNoDomainOnTwoHosts();
  });

  it('admin fence: a powered-off node stays Unknown with its VMs until fenced; then the Always VM on shared storage runs elsewhere', async () => {
    const webA = await get('web-a');
    const volumes = await sharedVolumes();
    // The host loses power: the agent dies and every QEMU with it.
    await agents.get(A)!.stop();
    for (const d of await drivers.get(A)!.listDomains()) await drivers.get(A)!.destroyDomain(d.uuid);
    await eventually(
      async () => {
        expect(condition(await node(A), 'Ready')).toMatchObject({ status: 'Unknown' });
        expect(condition(await node(A), 'Fenced')).toMatchObject({ status: 'False', message: expect.stringContaining('qxctl node fence fence-a') });
        const v = await get('web-a');
        expect(v.status?.phase).toBe('Unknown');
        expect(condition(v, 'Recovery')).toMatchObject({ status: 'False', reason: 'WaitingForFencing' });
      },
      { timeoutMs: 20_000 },
    );
    // Not fenced: nothing moved.
    expect((await get('web-a')).spec.nodeName).toBe(A);
    await expectNoDomainOnTwoHosts();

    const fencedAt = Date.now();
    await client.patch(Nodes, undefined, A, { spec: { fenced: true } });
    await eventually(
      async () => {
        const v = await get('web-a');
        expect([B, C]).toContain(v.spec.nodeName);
        expect(v.status?.phase).toBe('Running');
        expect(v.status?.recovery).toMatchObject({ recoveredFrom: A, count: 1, lastRecoveryTime: expect.any(String) });
        expect(await runningOn(webA.metadata.uid!)).toEqual([v.spec.nodeName]);
      },
      { timeoutMs: 30_000 },
    );
    process.stdout.write(`recovery after the admin fence: ${Date.now() - fencedAt} ms\n`);
    await expectNoDomainOnTwoHosts();
    // The same disk: no volume was created for the move.
    expect(await sharedVolumes()).toEqual(volumes);
    expect(condition(await node(A), 'Fenced')).toMatchObject({ status: 'True', reason: 'AdminFenced' });
    const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=web-a,reason=Recovering' });
    expect(events.items).toHaveLength(1);
    expect(events.items[0]!.message).toContain(`recovered from node ${A}`);

    // The others stay on the fenced node, Unknown, saying why.
    const manual = await get('manual-a');
    expect(manual.spec.nodeName).toBe(A);
    expect(manual.status?.phase).toBe('Unknown');
    expect(condition(manual, 'Recovery')).toMatchObject({ status: 'False', reason: 'RunStrategyNotAlways' });
    const local = await get('local-a');
    expect(local.spec.nodeName).toBe(A);
    expect(local.status?.phase).toBe('Unknown');
    expect(condition(local, 'Recovery')).toMatchObject({ status: 'False', reason: 'DisksNotOnSharedStorage', message: expect.stringContaining('pool local') });
  });

  it('the fenced node comes back: its stale copy is undefined, the disk kept; nothing runs twice', async () => {
    const webA = await get('web-a');
    const uid = webA.metadata.uid!;
    expect((await drivers.get(A)!.listDomains()).map((d) => d.uuid)).toContain(uid); // the stale copy, shut off
    await start(A);
    await eventually(
      async () => {
        expect(condition(await node(A), 'Ready')?.status).toBe('True');
        expect((await drivers.get(A)!.listDomains()).map((d) => d.uuid)).not.toContain(uid);
      },
      { timeoutMs: 20_000 },
    );
    expect(await sharedVolumes()).toHaveLength(3);
    const now = await get('web-a');
    expect(now.spec.nodeName).toBe(webA.spec.nodeName);
    expect(now.status?.phase).toBe('Running');
    expect(await runningOn(uid)).toEqual([webA.spec.nodeName]);
    await expectNoDomainOnTwoHosts();
    // The VMs that stayed are the node's again (the admin fence does not stop a heartbeating node).
    await eventually(
      async () => {
        const local = await get('local-a');
        expect(local.status?.phase).toBe('Running');
        expect(condition(local, 'Recovery')).toBeUndefined(); // "not recovered" no longer holds
      },
      { timeoutMs: 20_000 },
    );
    await expectNoDomainOnTwoHosts();
    await client.patch(Nodes, undefined, A, { spec: { fenced: false } });
  });

  it('self-fence: a node cut off stops its domains after its timeout; the control plane waits that out, then recovers', async () => {
    const webB = await get('web-b');
    const uid = webB.metadata.uid!;
    const localB = (await get('local-b')).metadata.uid!;
    expect(await runningOn(uid)).toEqual([B]);
    const cutAt = Date.now();
    proxies.get(B)!.cut();
    let selfFencedAfterMs = 0;
    await eventually(
      async () => {
        expect(await runningOn(uid)).toEqual([]);
        selfFencedAfterMs ||= Date.now() - cutAt;
      },
      { timeoutMs: 20_000 },
    );
    await eventually(
      async () => {
        const v = await get('web-b');
        expect([A, C]).toContain(v.spec.nodeName);
        expect(v.status?.phase).toBe('Running');
        expect(v.status?.recovery).toMatchObject({ recoveredFrom: B, count: 1 });
        await expectNoDomainOnTwoHosts();
      },
      { timeoutMs: 40_000 },
    );
    const recoveredAfterMs = Date.now() - cutAt;
    process.stdout.write(
      `self-fence: domains stopped ${selfFencedAfterMs} ms after the cut; VM running elsewhere ${recoveredAfterMs} ms after the cut (fencing timeout ${SELF_FENCE_MS} ms + margin ${MARGIN_MS} ms; target ≤ timeout + 30000 ms)\n`,
    );
    expect(condition(await node(B), 'Fenced')).toMatchObject({ status: 'True', reason: 'SelfFenceTimeoutElapsed' });
    const events = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=web-b,reason=Recovering' });
    expect(events.items).toHaveLength(1);
    // The VM on local storage cannot move: the self-fenced agent left it running, and it stays bound to B.
    expect(await runningOn(localB)).toEqual([B]);
    const local = await get('local-b');
    expect(local.spec.nodeName).toBe(B);
    expect(condition(local, 'Recovery')).toMatchObject({ status: 'False', reason: 'DisksNotOnSharedStorage' });
    await expectNoDomainOnTwoHosts();
  });

  it('the cut heals: the self-fenced agent removes its stale copy, starts nothing, disk kept', async () => {
    const webB = await get('web-b');
    const uid = webB.metadata.uid!;
    proxies.get(B)!.restore();
    await eventually(
      async () => {
        expect(condition(await node(B), 'Ready')?.status).toBe('True');
        expect(agents.get(B)!.agent.selfFence.fenced).toBe(false);
        expect((await drivers.get(B)!.listDomains()).map((d) => d.uuid)).not.toContain(uid);
      },
      { timeoutMs: 30_000 },
    );
    expect(await runningOn(uid)).toEqual([webB.spec.nodeName]);
    expect((await get('web-b')).status?.phase).toBe('Running');
    expect(await sharedVolumes()).toHaveLength(3);
    await eventually(async () => {
      const local = await get('local-b');
      expect(local.status?.phase).toBe('Running');
      expect(condition(local, 'Recovery')).toBeUndefined();
    });
    await expectNoDomainOnTwoHosts();
  });
});
