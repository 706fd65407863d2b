import { randomUUID } from 'node:crypto';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import { pendingSnapshotRequest, runSnapshotRequest } from './snapshots.js';

const NOW = () => Date.parse('2026-12-07T05:00:00.400Z');

async function setup(running: boolean) {
  const sim = new SimDriver();
  await sim.connect();
  await sim.definePool({ name: 'local', type: 'dir', targetPath: '/var/lib/qx/local' });
  await sim.startPool('local');
  const disk = await sim.createVolume('local', { name: 'web_root.qcow2', capacityBytes: 2 ** 30 });
  const uuid = randomUUID();
  await sim.defineDomain({
    uuid,
    name: 'default_web',
    vcpus: 1,
    memoryBytes: 2 ** 29,
    disks: [{ path: disk.path }],
    networks: [],
    guestAgent: true,
    owner: { namespace: 'default', name: 'web', uid: uuid },
  });
  if (running) await sim.startDomain(uuid);
  const vm = {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'web', namespace: 'default', uid: uuid },
    spec: {},
    status: { domainUUID: uuid },
  } as VirtualMachine;
  return { sim, vm, uuid, disks: [{ disk: 'root', path: disk.path }] };
}

describe('pendingSnapshotRequest', () => {
  const vm = (status: VirtualMachine['status'], deleting = false) =>
    ({ metadata: { name: 'web', ...(deleting ? { deletionTimestamp: '2026-12-07T05:00:00Z' } : {}) }, spec: {}, status }) as VirtualMachine;
  const req = { id: 'u1', action: 'Snapshot' as const, snapshotName: 's-u1' };
  it('is the request until an answer for the same id, action and name exists (in memory or stored)', () => {
    expect(pendingSnapshotRequest(vm({ snapshotRequest: req }), undefined)).toEqual(req);
    expect(pendingSnapshotRequest(vm({ snapshotRequest: req }), { ...req, phase: 'Succeeded' })).toBeUndefined();
    expect(pendingSnapshotRequest(vm({ snapshotRequest: req, snapshotOperation: { ...req, phase: 'Failed' } }), undefined)).toBeUndefined();
    // The same object asks again with another action (delete after take): pending again.
    expect(pendingSnapshotRequest(vm({ snapshotRequest: { ...req, action: 'Delete' } }), { ...req, phase: 'Succeeded' })).toEqual({ ...req, action: 'Delete' });
  });
  it('nothing for a VM without a request or being deleted', () => {
    expect(pendingSnapshotRequest(vm({}), undefined)).toBeUndefined();
    expect(pendingSnapshotRequest(vm({ snapshotRequest: req }, true), undefined)).toBeUndefined();
  });
});

describe('runSnapshotRequest (sim driver)', () => {
  it('takes a frozen snapshot of a running domain with the guest agent answering', async () => {
    const { sim, vm, disks } = await setup(true);
    const op = await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Snapshot', snapshotName: 's1' }, disks, NOW);
    expect(op).toEqual({
      id: 'u1',
      action: 'Snapshot',
      snapshotName: 's1',
      phase: 'Succeeded',
      frozen: true,
      vmRunning: true,
      disks: [{ disk: 'root', path: disks[0]!.path, snapshotName: 's1', sizeBytes: 64 * 2 ** 20 }],
      completedAt: '2026-12-07T05:00:00Z',
    });
    expect(sim.diskSnapshotNames(disks[0]!.path)).toEqual(['s1']);
  });

  it('without the guest agent: crash-consistent, and says why', async () => {
    const { sim, vm, uuid, disks } = await setup(true);
    sim.setGuestAgentResponding(uuid, false);
    const op = await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Snapshot', snapshotName: 's1' }, disks, NOW);
    expect(op).toMatchObject({ phase: 'Succeeded', frozen: false, vmRunning: true });
    expect(op.message).toMatch(/^file systems not frozen \(crash-consistent\): Guest agent is not responding/);
  });

  it('a snapshot found already taken (the agent restarted before answering) counts as done, crash-consistent', async () => {
    const { sim, vm, disks } = await setup(false);
    await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Snapshot', snapshotName: 's1' }, disks, NOW);
    const again = await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Snapshot', snapshotName: 's1' }, disks, NOW);
    expect(again).toMatchObject({ phase: 'Succeeded', frozen: false });
    expect(again.message).toContain('taken before the agent restarted');
  });

  it('revert refuses a running domain; succeeds once stopped; delete removes it', async () => {
    const { sim, vm, uuid, disks } = await setup(true);
    await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Snapshot', snapshotName: 's1' }, disks, NOW);
    const refused = await runSnapshotRequest(sim, vm, { id: 'r1', action: 'Revert', snapshotName: 's1' }, disks, NOW);
    expect(refused).toMatchObject({ phase: 'Failed', reason: 'InvalidState', message: 'the domain is running: stop it before reverting its disks' });
    await sim.destroyDomain(uuid);
    expect(await runSnapshotRequest(sim, vm, { id: 'r1', action: 'Revert', snapshotName: 's1' }, disks, NOW)).toMatchObject({ phase: 'Succeeded' });
    const missing = await runSnapshotRequest(sim, vm, { id: 'r2', action: 'Revert', snapshotName: 'nope' }, disks, NOW);
    expect(missing).toMatchObject({ phase: 'Failed', reason: 'SnapshotNotFound' });
    expect(await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Delete', snapshotName: 's1' }, disks, NOW)).toMatchObject({ phase: 'Succeeded' });
    expect(sim.diskSnapshotNames(disks[0]!.path)).toEqual([]);
  });

  it('a VM without disk volumes on the node fails with NoDisks', async () => {
    const { sim, vm } = await setup(false);
    expect(await runSnapshotRequest(sim, vm, { id: 'u1', action: 'Snapshot', snapshotName: 's1' }, [], NOW)).toMatchObject({
      phase: 'Failed',
      reason: 'NoDisks',
    });
  });
});
