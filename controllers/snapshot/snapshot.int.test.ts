/**
 * Snapshots and restores end to end on the sim driver: real etcd and apiserver, the
 * controller manager, a real agent with the sim hypervisor. A frozen snapshot (guest agent
 * answering) and a crash-consistent one (not answering); a restore of the stopped VM; the
 * refusals (each leaves nothing stored); VM deletion refused during a restore, and deleting
 * the VM deleting its snapshots.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { VirtualMachine, VirtualMachineRestore, VirtualMachineSnapshot } from '../../api-types/generated/types.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import { startAgent, startTestControlPlane, type TestAgent, type TestControlPlane } from '../../hack/testenv/agent.js';
import { adminClient, poolObject, vmObject } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import type { HttpApiClient } from '../runtime/client.js';
import { ApiError, isNotFound } from '../../lib/apimachinery/status-error.js';
import type { ControllerManager } from '../runtime/manager.js';
import { StoragePools, VirtualMachineRestores, VirtualMachines, VirtualMachineSnapshots } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';

const HOST = 'sim-snap';

function snapshotObject(name: string, vm: string): VirtualMachineSnapshot {
  return { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachineSnapshot', metadata: { name, namespace: 'default' }, spec: { virtualMachineName: vm } };
}
function restoreObject(name: string, vm: string, snapshot: string): VirtualMachineRestore {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachineRestore',
    metadata: { name, namespace: 'default' },
    spec: { virtualMachineName: vm, snapshotName: snapshot },
  };
}

describe('snapshots and restores on sim agents (integration)', () => {
  let cp: TestControlPlane;
  let client: HttpApiClient;
  let manager: ControllerManager;
  let managerClient: { close(): void };
  let driver: SimDriver;
  let agent: TestAgent | undefined;
  let stateDir: string;

  beforeAll(async () => {
    setLogLevel('error');
    cp = await startTestControlPlane();
    client = await adminClient(cp.env.kubeconfig);
    driver = new SimDriver({ hostname: HOST });
    stateDir = mkdtempSync(join(tmpdir(), 'quantix-snap-sim-'));
    agent = await startAgent(cp, { driver, hostname: HOST, stateDir });
    await client.create(StoragePools, poolObject('fast', [HOST]));
    ({ manager, client: managerClient } = await startControllerManager({ kubeconfig: cp.env.kubeconfig }));
    await client.create(VirtualMachines, vmObject('web', { pools: ['fast', 'fast'], memory: '256Mi' }));
    await eventually(async () => expect((await getVm('web')).status?.phase).toBe('Running'), { timeoutMs: 30_000 });
  }, 90_000);

  afterAll(async () => {
    await manager?.stop();
    managerClient?.close();
    await agent?.stop().catch(() => undefined);
    await driver?.close().catch(() => undefined);
    client?.close();
    await cp?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  });

  const getVm = (name: string) => client.get<VirtualMachine>(VirtualMachines, 'default', name);
  const getSnap = (name: string) => client.get<VirtualMachineSnapshot>(VirtualMachineSnapshots, 'default', name);
  const getRestore = (name: string) => client.get<VirtualMachineRestore>(VirtualMachineRestores, 'default', name);
  const refusal = async (p: Promise<unknown>): Promise<ApiError> => {
    const err = await p.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApiError);
    return err as ApiError;
  };
  const gone = async (get: () => Promise<unknown>) => {
    const err = await get().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(isNotFound(err)).toBe(true);
  };
  const volumePaths = async () => ((await getVm('web')).status?.volumes ?? []).map((v) => v.path!);

  it('a snapshot of the running VM with the guest agent answering: Ready, frozen, every disk holds it', async () => {
    await client.create(VirtualMachineSnapshots, snapshotObject('frozen', 'web'));
    await eventually(async () => expect((await getSnap('frozen')).status?.phase).toBe('Ready'), { timeoutMs: 20_000 });
    const snap = await getSnap('frozen');
    expect(snap.status).toMatchObject({ frozen: true, vmRunning: true, consistency: 'FileSystemConsistent', nodeName: HOST });
    expect(snap.status?.disks?.map((d) => d.disk)).toEqual(['disk0', 'disk1']);
    expect(snap.status?.sizeBytes).toBeGreaterThan(0);
    expect(snap.metadata.ownerReferences?.[0]).toMatchObject({ kind: 'VirtualMachine', name: 'web' });
    for (const path of await volumePaths()) expect(driver.diskSnapshotNames(path)).toEqual([snap.status!.disks![0]!.snapshotName]);
    // The slot is free again once the answer is read.
    await eventually(async () => expect((await getVm('web')).status?.snapshotRequest).toBeUndefined(), { timeoutMs: 10_000 });
  });

  it('without an answering guest agent: Ready, crash-consistent, with why', async () => {
    const uuid = (await getVm('web')).status!.domainUUID!;
    driver.setGuestAgentResponding(uuid, false);
    try {
      await client.create(VirtualMachineSnapshots, snapshotObject('crash', 'web'));
      await eventually(async () => expect((await getSnap('crash')).status?.phase).toBe('Ready'), { timeoutMs: 20_000 });
      const snap = await getSnap('crash');
      expect(snap.status).toMatchObject({ frozen: false, vmRunning: true, consistency: 'CrashConsistent' });
      expect(snap.status?.message).toContain('crash-consistent');
    } finally {
      driver.setGuestAgentResponding(uuid, true);
    }
  });

  it('bad input is refused with a Status naming the field, and nothing is stored', async () => {
    const noVm = await refusal(client.create(VirtualMachineSnapshots, snapshotObject('of-nothing', 'no-such-vm')));
    expect(noVm.code).toBe(422);
    expect(noVm.causes[0]).toMatchObject({ field: 'spec.virtualMachineName', reason: 'FieldValueNotFound' });
    await gone(() => getSnap('of-nothing'));

    const diskless = vmObject('diskless', { pools: [] });
    await client.create(VirtualMachines, diskless);
    const noDisks = await refusal(client.create(VirtualMachineSnapshots, snapshotObject('of-diskless', 'diskless')));
    expect(noDisks.code).toBe(422);
    expect(noDisks.reason).toBe('Invalid');
    expect(noDisks.causes[0]).toMatchObject({ field: 'spec.virtualMachineName', reason: 'FieldValueInvalid' });
    expect(noDisks.message).toContain('has no disks');
    await gone(() => getSnap('of-diskless'));

    const running = await refusal(client.create(VirtualMachineRestores, restoreObject('onto-running', 'web', 'frozen')));
    expect(running.code).toBe(422);
    expect(running.causes[0]?.field).toBe('spec.virtualMachineName');
    expect(running.message).toContain('VirtualMachine "web" must be stopped to be restored');
    await gone(() => getRestore('onto-running'));
  });

  it('a restore from a snapshot that is not Ready, or of another VM, is refused', async () => {
    // A VM that cannot be scheduled (its pool is nowhere): its snapshot stays Pending.
    await client.create(VirtualMachines, vmObject('nowhere', { pools: ['absent'], runStrategy: 'Halted' }));
    await client.create(VirtualMachineSnapshots, snapshotObject('pending', 'nowhere'));
    await eventually(async () => expect((await getSnap('pending')).status?.phase).toBe('Pending'), { timeoutMs: 10_000 });
    const notReady = await refusal(client.create(VirtualMachineRestores, restoreObject('from-pending', 'nowhere', 'pending')));
    expect(notReady.code).toBe(422);
    expect(notReady.causes.map((c) => c.field)).toContain('spec.snapshotName');
    expect(notReady.message).toContain('is not Ready');
    await gone(() => getRestore('from-pending'));

    const otherVm = await refusal(client.create(VirtualMachineRestores, restoreObject('cross', 'nowhere', 'frozen')));
    expect(otherVm.causes.map((c) => c.field)).toContain('spec.snapshotName');
    expect(otherVm.message).toContain('is a snapshot of VirtualMachine "web", not of "nowhere"');
    await gone(() => getRestore('cross'));
  });

  it('the stopped VM is restored; deleting the VM meanwhile is refused naming the restore', async () => {
    await client.patch(VirtualMachines, 'default', 'web', { spec: { runStrategy: 'Halted' } });
    await eventually(async () => expect((await getVm('web')).status?.phase).toBe('Stopped'), { timeoutMs: 30_000 });

    // Without the agent the restore cannot finish: it stays InProgress and holds the VM.
    await agent!.stop();
    agent = undefined;
    await client.create(VirtualMachineRestores, restoreObject('undo', 'web', 'frozen'));
    await eventually(async () => expect((await getRestore('undo')).status?.phase).toBe('InProgress'), { timeoutMs: 10_000 });
    const refused = await refusal(client.delete(VirtualMachines, 'default', 'web'));
    expect(refused.code).toBe(409);
    expect(refused.reason).toBe('Conflict');
    expect(refused.message).toContain('VirtualMachineRestore undo of it is running');
    expect(refused.causes[0]).toMatchObject({ reason: 'RestoreInProgress' });
    expect((await getVm('web')).metadata.deletionTimestamp).toBeUndefined();

    agent = await startAgent(cp, { driver, hostname: HOST, stateDir });
    await eventually(async () => expect((await getRestore('undo')).status?.phase).toBe('Succeeded'), { timeoutMs: 30_000 });
    const done = await getRestore('undo');
    expect(done.status?.completionTime).toBeDefined();
    expect(done.status?.message).toContain('start the VM');
  });

  it('deleting a snapshot removes it from the disks', async () => {
    const name = (await getSnap('crash')).status!.disks![0]!.snapshotName!;
    const paths = await volumePaths();
    expect(driver.diskSnapshotNames(paths[0]!)).toContain(name);
    await client.delete(VirtualMachineSnapshots, 'default', 'crash');
    await eventually(() => gone(() => getSnap('crash')), { timeoutMs: 20_000 });
    for (const path of paths) expect(driver.diskSnapshotNames(path)).not.toContain(name);
  });

  it('deleting the VM deletes its snapshots', async () => {
    await client.delete(VirtualMachines, 'default', 'web');
    await eventually(() => gone(() => getVm('web')), { timeoutMs: 30_000 });
    await eventually(() => gone(() => getSnap('frozen')), { timeoutMs: 20_000 });
  });
});
