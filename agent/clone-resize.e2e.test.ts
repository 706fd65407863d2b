/**
 * Resize and clone with a real booted guest (the Debian test image on real libvirtd, TCG):
 * one source VM boots; its cpu and memory are raised while it runs, RestartRequired shows,
 * `qxctl vm restart` applies them and the guest sees 2 CPUs and more memory (asked through
 * qemu-guest-agent: guest-exec of nproc and /proc/meminfo); then it is stopped and cloned
 * with `qxctl vm clone`, and the clone boots with its own host name (cloud-init ran again
 * for the new instance id) and its own MAC, which the guest agent reports. Three boots in
 * all. Real etcd, apiserver + gateway, controller-manager, agent; traffic on 127.0.0.1 only.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { Image, VirtualMachine } from '../api-types/generated/types.js';
import { imageDefinition, virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { kubectl, run } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import { type GuestStack, guestTestImage, startGuestStack } from '../hack/testenv/guests.js';
import { qxTestName, virsh } from '../hack/testenv/libvirt.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const repoRoot = path.resolve(import.meta.dirname, '..');
const QXCTL = path.join(repoRoot, 'bin/qxctl');
const ns = qxTestName('crns');
const imageName = qxTestName('crdebian');
const workDir = mkdtempSync(path.join(tmpdir(), 'qx-clone-resize-'));
const BOOT_MS = 400_000;
/** 768Mi in kB: MemTotal of a 768Mi guest stays below it, that of a 1Gi guest above it. */
const SMALL_KB = 768 * 1024;

let stack: GuestStack;
let cp: GuestStack['cp'];

const store = (def: ResourceDefinition) => cp.env.apiserver.context.stores.get(def);
const getVm = async (name: string) => (await store(VM).get(ns, name)) as VirtualMachine;
const condition = (vm: VirtualMachine, type: string) => vm.status?.conditions?.find((c) => c.type === type);
const qxctl = (args: string[]) => run(QXCTL, [...args, '-n', ns], { env: { KUBECONFIG: cp.env.kubeconfig, HOME: workDir }, timeoutMs: 600_000 });

async function apply(yaml: string): Promise<void> {
  const res = await kubectl(cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

/** Runs a program in the guest through qemu-guest-agent (guest-exec) and returns its output; throws when the agent does not answer or it fails. */
async function guestExec(domain: string, program: string, args: string[]): Promise<string> {
  const exec = { execute: 'guest-exec', arguments: { path: program, arg: args, 'capture-output': true } };
  const started = await virsh('qemu-agent-command', domain, JSON.stringify(exec));
  const { pid } = (JSON.parse(started.stdout) as { return: { pid: number } }).return;
  return eventually(async () => {
    const res = await virsh('qemu-agent-command', domain, JSON.stringify({ execute: 'guest-exec-status', arguments: { pid } }));
    const status = (JSON.parse(res.stdout) as { return: { exited: boolean; exitcode?: number; 'out-data'?: string } }).return;
    if (!status.exited) return false;
    if (status.exitcode !== 0) throw new Error(`${program} exited ${status.exitcode}`);
    return Buffer.from(status['out-data'] ?? '', 'base64')
      .toString()
      .trim();
  });
}

/** Waits until systemd in the guest says the boot finished (running, or degraded). */
async function guestBootFinished(domain: string): Promise<void> {
  await eventually(async () => /^(running|degraded)$/.test(await guestExec(domain, '/bin/sh', ['-c', 'systemctl is-system-running || true'])), {
    timeoutMs: BOOT_MS,
    intervalMs: 2_000,
    message: `${domain} finished booting (systemctl is-system-running)`,
  });
}

/** CPUs and MemTotal (kB) as the guest sees them. */
async function guestSizes(domain: string): Promise<{ cpus: number; memTotalKb: number }> {
  const cpus = Number(await guestExec(domain, '/usr/bin/nproc', []));
  const meminfo = await guestExec(domain, '/usr/bin/grep', ['MemTotal', '/proc/meminfo']);
  return { cpus, memTotalKb: Number(/MemTotal:\s+(\d+) kB/.exec(meminfo)?.[1]) };
}

/** Waits until the VM runs and its guest agent reported an IPv4 address (the guest booted). */
async function booted(name: string): Promise<VirtualMachine> {
  return eventually(
    async () => {
      const vm = await getVm(name);
      const synced = condition(vm, 'Synced');
      if (vm.status?.phase === 'Failed') throw new Error(`VM ${name} failed: ${synced?.reason}: ${synced?.message}`);
      return vm.status?.phase === 'Running' && vm.status.interfaces?.[0]?.ipAddress && vm.status.guestOSInfo?.hostname ? vm : false;
    },
    { timeoutMs: BOOT_MS, intervalMs: 1_000, message: `${name} booted (guest agent reports an IP and a host name)` },
  );
}

beforeAll(async () => {
  const image = await guestTestImage();
  stack = await startGuestStack({ tag: 'cr', agent: { shutdownTimeoutMs: 60_000 } });
  stack.cleanupNamespace(ns);
  cp = stack.cp;
  stack.files.serve('/images/debian.qcow2', image.path);
  await apply(`apiVersion: quantix.io/v1alpha1
kind: Image
metadata:
  name: ${imageName}
spec:
  source:
    url: ${stack.files.url}/images/debian.qcow2
    sha256: ${image.sha256}
  storagePool: ${stack.pool}
  nodeNames: [${stack.node}]
`);
  await eventually(async () => ((await store(IMAGE).get(undefined, imageName)) as Image).status?.phase === 'Ready', {
    timeoutMs: 300_000,
    intervalMs: 500,
    message: 'the Image is Ready',
  });
}, 900_000);

afterAll(async () => {
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 180_000);

describe('resize and clone with a real guest', () => {
  it(
    'a running VM resized: RestartRequired; after qxctl vm restart the guest has the new CPU count and memory',
    async () => {
      await apply(`apiVersion: quantix.io/v1alpha1
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
  cloudInit:
    hostname: src-host
`);
      const first = await booted('src');
      expect(first.status?.guestOSInfo?.hostname).toBe('src-host');
      const before = await guestSizes(`${ns}_src`);
      expect(before.cpus).toBe(1);
      expect(before.memTotalKb).toBeLessThan(SMALL_KB);

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

      // `qxctl vm restart` powers the domain off and starts it (agent/vm/decide.ts): what the guest
      // wrote at first boot and has not flushed yet is lost. Seen: cloud-init's set-hostname file
      // left empty, and the clone's cloud-init failing on it later. So the guest finishes booting
      // and flushes first; a graceful restart is a follow-up (closing note of issue 18).
      await guestBootFinished(`${ns}_src`);
      await guestExec(`${ns}_src`, '/usr/bin/sync', []);
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
      const after = await eventually(() => guestSizes(`${ns}_src`), {
        timeoutMs: BOOT_MS,
        intervalMs: 2_000,
        message: 'the guest agent answers after the restart',
      });
      expect(after.cpus).toBe(2);
      expect(after.memTotalKb).toBeGreaterThan(SMALL_KB);
      process.stdout.write(`guest sizes: before ${JSON.stringify(before)}, after ${JSON.stringify(after)}\n`);
    },
    2 * BOOT_MS + 120_000,
  );

  it(
    'the stopped VM cloned: the clone boots with its own host name and MAC, the guest reports that MAC',
    async () => {
      // A guest still booting ignores ACPI and the guest agent's shutdown (no logind yet): the stop
      // would end in the power-off at the grace period. Stop a booted guest.
      await guestBootFinished(`${ns}_src`);
      const stop = await qxctl(['vm', 'stop', 'src', '--timeout', '180s']);
      expect(stop.code).toBe(0);
      const src = await getVm('src');
      expect(src.status?.powerState).toBe('shutoff');
      const srcMac = src.status!.interfaces![0]!.macAddress!;

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

      expect((await qxctl(['vm', 'start', 'dst', '--timeout', '400s'])).code).toBe(0);
      const dst = await booted('dst');
      expect(dst.metadata.uid).not.toBe(src.metadata.uid);
      expect(dst.status?.guestOSInfo?.hostname).toBe('dst');
      const mac = dst.status!.interfaces![0]!.macAddress!;
      expect(mac).toMatch(/^52:54:00:/);
      expect(mac).not.toBe(srcMac);
      // ipAddress is filled only from the guest interface with this MAC: the guest sees it.
      expect(dst.status?.interfaces?.[0]).toMatchObject({ ipAddress: '10.0.2.15' });
      expect((await virsh('domiflist', `${ns}_dst`)).stdout).toContain(mac);
      expect(await guestExec(`${ns}_dst`, '/usr/bin/cat', ['/etc/hostname'])).toBe('dst');
      // The source's disk is its own: the clone's is a different file.
      expect(dst.status?.volumes?.[0]?.path).not.toBe(src.status?.volumes?.[0]?.path);
    },
    BOOT_MS + 300_000,
  );
});
