/**
 * The work queue on the sim driver with a desired state stream the test feeds message by
 * message (a stand-in for the gateway's WatchDesiredState): an agent start with pools in
 * managed-pools.json decides them only against the synced desired state.
 */
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StoragePool } from '../api-types/generated/types.js';
import type { DesiredStateEvent, PoolStatus } from '../api-types/proto/types.js';
import { eventually } from '../hack/testenv/eventually.js';
import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import { DesiredState } from './desired-state.js';
import { DomainCache } from './domain-cache.js';
import type { GatewayClient } from './gateway-client.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { StateDir } from './identity.js';
import { PoolSyncer } from './pools/sync.js';
import { Reporter } from './reporter.js';
import { VmSyncer } from './vm/sync.js';
import { KeyWorkers } from './workers.js';

setLogLevel('error');
const log = createLogger('test');
const POOL_PATH = '/var/lib/qx/keep';

const pool: StoragePool = {
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'StoragePool',
  metadata: { name: 'keep', uid: 'p-1', resourceVersion: '3', generation: 1 },
  spec: { type: 'dir', dir: { path: POOL_PATH }, assignedNodes: ['n1'] },
};

const event = (type: DesiredStateEvent['type'], over: Partial<DesiredStateEvent> = {}): DesiredStateEvent => ({
  type,
  kind: 'KIND_UNSPECIFIED',
  objectJson: '',
  resourceVersion: '',
  vmResourceVersion: '',
  poolResourceVersion: '',
  imageResourceVersion: '',
  networkResourceVersion: '',
  ...over,
});
const RESET = event('RESET');
const ADDED = event('ADDED', { kind: 'POOL', objectJson: JSON.stringify(pool), resourceVersion: '3' });
const SYNCED = event('SYNCED', { vmResourceVersion: '3', poolResourceVersion: '3' });

/** A restarted agent: the pool it defined is running on the host and listed in managed-pools.json. */
async function restartedAgent() {
  const driver = new SimDriver({ hostname: 'n1' });
  await driver.connect();
  await driver.definePool({ name: 'keep', type: 'dir', targetPath: POOL_PATH });
  await driver.startPool('keep');
  const dir = mkdtempSync(join(tmpdir(), 'qx-workers-'));
  const stateDir = new StateDir(dir);
  stateDir.saveManagedPools(['keep']);

  const stream = Object.assign(new EventEmitter(), { cancel: () => undefined });
  const poolReports: PoolStatus[] = [];
  const client = {
    watchDesiredState: () => stream,
    notifyVmChange: async () => ({}),
    notifyStorageChange: async (n: { pool?: PoolStatus }) => {
      if (n.pool) poolReports.push(n.pool);
      return {};
    },
  } as unknown as GatewayClient;
  const reporter = new Reporter(client);
  let workers: KeyWorkers | undefined;
  const domains = new DomainCache(
    driver,
    (c) => workers?.onDomainChange(c),
    (name) => workers?.enqueuePool(name),
    () => undefined,
    log,
    0,
  );
  // As Agent does: the stream's first message (and every SYNCED) enqueues every key.
  const desired = new DesiredState(
    client,
    (c) => workers?.onDesiredChange(c),
    log,
    (connected) => connected && workers?.enqueueAll(),
  );
  const vms = new VmSyncer({ driver, domains, reporter, nodeName: () => 'n1', shutdownTimeoutMs: 5_000, now: () => Date.now(), log });
  const pools = new PoolSyncer({
    driver,
    reporter,
    stateDir,
    nodeName: () => 'n1',
    mountRoot: '/var/lib/quantix/pools',
    now: () => Date.now(),
    log,
    onPoolReady: () => undefined,
  });
  workers = new KeyWorkers({ desired, domains, reporter, vms, pools, log, running: () => true });
  // Agent.start's order: libvirt listed (pool events enqueue the pool), the stream opened, the workers started.
  domains.start();
  await domains.relist();
  desired.start();
  workers.enqueueAll();
  workers.start(2);
  const teardowns = () => (driver.callCounts.get('stopPool') ?? 0) + (driver.callCounts.get('undefinePool') ?? 0);
  const idle = () => workers!.queue.len() === 0 && workers!.queue.processingCount() === 0;
  return {
    driver,
    stream,
    poolReports,
    teardowns,
    idle,
    async stop() {
      domains.stop();
      desired.stop();
      await workers!.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

describe('pools on an agent start', () => {
  it('a slow stream: nothing is decided for the managed pool before SYNCED (no stop, no undefine)', async () => {
    const a = await restartedAgent();
    try {
      // The pool key was processed with no desired state yet, and again after RESET + ADDED (still not synced).
      await eventually(() => a.idle());
      a.stream.emit('data', RESET);
      a.stream.emit('data', ADDED);
      await eventually(() => a.idle());
      expect(a.teardowns()).toBe(0);
      expect(a.poolReports).toEqual([]);
      a.stream.emit('data', SYNCED);
      await eventually(() => a.poolReports.some((r) => r.name === 'keep' && r.health === 'HEALTHY'));
      expect(a.teardowns()).toBe(0);
      expect((await a.driver.getPool('keep')).state).toBe('Running');
    } finally {
      await a.stop();
    }
  });

  it('RESET, ADDED and SYNCED in one tick: no stop, no undefine', async () => {
    const a = await restartedAgent();
    try {
      await eventually(() => a.idle());
      a.stream.emit('data', RESET);
      a.stream.emit('data', ADDED);
      a.stream.emit('data', SYNCED);
      await eventually(() => a.poolReports.some((r) => r.name === 'keep' && r.health === 'HEALTHY'));
      expect(a.teardowns()).toBe(0);
      expect((await a.driver.getPool('keep')).state).toBe('Running');
    } finally {
      await a.stop();
    }
  });
});
