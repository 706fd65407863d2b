/**
 * Clone and resize end to end on the sim driver: the real apiserver (clone subresource),
 * gateway and agent in process, qxctl as a subprocess. RestartRequired appears for a
 * running VM whose cpu/memory changed and clears after `qxctl vm restart`; a clone of a
 * stopped VM gets copies of its disks, its own uid and MAC; each bad request gets its
 * Status and leaves nothing behind. (Real guests: guests.e2e.test.ts.)
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Agent as HttpAgent, fetch } from 'undici';
import type { StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { storagePoolDefinition, virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { run } from '../hack/testenv/apiserver.js';
import { startAgent, startFinalizerStandIn, type TestAgent, startTestControlPlane, type TestControlPlane } from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { stableMac } from './vm/spec.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const QXCTL = join(dirname(fileURLToPath(import.meta.url)), '..', 'bin', 'qxctl');
const NODE = 'cr-node';
const SLOW = 120_000;

let cp: TestControlPlane;
let finalizers: { stop(): void };
let agent: TestAgent;
let sim: SimDriver;
let http: HttpAgent;

beforeAll(async () => {
  cp = await startTestControlPlane({ gateway: { terminatedRetentionMs: 0 } });
  finalizers = startFinalizerStandIn(cp);
  // Not strict about disk paths: the sim does not see the cloud-init seed ISOs the agent writes.
  sim = new SimDriver({ hostname: NODE, poolCapacityBytes: 100 * 1024 ** 3, strictDiskPaths: false });
  agent = await startAgent(cp, { driver: sim, hostname: NODE });
  http = new HttpAgent({ connect: { ca: cp.env.caCertPem } });
  await store(POOL).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name: 'local' },
    spec: { type: 'dir', dir: { path: '/var/lib/qx/local' }, assignedNodes: [NODE] },
  } as StoragePool);
}, SLOW);

afterAll(async () => {
  await agent?.stop();
  finalizers?.stop();
  await cp?.stop();
  await http?.close();
});

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string) => (await store(VM).get('default', name)) as VirtualMachine;
const vmNames = async () => (await store(VM).list({ namespace: 'default' })).items.map((o) => o.metadata.name).sort();
const condition = (vm: VirtualMachine, type: string) => vm.status?.conditions?.find((c) => c.type === type);
const qx = (args: string[]) => run(QXCTL, args, { env: { KUBECONFIG: cp.env.kubeconfig, HOME: cp.env.dataDir, QXCTL_DEBUG: '' }, timeoutMs: 100_000 });

/** POST …/virtualmachines/SRC/clone as `token`: the HTTP status and the body. */
async function postClone(src: string, body: unknown, token = cp.env.tokens.admin): Promise<{ code: number; body: Record<string, unknown> }> {
  const res = await fetch(`${cp.env.apiserver.url}/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/${src}/clone`, {
    method: 'POST',
    dispatcher: http,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { code: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function domainOf(vm: VirtualMachine) {
  return sim.getDomain(vm.metadata.uid!);
}

describe('resize and clone', () => {
  it(
    'a running VM resized: RestartRequired names the fields; qxctl vm restart applies them and clears it',
    async () => {
      await store(VM).create({
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: 'src', namespace: 'default' },
        spec: {
          memory: '64Mi',
          cpu: 1,
          nodeName: NODE,
          disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }],
          networks: [{ name: 'eth0', type: 'user', macAddress: '52:54:00:12:34:56', portForwards: [{ guestPort: 22, hostPort: 2222 }] }],
          cloudInit: { hostname: 'src-host' },
        },
      } as VirtualMachine);
      const running = await eventually(async () => {
        const vm = await getVm('src');
        if (vm.status?.phase !== 'Running') throw new Error(JSON.stringify(vm.status));
        return vm;
      });
      expect(condition(running, 'RestartRequired')).toBeUndefined();

      await store(VM).guaranteedUpdate('default', 'src', (vm) => ({ ...vm, spec: { ...(vm.spec as object), cpu: 2, memory: '128Mi' } }));
      const flagged = await eventually(async () => {
        const vm = await getVm('src');
        if (!condition(vm, 'RestartRequired')) throw new Error(JSON.stringify(vm.status));
        return vm;
      });
      expect(condition(flagged, 'RestartRequired')).toMatchObject({
        status: 'True',
        reason: 'SpecChanged',
        message: expect.stringMatching(/^spec\.cpu, spec\.memory changed; restart to apply \(qxctl vm restart src\): running with 1 CPU and 64Mi memory/),
      });
      // Still the old sizes: a running domain is never redefined.
      expect(await domainOf(flagged)).toMatchObject({ state: 'Running', vcpus: 1, memoryBytes: 64 << 20 });

      const describe = await qx(['describe', 'vm', 'src']);
      expect(describe.code).toBe(0);
      expect(describe.stdout).toMatch(/RestartRequired\s+True\s+SpecChanged/);

      const restart = await qx(['vm', 'restart', 'src', '--timeout', '60s']);
      expect(restart.code).toBe(0);
      expect(restart.stdout).toContain('virtualmachine.quantix.io/src restarted (phase Running)');
      const restarted = await eventually(async () => {
        const vm = await getVm('src');
        if (vm.status?.phase !== 'Running' || condition(vm, 'RestartRequired')) throw new Error(JSON.stringify(vm.status));
        return vm;
      });
      expect(await domainOf(restarted)).toMatchObject({ state: 'Running', vcpus: 2, memoryBytes: 128 << 20 });
      expect(restarted.status?.restartCount).toBe(1);
    },
    SLOW,
  );

  it(
    'bad clone requests get their Status and leave nothing behind',
    async () => {
      const before = await vmNames();
      // A running source: 409 Conflict, the cause says why.
      const runningSource = await postClone('src', { name: 'dst' });
      expect(runningSource.code).toBe(409);
      expect(runningSource.body).toMatchObject({
        kind: 'Status',
        status: 'Failure',
        reason: 'Conflict',
        message: expect.stringMatching(/cannot clone virtualmachines\.quantix\.io "src": virtual machine "src" is not stopped \(running\): stop it first/),
        details: { name: 'src', causes: [{ reason: 'VMNotStopped' }] },
      });
      const cli = await qx(['vm', 'clone', 'src', 'dst']);
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toMatch(/is not stopped \(running\)/);
      // No source: 404.
      const missing = await postClone('nope', { name: 'dst' });
      expect(missing).toMatchObject({ code: 404, body: { reason: 'NotFound', message: 'virtualmachines.quantix.io "nope" not found' } });
      // No name, a name that is not a DNS-1123 label.
      expect(await postClone('src', {})).toMatchObject({ code: 400, body: { reason: 'BadRequest', details: { causes: [{ field: 'name' }] } } });
      // A viewer: 403 naming who was refused what.
      const viewer = await postClone('src', { name: 'dst' }, cp.env.tokens.viewer);
      expect(viewer).toMatchObject({
        code: 403,
        body: { reason: 'Forbidden', message: expect.stringContaining('cannot create resource "virtualmachines/clone" in API group "quantix.io"') },
      });
      expect(await vmNames()).toEqual(before);
    },
    SLOW,
  );

  it(
    "a disk that names a running VM's disk (spec.disks[].cloneFrom) waits for that VM to be shut off: no copy of a running guest's disk",
    async () => {
      const src = await getVm('src');
      expect(src.status?.powerState).toBe('running');
      await store(VM).create({
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: 'early', namespace: 'default' },
        spec: {
          memory: '64Mi',
          nodeName: NODE,
          runStrategy: 'Halted',
          disks: [{ name: 'root', storagePool: 'local', size: '1Gi', cloneFrom: { virtualMachine: 'src', uid: src.metadata.uid!, disk: 'root' } }],
        },
      } as VirtualMachine);
      const waiting = await eventually(async () => {
        const vm = await getVm('early');
        if (condition(vm, 'Synced')?.reason !== 'CloneSourceRunning') throw new Error(JSON.stringify(vm.status));
        return vm;
      });
      expect(condition(waiting, 'Synced')).toMatchObject({
        status: 'False',
        message: 'disk root: the source VM "src" is running: its disk root is copied once it is shut off',
      });
      expect((await sim.listVolumes('local')).map((v) => v.name).filter((n) => n.startsWith('early_'))).toEqual([]);
      await store(VM).delete('default', 'early');
      await eventually(async () => !(await vmNames()).includes('early'));
    },
    SLOW,
  );

  it(
    'a stopped VM cloned: the copy has its own uid, MAC and disks (copied on the same node); a clone onto an existing name is AlreadyExists',
    async () => {
      const stop = await qx(['vm', 'stop', 'src', '--timeout', '60s']);
      expect(stop.code).toBe(0);
      const src = await getVm('src');
      expect(src.status?.powerState).toBe('shutoff');

      const bad = await postClone('src', { name: 'Not_A_Name' });
      expect(bad).toMatchObject({ code: 422, body: { reason: 'Invalid', details: { causes: [{ field: 'metadata.name' }] } } });

      const clone = await qx(['vm', 'clone', 'src', 'dst', '--timeout', '60s']);
      expect(clone.code).toBe(0);
      expect(clone.stdout).toContain('virtualmachine.quantix.io/dst created (clone of src)');
      expect(clone.stdout).toContain('virtualmachine.quantix.io/dst cloned (phase Stopped)');

      const dst = await getVm('dst');
      expect(dst.metadata.uid).not.toBe(src.metadata.uid);
      expect(dst.spec).toMatchObject({
        nodeName: NODE,
        cpu: 2,
        memory: '128Mi',
        runStrategy: 'Halted',
        disks: [{ name: 'root', storagePool: 'local', size: '1Gi', cloneFrom: { virtualMachine: 'src', uid: src.metadata.uid, disk: 'root' } }],
        networks: [{ name: 'eth0', type: 'user' }],
        cloudInit: {},
      });
      expect(dst.spec.networks?.[0]?.macAddress).toBeUndefined();
      expect(dst.metadata.finalizers).toContain('quantix.io/vm-cleanup');
      // The copy is a volume of its own on the source's node; the source keeps its own.
      const volumes = (await sim.listVolumes('local')).map((v) => v.name);
      expect(volumes).toEqual(expect.arrayContaining([`src_root_${src.metadata.uid!.slice(0, 8)}.qcow2`, `dst_root_${dst.metadata.uid!.slice(0, 8)}.qcow2`]));
      expect(dst.status?.volumes?.[0]?.path).toContain(`dst_root_${dst.metadata.uid!.slice(0, 8)}.qcow2`);

      const started = await qx(['vm', 'start', 'dst', '--timeout', '60s']);
      expect(started.code).toBe(0);
      const running = await eventually(async () => {
        const vm = await getVm('dst');
        if (vm.status?.phase !== 'Running' || !vm.status.interfaces?.[0]?.macAddress) throw new Error(JSON.stringify(vm.status));
        return vm;
      });
      expect(running.status?.interfaces?.[0]?.macAddress).toBe(stableMac(dst.metadata.uid!, 'eth0'));
      expect(running.status?.interfaces?.[0]?.macAddress).not.toBe('52:54:00:12:34:56');
      expect(await domainOf(running)).toMatchObject({ state: 'Running', vcpus: 2, memoryBytes: 128 << 20 });

      // A clone onto an existing name: 409 AlreadyExists, nothing changed.
      const before = await vmNames();
      const taken = await postClone('src', { name: 'dst' });
      expect(taken).toMatchObject({
        code: 409,
        body: { reason: 'AlreadyExists', message: 'virtualmachines.quantix.io "dst" already exists', details: { name: 'dst' } },
      });
      expect(await vmNames()).toEqual(before);
      expect((await getVm('dst')).metadata.uid).toBe(dst.metadata.uid);
    },
    SLOW,
  );
});
