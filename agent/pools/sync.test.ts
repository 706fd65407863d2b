/**
 * PoolSyncer on the sim driver: the record of the pools this agent defined
 * (managed-pools.json) is written before the define, so no crash point leaves a pool the
 * agent defined but does not know as its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoragePool } from '../../api-types/generated/types.js';
import type { GatewayClient } from '../gateway-client.js';
import { createLogger, setLogLevel } from '../../lib/logging/logger.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import { StateDir } from '../identity.js';
import { Reporter } from '../reporter.js';
import { PoolSyncer } from './sync.js';

setLogLevel('error');

const pool: StoragePool = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'StoragePool',
  metadata: { name: 'keep', uid: 'p-1', resourceVersion: '3', generation: 1 },
  spec: { type: 'dir', dir: { path: '/var/lib/qx/keep' }, assignedNodes: ['n1'] },
};

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function setup() {
  const driver = new SimDriver({ hostname: 'n1' });
  await driver.connect();
  const dir = mkdtempSync(join(tmpdir(), 'qx-pools-'));
  dirs.push(dir);
  const stateDir = new StateDir(dir);
  const clock = { ms: 0 };
  const client = { notifyStorageChange: async () => ({}) } as unknown as GatewayClient;
  const syncer = new PoolSyncer({
    driver,
    reporter: new Reporter(client),
    stateDir,
    nodeName: () => 'n1',
    mountRoot: '/var/lib/qx/mnt',
    now: () => clock.ms,
    log: createLogger('test'),
    onPoolReady: () => undefined,
  });
  return { driver, stateDir, syncer, clock };
}

describe('PoolSyncer: the record of the pools this agent defined', () => {
  it('is written before the define: a define that fails leaves the pool recorded, and the next pass defines it', async () => {
    const { driver, stateDir, syncer, clock } = await setup();
    driver.injectFailure('definePool');
    await syncer.sync('keep', pool);
    expect(await driver.listPools()).toEqual([]);
    expect([...stateDir.managedPools()]).toEqual(['keep']);

    clock.ms += 10 * 60_000; // past the retry backoff of the failed define
    await syncer.sync('keep', pool);
    expect((await driver.getPool('keep')).state).toBe('Running');
    expect([...stateDir.managedPools()]).toEqual(['keep']);
  });

  it('forgets a recorded pool that is neither wanted nor on the host, so a later pool of that name is not taken for its own', async () => {
    const { driver, stateDir, syncer } = await setup();
    driver.injectFailure('definePool');
    await syncer.sync('keep', pool);
    expect([...stateDir.managedPools()]).toEqual(['keep']);

    await syncer.sync('keep', undefined);
    expect([...stateDir.managedPools()]).toEqual([]);
    // An admin's own pool of that name appears later: the agent leaves it alone.
    await driver.definePool({ name: 'keep', type: 'dir', targetPath: '/srv/admin' });
    await syncer.sync('keep', undefined);
    expect((await driver.getPool('keep')).targetPath).toBe('/srv/admin');
  });
});
