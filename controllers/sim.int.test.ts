/**
 * The controller manager with real agents on the `sim` driver and the node gateway (no
 * simulated heartbeats): scheduling onto the nodes that have the pool, the agent starting
 * what was bound, the cleanup finalizer contract end to end, a silent agent's node and
 * VMs going Unknown then coming back through the agent's full sync, and a deleted Node's
 * image reports dropped.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Event, Image, Node, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { SimDriver } from '../agent/hypervisor/sim/driver.js';
import { setLogLevel } from '../lib/logging/logger.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../hack/testenv/agent.js';
import { adminClient, poolObject, vmObject } from '../hack/testenv/controllers.js';
import { eventually } from '../hack/testenv/eventually.js';
import type { HttpApiClient } from './runtime/client.js';
import { isNotFound } from '../lib/apimachinery/status-error.js';
import type { ControllerManager } from './runtime/manager.js';
import { Events, Images, Nodes, StoragePools, VirtualMachines } from './runtime/resources.js';
import { startControllerManager } from './setup.js';

const HOSTS = ['sim-a', 'sim-b', 'sim-c'];

describe('controllers with sim agents (integration)', () => {
  let cp: TestControlPlane;
  let client: HttpApiClient;
  let manager: ControllerManager;
  let managerClient: { close(): void };
  const drivers = new Map<string, SimDriver>();
  const agents = new Map<string, TestAgent>();
  const stateDirs = new Map<string, string>();

  const start = async (host: string) => {
    agents.set(host, await startAgent(cp, { driver: drivers.get(host)!, hostname: host, stateDir: stateDirs.get(host)! }));
  };

  beforeAll(async () => {
    setLogLevel('error');
    cp = await startTestControlPlane();
    client = await adminClient(cp.env.kubeconfig);
    for (const host of HOSTS) {
      drivers.set(host, new SimDriver({ hostname: host }));
      stateDirs.set(host, mkdtempSync(join(tmpdir(), `quantix-cm-sim-${host}-`)));
      await start(host);
    }
    await client.create(StoragePools, poolObject('fast', ['sim-a', 'sim-b']));
    ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: cp.env.kubeconfig, nodelifecycle: { gracePeriodMs: 4000 } }));
  }, 90_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    for (const a of agents.values()) await a.stop().catch(() => undefined);
    for (const d of drivers.values()) await d.close().catch(() => undefined);
    client?.close();
    await cp?.stop();
    for (const dir of stateDirs.values()) rmSync(dir, { recursive: true, force: true });
  });

  const get = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);

  it('the agents report the pool on the two nodes it is assigned to: Ready', async () => {
    await eventually(
      async () => {
        const pool = await client.get<StoragePool>(StoragePools, undefined, 'fast');
        expect(Object.keys(pool.status?.hosts ?? {}).sort()).toEqual(['sim-a', 'sim-b']);
        expect(pool.status?.phase).toBe('Ready');
      },
      { timeoutMs: 20_000 },
    );
  });

  it('VMs land only on nodes with the pool, the agents start them: Running, Ready, Started', async () => {
    const names = ['web-0', 'web-1', 'web-2', 'web-3'];
    await Promise.all(names.map((n) => client.create(VirtualMachines, vmObject(n, { pools: ['fast'], memory: '256Mi' }))));
    await eventually(
      async () => {
        const vms = await Promise.all(names.map(get));
        for (const v of vms) {
          expect(['sim-a', 'sim-b']).toContain(v.spec.nodeName);
          expect(v.status?.phase).toBe('Running');
          expect(v.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
          expect(v.metadata.finalizers).toContain('quantix.io/vm-cleanup');
        }
      },
      { timeoutMs: 30_000 },
    );
    await eventually(async () => {
      const ev = await client.list<Event>(Events, { namespace: 'default', fieldSelector: 'involvedObject.name=web-0' });
      expect(ev.items.map((e) => e.reason)).toEqual(expect.arrayContaining(['Scheduled', 'Started']));
    });
  });

  it('delete: the agent removes domain and volumes, reports Synced=True/Deleted, the finalizer is released', async () => {
    const node = (await get('web-0')).spec.nodeName!;
    const uuid = (await get('web-0')).status?.domainUUID;
    await client.delete(VirtualMachines, 'default', 'web-0');
    await eventually(
      async () => {
        try {
          await get('web-0');
          return false;
        } catch (err) {
          return isNotFound(err);
        }
      },
      { timeoutMs: 30_000, message: 'VM gone after the agent cleaned up' },
    );
    const domains = await drivers.get(node)!.listDomains();
    expect(domains.map((d) => d.uuid)).not.toContain(uuid);
  });

  it('an agent goes silent: its node Unknown, its VMs Unknown (not Lost); it comes back: Ready, VMs Running again', async () => {
    const victim = (await get('web-1')).spec.nodeName!;
    const onVictim = (await client.list<VirtualMachine>(VirtualMachines, { fieldSelector: `spec.nodeName=${victim}` })).items.map((v) => v.metadata.name!);
    await agents.get(victim)!.stop(); // the process dies; its domains keep running on the host
    await eventually(
      async () => {
        const node = await client.get<Node>(Nodes, undefined, victim);
        expect(node.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
        for (const n of onVictim) expect((await get(n)).status?.phase).toBe('Unknown');
        const pool = await client.get<StoragePool>(StoragePools, undefined, 'fast');
        expect(pool.status?.hosts?.[victim]?.health).toBe('UNMOUNTED');
        expect(pool.status?.phase).toBe('Degraded');
      },
      { timeoutMs: 30_000 },
    );

    await start(victim);
    await eventually(
      async () => {
        const node = await client.get<Node>(Nodes, undefined, victim);
        expect(node.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        for (const n of onVictim) {
          const v = await get(n);
          expect(v.status?.phase).toBe('Running');
          expect(v.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
        }
        expect((await client.get<StoragePool>(StoragePools, undefined, 'fast')).status?.phase).toBe('Ready');
      },
      { timeoutMs: 30_000 },
    );
  });

  it('a Node deleted: the image controller drops its report from status.nodes; the phase and Ready condition follow', async () => {
    await client.create(Images, {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Image',
      metadata: { name: 'pruned' },
      spec: { source: { url: 'http://127.0.0.1:9/pruned.qcow2' } },
    } as Image);
    // Reports as the gateway writes them: ready on one node, failed on the other.
    await client.patch(
      Images,
      undefined,
      'pruned',
      {
        status: {
          nodes: {
            'sim-a': { phase: 'Ready', virtualSizeBytes: 1048576, pool: 'p' },
            'sim-c': { phase: 'Failed', reason: 'NoSpace', message: 'pool p is full', pool: 'p' },
          },
        },
      },
      { subresource: 'status' },
    );
    await eventually(async () => (await client.get<Image>(Images, undefined, 'pruned')).status?.phase === 'Failed', {
      timeoutMs: 20_000,
      message: 'Failed while the failing node exists',
    });

    await agents.get('sim-c')!.stop();
    await client.delete(Nodes, undefined, 'sim-c');
    const image = await eventually(
      async () => {
        const i = await client.get<Image>(Images, undefined, 'pruned');
        return i.status?.nodes?.['sim-c'] === undefined ? i : false;
      },
      { timeoutMs: 20_000, message: 'the deleted node’s report dropped' },
    );
    expect(Object.keys(image.status?.nodes ?? {})).toEqual(['sim-a']);
    expect(image.status?.phase).toBe('Ready');
    expect(image.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', message: 'ready on sim-a' });
  });
});
