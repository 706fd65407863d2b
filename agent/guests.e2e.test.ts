/**
 * Real guests end to end (the Debian test image on real libvirtd, TCG here), and their
 * day-2 operations: import, boot, SSH, graceful stop, live snapshots and restore, resize,
 * clone and deletion, all on one source VM so that its boots serve several cases (a boot
 * costs about a minute under TCG). In order:
 *
 * 1. The image is served by an HTTP server on 127.0.0.1 and imported as an Image (checksum
 *    verified, Events). The source VM boots it with a cloud-init seed and a user network
 *    forwarding a 127.0.0.1 port to the guest's SSH; the guest agent's IP and sizes (1 CPU,
 *    768Mi) show; the test logs in over SSH and reads the host name, the VM's name.
 * 2. A file is written and a snapshot taken live with the guest agent answering (file
 *    systems frozen); the guest agent is stopped inside the guest, a second file written and
 *    a second snapshot taken (crash-consistent); both files are deleted. A restore onto the
 *    running VM is refused.
 * 3. Resize while running: RestartRequired names the fields; `qxctl vm restart` applies them
 *    and the guest sees 2 CPUs and more memory (second boot).
 * 4. `qxctl vm stop` ends with the guest shutting itself down. Restored to the frozen
 *    snapshot, then cloned with `qxctl vm clone` (a flat copy of the restored disk).
 * 5. The source restored to the crash-consistent snapshot; source and clone start together
 *    (third and fourth boots, at the same time): the source has both files back; the clone
 *    has the frozen snapshot's state (the first file only), its own host name (cloud-init ran
 *    again for the new instance id) and its own MAC, which its guest agent reports.
 * 6. Deleting the VM removes its overlay, its seed and its snapshots; the cached image stays
 *    while another VM uses it, then goes with the Image.
 *
 * Real etcd, apiserver + gateway, controllers (scheduler, vm, image, snapshot), the agent,
 * kubectl and qxctl; traffic on 127.0.0.1 only. Run under `flock /tmp/qx-libvirt.lock`.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import type { Event, Image, VirtualMachine, VirtualMachineSnapshot } from '../api-types/generated/types.js';
import { eventDefinition, imageDefinition, virtualMachineDefinition, virtualMachineSnapshotDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { kubectl, run } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import {
  applyYaml,
  freeLocalPort,
  GUEST_BOOT_MS,
  type GuestStack,
  guestExec,
  guestSettled,
  type GuestTestImage,
  guestTestImage,
  startGuestStack,
  waitGuestAgentUp,
} from '../hack/testenv/guests.js';
import { qxTestName, virsh } from '../hack/testenv/libvirt.js';

const execFileP = promisify(execFile);
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const SNAP = virtualMachineSnapshotDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const EVENT = eventDefinition as unknown as ResourceDefinition;
const repoRoot = path.resolve(import.meta.dirname, '..');
const QXCTL = path.join(repoRoot, 'bin/qxctl');

const ns = qxTestName('gns');
const imageName = qxTestName('debian');
const workDir = mkdtempSync(path.join(tmpdir(), 'qx-guests-'));
/** libvirt domain names of the source and the clone (the agent names domains `<namespace>_<name>`). */
const SRC = `${ns}_src`;
const DST = `${ns}_dst`;
/** 768Mi in kB: MemTotal of a 768Mi guest stays below it, that of a 1Gi guest above it. */
const SMALL_KB = 768 * 1024;

let stack: GuestStack;
let cp: GuestStack['cp'];
let sshKey: string;
let sshPort: number;
let image: GuestTestImage;
/** Sizes the guest reported at its first boot. */
let firstSizes: { cpus: number; memTotalKb: number };

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string) => (await store(VM).get(ns, name)) as VirtualMachine;
const getSnap = async (name: string) => (await store(SNAP).get(ns, name)) as VirtualMachineSnapshot;
const getImage = async () => (await store(IMAGE).get(undefined, imageName)) as Image;
const condition = (vm: VirtualMachine, type: string) => vm.status?.conditions?.find((c) => c.type === type);

const qxctl = (args: string[]) => run(QXCTL, [...args, '-n', ns], { env: { KUBECONFIG: cp.env.kubeconfig, HOME: workDir }, timeoutMs: 600_000 });

async function qxctlOk(args: string[]): Promise<string> {
  const res = await qxctl(args);
  if (res.code !== 0) throw new Error(`qxctl ${args.join(' ')} failed (${res.code}): ${res.stderr}`);
  return res.stdout;
}

/** A command in the source guest over SSH through its 127.0.0.1 port forward (a TCG guest on a loaded host can take over 5 s to send its banner). */
async function ssh(command: string): Promise<string> {
  const { stdout } = await execFileP(
    'ssh',
    [
      ...['-i', sshKey, '-p', String(sshPort)],
      ...['-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'ConnectTimeout=30', '-o', 'BatchMode=yes', '-o', 'LogLevel=ERROR'],
      'debian@127.0.0.1',
      command,
    ],
    { timeout: 60_000 },
  );
  return stdout.trim();
}

/** Waits for SSH after a boot. */
const sshReady = () => eventually(() => ssh('true'), { timeoutMs: GUEST_BOOT_MS, intervalMs: 2_000, message: 'SSH through the port forward' });

/** Which of the marker files exist in the source guest. */
const markers = () => ssh('ls /home/debian | grep ^marker- || true').then((out) => out.split('\n').filter(Boolean).sort());

/** CPUs and MemTotal (kB) as the guest sees them, asked through its guest agent. */
async function guestSizes(domain: string): Promise<{ cpus: number; memTotalKb: number }> {
  const cpus = Number(await guestExec(domain, '/usr/bin/nproc', []));
  const meminfo = await guestExec(domain, '/usr/bin/grep', ['MemTotal', '/proc/meminfo']);
  return { cpus, memTotalKb: Number(/MemTotal:\s+(\d+) kB/.exec(meminfo)?.[1]) };
}

beforeAll(async () => {
  image = await guestTestImage();
  sshKey = path.join(workDir, 'id_ed25519');
  await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', sshKey]);
  sshPort = await freeLocalPort();
  // etcd, apiserver + gateway, controller-manager (scheduler, vm, image, snapshot), an agent on libvirt, a pool.
  stack = await startGuestStack({ tag: 'g', agent: { shutdownTimeoutMs: 120_000 } });
  stack.cleanupNamespace(ns);
  cp = stack.cp;
  stack.files.serve('/images/debian.qcow2', image.path);
}, 900_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 180_000);

describe('snapshots, restore, resize and clone of a real guest', () => {
  it('imports an Image from a URL on 127.0.0.1, checksum verified, with Events', async () => {
    await applyYaml(
      stack,
      `apiVersion: quantix.io/v1alpha1
kind: Image
metadata:
  name: ${imageName}
spec:
  source:
    url: ${stack.files.url}/images/debian.qcow2
    sha256: ${image.sha256}
  storagePool: ${stack.pool}
  nodeNames: [${stack.node}]
`,
    );
    const ready = await eventually(
      async () => {
        const img = await getImage();
        const n = img.status?.nodes?.[stack.node];
        if (n?.phase === 'Failed') throw new Error(`import failed: ${n.reason}: ${n.message}`);
        return n?.phase === 'Ready' && img.status?.phase === 'Ready' ? img : false;
      },
      { timeoutMs: 300_000, intervalMs: 500, message: 'the Image is Ready on the node' },
    );
    const n = ready.status!.nodes![stack.node]!;
    expect(n).toMatchObject({ phase: 'Ready', verified: true, sha256: image.sha256, pool: stack.pool, sourceFormat: 'qcow2' });
    expect(n.virtualSizeBytes).toBeGreaterThan(0);
    expect(existsSync(n.path!)).toBe(true);
    expect(path.dirname(n.path!)).toBe(path.join(stack.poolDir, '.quantix-images'));
    expect(ready.status?.virtualSizeBytes).toBe(n.virtualSizeBytes);
    const eventsOfImage = async () => {
      const list = await store(EVENT).list({});
      return (list.items as Event[]).filter((e) => e.involvedObject?.kind === 'Image' && e.involvedObject?.name === imageName);
    };
    const reasons = (await eventually(async () => ((await eventsOfImage()).some((e) => e.reason === 'ImportSucceeded') ? eventsOfImage() : false))).map(
      (e) => e.reason,
    );
    expect(reasons).toEqual(expect.arrayContaining(['ImportStarted', 'ImportSucceeded']));
    expect(stack.files.requests.some((r) => r.path === '/images/debian.qcow2' && r.status === 200)).toBe(true);
  }, 400_000);

  it(
    'boots a VM from it with cloud-init: the guest agent IP shows in status, SSH through the 127.0.0.1 forward reads the VM name',
    async () => {
      await applyYaml(
        stack,
        `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: src
  namespace: ${ns}
spec:
  cpu: 1
  memory: 768Mi
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
      const vm = await waitGuestAgentUp(stack, ns, 'src');
      expect(vm.status?.phase).toBe('Running');
      expect(vm.status?.interfaces?.[0]).toMatchObject({ name: 'default', ipAddress: '10.0.2.15', macAddress: expect.stringMatching(/^52:54:00:/) });
      expect(vm.status?.guestOSInfo).toMatchObject({ id: 'debian', hostname: 'src' });
      expect(vm.status?.acceleration).toBe(stack.acceleration);
      expect(condition(vm, 'AgentConnected')).toMatchObject({ status: 'True' });
      // The printer column kubectl shows.
      const table = await kubectl(cp.env.kubeconfig, ['get', 'vm', 'src', '-n', ns]);
      expect(table.stdout).toMatch(/IP\b[\s\S]*10\.0\.2\.15/);

      // The domain: an overlay on the cached image, the seed as a CD-ROM, the guest agent channel.
      const xml = (await virsh('dumpxml', SRC)).stdout;
      expect(xml).toContain("device='cdrom'");
      expect(xml).toContain('org.qemu.guest_agent.0');
      const volume = vm.status?.volumes?.[0]?.path;
      expect(volume && existsSync(volume)).toBe(true);
      const info = JSON.parse((await execFileP('qemu-img', ['info', '-U', '--output=json', volume!])).stdout) as {
        'backing-filename'?: string;
        'virtual-size': number;
      };
      expect(info['backing-filename']).toBe((await getImage()).status?.nodes?.[stack.node]?.path);
      expect(info['virtual-size']).toBe(4 * 2 ** 30);

      firstSizes = await guestSizes(SRC);
      expect(firstSizes.cpus).toBe(1);
      expect(firstSizes.memTotalKb).toBeLessThan(SMALL_KB);
      expect(await eventually(() => ssh('hostname'), { timeoutMs: GUEST_BOOT_MS, intervalMs: 2_000, message: 'SSH through the port forward' })).toBe('src');
    },
    GUEST_BOOT_MS + 120_000,
  );

  it(
    'a live snapshot with the guest agent is frozen; one without it is crash-consistent',
    async () => {
      await ssh('echo first > /home/debian/marker-1 && sync');
      const out = await qxctlOk(['vm', 'snapshot', 'src', '--name', 'frozen', '--timeout', '300s']);
      expect(out).toContain('virtualmachinesnapshot.quantix.io/frozen ready (FileSystemConsistent, file systems frozen)');
      const frozen = await getSnap('frozen');
      expect(frozen.status).toMatchObject({ phase: 'Ready', frozen: true, vmRunning: true, consistency: 'FileSystemConsistent', nodeName: stack.node });
      const volume = (await getVm('src')).status!.volumes![0]!.path!;
      expect(frozen.status?.disks).toEqual([
        expect.objectContaining({ disk: 'root', path: volume, snapshotName: 'frozen-' + frozen.metadata.uid!.slice(0, 8) }),
      ]);
      // The guest runs on after the thaw: it still writes.
      await ssh('echo after-thaw > /home/debian/thaw-check && rm /home/debian/thaw-check');

      // The guest agent goes away inside the guest: the next snapshot cannot freeze.
      await ssh('sudo systemctl stop qemu-guest-agent');
      await ssh('echo second > /home/debian/marker-2 && sync');
      await qxctlOk(['vm', 'snapshot', 'src', '--name', 'crash', '--timeout', '300s']);
      const crash = await getSnap('crash');
      expect(crash.status).toMatchObject({ phase: 'Ready', frozen: false, vmRunning: true, consistency: 'CrashConsistent' });
      expect(crash.status?.message).toContain('crash-consistent');

      // Both snapshots are in the overlay (qemu-img reads it while QEMU runs with -U).
      const info = JSON.parse((await execFileP('qemu-img', ['info', '-U', '--output=json', volume])).stdout) as { snapshots?: { name: string }[] };
      expect(info.snapshots?.map((s) => s.name).sort()).toEqual([crash.status!.disks![0]!.snapshotName, frozen.status!.disks![0]!.snapshotName].sort());

      const table = await kubectl(cp.env.kubeconfig, ['get', 'vmsnap', '-n', ns]);
      expect(table.stdout).toMatch(/frozen\s+src\s+Ready\s+FileSystemConsistent/);
      expect(table.stdout).toMatch(/crash\s+src\s+Ready\s+CrashConsistent/);

      await ssh('rm /home/debian/marker-1 /home/debian/marker-2 && sync');
      expect(await markers()).toEqual([]);
      // The guest agent back for the cases after this one (they talk to the guest through it).
      await ssh('sudo systemctl start qemu-guest-agent');
    },
    GUEST_BOOT_MS + 300_000,
  );

  it('a restore onto the running VM is refused and leaves nothing', async () => {
    const res = await qxctl(['vm', 'restore', 'src', 'frozen']);
    expect(res.code).not.toBe(0);
    expect(res.stderr).toContain('VirtualMachine "src" must be stopped to be restored');
    const restores = await kubectl(cp.env.kubeconfig, ['get', 'vmrestore', '-n', ns, '-o', 'name']);
    expect(restores.stdout.trim()).toBe('');
  });

  it(
    'a running VM resized: RestartRequired; after qxctl vm restart the guest has the new CPU count and memory',
    async () => {
      await store(VM).guaranteedUpdate(ns, 'src', (vm) => ({ ...vm, spec: { ...(vm.spec as object), cpu: 2, memory: '1Gi' } }));
      const flagged = await eventually(async () => {
        const vm = await getVm('src');
        return condition(vm, 'RestartRequired') ? vm : false;
      });
      expect(condition(flagged, 'RestartRequired')).toMatchObject({
        status: 'True',
        reason: 'SpecChanged',
        message: expect.stringMatching(/^spec\.cpu, spec\.memory changed; restart to apply \(qxctl vm restart src\): running with 1 CPU and 768Mi memory/),
      });
      const described = await qxctl(['describe', 'vm', 'src']);
      expect(described.stdout).toMatch(/RestartRequired\s+True\s+SpecChanged/);

      // `qxctl vm restart` shuts the guest down (ACPI) and starts it (agent/vm/decide.ts); a guest
      // still booting ignores ACPI until the grace period's power-off, so it finishes booting first.
      await guestSettled(SRC);
      const restart = await qxctl(['vm', 'restart', 'src', '--timeout', '400s']);
      expect({ code: restart.code, stdout: restart.stdout }).toEqual({ code: 0, stdout: expect.stringContaining('restarted (phase Running)') });
      const again = await eventually(
        async () => {
          const vm = await getVm('src');
          return (vm.status?.restartCount ?? 0) >= 1 && !condition(vm, 'RestartRequired') ? vm : false;
        },
        { timeoutMs: 60_000, message: 'RestartRequired cleared after the restart' },
      );
      expect(again.status?.phase).toBe('Running');
      const after = await eventually(() => guestSizes(SRC), {
        timeoutMs: GUEST_BOOT_MS,
        intervalMs: 2_000,
        message: 'the guest agent answers after the restart',
      });
      expect(after.cpus).toBe(2);
      expect(after.memTotalKb).toBeGreaterThan(SMALL_KB);
      process.stdout.write(`guest sizes: before ${JSON.stringify(firstSizes)}, after ${JSON.stringify(after)}\n`);
    },
    2 * GUEST_BOOT_MS,
  );

  it(
    'qxctl vm stop ends with the guest shutting itself down (not a power-off after the grace period)',
    async () => {
      // A guest still booting ignores ACPI and the guest agent's shutdown: stop a booted guest.
      await guestSettled(SRC);
      const started = Date.now();
      const res = await qxctl(['vm', 'stop', 'src', '--wait', '--timeout', '120s']);
      expect({ code: res.code, stderr: res.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
      // The guest shut down by itself: libvirt's reason is "shutdown", never "destroyed".
      const reason = (await virsh('domstate', '--reason', SRC)).stdout.trim();
      expect(reason).toBe('shut off (shutdown)');
      expect((await getVm('src')).status?.phase).toBe('Stopped');
      // The stop time is measured by the guests benchmark; here it is only logged.
      process.stdout.write(`qxctl vm stop took ${Date.now() - started} ms\n`);
    },
    GUEST_BOOT_MS + 200_000,
  );

  it(
    'restored to the frozen snapshot, then cloned with qxctl vm clone: the clone is a flat copy of the restored disk',
    async () => {
      expect((await getVm('src')).status?.powerState).toBe('shutoff');
      expect(await qxctlOk(['vm', 'restore', 'src', 'frozen', '--timeout', '300s'])).toContain('restored from frozen');
      const clone = await qxctl(['vm', 'clone', 'src', 'dst', '--timeout', '300s']);
      expect({ code: clone.code, stdout: clone.stdout }).toEqual({
        code: 0,
        stdout: expect.stringContaining('virtualmachine.quantix.io/dst cloned (phase Stopped)'),
      });
      const copied = await getVm('dst');
      // A flat copy: no backing file (independent of the source's volume and of the Image).
      const info = JSON.parse((await run('qemu-img', ['info', '-U', '--output=json', copied.status!.volumes![0]!.path!])).stdout) as Record<string, unknown>;
      expect(info['backing-filename']).toBeUndefined();
      expect(info['virtual-size']).toBe(4 * 2 ** 30);
    },
    GUEST_BOOT_MS,
  );

  it(
    'the source restored to the crash-consistent snapshot; both start: the source has both files, the clone (the frozen state) only the first, its own host name and MAC',
    async () => {
      await qxctlOk(['vm', 'restore', 'src', 'crash', '--timeout', '300s']);
      const src = await getVm('src');
      expect(src.status?.powerState).toBe('shutoff');
      const srcMac = src.status!.interfaces![0]!.macAddress!;

      // Both boot at once (one boot's wait instead of three: the frozen snapshot is checked on the clone).
      const started = await Promise.all([qxctl(['vm', 'start', 'src', '--timeout', '400s']), qxctl(['vm', 'start', 'dst', '--timeout', '400s'])]);
      expect(started.map((s) => s.code)).toEqual([0, 0]);

      const dst = await waitGuestAgentUp(stack, ns, 'dst');
      expect(dst.metadata.uid).not.toBe(src.metadata.uid);
      expect(dst.status?.guestOSInfo?.hostname).toBe('dst');
      const mac = dst.status!.interfaces![0]!.macAddress!;
      expect(mac).toMatch(/^52:54:00:/);
      expect(mac).not.toBe(srcMac);
      // ipAddress is filled only from the guest interface with this MAC: the guest sees it.
      expect(dst.status?.interfaces?.[0]).toMatchObject({ ipAddress: '10.0.2.15' });
      expect((await virsh('domiflist', DST)).stdout).toContain(mac);
      expect(await guestExec(DST, '/usr/bin/cat', ['/etc/hostname'])).toBe('dst');
      // The source's disk is its own: the clone's is a different file.
      expect(dst.status?.volumes?.[0]?.path).not.toBe(src.status?.volumes?.[0]?.path);
      // The frozen snapshot's state: the first file, written before it, and not the second.
      expect(await guestExec(DST, '/bin/sh', ['-c', 'ls /home/debian | grep ^marker- || true'])).toBe('marker-1');
      expect(await guestExec(DST, '/usr/bin/cat', ['/home/debian/marker-1'])).toBe('first');

      await sshReady();
      expect(await markers()).toEqual(['marker-1', 'marker-2']);
      expect(await ssh('cat /home/debian/marker-2')).toBe('second');
    },
    2 * GUEST_BOOT_MS,
  );

  it('deletion removes the overlay, the seed and the snapshots; the cached image stays while another VM uses it, then goes with the Image', async () => {
    await applyYaml(
      stack,
      `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: other
  namespace: ${ns}
spec:
  runStrategy: Halted
  cpu: 1
  memory: 256Mi
  nodeName: ${stack.node}
  disks:
  - name: root
    storagePool: ${stack.pool}
    size: 4Gi
    image: ${imageName}
`,
    );
    const other = await eventually(async () => ((await getVm('other')).status?.phase === 'Stopped' ? getVm('other') : false), { timeoutMs: 60_000 });
    const src = await getVm('src');
    const overlay = src.status!.volumes![0]!.path!;
    const seeds = () => readdirRecursive(stack.agent.stateDir).filter((f) => f.endsWith('.iso'));
    expect(seeds().filter((f) => f.includes(src.metadata.uid!))).toHaveLength(1);
    const cached = (await getImage()).status!.nodes![stack.node]!.path!;

    const del = await kubectl(cp.env.kubeconfig, ['delete', 'vm', 'src', '-n', ns, '--timeout=300s']);
    expect(del.code).toBe(0);
    await eventually(() => !existsSync(overlay), { timeoutMs: 30_000, message: 'the overlay is deleted' });
    expect(seeds().filter((f) => f.includes(src.metadata.uid!))).toEqual([]);
    await eventually(async () => (await kubectl(cp.env.kubeconfig, ['get', 'vmsnap', '-n', ns, '-o', 'name'])).stdout.trim() === '', {
      timeoutMs: 60_000,
      message: 'the snapshots are gone',
    });
    expect(existsSync(cached)).toBe(true);

    // Deleting the Image waits for the VM that still uses it, and says which.
    const delImage = await kubectl(cp.env.kubeconfig, ['delete', 'image', imageName, '--wait=false']);
    expect(delImage.code).toBe(0);
    const blocked = await eventually(async () => {
      const img = await getImage();
      const inUse = img.status?.conditions?.find((c) => c.type === 'InUse');
      return img.metadata.deletionTimestamp && inUse?.reason === 'DeletionBlocked' ? inUse : false;
    });
    expect(blocked.message).toContain(`${ns}/other`);
    expect(existsSync(cached)).toBe(true);
    expect(existsSync(other.status!.volumes![0]!.path!)).toBe(true);

    expect((await kubectl(cp.env.kubeconfig, ['delete', 'vm', 'other', '-n', ns, '--timeout=120s'])).code).toBe(0);
    await eventually(
      async () =>
        await store(IMAGE)
          .get(undefined, imageName)
          .then(
            () => false,
            () => true,
          ),
      { timeoutMs: 60_000, message: 'the Image is gone' },
    );
    await eventually(() => !existsSync(cached), { timeoutMs: 30_000, message: 'the cached copy is removed from the node' });
  }, 400_000);
});

function readdirRecursive(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const entry of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, entry.name);
      if (entry.isDirectory()) walk(p);
      else out.push(p);
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}
