/**
 * The whole stack for real guests, as the guest e2e suite and the guests benchmark start it:
 *
 *   const image = await guestTestImage();              // hack/guest-image/build.sh (cached)
 *   const stack = await startGuestStack({ tag: 'gbench' });
 *   stack.files.serve('/images/debian.qcow2', image.path);
 *   … stack.cp (etcd, apiserver + gateway), stack.node, stack.pool, stack.driver …
 *   await stack.stop();                                 // also after a failure half-way
 *
 * Started: the 127.0.0.1 file server (hack/testenv/file-server.ts), etcd with the apiserver
 * and the node gateway in process (startTestControlPlane), the controller-manager's
 * scheduler, vm and image controllers, one in-process agent on the real LibvirtDriver, and a
 * dir StoragePool assigned to the agent's node, Ready before this resolves. Names are unique
 * `qxtest-` names; stop() removes every domain named `<namespace>_…` of the given namespaces
 * (the agent's domain names), the pool and its directory, whatever state the run left.
 *
 * Acceleration: TCG (libvirt domain type `qemu`) unless QX_ACCELERATION=kvm and /dev/kvm
 * exists (DESIGN.md "Guests in tests": the nested KVM of the build machines cannot boot Linux).
 *
 * Helpers the guest suites share: importTestImage (serve and import the test image, wait
 * Ready), applyYaml, waitGuestAgentUp (IP and host name from the guest agent), guestExec
 * (a program in the guest through qemu-guest-agent), guestSettled (boot finished + sync,
 * before a stop or a hard restart) and freeLocalPort. A guest boot costs about a minute
 * under TCG here: a suite boots one guest and runs its cases on it where it can.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Image, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { imageDefinition, storagePoolDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import type { DomainType } from '../../agent/hypervisor/driver.js';
import { LibvirtDriver } from '../../agent/hypervisor/libvirt/driver.js';
import { startControllerManager } from '../../controllers/setup.js';
import { startAgent, startTestControlPlane, type StartAgentOptions, type TestAgent, type TestControlPlane, type TestControlPlaneOptions } from './agent.js';
import { kubectl, run } from './apiserver.js';
import { eventually } from './eventually.js';
import { startFileServer, type FileServer } from './file-server.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh } from './libvirt.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
/** How long a guest may take to boot under TCG on a loaded shared host. */
export const GUEST_BOOT_MS = 400_000;

export interface GuestTestImage {
  /** The cached qcow2 (read-only: import it, or use it as a backing file). */
  path: string;
  /** SHA-256 of the file, from its `.sha256` beside it. */
  sha256: string;
}

/** The Debian test image (`make image`: hack/guest-image/build.sh, cached; instant when its recipe did not change). */
export async function guestTestImage(): Promise<GuestTestImage> {
  // QX_GUEST_IMAGE: the image `make test` built while the checks ran (same layout: IMAGE and IMAGE.sha256).
  const given = process.env.QX_GUEST_IMAGE;
  if (given) return { path: given, sha256: readFileSync(`${given}.sha256`, 'utf8').trim().split(/\s+/)[0]! };
  const built = await run('bash', [path.join(repoRoot, 'hack/guest-image/build.sh')], { timeoutMs: 900_000 });
  if (built.code !== 0) throw new Error(`hack/guest-image/build.sh failed: ${built.stderr}`);
  const image = built.stdout.trim().split('\n').at(-1)!;
  const sha256 = readFileSync(`${image}.sha256`, 'utf8').trim().split(/\s+/)[0]!;
  return { path: image, sha256 };
}

/** libvirt domain type and the Node's acceleration name for the guests here. */
export function guestAcceleration(): { domainType: DomainType; name: 'kvm' | 'tcg' } {
  return existsSync('/dev/kvm') && process.env.QX_ACCELERATION === 'kvm' ? { domainType: 'kvm', name: 'kvm' } : { domainType: 'qemu', name: 'tcg' };
}

export interface GuestStackOptions {
  /** Part of the qxtest- names (node, pool). */
  tag: string;
  /** Agent options over the test defaults (e.g. production timings). */
  agent?: Partial<Omit<StartAgentOptions, 'driver' | 'hostname'>>;
  /** libvirt call timeout of the agent's driver, ms (a loaded host can take long to start QEMU). */
  callTimeoutMs?: number;
  /** Control-plane options (e.g. `extra: { webRoot }` to serve the UI for a browser suite). */
  controlPlane?: TestControlPlaneOptions;
}

export interface GuestStack {
  cp: TestControlPlane;
  files: FileServer;
  /** The agent's libvirt driver. */
  driver: LibvirtDriver;
  agent: TestAgent;
  /** The agent's Node name. */
  node: string;
  /** A dir StoragePool on the node, HEALTHY there. */
  pool: string;
  poolDir: string;
  acceleration: 'kvm' | 'tcg';
  /** Domains whose names start with `<namespace>_` are removed by stop(). */
  cleanupNamespace(namespace: string): void;
  /** Extra clean-up steps (run before the pool's, in reverse order). */
  cleanup: LibvirtCleanup;
  stop(): Promise<void>;
}

export async function startGuestStack(options: GuestStackOptions): Promise<GuestStack> {
  await ensureLibvirt();
  const node = qxTestName(`${options.tag}node`);
  const pool = qxTestName(`${options.tag}pool`);
  const poolDir = path.join('/var/lib/libvirt/images', pool);
  const accel = guestAcceleration();
  const cleanup = new LibvirtCleanup();
  const namespaces = new Set<string>();
  mkdirSync(poolDir, { recursive: true });
  cleanup.path(poolDir);
  cleanup.pool(pool);

  let files: FileServer | undefined;
  let cp: TestControlPlane | undefined;
  let controllers: Awaited<ReturnType<typeof startControllerManager>> | undefined;
  let driver: LibvirtDriver | undefined;
  let agent: TestAgent | undefined;
  const stop = async () => {
    await agent?.stop().catch(() => undefined);
    await controllers?.manager.stop().catch(() => undefined);
    controllers?.client.close();
    const { stdout } = await virsh('list', '--all', '--name').catch(() => ({ stdout: '' }));
    const domains = stdout.split('\n').map((s) => s.trim());
    for (const ns of namespaces) for (const name of domains.filter((d) => d.startsWith(`${ns}_`))) cleanup.domain(name);
    await cleanup.run();
    await driver?.close().catch(() => undefined);
    await cp?.stop().catch(() => undefined);
    await files?.close().catch(() => undefined);
  };
  try {
    files = await startFileServer();
    cp = await startTestControlPlane(options.controlPlane);
    controllers = await startControllerManager({ kubeconfig: cp.env.kubeconfig, enabled: ['scheduler', 'vm', 'image', 'snapshot'] });
    driver = new LibvirtDriver({ domainType: accel.domainType, ...(options.callTimeoutMs ? { callTimeoutMs: options.callTimeoutMs } : {}) });
    await driver.connect();
    agent = await startAgent(cp, { ...options.agent, driver, hostname: node, acceleration: { type: accel.domainType, source: 'test' } });
    const pools = cp.env.apiserver.context.stores.get(POOL);
    await pools.create({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: pool },
      spec: { type: 'dir', dir: { path: poolDir }, assignedNodes: [node] },
    });
    await eventually(async () => ((await pools.get(undefined, pool)) as StoragePool).status?.hosts?.[node]?.health === 'HEALTHY', {
      timeoutMs: 60_000,
      message: `pool ${pool} HEALTHY on ${node}`,
    });
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    cp,
    files,
    driver,
    agent,
    node,
    pool,
    poolDir,
    acceleration: accel.name,
    cleanup,
    cleanupNamespace: (ns) => void namespaces.add(ns),
    stop,
  };
}

/** `kubectl apply -f -` of `yaml` against the stack's apiserver; throws with kubectl's stderr when it fails. */
export async function applyYaml(stack: GuestStack, yaml: string): Promise<void> {
  const res = await kubectl(stack.cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

/**
 * Serves the test image on the stack's file server and imports it as the Image `name` into
 * the stack's pool on its node (checksum verified); resolves when the Image is Ready.
 */
export async function importTestImage(stack: GuestStack, name: string, image: GuestTestImage): Promise<void> {
  stack.files.serve('/images/debian.qcow2', image.path);
  await applyYaml(
    stack,
    `apiVersion: quantix.io/v1alpha1
kind: Image
metadata:
  name: ${name}
spec:
  source:
    url: ${stack.files.url}/images/debian.qcow2
    sha256: ${image.sha256}
  storagePool: ${stack.pool}
  nodeNames: [${stack.node}]
`,
  );
  const images = stack.cp.env.apiserver.context.stores.get(IMAGE);
  await eventually(
    async () => {
      const img = (await images.get(undefined, name)) as Image;
      const onNode = img.status?.nodes?.[stack.node];
      if (onNode?.phase === 'Failed') throw new Error(`import of ${name} failed: ${onNode.reason}: ${onNode.message}`);
      return img.status?.phase === 'Ready';
    },
    { timeoutMs: 300_000, intervalMs: 500, message: `the Image ${name} is Ready` },
  );
}

/**
 * Waits until the VM runs and its guest agent reported an IPv4 address and a host name (the
 * guest agent starts early in the guest's boot: sshd and getty may not be up yet).
 */
export async function waitGuestAgentUp(stack: GuestStack, namespace: string, name: string): Promise<VirtualMachine> {
  const vms = stack.cp.env.apiserver.context.stores.get(VM);
  return eventually(
    async () => {
      const vm = (await vms.get(namespace, name)) as VirtualMachine;
      const synced = vm.status?.conditions?.find((c) => c.type === 'Synced');
      if (vm.status?.phase === 'Failed') throw new Error(`VM ${name} failed: ${synced?.reason}: ${synced?.message}`);
      return vm.status?.phase === 'Running' && vm.status.interfaces?.[0]?.ipAddress && vm.status.guestOSInfo?.hostname ? vm : false;
    },
    { timeoutMs: GUEST_BOOT_MS, intervalMs: 1_000, message: `${name} booted (guest agent reports an IP and a host name)` },
  );
}

/**
 * Runs a program in the guest of libvirt domain `domain` through qemu-guest-agent
 * (guest-exec) and returns its stdout, trimmed; throws when the agent does not answer or the
 * program fails.
 */
export async function guestExec(domain: string, program: string, args: string[]): Promise<string> {
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

/**
 * Waits until systemd in the guest says the boot finished (running, or degraded), through the
 * guest agent, then flushes the guest's file systems (sync). Needed before a stop (a guest
 * still booting ignores ACPI and the agent's shutdown: the stop ends in the power-off at the
 * grace period) and before `qxctl vm restart` (a hard power-off: unflushed first-boot writes,
 * such as cloud-init's set-hostname file, are lost).
 */
export async function guestSettled(domain: string): Promise<void> {
  await eventually(async () => /^(running|degraded)$/.test(await guestExec(domain, '/bin/sh', ['-c', 'systemctl is-system-running || true'])), {
    timeoutMs: GUEST_BOOT_MS,
    intervalMs: 2_000,
    message: `${domain} finished booting (systemctl is-system-running)`,
  });
  await guestExec(domain, '/usr/bin/sync', []);
}

/** A TCP port free on 127.0.0.1 now (for a port forward). */
export async function freeLocalPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}
