/** Pool decisions and health reports, on pools as the sim driver reports them. */
import type { PoolInfo } from '../hypervisor/driver.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import type { StoragePool } from '../../api-types/generated/types.js';
import { decidePool, poolReport, poolSpecFor } from './decide.js';

const dirPool: StoragePool = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'StoragePool',
  metadata: { name: 'local', generation: 1 },
  spec: { type: 'dir', dir: { path: '/var/lib/qx/local' }, assignedNodes: ['n1'] },
};
const nfsPool: StoragePool = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'StoragePool',
  metadata: { name: 'shared', generation: 1 },
  spec: { type: 'nfs', nfs: { server: '192.0.2.1', exportPath: '/export/qx' }, assignedNodes: ['n1'] },
};

async function simPool(
  pool: StoragePool,
  state: 'defined' | 'running' | 'mountfail' | 'degraded',
): Promise<{ info: PoolInfo; error?: { reason: string; message: string } }> {
  const sim = new SimDriver({ poolCapacityBytes: 100 << 30 });
  await sim.connect();
  const spec = poolSpecFor(pool, '/var/lib/quantix/pools');
  await sim.definePool(spec);
  let error: { reason: string; message: string } | undefined;
  if (state === 'mountfail') {
    sim.setPoolMountFailure(spec.name, 'mount.nfs: Connection timed out');
    await sim.startPool(spec.name).catch((e: { reason: string; message: string }) => (error = { reason: e.reason, message: e.message }));
  } else if (state !== 'defined') {
    await sim.startPool(spec.name);
    if (state === 'degraded') sim.setPoolFault(spec.name, { state: 'Degraded', message: 'slow' });
  }
  return { info: await sim.getPool(spec.name), error };
}

describe('poolSpecFor', () => {
  it('dir pools live at their path; nfs pools are mounted under the mount root', () => {
    expect(poolSpecFor(dirPool, '/m')).toEqual({ name: 'local', type: 'dir', targetPath: '/var/lib/qx/local' });
    expect(poolSpecFor(nfsPool, '/m')).toEqual({ name: 'shared', type: 'nfs', targetPath: '/m/shared', source: { host: '192.0.2.1', dir: '/export/qx' } });
  });
});

describe('decidePool', () => {
  const spec = poolSpecFor(dirPool, '/m');
  it('assigned and absent: define and start', () => {
    expect(decidePool(spec, undefined, false)).toEqual({ actions: ['define', 'start'], removed: false });
  });
  it('assigned, defined, inactive: start; running: refresh', async () => {
    expect(decidePool(spec, (await simPool(dirPool, 'defined')).info, true).actions).toEqual(['start']);
    expect(decidePool(spec, (await simPool(dirPool, 'running')).info, true).actions).toEqual(['refresh']);
  });
  it('unassigned: stop and undefine (data stays) — only pools this agent defined', async () => {
    const { info } = await simPool(dirPool, 'running');
    expect(decidePool(undefined, info, true)).toEqual({ actions: ['stop', 'undefine'], removed: true });
    expect(decidePool(undefined, info, false)).toEqual({ actions: [], removed: true });
  });
  it('a host pool of the same name with another definition is a conflict, never touched', async () => {
    const { info } = await simPool(nfsPool, 'running');
    const d = decidePool({ ...spec, name: 'shared' }, info, false);
    expect(d.actions).toEqual([]);
    expect(d.conflict).toMatch(/already exists on this host/);
  });
  it('our own inactive pool with a changed spec is redefined', async () => {
    const { info } = await simPool(dirPool, 'defined');
    expect(decidePool({ ...spec, targetPath: '/elsewhere' }, info, true).actions).toEqual(['undefine', 'define', 'start']);
  });
});

describe('poolReport', () => {
  it('running dir pool: HEALTHY with capacity, mount path and volume count', async () => {
    const { info } = await simPool(dirPool, 'running');
    const r = poolReport('local', poolSpecFor(dirPool, '/m'), info, { removed: false }, undefined);
    expect(r).toMatchObject({ health: 'HEALTHY', mountPath: '/var/lib/qx/local', totalBytes: 100 << 30, volumeCount: 0, message: '' });
  });
  it('nfs mount failure: UNMOUNTED with the mount error', async () => {
    const { info, error } = await simPool(nfsPool, 'mountfail');
    const r = poolReport('shared', poolSpecFor(nfsPool, '/m'), info, { removed: false }, error);
    expect(r).toMatchObject({ health: 'UNMOUNTED', mountPath: '/m/shared', message: expect.stringContaining('mount.nfs: Connection timed out') });
  });
  it('degraded pool: DEGRADED; not defined: ERROR; conflict: ERROR with the reason', async () => {
    const spec = poolSpecFor(dirPool, '/m');
    expect(poolReport('local', spec, (await simPool(dirPool, 'degraded')).info, { removed: false }, undefined).health).toBe('DEGRADED');
    expect(poolReport('local', spec, undefined, { removed: false }, undefined)).toMatchObject({
      health: 'ERROR',
      message: expect.stringContaining('not defined'),
    });
    expect(poolReport('local', spec, undefined, { removed: false, conflict: 'taken' }, undefined)).toMatchObject({ health: 'ERROR', message: 'taken' });
  });
  it('nearly full: DEGRADED', () => {
    const info: PoolInfo = {
      name: 'local',
      uuid: 'u',
      type: 'dir',
      state: 'Running',
      capacityBytes: 1000,
      allocationBytes: 980,
      availableBytes: 20,
      targetPath: '/x',
      volumeCount: 3,
    };
    expect(poolReport('local', poolSpecFor(dirPool, '/m'), info, { removed: false }, undefined)).toMatchObject({
      health: 'DEGRADED',
      message: 'nearly full: 2% available',
    });
  });
});
