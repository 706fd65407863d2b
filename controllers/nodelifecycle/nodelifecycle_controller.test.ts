/**
 * The node-lifecycle controller's writes are compare-and-swaps on the resourceVersion its
 * decision was made from: an agent report landing in between wins, the stale write gets 409.
 */
import type { StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { FakeApiClient } from '../runtime/fakeclient.js';
import { StoragePools, VirtualMachines } from '../runtime/resources.js';
import { pool, vm } from '../testing/fixtures.js';
import { poolHostPatch, unknownPhasePatch } from './nodelifecycle_controller.js';

describe('node-lifecycle writes', () => {
  it('phase Unknown carries the resourceVersion of the VM it was decided from', () => {
    const decidedFrom = vm('a', { nodeName: 'n1', phase: 'Running' });
    decidedFrom.metadata.resourceVersion = '42';
    expect(unknownPhasePatch(decidedFrom)).toEqual({ metadata: { resourceVersion: '42' }, status: { phase: 'Unknown' } });
  });

  it('a concurrent agent report is not overwritten: the stale Unknown is refused with 409', async () => {
    const client = new FakeApiClient();
    const decidedFrom = client.seed(VirtualMachines, vm('a', { nodeName: 'n1', phase: 'Running' }));
    // The agent reports (a full sync after the node came back) before the write lands.
    await client.patch(VirtualMachines, 'default', 'a', { status: { phase: 'Running', lastSeen: '2026-01-12T10:00:01Z' } }, { subresource: 'status' });
    await expect(client.patch(VirtualMachines, 'default', 'a', unknownPhasePatch(decidedFrom), { subresource: 'status' })).rejects.toMatchObject({ code: 409 });
    expect((await client.get<VirtualMachine>(VirtualMachines, 'default', 'a')).status?.phase).toBe('Running');
    // Decided from the current version, it applies.
    const current = await client.get<VirtualMachine>(VirtualMachines, 'default', 'a');
    await client.patch(VirtualMachines, 'default', 'a', unknownPhasePatch(current), { subresource: 'status' });
    expect((await client.get<VirtualMachine>(VirtualMachines, 'default', 'a')).status?.phase).toBe('Unknown');
  });

  it('the UNMOUNTED pool entry carries the pool resourceVersion too', async () => {
    const client = new FakeApiClient();
    const decidedFrom = client.seed(StoragePools, pool('fast', ['n1'], { n1: 'HEALTHY' }));
    await client.patch(StoragePools, undefined, 'fast', { status: { hosts: { n1: { health: 'HEALTHY', lastReported: 'later' } } } }, { subresource: 'status' });
    const patch = poolHostPatch(decidedFrom, 'n1', { health: 'UNMOUNTED', message: 'node n1 is not heartbeating' });
    expect(patch.metadata).toEqual({ resourceVersion: decidedFrom.metadata.resourceVersion });
    await expect(client.patch(StoragePools, undefined, 'fast', patch, { subresource: 'status' })).rejects.toMatchObject({ code: 409 });
    expect((await client.get<StoragePool>(StoragePools, undefined, 'fast')).status?.hosts?.n1?.health).toBe('HEALTHY');
  });
});
