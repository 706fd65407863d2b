/**
 * Images, bad input and faults, end to end: real etcd, apiserver + node gateway, the
 * controller-manager (scheduler, vm and image controllers) in this process, a real agent on
 * real libvirtd (a qxtest- dir pool), the real kubectl, and a file server on 127.0.0.1 that
 * can hold a download half-way (hack/testenv/file-server.ts). Every case checks the clear
 * message in status, an Event naming the node, URL or field, and that nothing is
 * half-written in the node's cache (`<pool>/.quantix-images`): no file under the final name,
 * a `.part` only where a resume needs it.
 *
 *   unreachable URL · HTTP 404 · sha256 mismatch · an HTML page served as 200 · a disk smaller
 *   than its image (refused by the API once the size is known; DiskTooSmall from the agent
 *   before) · an unknown Image (the VM goes on once it exists) · a VM waiting on an import ·
 *   an agent killed (SIGKILL, its own process) in the middle of an import resumes it with a
 *   Range request · the image-in-use finalizer.
 *
 * No guest boots: the images are a blank 64 MiB qcow2 and 1 MiB of raw bytes; a VM that runs
 * sits in the BIOS. Network traffic: 127.0.0.1 only. Pool without room (NoSpace) is the
 * importer's own integration test (an injected statfs).
 */
import { type ChildProcess, execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { IMAGE_IN_USE_FINALIZER } from '../../api-types/finalizers.js';
import type { Event, Image, ImageNodeStatus, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { eventDefinition, imageDefinition, storagePoolDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { kubectl } from '../../hack/testenv/apiserver.js';
import { agentLogPath, killAgentProcess, startAgentProcess } from '../../hack/testenv/agent-process.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { type GuestStack, startGuestStack } from '../../hack/testenv/guests.js';
import { qxTestName, virsh, virshQuiet } from '../../hack/testenv/libvirt.js';
import { volumeName } from '../vm/spec.js';
import { CACHE_DIR, cachedFileName } from './cache.js';

const execFileP = promisify(execFile);
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const EVENT = eventDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const _repoRoot = path.resolve(import.meta.dirname, '../..');

const ns = qxTestName('ins');
/** The node of the agent in this process, and its pool (hack/testenv/guests.ts names them). */
let node: string;
let pool: string;
let poolDir: string;
/** The node of the agent run as a process of its own (killed and restarted), and its pool. */
const node2 = qxTestName('inode2');
const pool2 = qxTestName('ipool2');
const pool2Dir = path.join('/var/lib/libvirt/images', pool2);
const workDir = mkdtempSync(path.join(tmpdir(), 'qx-images-'));

const MiB = 2 ** 20;
/** The qcow2 source: blank, virtual size 64 MiB (a file of a few hundred KiB). */
const QCOW2_VIRTUAL = 64 * MiB;
/** The raw source: 1 MiB of bytes that are no text (NULs among them). */
const RAW_BYTES = 1 * MiB;
const HTML = '<!doctype html>\n<html><head><title>Sign in</title></head><body><form action="/login">Please sign in</form></body></html>\n';

let stack: GuestStack;
let cp: GuestStack['cp'];
let files: GuestStack['files'];
let qcow2File: string;
let qcow2Sha: string;
let rawSha: string;
let agentProcess: ChildProcess | undefined;

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string) => (await store(VM).get(ns, name)) as VirtualMachine;
const getImage = async (name: string) => (await store(IMAGE).get(undefined, name)) as Image;
const gone = (p: Promise<unknown>) =>
  p.then(
    () => false,
    () => true,
  );

async function apply(yaml: string): Promise<void> {
  const res = await kubectl(cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

function sha256Of(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

function imageYaml(name: string, o: { url: string; sha256?: string; on?: { node: string; pool: string } }): string {
  return `apiVersion: quantix.io/v1alpha1
kind: Image
metadata:
  name: ${name}
spec:
  source:
    url: ${o.url}
${o.sha256 ? `    sha256: ${o.sha256}\n` : ''}${o.on ? `  storagePool: ${o.on.pool}\n  nodeNames: [${o.on.node}]\n` : ''}`;
}

function vmYaml(name: string, o: { image: string; size: string; runStrategy?: 'Always' | 'Halted' }): string {
  return `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  runStrategy: ${o.runStrategy ?? 'Halted'}
  terminationGracePeriodSeconds: 0
  cpu: 1
  memory: 64Mi
  nodeName: ${node}
  disks:
  - name: root
    storagePool: ${pool}
    size: ${o.size}
    image: ${o.image}
`;
}

async function eventsFor(kind: string, name: string): Promise<Event[]> {
  const list = await store(EVENT).list({});
  return (list.items as Event[]).filter((e) => e.involvedObject?.kind === kind && e.involvedObject?.name === name);
}

/** The first Event of that reason about the object whose message passes `test`. */
async function eventFor(kind: string, name: string, reason: string, test: (message: string) => boolean = () => true): Promise<Event> {
  return eventually(
    async () => {
      const events = await eventsFor(kind, name);
      const found = events.find((e) => e.reason === reason && test(e.message ?? ''));
      if (found) return found;
      throw new Error(`the Events are ${JSON.stringify(events.map((e) => `${e.reason}: ${e.message}`))}`);
    },
    { timeoutMs: 20_000, message: `a ${reason} Event about ${kind} ${name}` },
  );
}

/** The Image's entry for the node once it has that phase (fails at once on an unexpected Failed). */
async function nodePhase(name: string, phase: ImageNodeStatus['phase'], on = node, timeoutMs = 30_000): Promise<ImageNodeStatus> {
  return eventually(
    async () => {
      const n = (await getImage(name)).status?.nodes?.[on];
      if (phase !== 'Failed' && n?.phase === 'Failed') throw new Error(`import failed: ${n.reason}: ${n.message}`);
      return n && n.phase === phase ? n : false;
    },
    { timeoutMs, intervalMs: 100, message: `Image ${name} is ${phase} on ${on}` },
  );
}

/** The Synced condition of the VM once `test` accepts it. */
async function syncedWhen(name: string, test: (c: { status: string; reason?: string; message?: string }, vm: VirtualMachine) => boolean) {
  return eventually(
    async () => {
      const vm = await getVm(name);
      const c = vm.status?.conditions?.find((x) => x.type === 'Synced');
      if (c && test(c, vm)) return { synced: c, vm };
      throw new Error(`phase ${vm.status?.phase}, Synced ${JSON.stringify(c)}`);
    },
    { timeoutMs: 30_000, intervalMs: 100, message: `VM ${name}: the expected Synced condition` },
  );
}

/** The files of one Image's cached copy in a pool's cache dir: the copy, its sidecar, the importer's temps. */
function cacheFiles(dir: string, image: Image): string[] {
  const cache = path.join(dir, CACHE_DIR);
  if (!existsSync(cache)) return [];
  const base = cachedFileName(image);
  return readdirSync(cache)
    .filter((f) => f === base || f.startsWith(`${base}.`) || f.startsWith(`.${base}.`))
    .sort();
}

/** Deletes an Image nobody uses and waits until it is gone from the API and from the node's cache. */
async function deleteImage(name: string, dir = poolDir): Promise<void> {
  const image = await getImage(name);
  const res = await kubectl(cp.env.kubeconfig, ['delete', 'image', name, '--timeout=30s']);
  expect(res.code).toBe(0);
  await eventually(() => gone(getImage(name)), { timeoutMs: 30_000, message: `Image ${name} is gone` });
  await eventually(() => cacheFiles(dir, image).length === 0, { timeoutMs: 20_000, message: `the node's files of Image ${name} are removed` });
}

async function deleteVm(name: string): Promise<void> {
  const res = await kubectl(cp.env.kubeconfig, ['delete', 'vm', name, '-n', ns, '--timeout=60s']);
  expect(res.code).toBe(0);
}

// ------------------------------------------------------------------ the agent as a process (restart case)

function startTheAgentProcess(): void {
  agentProcess = startAgentProcess({ cp, workDir, stateDir: path.join(workDir, 'state'), hostname: node2, extraArgs: ['--acceleration=tcg'] });
}

async function killTheAgentProcess(): Promise<void> {
  const child = agentProcess;
  agentProcess = undefined;
  await killAgentProcess(child);
}

async function poolHealthy(name: string, on: string): Promise<void> {
  await eventually(async () => ((await store(POOL).get(undefined, name)) as StoragePool).status?.hosts?.[on]?.health === 'HEALTHY', {
    timeoutMs: 60_000,
    message: `pool ${name} HEALTHY on ${on}`,
  });
}

beforeAll(async () => {
  qcow2File = path.join(workDir, 'disk.qcow2');
  await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', qcow2File, String(QCOW2_VIRTUAL)]);
  qcow2Sha = sha256Of(qcow2File);
  const rawFile = path.join(workDir, 'disk.raw');
  writeFileSync(rawFile, Buffer.from(Array.from({ length: RAW_BYTES }, (_, i) => i % 251)));
  rawSha = sha256Of(rawFile);

  // etcd, apiserver + gateway, controller-manager (scheduler, vm, image), an agent on libvirt, a HEALTHY pool.
  stack = await startGuestStack({ tag: 'i' });
  stack.cleanupNamespace(ns);
  // The second agent's pool goes with the stack's clean-up, after the VMs' domains.
  mkdirSync(pool2Dir, { recursive: true });
  stack.cleanup.path(pool2Dir);
  stack.cleanup.pool(pool2);
  ({ cp, files, node, pool, poolDir } = stack);
  files.serve('/img/disk.qcow2', qcow2File);
  files.serve('/img/disk.raw', rawFile);
  files.serveBody('/img/login.qcow2', HTML);
  writeFileSync(path.join(workDir, 'ca.crt'), cp.env.caCertPem);
  writeFileSync(path.join(workDir, 'join-token'), cp.joinToken);
}, 120_000);

afterAll(async () => {
  files?.release();
  await killTheAgentProcess();
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 60_000);

describe('Images: bad input and faults, end to end', () => {
  it('an unreachable URL: Failed/Unreachable on the node, an ImportFailed Event naming the node and the URL, nothing under the final name', async () => {
    const name = qxTestName('unreach');
    const url = `http://127.0.0.1:${await closedPort()}/img/disk.qcow2`;
    await apply(imageYaml(name, { url, sha256: qcow2Sha, on: { node, pool } }));
    const n = await nodePhase(name, 'Failed');
    expect(n.reason).toBe('Unreachable');
    expect(n.message).toContain(url);
    expect(n.message).toContain('ECONNREFUSED');
    // The image controller's aggregate follows the node's report.
    const image = await eventually(async () => {
      const i = await getImage(name);
      return i.status?.phase === 'Failed' ? i : false;
    });
    expect(image.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Failed',
      message: expect.stringContaining(`import failed on ${node}: Unreachable: `),
    });
    const ev = await eventFor('Image', name, 'ImportFailed');
    expect(ev.type).toBe('Warning');
    expect(ev.message).toContain(`node ${node}: Unreachable: `);
    expect(ev.message).toContain(url);
    // Retryable, but no byte came: nothing to resume from, so nothing is kept (not even a .part).
    expect(cacheFiles(poolDir, image)).toEqual([]);
    await deleteImage(name);
  });

  it('HTTP 404: HTTPError with the URL and 404 in the message and the Event, no file kept', async () => {
    const name = qxTestName('notfound');
    const url = `${files.url}/img/missing.qcow2`;
    await apply(imageYaml(name, { url, on: { node, pool } }));
    const n = await nodePhase(name, 'Failed');
    expect(n.reason).toBe('HTTPError');
    expect(n.message).toBe(`GET ${url}: HTTP 404 Not Found`);
    const ev = await eventFor('Image', name, 'ImportFailed');
    expect(ev.message).toBe(`node ${node}: HTTPError: GET ${url}: HTTP 404 Not Found`);
    expect(files.requests.filter((r) => r.path === '/img/missing.qcow2').map((r) => r.status)).toContain(404);
    // 404 is not worth a resume: no .part either.
    expect(cacheFiles(poolDir, await getImage(name))).toEqual([]);
    await deleteImage(name);
  });

  it('a sha256 mismatch: ChecksumMismatch naming both sums, no cached file and no .part', async () => {
    const name = qxTestName('badsum');
    const url = `${files.url}/img/disk.qcow2`;
    const wrong = rawSha; // a real checksum, of another file
    await apply(imageYaml(name, { url, sha256: wrong, on: { node, pool } }));
    const n = await nodePhase(name, 'Failed');
    expect(n.reason).toBe('ChecksumMismatch');
    expect(n.message).toBe(`${url}: SHA-256 is ${qcow2Sha}, expected ${wrong}`);
    expect(n.path).toBeUndefined();
    const ev = await eventFor('Image', name, 'ImportFailed');
    expect(ev.message).toBe(`node ${node}: ChecksumMismatch: ${url}: SHA-256 is ${qcow2Sha}, expected ${wrong}`);
    const image = await getImage(name);
    expect(image.status?.sha256).toBeUndefined();
    expect(image.status?.virtualSizeBytes).toBeUndefined();
    expect(cacheFiles(poolDir, image)).toEqual([]);
    await deleteImage(name);
  });

  it('an HTML page served with 200: NotADiskImage saying so, nothing kept', async () => {
    const name = qxTestName('html');
    const url = `${files.url}/img/login.qcow2`;
    await apply(imageYaml(name, { url, on: { node, pool } }));
    const n = await nodePhase(name, 'Failed');
    expect(n.reason).toBe('NotADiskImage');
    expect(n.message).toContain(url);
    expect(n.message).toContain('an HTML page (served as text/html)');
    const ev = await eventFor('Image', name, 'ImportFailed');
    expect(ev.message).toContain(`node ${node}: NotADiskImage: ${url}`);
    expect(cacheFiles(poolDir, await getImage(name))).toEqual([]);
    await deleteImage(name);
  });

  describe('an image larger than the disk', () => {
    it('once the Image is Ready, kubectl apply of a smaller disk is refused (422) naming spec.disks[0].size; nothing is created', async () => {
      const name = qxTestName('big');
      await apply(imageYaml(name, { url: `${files.url}/img/disk.qcow2`, sha256: qcow2Sha, on: { node, pool } }));
      const n = await nodePhase(name, 'Ready');
      expect(n).toMatchObject({ virtualSizeBytes: QCOW2_VIRTUAL, sha256: qcow2Sha, verified: true, sourceFormat: 'qcow2' });
      await eventually(async () => (await getImage(name)).status?.virtualSizeBytes === QCOW2_VIRTUAL, { message: 'the Image shows its virtual size' });
      await eventFor('Image', name, 'ImportSucceeded', (m) => m.includes(`node ${node}: imported ${files.url}/img/disk.qcow2 (qcow2, virtual size 64.0 MiB`));

      const res = await kubectl(cp.env.kubeconfig, ['apply', '-f', '-', '-v=6'], vmYaml('tiny', { image: name, size: '32Mi' }));
      expect(res.code).not.toBe(0);
      expect(res.stderr).toMatch(/POST \S+\/virtualmachines\S* 422 Unprocessable Entity/);
      expect(res.stderr).toContain(
        `The VirtualMachine "tiny" is invalid: spec.disks[0].size: Invalid value: "32Mi": must be at least the virtual size of Image "${name}" (64Mi, ${QCOW2_VIRTUAL} bytes)`,
      );
      expect(await gone(getVm('tiny'))).toBe(true);
      // The same disk at the image's size is accepted.
      await apply(vmYaml('fits', { image: name, size: '64Mi' }));
      await syncedWhen('fits', (c, vm) => c.status === 'True' && vm.status?.phase === 'Stopped');
      await deleteVm('fits');
      await deleteImage(name);
    });

    it('a VM created before the size was known: Synced=False DiskTooSmall naming the disk, phase Failed, a Failed Event; no volume, no domain', async () => {
      const name = qxTestName('late');
      await apply(vmYaml('small', { image: name, size: '32Mi' }));
      await apply(imageYaml(name, { url: `${files.url}/img/disk.qcow2`, sha256: qcow2Sha }));
      const { synced, vm } = await syncedWhen('small', (c) => c.reason === 'DiskTooSmall');
      const expected = `disk root: spec.disks[].size 32Mi must be at least the virtual size of Image "${name}" (64Mi, ${QCOW2_VIRTUAL} bytes)`;
      expect(synced).toMatchObject({ status: 'False', message: expected });
      await eventually(async () => (await getVm('small')).status?.phase === 'Failed', { message: 'the VM is Failed' });
      // The image itself was fine: imported into the pool of the disk that needed it.
      expect(await nodePhase(name, 'Ready')).toMatchObject({ pool, virtualSizeBytes: QCOW2_VIRTUAL });
      await eventFor('VirtualMachine', 'small', 'Failed', (m) => m === expected);
      expect(existsSync(path.join(poolDir, volumeName(vm, { name: 'root' })))).toBe(false);
      expect(await virshQuiet('dominfo', `${ns}_small`)).toBe(false);
      await deleteVm('small');
      await deleteImage(name);
    });
  });

  it('an unknown Image: Synced=False ImageNotReady saying it does not exist; the VM goes on by itself once the Image is created', async () => {
    const name = qxTestName('later');
    await apply(vmYaml('early', { image: name, size: '16Mi', runStrategy: 'Always' }));
    const { synced } = await syncedWhen('early', (c) => c.reason === 'ImageNotReady');
    expect(synced).toMatchObject({ status: 'False', message: `disk root: Image "${name}" does not exist` });
    await eventFor('VirtualMachine', 'early', 'Failed', (m) => m.includes(`Image "${name}" does not exist`));

    await apply(imageYaml(name, { url: `${files.url}/img/disk.raw`, sha256: rawSha }));
    await eventually(
      async () => {
        const vm = await getVm('early');
        return vm.status?.phase === 'Running' && vm.status.conditions?.find((c) => c.type === 'Synced')?.status === 'True';
      },
      { timeoutMs: 60_000, intervalMs: 200, message: 'the VM runs once its Image exists' },
    );
    expect(await nodePhase(name, 'Ready')).toMatchObject({ sourceFormat: 'raw', virtualSizeBytes: RAW_BYTES, sha256: rawSha, verified: true });
    expect((await virsh('domstate', `${ns}_early`)).stdout.trim()).toBe('running');
    await deleteVm('early');
    await deleteImage(name);
  });

  it('a VM waiting on an import says so (ImageNotReady, "waiting for Image …"), the Image shows Importing with progress bytes; deleting both mid-import leaves nothing', async () => {
    const name = qxTestName('slow');
    const held = 64 * 1024;
    files.holdAfter(held);
    await apply(imageYaml(name, { url: `${files.url}/img/disk.qcow2`, sha256: qcow2Sha }));
    await apply(vmYaml('patient', { image: name, size: '64Mi' }));
    await files.whenHeld();

    const n = await eventually(
      async () => {
        const e = (await getImage(name)).status?.nodes?.[node];
        // Every byte the held download got (64 KiB), though they came in one burst before it stalled.
        if (e?.phase === 'Importing' && e.progress?.bytesDone === held) return e;
        throw new Error(`the node's entry is ${JSON.stringify(e)}`);
      },
      { timeoutMs: 20_000, intervalMs: 100, message: 'the Image shows Importing with progress bytes' },
    );
    const total = readFileSync(qcow2File).length;
    const percent = Math.floor((held * 100) / total);
    expect(n.progress).toEqual({ step: 'Downloading', bytesDone: held, bytesTotal: total, percent });
    expect(n.pool).toBe(pool);
    const image = await eventually(async () => {
      const i = await getImage(name);
      return i.status?.phase === 'Importing' ? i : false;
    });
    expect(image.status?.conditions?.find((c) => c.type === 'Ready')).toMatchObject({
      status: 'False',
      reason: 'Importing',
      message: `importing on ${node}`,
    });
    // No percent here: the VM's status is not rewritten at every step of an import (the Image has the progress).
    const waiting = `disk root: waiting for Image "${name}": importing on node ${node} (progress in the Image's status)`;
    const { synced, vm } = await syncedWhen('patient', (c) => c.message === waiting);
    expect(synced).toMatchObject({ status: 'False', reason: 'ImageNotReady' });
    expect(existsSync(path.join(poolDir, volumeName(vm, { name: 'root' })))).toBe(false); // no disk before its image
    const ev = await eventFor('Image', name, 'ImportStarted');
    expect(ev.message).toBe(`node ${node}: importing ${files.url}/img/disk.qcow2 into pool ${pool}`);
    // Only the importer's temps while it runs.
    expect(cacheFiles(poolDir, image).every((f) => f.startsWith('.'))).toBe(true);

    // Deleted in the middle of the import: the download is abandoned and its temps removed.
    await deleteVm('patient');
    await deleteImage(name);
    files.release();
    expect(cacheFiles(poolDir, image)).toEqual([]);
  });

  it('an agent killed (SIGKILL) in the middle of a download resumes it after the restart with a Range request; the copy is complete and verified', async () => {
    const name = qxTestName('resume');
    startTheAgentProcess();
    await apply(`apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: ${pool2}
spec:
  type: dir
  dir:
    path: ${pool2Dir}
  assignedNodes: [${node2}]
`);
    await poolHealthy(pool2, node2);

    const held = 64 * 1024;
    const url = `${files.url}/img/disk.qcow2`;
    const firstRequest = files.requests.length;
    files.holdAfter(held);
    await apply(imageYaml(name, { url, sha256: qcow2Sha, on: { node: node2, pool: pool2 } }));
    await files.whenHeld();
    await nodePhase(name, 'Importing', node2);
    const before = await getImage(name);
    // The bytes received are on disk in the .part (the resume rule needs its sidecar with the ETag).
    const part = path.join(pool2Dir, CACHE_DIR, `.${cachedFileName(before)}.part`);
    await eventually(() => existsSync(part) && readFileSync(part).length === held && existsSync(`${part}.json`), {
      message: 'the .part holds the bytes received',
    });
    // Its sidecar: the URL (as a hash: no credential is written), the declared checksum and the validator.
    const sidecar = JSON.parse(readFileSync(`${part}.json`, 'utf8')) as { source: string; expectedSha256?: string; etag?: string; totalBytes?: number };
    expect(sidecar).toMatchObject({
      source: createHash('sha256').update(url).digest('hex'),
      expectedSha256: qcow2Sha,
      totalBytes: readFileSync(qcow2File).length,
    });
    expect(sidecar.etag).toMatch(/^"/); // a strong ETag

    await killTheAgentProcess();
    files.release();
    startTheAgentProcess();

    const n = await nodePhase(name, 'Ready', node2, 60_000);
    expect(n).toMatchObject({ sha256: qcow2Sha, verified: true, virtualSizeBytes: QCOW2_VIRTUAL, sourceFormat: 'qcow2', pool: pool2 });
    // The rule of agent/images/README.md: the .part is continued with Range: bytes=N- (If-Range:
    // the ETag) and the server's 206 is appended — not downloaded again from 0.
    const requests = files.requests.slice(firstRequest).filter((r) => r.path === '/img/disk.qcow2');
    expect(requests).toEqual([
      { path: '/img/disk.qcow2', status: 200 },
      { path: '/img/disk.qcow2', range: `bytes=${held}-`, ifRange: sidecar.etag, status: 206 },
    ]);
    // The copy: the source's content, and nothing else of the import left in the cache.
    expect(cacheFiles(pool2Dir, before)).toEqual([cachedFileName(before), `${cachedFileName(before)}.json`]);
    const compare = await execFileP('qemu-img', ['compare', '-q', qcow2File, n.path!]).then(
      () => 0,
      (err: { code?: number }) => err.code ?? 1,
    );
    expect(compare).toBe(0);
    await eventFor('Image', name, 'ImportSucceeded', (m) => m.startsWith(`node ${node2}: imported ${url} (qcow2`) && m.includes('sha256 verified'));
    // The agent's log file is written within 25 ms of the line (lib/logging/files.ts).
    await eventually(() => /image import finished.*"resumed":true/.test(readFileSync(agentLogPath(workDir), 'utf8')), {
      timeoutMs: 10_000,
      message: 'the resumed import in the agent log',
    });
    await killTheAgentProcess();
  });

  it('the image-in-use finalizer: deleting an Image a VM uses waits (InUse DeletionBlocked, an Event naming the VM); deleting the VM lets it go and removes the cached copy', async () => {
    const name = qxTestName('inuse');
    await apply(imageYaml(name, { url: `${files.url}/img/disk.raw`, sha256: rawSha }));
    await apply(vmYaml('holder', { image: name, size: '16Mi' }));
    const { vm } = await syncedWhen('holder', (c, v) => c.status === 'True' && v.status?.phase === 'Stopped');
    const n = await nodePhase(name, 'Ready');
    const cached = n.path!;
    expect(existsSync(cached)).toBe(true);
    const overlay = path.join(poolDir, volumeName(vm, { name: 'root' }));
    expect(existsSync(overlay)).toBe(true);
    const image = await eventually(async () => {
      const i = await getImage(name);
      return i.metadata.finalizers?.includes(IMAGE_IN_USE_FINALIZER) ? i : false;
    });
    expect(image.status?.usedBy).toEqual([`${ns}/holder`]);

    const del = await kubectl(cp.env.kubeconfig, ['delete', 'image', name, '--wait=false']);
    expect(del.code).toBe(0);
    const blocked = await eventually(async () => {
      const i = await getImage(name);
      const inUse = i.status?.conditions?.find((c) => c.type === 'InUse');
      return i.metadata.deletionTimestamp && inUse?.reason === 'DeletionBlocked' ? inUse : false;
    });
    const message = `deletion waits until no VM uses the image; used by ${ns}/holder`;
    expect(blocked).toMatchObject({ status: 'True', message });
    const ev = await eventFor('Image', name, 'DeletionBlocked');
    expect(ev).toMatchObject({ type: 'Warning', message });
    // Still there, and still usable by the VM.
    expect(existsSync(cached)).toBe(true);
    expect((await getImage(name)).status?.nodes?.[node]?.phase).toBe('Ready');

    await deleteVm('holder');
    await eventually(() => gone(getImage(name)), { timeoutMs: 30_000, message: 'the Image is gone once no VM uses it' });
    await eventually(() => cacheFiles(poolDir, image).length === 0, { timeoutMs: 20_000, message: 'the cached copy and its sidecar are removed' });
    expect(existsSync(overlay)).toBe(false);
  });
});
