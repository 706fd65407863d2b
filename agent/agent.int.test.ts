/**
 * The agent and the node gateway together, on sim drivers, against real etcd and the real
 * apiserver + gateway (in process): registration and identity, heartbeats and the state
 * hash, ownership rules, pools, the file browser, control-plane outages.
 * (The libvirt end-to-end suite is agent.e2e.test.ts.)
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Node, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { nodeDefinition, storagePoolDefinition, virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { GatewayError } from '../api-types/proto/errors.js';
import type { Logger } from '../lib/logging/logger.js';
import { eventually } from '../hack/testenv/eventually.js';
import { kubectl } from '../hack/testenv/apiserver.js';
import { startAgent, startFinalizerStandIn, startTestControlPlane, type TestAgent, type TestControlPlane } from '../hack/testenv/agent.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { GatewayClient } from './gateway-client.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const NODE = nodeDefinition as unknown as ResourceDefinition;

let cp: TestControlPlane;
let finalizers: { stop(): void };
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane({ gateway: { terminatedRetentionMs: 0 } });
  finalizers = startFinalizerStandIn(cp);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  finalizers.stop();
  await cp.stop();
});

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string, ns = 'default') => (await store(VM).get(ns, name)) as VirtualMachine;
const getNode = async (name: string) => (await store(NODE).get(undefined, name)) as Node;
const getPool = async (name: string) => (await store(POOL).get(undefined, name)) as StoragePool;

async function simAgent(hostname: string, opts: { stateDir?: string; sim?: SimDriver } = {}): Promise<TestAgent & { sim: SimDriver }> {
  const sim = opts.sim ?? new SimDriver({ hostname, poolCapacityBytes: 100 * 1024 ** 3 });
  const a = await startAgent(cp, { driver: sim, hostname, addresses: ['10.1.2.3:9090'], stateDir: opts.stateDir });
  cleanups.push(() => a.stop());
  return { ...a, sim };
}

async function createPool(name: string, nodes: string[], type: 'dir' | 'nfs' = 'dir'): Promise<void> {
  const spec =
    type === 'dir'
      ? { type, dir: { path: `/var/lib/qx/${name}` }, assignedNodes: nodes }
      : { type, nfs: { server: '192.0.2.1', exportPath: '/export' }, assignedNodes: nodes };
  await store(POOL).create({ apiVersion: 'quantix.io/v1alpha1', kind: 'StoragePool', metadata: { name }, spec });
}

async function createVm(name: string, node: string, spec: Partial<VirtualMachine['spec']> = {}): Promise<VirtualMachine> {
  return (await store(VM).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: { memory: '64Mi', nodeName: node, ...spec },
  })) as VirtualMachine;
}

interface LoggedLine {
  level: string;
  message: string;
  fields: Record<string, unknown>;
}

/** A Logger that keeps what it is given (to count what the agent logs). */
function recordingLogger(lines: LoggedLine[] = [], base: Record<string, unknown> = {}): Logger & { lines: LoggedLine[] } {
  const at = (level: string) => (message: string, fields?: Record<string, unknown>) => void lines.push({ level, message, fields: { ...base, ...fields } });
  return {
    lines,
    error: at('error'),
    warn: at('warn'),
    info: at('info'),
    debug: at('debug'),
    child: (fields) => recordingLogger(lines, { ...base, ...fields }),
    isDebugEnabled: () => true,
  };
}

function gatewayClientWith(token: string): GatewayClient {
  const c = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost' });
  c.setToken(token);
  cleanups.push(async () => c.close());
  return c;
}

describe('registration and identity', () => {
  it('registers under the hostname with node info, capacity and a management address without port; heartbeats make it Ready', async () => {
    const a = await simAgent('reg-a');
    const node = await eventually(async () => {
      const n = await getNode('reg-a');
      return n.status?.conditions?.find((c) => c.type === 'Ready')?.reason === 'AgentReady' && n;
    });
    expect(node.status).toMatchObject({
      addresses: [
        { type: 'InternalIP', address: '10.1.2.3' },
        { type: 'Hostname', address: 'reg-a' },
      ],
      capacity: { cpu: 16, memoryBytes: 64 * 1024 ** 3 },
      nodeInfo: { hypervisor: 'sim', agentVersion: '0.1.0', cpuModel: 'Simulated CPU', machineID: expect.stringMatching(/^sha256:[0-9a-f]{16}$/) },
    });
    // The machine id proves ownership of the hostname: Node status (viewers read it) shows a fingerprint only.
    expect(JSON.stringify(node)).not.toContain(a.agent.machineId);
    expect(node.status?.lastHeartbeatTime).toBeDefined();
    expect(node.metadata.uid).toBe(a.agent.nodeUid);
  });

  it('a restarted agent (same state dir) re-registers as the same Node; another machine with that hostname is refused', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'qx-reg-b-'));
    const first = await simAgent('reg-b', { stateDir });
    const uid = first.agent.nodeUid;
    await first.stop();
    const second = await simAgent('reg-b', { stateDir });
    expect(second.agent.nodeUid).toBe(uid);
    expect(second.agent.machineId).toBe(first.agent.machineId);

    const err = await simAgent('reg-b').then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(GatewayError);
    expect(err).toMatchObject({ reason: 'AlreadyExists', grpcCode: 6 });
    expect((err as Error).message).toMatch(/belongs to another machine.*cannot take over an existing hostname/);
    // Nothing of the owner's machine id in the refusal (it was the key to a takeover), nor a readable file.
    expect(JSON.stringify(err)).not.toContain(first.agent.machineId.slice(0, 8));
    expect((err as Error).message).not.toContain(first.agent.machineId.slice(0, 8));
    expect(statSync(join(stateDir, 'machine-id')).mode & 0o777).toBe(0o600);
    expect((await getNode('reg-b')).metadata.uid).toBe(uid);
  });

  it('concurrent registrations of one hostname resolve to one Node; concurrent claims by different machines: one wins', async () => {
    const join = gatewayClientWith(cp.joinToken);
    const same = await Promise.all(Array.from({ length: 3 }, () => join.registerNode({ hostname: 'race-1', machineId: 'm-same' }, cp.joinToken)));
    expect(new Set(same.map((r) => r.nodeUid)).size).toBe(1);
    // Every one of them got a working credential (a record keeps the last three).
    for (const r of same) await expect(gatewayClientWith(r.credential).heartbeat({ stateHash: 'x', hypervisorReady: true })).resolves.toBeDefined();
    const nodes = (await store(NODE).list({})).items.filter((n) => n.metadata.name === 'race-1');
    expect(nodes).toHaveLength(1);

    const outcomes = await Promise.allSettled(
      Array.from({ length: 5 }, (_, i) => join.registerNode({ hostname: 'race-2', machineId: `m-${i}` }, cp.joinToken)),
    );
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    for (const o of outcomes.filter((x) => x.status === 'rejected')) expect((o as PromiseRejectedResult).reason).toMatchObject({ reason: 'AlreadyExists' });
  });

  it('node credentials: only the node itself; an unknown token is Unauthorized; the join token cannot heartbeat', async () => {
    await expect(gatewayClientWith('nobody.secret').heartbeat({ stateHash: '' })).rejects.toMatchObject({ reason: 'Unauthorized', grpcCode: 16 });
    await expect(gatewayClientWith(cp.joinToken).heartbeat({ stateHash: '' })).rejects.toMatchObject({ reason: 'Forbidden', grpcCode: 7 });
  });

  it('the node credential works on the REST API under NodeRestriction (kubectl with the node kubeconfig)', async () => {
    const a = await simAgent('rest-node');
    const kubeconfig = join(a.stateDir, 'kubeconfig');
    const own = await kubectl(kubeconfig, ['get', 'nodes.quantix.io', 'rest-node', '-o', 'name']);
    expect(own.stdout.trim()).toBe('node.quantix.io/rest-node');
    const other = await kubectl(kubeconfig, ['get', 'nodes.quantix.io', 'reg-a']);
    expect(other.code).not.toBe(0);
    expect(other.stderr).toMatch(/forbidden/i);
  });
});

describe('heartbeat and state hash', () => {
  it('asks for a full sync when the hash differs from the last acknowledged one', async () => {
    const a = await simAgent('hash-a');
    await a.agent.whenFullySynced();
    const client = gatewayClientWith(a.agent.stateDir.credential()!);
    const same = await client.heartbeat({ stateHash: a.agent.reporter.hash.digest(), hypervisorReady: true });
    expect(same.requestFullSync).toBe(false);
    const differs = await client.heartbeat({ stateHash: 'deadbeefdeadbeef', hypervisorReady: true });
    expect(differs).toMatchObject({ requestFullSync: true, fullSyncReason: expect.stringContaining('differs') });
    expect((await getNode('hash-a')).status?.stateHash).toBe(a.agent.reporter.hash.digest());
  });

  it('after node-lifecycle marked the node silent (stateHash cleared, VMs Unknown), the next heartbeat brings a full sync that restores them', async () => {
    const a = await simAgent('hash-b');
    await createVm('hash-vm', 'hash-b');
    await eventually(async () => (await getVm('hash-vm')).status?.phase === 'Running');
    await a.agent.whenFullySynced();
    // What the node-lifecycle controller does when heartbeats stop.
    await store(NODE).guaranteedUpdate(undefined, 'hash-b', (n) => ({ ...n, status: { ...(n.status as object), stateHash: undefined } }));
    await store(VM).guaranteedUpdate('default', 'hash-vm', (v) => ({ ...v, status: { ...(v.status as object), phase: 'Unknown' } }));
    await eventually(async () => (await getVm('hash-vm')).status?.phase === 'Running', { timeoutMs: 10_000 });
    await eventually(async () => (await getNode('hash-b')).status?.stateHash === a.agent.reporter.hash.digest());
  });
});

describe('VMs and ownership on sim', () => {
  let a: TestAgent & { sim: SimDriver };
  beforeAll(async () => {
    a = await simAgent('own-a');
    await createPool('own-pool', ['own-a']);
    await eventually(async () => (await getPool('own-pool')).status?.hosts?.['own-a']?.health === 'HEALTHY');
  });

  it('a VM bound to the node runs, with domain UUID = metadata.uid, origin control-plane, managed', async () => {
    const vm = await createVm('own-web', 'own-a', { disks: [{ name: 'root', storagePool: 'own-pool', size: '16Mi' }] });
    const got = await eventually(async () => {
      const v = await getVm('own-web');
      return v.status?.phase === 'Running' && v;
    });
    expect(got.status).toMatchObject({ powerState: 'running', domainUUID: vm.metadata.uid, origin: 'control-plane', managed: true, nodeName: 'own-a' });
    expect((await a.sim.getDomain(vm.metadata.uid!)).state).toBe('Running');
  });

  it('qxctl vm restart contract: the restart-requested-at annotation restarts the domain once and counts it', async () => {
    const vm = await createVm('own-restart', 'own-a');
    await eventually(async () => (await getVm('own-restart')).status?.phase === 'Running');
    const idBefore = (await a.sim.getDomain(vm.metadata.uid!)).id;
    await store(VM).guaranteedUpdate('default', 'own-restart', (v) => ({
      ...v,
      metadata: { ...v.metadata, annotations: { ...(v.metadata.annotations ?? {}), 'quantix.io/restart-requested-at': new Date().toISOString() } },
    }));
    await eventually(async () => {
      const v = await getVm('own-restart');
      return v.status?.restartCount === 1 && v.status.phase === 'Running';
    });
    expect((await a.sim.getDomain(vm.metadata.uid!)).id).not.toBe(idBefore);
  });

  it('a domain defined by hand is recorded host-discovered, unmanaged, and never touched; gone → Terminated → collected', async () => {
    const uuid = randomUUID();
    a.sim.defineForeignDomain({ uuid, name: 'handmade-db', vcpus: 2, memoryBytes: 256 * 1024 ** 2, disks: [], networks: [] });
    const discovered = await eventually(async () => {
      const list = await store(VM).list({ labelSelector: `quantix.io/domain-uuid=${uuid}` });
      return (list.items[0] as VirtualMachine | undefined) ?? false;
    });
    expect(discovered.metadata.name).toBe('handmade-db');
    expect(discovered.status).toMatchObject({ origin: 'host-discovered', managed: false, phase: 'Stopped', domainName: 'handmade-db' });
    expect(discovered.spec).toMatchObject({ runStrategy: 'Manual', cpu: 2, memory: '256Mi', nodeName: 'own-a' });
    await a.agent.fullSync();
    expect((await a.sim.getDomain(uuid)).state).toBe('Shutoff'); // never started: not Quantix's

    await a.sim.undefineDomain(uuid);
    await eventually(async () => (await getVm('handmade-db')).status?.phase === 'Terminated');
    expect(await cp.gateway.service.collectGarbage()).toBe(1);
    await eventually(async () => (await store(VM).list({ labelSelector: `quantix.io/domain-uuid=${uuid}` })).items.length === 0);
  });

  it('a managed domain removed outside Quantix: Lost with reason and time, not re-created', async () => {
    const vm = await createVm('own-lost', 'own-a', { runStrategy: 'Always' });
    await eventually(async () => (await getVm('own-lost')).status?.phase === 'Running');
    await a.sim.destroyDomain(vm.metadata.uid!);
    await a.sim.undefineDomain(vm.metadata.uid!);
    const lost = await eventually(async () => {
      const v = await getVm('own-lost');
      return v.status?.phase === 'Lost' && v;
    });
    expect(lost.status?.lostReason).toContain(`domain ${vm.metadata.uid}`);
    expect(lost.status?.lostAt).toBeDefined();
    await a.agent.fullSync();
    await expect(a.sim.getDomain(vm.metadata.uid!)).rejects.toMatchObject({ reason: 'DomainNotFound' });
    expect((await getVm('own-lost')).status?.phase).toBe('Lost');
  });

  it('deletion: the agent removes domain and volumes, reports Deleted, the finalizer is released', async () => {
    const vm = await createVm('own-del', 'own-a', { disks: [{ name: 'root', storagePool: 'own-pool', size: '16Mi' }] });
    await eventually(async () => (await getVm('own-del')).status?.phase === 'Running');
    await eventually(async () => ((await getVm('own-del')).metadata.finalizers ?? []).includes('quantix.io/vm-cleanup'));
    await store(VM).delete('default', 'own-del');
    await eventually(
      async () =>
        store(VM)
          .get('default', 'own-del')
          .then(
            () => false,
            () => true,
          ),
      { timeoutMs: 15_000 },
    );
    await expect(a.sim.getDomain(vm.metadata.uid!)).rejects.toMatchObject({ reason: 'DomainNotFound' });
    expect((await a.sim.listVolumes('own-pool')).map((v) => v.name).filter((n) => n.startsWith('own-del'))).toEqual([]);
  });
});

describe('storage pools on sim', () => {
  it('an nfs pool that cannot be mounted shows UNMOUNTED with the mount error; un-assignment stops it and drops the entry', async () => {
    const sim = new SimDriver({ hostname: 'pool-a' });
    await sim.connect();
    const a = await simAgent('pool-a', { sim });
    await createPool('pool-nfs', ['pool-a'], 'nfs');
    // The sim mounts anything; make this export unreachable as soon as the pool exists.
    await eventually(async () => {
      sim.setPoolMountFailure('pool-nfs', 'mount.nfs: Connection refused for 192.0.2.1:/export');
      return true;
    });
    await sim.stopPool('pool-nfs').catch(() => undefined);
    const entry = await eventually(
      async () => {
        const h = (await getPool('pool-nfs')).status?.hosts?.['pool-a'];
        return h?.health === 'UNMOUNTED' && h;
      },
      { timeoutMs: 20_000 },
    );
    expect(entry).toMatchObject({ mountPath: '/var/lib/quantix/pools/pool-nfs', message: expect.stringContaining('Connection refused') });

    await createPool('pool-dir', ['pool-a']);
    await eventually(async () => (await getPool('pool-dir')).status?.hosts?.['pool-a']?.health === 'HEALTHY');
    await store(POOL).guaranteedUpdate(undefined, 'pool-dir', (p) => ({ ...p, spec: { ...(p.spec as object), assignedNodes: [] } }));
    await eventually(async () => (await getPool('pool-dir')).status?.hosts?.['pool-a'] === undefined);
    await expect(sim.getPool('pool-dir')).rejects.toMatchObject({ reason: 'PoolNotFound' });
    expect(a.agent.pools.managedPools().has('pool-dir')).toBe(false);
  });

  it('an agent restart (same state dir, managed-pools.json present) neither stops nor undefines its pools', async () => {
    const stateDir = mkdtempSync(join(tmpdir(), 'qx-pool-r-'));
    const sim = new SimDriver({ hostname: 'pool-r' });
    await sim.connect();
    await createPool('pool-keep', ['pool-r']);
    const first = await simAgent('pool-r', { stateDir, sim });
    await eventually(async () => (await getPool('pool-keep')).status?.hosts?.['pool-r']?.health === 'HEALTHY');
    expect(first.agent.pools.managedPools().has('pool-keep')).toBe(true);
    await first.stop();
    const refreshes = sim.callCounts.get('refreshPool') ?? 0;
    const second = await simAgent('pool-r', { stateDir, sim });
    await second.agent.whenFullySynced();
    // The restarted agent has looked at the pool (refreshed it) with the desired state in hand.
    await eventually(() => (sim.callCounts.get('refreshPool') ?? 0) > refreshes);
    expect([sim.callCounts.get('stopPool') ?? 0, sim.callCounts.get('undefinePool') ?? 0]).toEqual([0, 0]);
    expect((await sim.getPool('pool-keep')).state).toBe('Running');
  });

  it('the pool file browser: GET storagepools/NAME/files?node=N&path=P, escapes refused', async () => {
    const sim = new SimDriver({ hostname: 'files-a' });
    await sim.connect();
    await simAgent('files-a', { sim });
    await createPool('files-pool', ['files-a']);
    await eventually(async () => (await getPool('files-pool')).status?.hosts?.['files-a']?.health === 'HEALTHY');
    sim.addPoolFile('files-pool', 'iso/debian.iso', { type: 'file', sizeBytes: 4096 });
    sim.addPoolFile('files-pool', 'images', { type: 'dir' });
    const raw = (path: string) => kubectl(cp.env.kubeconfig, ['get', '--raw', path]);
    const root = await raw('/apis/quantix.io/v1alpha1/storagepools/files-pool/files?node=files-a');
    expect(root.code).toBe(0);
    const list = JSON.parse(root.stdout);
    expect(list).toMatchObject({ kind: 'StoragePoolFileList', pool: 'files-pool', node: 'files-a', path: '', mountPath: '/var/lib/qx/files-pool' });
    expect(list.items.map((i: { name: string }) => i.name).sort()).toEqual(['images', 'iso']);
    const iso = JSON.parse((await raw('/apis/quantix.io/v1alpha1/storagepools/files-pool/files?node=files-a&path=iso')).stdout);
    expect(iso.items).toEqual([{ name: 'debian.iso', type: 'file', sizeBytes: 4096, modifiedTime: expect.any(String) }]);
    const escaped = await raw('/apis/quantix.io/v1alpha1/storagepools/files-pool/files?node=files-a&path=../..');
    expect(escaped.code).not.toBe(0);
    expect(escaped.stderr).toMatch(/BadRequest|400/);
    const missing = await raw('/apis/quantix.io/v1alpha1/storagepools/files-pool/files?node=files-a&path=nope');
    expect(missing.stderr).toMatch(/NotFound|404/);
    const notAssigned = await raw('/apis/quantix.io/v1alpha1/storagepools/files-pool/files?node=reg-a');
    expect(notAssigned.stderr).toMatch(/not assigned to node/);
    const unknown = await raw('/apis/quantix.io/v1alpha1/storagepools/nope/files?node=files-a');
    expect(unknown.stderr).toMatch(/NotFound|404/);
  });
});

describe('full sync entry by entry on sim', () => {
  it('a domain the gateway refuses does not fail the full sync: the rest is recorded, the state hash acknowledged, the refusal logged once', async () => {
    const sim = new SimDriver({ hostname: 'fs-agent', poolCapacityBytes: 100 * 1024 ** 3 });
    await sim.connect();
    const tooBig = randomUUID();
    const plain = randomUUID();
    // More vCPUs than a VM may have (spec.cpu ≤ 1024): its host-discovered record is Invalid.
    sim.defineForeignDomain({ uuid: tooBig, name: 'too-big', vcpus: 5000, memoryBytes: 256 * 1024 ** 2, disks: [], networks: [] });
    sim.defineForeignDomain({ uuid: plain, name: 'plain-db', vcpus: 2, memoryBytes: 256 * 1024 ** 2, disks: [], networks: [] });
    const log = recordingLogger();
    const a = await startAgent(cp, { driver: sim, hostname: 'fs-agent', addresses: ['10.1.2.4'], log });
    cleanups.push(() => a.stop());

    await eventually(async () => (await getNode('fs-agent')).status?.stateHash === a.agent.reporter.hash.digest(), { message: 'state hash acknowledged' });
    const records = async (uuid: string) => (await store(VM).list({ labelSelector: `quantix.io/domain-uuid=${uuid}` })).items;
    expect(await records(plain)).toHaveLength(1);
    expect(await records(tooBig)).toHaveLength(0);
    const client = gatewayClientWith(a.agent.stateDir.credential()!);
    expect(await client.heartbeat({ stateHash: a.agent.reporter.hash.digest(), hypervisorReady: true })).toMatchObject({ requestFullSync: false });

    await a.agent.fullSync(); // refused the same way again: not logged again
    const refusals = log.lines.filter((l) => l.message === 'the gateway refused a report of the full sync');
    expect(refusals).toEqual([
      {
        level: 'warn',
        message: 'the gateway refused a report of the full sync',
        fields: expect.objectContaining({ domain: tooBig, reason: 'Invalid', detail: expect.stringContaining('spec.cpu') }),
      },
    ]);
  });
});

describe('resilience on sim', () => {
  it('control plane down: domains untouched and agent keeps running; on reconnect the status is resynced', async () => {
    const a = await simAgent('res-a');
    const vm = await createVm('res-manual', 'res-a', { runStrategy: 'Manual' });
    await eventually(async () => (await getVm('res-manual')).status?.phase === 'Running');
    const starts = a.sim.callCounts.get('startDomain');
    await cp.stopControlPlane();
    try {
      a.sim.guestPowerOff(vm.metadata.uid!);
      await a.agent.heartbeat(); // fails: unreachable
      expect((await a.sim.getDomain(vm.metadata.uid!)).state).toBe('Shutoff');
    } finally {
      await cp.startControlPlane();
    }
    await eventually(async () => (await getVm('res-manual')).status?.phase === 'Stopped', { timeoutMs: 20_000 });
    expect(a.sim.callCounts.get('startDomain')).toBe(starts); // Manual: never restarted by the agent
  });
});
