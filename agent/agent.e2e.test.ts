/**
 * End to end on real libvirtd + QEMU/KVM, real etcd and the real apiserver + node gateway,
 * with the real kubectl: the agent makes libvirt match the API and reports what is true.
 * Tiny domains (1 vCPU, 64 MiB, a 16 MiB qcow2, nothing to boot); every name is unique
 * (`qxtest-…`) and everything is removed afterwards, also when a test fails.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import type { StoragePool, VirtualMachine, VirtualMachinePhase } from '../api-types/generated/types.js';
import { nodeDefinition, storagePoolDefinition, virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { kubectl } from '../hack/testenv/apiserver.js';
import { startAgent, startFinalizerStandIn, startTestControlPlane, type TestAgent, type TestControlPlane } from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh, virshQuiet, waitForLibvirt } from '../hack/testenv/libvirt.js';
import { LibvirtDriver } from './hypervisor/libvirt/driver.js';

const execFileP = promisify(execFile);
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const NODE = nodeDefinition as unknown as ResourceDefinition;

const ns = qxTestName('ns');
const node = qxTestName('node');
const pool = qxTestName('pool');
const poolDir = path.join('/var/lib/libvirt/images', pool);

let cp: TestControlPlane;
let driver: LibvirtDriver;
let agent: TestAgent;
let finalizers: { stop(): void };
const stateDir = path.join('/tmp', `${node}-state`);
const cleanup = new LibvirtCleanup();

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string) => (await store(VM).get(ns, name)) as VirtualMachine;
const phaseOf = async (name: string) => (await getVm(name)).status?.phase;
const domainName = (vm: string) => `${ns}_${vm}`;

async function apply(yaml: string): Promise<void> {
  const res = await kubectl(cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

function vmYaml(name: string, runStrategy = 'Always', disk = true): string {
  return `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  runStrategy: ${runStrategy}
  cpu: 1
  memory: 64Mi
  nodeName: ${node}
${disk ? `  disks:\n  - name: root\n    storagePool: ${pool}\n    size: 16Mi\n` : ''}`;
}

async function domState(name: string): Promise<string> {
  return (await virsh('domstate', name)).stdout.trim();
}

async function domId(name: string): Promise<string> {
  return (await virsh('domid', name)).stdout.trim();
}

/** Records every phase a VM goes through (from the watch, so short-lived phases are seen). */
function recordPhases(name: string): { phases: VirtualMachinePhase[]; stop(): void } {
  const phases: VirtualMachinePhase[] = [];
  const w = store(VM).watch(
    { namespace: ns, fieldSelector: `metadata.name=${name}`, sendInitialEvents: false, resourceVersion: '' },
    (ev) => {
      const p = (ev.object as VirtualMachine).status?.phase;
      if (p && phases.at(-1) !== p) phases.push(p);
    },
    () => undefined,
  );
  return { phases, stop: () => w.stop() };
}

async function startTheAgent(): Promise<TestAgent> {
  return startAgent(cp, { driver, hostname: node, stateDir, shutdownTimeoutMs: 3_000, safetyPollIntervalMs: 5_000 });
}

beforeAll(async () => {
  await ensureLibvirt();
  mkdirSync(poolDir, { recursive: true });
  cleanup.path(poolDir);
  cleanup.path(stateDir);
  cleanup.pool(pool);
  cp = await startTestControlPlane();
  finalizers = startFinalizerStandIn(cp);
  driver = new LibvirtDriver();
  await driver.connect();
  agent = await startTheAgent();
  await apply(`apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: ${pool}
spec:
  type: dir
  dir:
    path: ${poolDir}
  assignedNodes: [${node}]
`);
});

afterAll(async () => {
  await agent?.stop().catch(() => undefined);
  finalizers?.stop();
  // Whatever a failed test left behind: every domain of this run's namespace.
  const { stdout } = await virsh('list', '--all', '--name').catch(() => ({ stdout: '' }));
  for (const name of stdout
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s.startsWith(`${ns}_`) || s.startsWith(`${ns}-`)))
    cleanup.domain(name);
  await cleanup.run();
  await driver?.close().catch(() => undefined);
  await cp?.stop();
});

describe('quantix-agent on libvirt', () => {
  it('apply a pool and a VM: pool started and reported, volume created, domain defined (UUID = metadata.uid) and running, status Running', async () => {
    await eventually(async () => ((await store(POOL).get(undefined, pool)) as StoragePool).status?.hosts?.[node]?.health === 'HEALTHY', { timeoutMs: 20_000 });
    await apply(vmYaml('web'));
    const vm = await eventually(
      async () => {
        const v = await getVm('web');
        return v.status?.phase === 'Running' && v;
      },
      { timeoutMs: 30_000 },
    );
    expect(vm.status).toMatchObject({
      powerState: 'running',
      domainUUID: vm.metadata.uid,
      domainName: domainName('web'),
      origin: 'control-plane',
      managed: true,
      nodeName: node,
    });
    expect(await domState(domainName('web'))).toBe('running');
    expect((await virsh('domuuid', domainName('web'))).stdout.trim()).toBe(vm.metadata.uid);
    const volumes = (await virsh('vol-list', pool)).stdout;
    expect(volumes).toContain(`web_root_${vm.metadata.uid!.slice(0, 8)}.qcow2`);
    const host = await eventually(
      async () => {
        const h = ((await store(POOL).get(undefined, pool)) as StoragePool).status?.hosts?.[node];
        return (h?.volumeCount ?? 0) >= 1 && h;
      },
      { timeoutMs: 20_000 },
    );
    expect(host).toMatchObject({ health: 'HEALTHY', mountPath: poolDir });
    expect(host!.totalBytes).toBeGreaterThan(0);
    const n = await store(NODE).get(undefined, node);
    expect(n.status).toMatchObject({ nodeInfo: { hypervisor: expect.stringMatching(/^(kvm|qemu)$/), libvirtVersion: expect.stringMatching(/^\d+\.\d+/) } });
  });

  it('virsh destroy out of band: status Stopped, then Running again under runStrategy Always', async () => {
    const rec = recordPhases('web');
    try {
      await virsh('destroy', domainName('web'));
      await eventually(() => rec.phases.includes('Stopped') && rec.phases.at(-1) === 'Running', {
        timeoutMs: 30_000,
        message: `phases ${rec.phases.join(',')}`,
      });
    } finally {
      rec.stop();
    }
    expect(rec.phases.indexOf('Stopped')).toBeLessThan(rec.phases.lastIndexOf('Running'));
    expect(await domState(domainName('web'))).toBe('running');
    expect((await getVm('web')).status?.restartCount).toBe(1);
  });

  it('virsh undefine of a managed VM: Lost with a reason, not re-created', async () => {
    await apply(vmYaml('gone', 'Halted', false));
    await eventually(async () => (await phaseOf('gone')) === 'Stopped', { timeoutMs: 20_000 });
    await virsh('undefine', domainName('gone'));
    const vm = await eventually(
      async () => {
        const v = await getVm('gone');
        return v.status?.phase === 'Lost' && v;
      },
      { timeoutMs: 20_000 },
    );
    expect(vm.status?.lostReason).toMatch(/no longer defined on node/);
    expect(vm.status?.lostAt).toBeDefined();
    await agent.agent.fullSync();
    expect(await virshQuiet('dominfo', domainName('gone'))).toBe(false);
  });

  it('a domain defined by hand: host-discovered, unmanaged, untouched; its out-of-band start is seen; removed → Terminated', async () => {
    const name = qxTestName('handmade');
    cleanup.domain(name);
    const xmlPath = path.join('/tmp', `${name}.xml`);
    cleanup.path(xmlPath);
    const emulator = existsSync('/dev/kvm') ? 'kvm' : 'qemu';
    writeFileSync(
      xmlPath,
      `<domain type='${emulator}'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type arch='x86_64' machine='pc'>hvm</type></os><devices></devices></domain>`,
    );
    await virsh('define', xmlPath);
    const uuid = (await virsh('domuuid', name)).stdout.trim();
    const vm = await eventually(
      async () => {
        const list = await store(VM).list({ labelSelector: `quantix.io/domain-uuid=${uuid}` });
        return (list.items[0] as VirtualMachine | undefined) ?? false;
      },
      { timeoutMs: 20_000 },
    );
    expect(vm.status).toMatchObject({ origin: 'host-discovered', managed: false, phase: 'Stopped', domainUUID: uuid, domainName: name });
    await agent.agent.fullSync();
    expect(await domState(name)).toBe('shut off'); // the agent never starts what it does not manage

    await virsh('start', name);
    await eventually(async () => ((await store(VM).get(vm.metadata.namespace, vm.metadata.name!)) as VirtualMachine).status?.phase === 'Running', {
      timeoutMs: 20_000,
    });
    await virsh('destroy', name);
    await virsh('undefine', name);
    await eventually(async () => ((await store(VM).get(vm.metadata.namespace, vm.metadata.name!)) as VirtualMachine).status?.phase === 'Terminated', {
      timeoutMs: 20_000,
    });
  });

  it('agent restart: re-registers as the same Node and restarts, stops or redefines no domain', async () => {
    const uidBefore = agent.agent.nodeUid;
    const idBefore = await domId(domainName('web'));
    const xmlBefore = (await virsh('dumpxml', domainName('web'))).stdout;
    await agent.stop();
    agent = await startTheAgent();
    await agent.agent.whenFullySynced();
    expect(agent.agent.nodeUid).toBe(uidBefore);
    expect(await domId(domainName('web'))).toBe(idBefore);
    expect((await virsh('dumpxml', domainName('web'))).stdout).toBe(xmlBefore);
    expect(await phaseOf('web')).toBe('Running');
  });

  it('control plane down: domains untouched; on reconnect the agent resyncs what changed meanwhile', async () => {
    await apply(vmYaml('manual', 'Manual', false));
    await eventually(async () => (await phaseOf('manual')) === 'Running', { timeoutMs: 20_000 });
    const webId = await domId(domainName('web'));
    await cp.stopControlPlane();
    try {
      await virsh('destroy', domainName('manual'));
      await eventually(async () => (await domState(domainName('manual'))) === 'shut off', { timeoutMs: 20_000 });
      expect(await domId(domainName('web'))).toBe(webId);
    } finally {
      await cp.startControlPlane();
    }
    await eventually(async () => (await phaseOf('manual')) === 'Stopped', { timeoutMs: 30_000 });
    expect(await domState(domainName('manual'))).toBe('shut off'); // Manual: the agent does not restart it
    expect(await domId(domainName('web'))).toBe(webId);
  });

  it('libvirtd restart: domains keep running, the agent reconnects and sees events again', async () => {
    const idBefore = await domId(domainName('web'));
    const { stdout } = await execFileP('pgrep', ['-x', 'libvirtd']);
    const pid = Number(stdout.trim().split('\n')[0]);
    process.kill(pid, 'SIGTERM');
    await eventually(() => !existsSync(`/proc/${pid}`), { timeoutMs: 30_000, message: 'old libvirtd exits' });
    await execFileP('libvirtd', ['-d']);
    await waitForLibvirt();
    await eventually(() => driver.connectionState() === 'connected', { timeoutMs: 30_000 });
    expect(await domId(domainName('web'))).toBe(idBefore);
    const rec = recordPhases('web');
    try {
      await virsh('destroy', domainName('web'));
      await eventually(() => rec.phases.includes('Stopped') && rec.phases.at(-1) === 'Running', {
        timeoutMs: 30_000,
        message: `phases ${rec.phases.join(',')}`,
      });
    } finally {
      rec.stop();
    }
  });

  it('an nfs pool that cannot be mounted here: ERROR or UNMOUNTED with the mount error, the agent carries on', async () => {
    const nfs = qxTestName('nfs');
    cleanup.pool(nfs);
    await apply(`apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: ${nfs}
spec:
  type: nfs
  nfs: { server: 127.0.0.1, exportPath: /export/qx }
  assignedNodes: [${node}]
`);
    const host = await eventually(
      async () => {
        const h = ((await store(POOL).get(undefined, nfs)) as StoragePool).status?.hosts?.[node];
        return (h?.health === 'UNMOUNTED' || h?.health === 'ERROR') && h;
      },
      { timeoutMs: 60_000 },
    );
    expect(host.message).toMatch(/192\.0\.2\.1:\/export\/qx|mount/i);
    expect(host.mountPath).toBe(`/var/lib/quantix/pools/${nfs}`);
    expect(driver.connectionState()).toBe('connected');
    expect(await phaseOf('web')).toBe('Running');
    await store(POOL).delete(undefined, nfs);
  });

  it('the pool file browser lists the pool through the API and refuses escapes', async () => {
    mkdirSync(path.join(poolDir, 'iso'), { recursive: true });
    writeFileSync(path.join(poolDir, 'iso', 'tiny.iso'), Buffer.alloc(2048));
    const base = `/apis/quantix.io/v1alpha1/storagepools/${pool}/files?node=${node}`;
    const root = await kubectl(cp.env.kubeconfig, ['get', '--raw', base]);
    expect(root.code).toBe(0);
    const listing = JSON.parse(root.stdout) as { items: { name: string; type: string }[]; mountPath: string };
    expect(listing.mountPath).toBe(poolDir);
    expect(listing.items).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'iso', type: 'dir' }),
        expect.objectContaining({ type: 'file', name: expect.stringMatching(/^web_root_/) }),
      ]),
    );
    const iso = JSON.parse((await kubectl(cp.env.kubeconfig, ['get', '--raw', `${base}&path=iso`])).stdout) as { items: unknown[] };
    expect(iso.items).toEqual([expect.objectContaining({ name: 'tiny.iso', type: 'file', sizeBytes: 2048 })]);
    const escaped = await kubectl(cp.env.kubeconfig, ['get', '--raw', `${base}&path=../../etc`]);
    expect(escaped.code).not.toBe(0);
  });

  it('delete: domain undefined and volumes removed, then the VM object is gone', async () => {
    const vm = await getVm('web');
    const res = await kubectl(cp.env.kubeconfig, ['delete', 'vm', 'web', '-n', ns, '--wait=true', '--timeout=60s']);
    expect(res.code).toBe(0);
    await eventually(
      async () =>
        store(VM)
          .get(ns, 'web')
          .then(
            () => false,
            () => true,
          ),
      { timeoutMs: 30_000 },
    );
    expect(await virshQuiet('dominfo', domainName('web'))).toBe(false);
    expect(readdirSync(poolDir).filter((f) => f.includes(vm.metadata.uid!.slice(0, 8)))).toEqual([]);
  });

  it('un-assigning the pool stops it on the host without deleting its data', async () => {
    await store(POOL).guaranteedUpdate(undefined, pool, (p) => ({ ...p, spec: { ...(p.spec as object), assignedNodes: [] } }));
    await eventually(async () => !(await virshQuiet('pool-info', pool)), { timeoutMs: 20_000 });
    expect(existsSync(path.join(poolDir, 'iso', 'tiny.iso'))).toBe(true);
    await eventually(async () => ((await store(POOL).get(undefined, pool)) as StoragePool).status?.hosts?.[node] === undefined, { timeoutMs: 20_000 });
  });
});
