/**
 * The node image cache on the sim driver with a real temp directory as the pool: which
 * images a node imports, the reports it sends, what a VM's disk sees, and the removal of
 * the cached copy with its Image. The import itself is the real importer (qemu-img).
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Image, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import type { ImageNodeReport } from '../../api-types/proto/types.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { createLogger, setLogLevel } from '../../lib/logging/logger.js';
import { SimDriver } from '../hypervisor/sim/driver.js';
import { CACHE_DIR, cachedFileName, cachePoolFor, ImageCache } from './cache.js';

setLogLevel('error');
const log = createLogger('test');

const poolObj: StoragePool = { apiVersion: 'quantix.io/v1alpha1', kind: 'StoragePool', metadata: { name: 'p' }, spec: { type: 'dir', assignedNodes: ['n1'] } };

function image(name: string, over: Partial<Image['spec']> = {}): Image {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Image',
    metadata: { name, uid: randomUUID() },
    spec: { source: { pool: 'p', path: 'src/disk.qcow2' }, ...over },
  };
}

function vm(name: string, imageName: string, pool = 'p'): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default', uid: randomUUID() },
    spec: { memory: '64Mi', nodeName: 'n1', disks: [{ name: 'root', storagePool: pool, size: '1Gi', image: imageName }] },
  };
}

describe('ImageCache', () => {
  let dir: string;
  let driver: SimDriver;
  const images = new Map<string, Image>();
  const vms = new Map<string, VirtualMachine>();
  const pools = new Map<string, StoragePool>([['p', poolObj]]);
  let reports: ImageNodeReport[];
  let settled: string[];
  let cache: ImageCache;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'qx-cache-'));
    mkdirSync(path.join(dir, 'src'));
    execFileSync('qemu-img', ['create', '-q', '-f', 'qcow2', path.join(dir, 'src/disk.qcow2'), '32M']);
    driver = new SimDriver({ hostname: 'n1' });
    await driver.connect();
    await driver.definePool({ name: 'p', type: 'dir', targetPath: dir });
    await driver.startPool('p');
    images.clear();
    vms.clear();
    reports = [];
    settled = [];
    cache = new ImageCache({
      driver,
      desired: { images, vms, pools },
      report: async (req) => void reports.push(...((req.images ?? []) as ImageNodeReport[])),
      nodeName: () => 'n1',
      requeue: () => undefined,
      onSettled: (name) => void settled.push(name),
      now: () => Date.now(),
      log,
    });
  });

  afterEach(async () => {
    await driver.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('imports an image a VM here needs, reports Importing then Ready, and the disk sees the cached copy', async () => {
    const img = image('deb');
    images.set('deb', img);
    vms.set('default/a', vm('a', 'deb'));
    expect(cache.availability('deb')).toEqual({ state: 'waiting', message: 'Image "deb" is not imported on node n1 yet' });
    await cache.sync('deb');
    await eventually(() => settled.includes('deb'), { timeoutMs: 30_000 });
    const file = path.join(dir, CACHE_DIR, cachedFileName(img));
    expect(cache.availability('deb')).toEqual({ state: 'ready', path: file, virtualSizeBytes: 32 * 2 ** 20, pool: 'p' });
    expect(existsSync(file) && existsSync(`${file}.json`)).toBe(true);
    // Importing (with progress: one report per step at least), then Ready.
    const phases = reports.map((r) => r.phase);
    expect(phases.at(-1)).toBe('Ready');
    expect(new Set(phases.slice(0, -1))).toEqual(new Set(['Importing']));
    expect(reports.at(-1)).toMatchObject({
      name: 'deb',
      uid: img.metadata.uid,
      pool: 'p',
      path: file,
      virtualSizeBytes: 32 * 2 ** 20,
      sourceFormat: 'qcow2',
      verified: false,
    });
    // No temp files next to it.
    expect(readdirSync(path.join(dir, CACHE_DIR)).sort()).toEqual([cachedFileName(img), `${cachedFileName(img)}.json`].sort());
    // Syncing again changes nothing and reports nothing new.
    const sent = reports.length;
    await cache.sync('deb');
    expect(reports).toHaveLength(sent);
  });

  it('a fresh cache (an agent restart) finds the complete copy by its sidecar instead of importing again', async () => {
    const img = image('deb');
    images.set('deb', img);
    vms.set('default/a', vm('a', 'deb'));
    await cache.sync('deb');
    await eventually(() => settled.includes('deb'), { timeoutMs: 30_000 });
    const restarted = new ImageCache({
      driver,
      desired: { images, vms, pools },
      report: async (req) => void reports.push(...((req.images ?? []) as ImageNodeReport[])),
      nodeName: () => 'n1',
      requeue: () => undefined,
      onSettled: () => undefined,
      now: () => Date.now(),
      log,
    });
    reports = [];
    await restarted.sync('deb');
    expect(restarted.availability('deb').state).toBe('ready');
    expect(reports.map((r) => r.phase)).toEqual(['Ready']);
  });

  it('an image nobody here needs is not imported; nodeNames imports it ahead of time', async () => {
    images.set('deb', image('deb'));
    await cache.sync('deb');
    expect(reports).toEqual([]);
    expect([...cache.known()]).toEqual([]);
    images.set('deb', image('deb', { nodeNames: ['n1'], storagePool: 'p' }));
    await cache.sync('deb');
    await eventually(() => settled.includes('deb'), { timeoutMs: 30_000 });
    expect(cache.availability('deb').state).toBe('ready');
  });

  it('a failed import is reported with its reason, the disk sees why, and nothing is left under the final name', async () => {
    const img = image('bad', { source: { pool: 'p', path: 'src/missing.qcow2' } });
    images.set('bad', img);
    vms.set('default/a', vm('a', 'bad'));
    await cache.sync('bad');
    await eventually(() => settled.includes('bad'), { timeoutMs: 30_000 });
    const last = reports.at(-1)!;
    expect(last).toMatchObject({ phase: 'Failed', reason: 'SourceNotFound' });
    const a = cache.availability('bad');
    expect(a.state).toBe('failed');
    expect(a.state === 'failed' && a.message).toMatch(/^Image "bad" failed to import on node n1: SourceNotFound: /);
    expect(existsSync(path.join(dir, CACHE_DIR, cachedFileName(img)))).toBe(false);
  });

  it('a pool not ready here: Pending with the reason, looked at again later', async () => {
    images.set('deb', image('deb'));
    vms.set('default/a', vm('a', 'deb', 'elsewhere'));
    expect(await cache.sync('deb')).toBe(5_000);
    expect(reports.at(-1)).toMatchObject({ phase: 'Pending', reason: 'PoolNotReady', message: 'storage pool elsewhere is not assigned to node n1' });
  });

  it('the cached copy goes with its Image; an unknown Image is reported as such to the disk', async () => {
    const img = image('deb');
    images.set('deb', img);
    vms.set('default/a', vm('a', 'deb'));
    await cache.sync('deb');
    await eventually(() => settled.includes('deb'), { timeoutMs: 30_000 });
    const file = path.join(dir, CACHE_DIR, cachedFileName(img));
    images.delete('deb');
    vms.clear();
    await cache.sync('deb');
    expect(existsSync(file) || existsSync(`${file}.json`)).toBe(false);
    expect([...cache.known()]).toEqual([]);
    expect(cache.availability('deb')).toEqual({ state: 'failed', message: 'Image "deb" does not exist' });
  });

  it('cachePoolFor: spec.storagePool, else the first disk here that needs it', () => {
    expect(cachePoolFor(image('x', { storagePool: 'fast' }), [vm('a', 'x')])).toBe('fast');
    expect(cachePoolFor(image('x'), [vm('a', 'x', 'slow')])).toBe('slow');
    expect(cachePoolFor(image('x'), [])).toBeUndefined();
  });
});
