/**
 * Snapshots and restore with a real booted guest on real libvirtd: the Debian test image
 * boots with cloud-init and an SSH port forward on 127.0.0.1. A file is written in the guest
 * and a snapshot is taken live with the guest agent answering (file systems frozen); the
 * guest agent is then stopped inside the guest, a second file written and a second snapshot
 * taken (crash-consistent); both files are deleted. The VM is stopped, restored to the frozen
 * snapshot and started: the first file is back and the second is not (it came later). Then
 * stopped, restored to the crash-consistent snapshot and started: both are back. Real etcd,
 * apiserver + gateway, controllers (scheduler, vm, image, snapshot), the agent and qxctl.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Image, VirtualMachine, VirtualMachineSnapshot } from '../api-types/generated/types.js';
import { imageDefinition, virtualMachineDefinition, virtualMachineSnapshotDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { kubectl, run } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import { type GuestStack, guestTestImage, startGuestStack } from '../hack/testenv/guests.js';
import { qxTestName } from '../hack/testenv/libvirt.js';

const execFileP = promisify(execFile);
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const SNAP = virtualMachineSnapshotDefinition as unknown as ResourceDefinition;
const repoRoot = path.resolve(import.meta.dirname, '..');
const QXCTL = path.join(repoRoot, 'bin/qxctl');

const ns = qxTestName('sns');
const imageName = qxTestName('snapdeb');
const workDir = mkdtempSync(path.join(tmpdir(), 'qx-snapshots-'));

let stack: GuestStack;
let cp: GuestStack['cp'];
let sshKey: string;
let sshPort: number;

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async () => (await store(VM).get(ns, 'web')) as VirtualMachine;
const getSnap = async (name: string) => (await store(SNAP).get(ns, name)) as VirtualMachineSnapshot;

function qxctl(args: string[]) {
  return run(QXCTL, [...args, '-n', ns], { env: { KUBECONFIG: cp.env.kubeconfig, HOME: workDir }, timeoutMs: 400_000 });
}

async function qxctlOk(args: string[]): Promise<string> {
  const res = await qxctl(args);
  if (res.code !== 0) throw new Error(`qxctl ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}

async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

async function ssh(command: string): Promise<string> {
  const { stdout } = await execFileP(
    'ssh',
    [
      ...['-i', sshKey, '-p', String(sshPort)],
      ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=5', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'],
      'debian@127.0.0.1',
      command,
    ],
    { timeout: 60_000 },
  );
  return stdout.trim();
}

/** Waits for SSH after a boot. */
const sshReady = () => eventually(() => ssh('true'), { timeoutMs: 300_000, intervalMs: 2_000, message: 'SSH through the port forward' });

/** Which of the marker files exist in the guest. */
const markers = () => ssh('ls /home/debian | grep ^marker- || true').then((out) => out.split('\n').filter(Boolean).sort());

beforeAll(async () => {
  const { path: guestImage, sha256 } = await guestTestImage();
  sshKey = path.join(workDir, 'id_ed25519');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', sshKey]);
  sshPort = await freePort();
  stack = await startGuestStack({ tag: 's', agent: { shutdownTimeoutMs: 120_000 } });
  stack.cleanupNamespace(ns);
  cp = stack.cp;
  stack.files.serve('/images/debian.qcow2', guestImage);
  const applied = await kubectl(
    cp.env.kubeconfig,
    ['apply', '-f', '-'],
    `apiVersion: quantix.io/v1alpha1
kind: Image
metadata:
  name: ${imageName}
spec:
  source:
    url: ${stack.files.url}/images/debian.qcow2
    sha256: ${sha256}
  storagePool: ${stack.pool}
  nodeNames: [${stack.node}]
---
apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: web
  namespace: ${ns}
spec:
  cpu: 1
  memory: 1Gi
  nodeName: ${stack.node}
  disks:
  - name: root
    storagePool: ${stack.pool}
    size: 4Gi
    image: ${imageName}
  networks:
  - name: default
    type: user
    portForwards:
    - guestPort: 22
      hostPort: ${sshPort}
  cloudInit:
    sshAuthorizedKeys:
    - ${readFileSync(`${sshKey}.pub`, 'utf8').trim()}
`,
  );
  if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
  await eventually(async () => ((await store(IMAGE).get(undefined, imageName)) as Image).status?.phase === 'Ready', {
    timeoutMs: 300_000,
    message: 'the Image is Ready',
  });
  // The guest agent answers once the guest has booted.
  await eventually(async () => (await getVm()).status?.conditions?.find((c) => c.type === 'AgentConnected')?.status === 'True', {
    timeoutMs: 400_000,
    intervalMs: 1_000,
    message: 'the guest agent answers',
  });
  await sshReady();
}, 1_200_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 180_000);

describe('snapshots and restore of a real guest', () => {
  it('a live snapshot with the guest agent is frozen; one without it is crash-consistent', async () => {
    await ssh('echo first > /home/debian/marker-1 && sync');
    const out = await qxctlOk(['vm', 'snapshot', 'web', '--name', 'frozen', '--timeout', '300s']);
    expect(out).toContain('virtualmachinesnapshot.quantix.io/frozen ready (FileSystemConsistent, file systems frozen)');
    const frozen = await getSnap('frozen');
    expect(frozen.status).toMatchObject({ phase: 'Ready', frozen: true, vmRunning: true, consistency: 'FileSystemConsistent', nodeName: stack.node });
    const volume = (await getVm()).status!.volumes![0]!.path!;
    expect(frozen.status?.disks).toEqual([expect.objectContaining({ disk: 'root', path: volume, snapshotName: 'frozen-' + frozen.metadata.uid!.slice(0, 8) })]);
    // The guest runs on after the thaw: it still writes.
    await ssh('echo after-thaw > /home/debian/thaw-check && rm /home/debian/thaw-check');

    // The guest agent goes away inside the guest: the next snapshot cannot freeze.
    await ssh('sudo systemctl stop qemu-guest-agent');
    await ssh('echo second > /home/debian/marker-2 && sync');
    await qxctlOk(['vm', 'snapshot', 'web', '--name', 'crash', '--timeout', '300s']);
    const crash = await getSnap('crash');
    expect(crash.status).toMatchObject({ phase: 'Ready', frozen: false, vmRunning: true, consistency: 'CrashConsistent' });
    expect(crash.status?.message).toContain('crash-consistent');

    // Both snapshots are in the overlay (qemu-img reads it while QEMU runs with -U).
    const info = JSON.parse((await execFileP('qemu-img', ['info', '-U', '--output=json', volume])).stdout) as { snapshots?: { name: string }[] };
    expect(info.snapshots?.map((s) => s.name).sort()).toEqual([crash.status!.disks![0]!.snapshotName, frozen.status!.disks![0]!.snapshotName].sort());

    const table = await kubectl(cp.env.kubeconfig, ['get', 'vmsnap', '-n', ns]);
    expect(table.stdout).toMatch(/frozen\s+web\s+Ready\s+FileSystemConsistent/);
    expect(table.stdout).toMatch(/crash\s+web\s+Ready\s+CrashConsistent/);

    await ssh('rm /home/debian/marker-1 /home/debian/marker-2 && sync');
    expect(await markers()).toEqual([]);
  }, 700_000);

  it('a restore onto the running VM is refused and leaves nothing', async () => {
    const res = await qxctl(['vm', 'restore', 'web', 'frozen']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('VirtualMachine "web" must be stopped to be restored');
    const restores = await kubectl(cp.env.kubeconfig, ['get', 'vmrestore', '-n', ns, '-o', 'name']);
    expect(restores.stdout.trim()).toBe('');
  });

  it('restored to the frozen snapshot: the first file is back, the later one is not', async () => {
    await qxctlOk(['vm', 'stop', 'web', '--timeout', '300s']);
    const out = await qxctlOk(['vm', 'restore', 'web', 'frozen', '--timeout', '300s']);
    expect(out).toContain('restored from frozen');
    await qxctlOk(['vm', 'start', 'web', '--timeout', '300s']);
    await sshReady();
    expect(await markers()).toEqual(['marker-1']);
    expect(await ssh('cat /home/debian/marker-1')).toBe('first');
  }, 900_000);

  it('restored to the crash-consistent snapshot: both files are back', async () => {
    await qxctlOk(['vm', 'stop', 'web', '--timeout', '300s']);
    await qxctlOk(['vm', 'restore', 'web', 'crash', '--timeout', '300s']);
    await qxctlOk(['vm', 'start', 'web', '--timeout', '300s']);
    await sshReady();
    expect(await markers()).toEqual(['marker-1', 'marker-2']);
    expect(await ssh('cat /home/debian/marker-2')).toBe('second');
  }, 900_000);

  it('deleting the VM deletes its snapshots', async () => {
    const del = await kubectl(cp.env.kubeconfig, ['delete', 'vm', 'web', '-n', ns, '--timeout=300s']);
    expect(del.code).toBe(0);
    await eventually(async () => (await kubectl(cp.env.kubeconfig, ['get', 'vmsnap', '-n', ns, '-o', 'name'])).stdout.trim() === '', {
      timeoutMs: 60_000,
      message: 'the snapshots are gone',
    });
  }, 400_000);
});
