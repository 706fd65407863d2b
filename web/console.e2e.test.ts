/**
 * Consoles end to end, on one real guest shared by every case: the Debian test image boots
 * under real libvirtd/QEMU (TCG here) behind real etcd, apiserver + node gateway, the
 * controller-manager and an agent on the LibvirtDriver.
 *
 * - `bin/qxctl console` (a subprocess, stdin piped): the serial console shows the login
 *   prompt; the test logs in as root (password set by cloud-init userData) and reads the
 *   VM's hostname back; a second session is refused with ConsoleTaken, `--force` takes the
 *   console over and the first session ends with ConsoleTaken; `Ctrl-]` detaches.
 * - Bad input: a console for a VM that does not exist (404, exit 3) or does not run
 *   (409 VMNotRunning, exit 4); a viewer's request (403, exit 6, naming who was refused what).
 * - `bin/qxctl vnc` + a raw TCP client: the RFB handshake (version, security types).
 * - A console through a second apiserver replica (the agent's tunnel is on the first).
 * - Real Chromium: the Console tab's xterm shows the prompt, the noVNC canvas is drawn
 *   (non-blank pixels); screenshots in test-artifacts/screenshots/.
 *
 * Run under `flock /tmp/qx-libvirt.lock` (one libvirt user at a time on this machine).
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import type { Image, VirtualMachine } from '../api-types/generated/types.js';
import { imageDefinition, virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { renderKubeconfig } from '../apiserver/pki/kubeconfig.js';
import { startApiserverReplica } from '../hack/testenv/agent.js';
import { kubectl } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import { type GuestStack, guestTestImage, startGuestStack } from '../hack/testenv/guests.js';
import { qxTestName } from '../hack/testenv/libvirt.js';
import { launchBrowser, screenshot, type Browser } from './e2e/browser.js';
import { WEB_ROOT } from './e2e/cluster.js';
import { signIn } from './e2e/page-helpers.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const REPO = path.resolve(import.meta.dirname, '..');
const QXCTL = join(REPO, 'bin/qxctl');
const SHOTS = join(REPO, 'test-artifacts', 'screenshots');

const ns = qxTestName('conns');
const imageName = qxTestName('condebian');
const vmName = qxTestName('convm');
const ROOT_PASSWORD = 'qx-console-test';
const workDir = mkdtempSync(join(tmpdir(), 'qx-console-'));

let stack: GuestStack;
let browser: Browser | undefined;

/** A running `qxctl …` with stdin piped and its output collected. */
interface Proc {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  exit: Promise<number>;
}

/** Every qxctl started; one a failed case left running (holding the console) is killed after it. */
const running = new Set<ChildProcessWithoutNullStreams>();

function qxctl(args: string[], kubeconfig = stack.cp.env.kubeconfig): Proc {
  const child = spawn(QXCTL, args, { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: workDir }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  // 'close', not 'exit': it fires once stdout and stderr are drained, so assertions on the output after exit see all of it.
  running.add(child);
  const exit = once(child, 'close').then(([code]) => {
    running.delete(child);
    return code as number;
  });
  return { child, out: () => out, err: () => err, exit };
}

afterEach(async () => {
  for (const child of running) {
    const exited = once(child, 'close');
    child.kill('SIGKILL');
    await exited;
  }
});

/** The VM's hostname on a line of its own: after bash's bracketed-paste sequence (ESC[?2004l CR) or a newline. */
const hostnameLine = () => new RegExp(`[\\r\\n]${vmName}\\r?\\n`);

const store = (def: ResourceDefinition) => stack.cp.env.apiserver.context.stores.get(def);

async function apply(yaml: string): Promise<void> {
  const res = await kubectl(stack.cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
  if (res.code !== 0) throw new Error(`kubectl apply failed: ${res.stderr}`);
}

function vmYaml(name: string, runStrategy: string): string {
  // The image has no password: cloud-init sets root's for the console login.
  const userData = `#cloud-config\nchpasswd:\n  expire: false\n  users:\n  - {name: root, password: ${ROOT_PASSWORD}, type: text}\n`;
  return `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  runStrategy: ${runStrategy}
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
  cloudInit:
    userData: ${JSON.stringify(userData)}
`;
}

/** Waits until the output (since `from`) matches, pressing Enter each time (a quiet console redraws nothing by itself). */
async function expectOnConsole(p: Proc, pattern: RegExp, from: number, timeoutMs: number, press = '\r'): Promise<string> {
  return eventually(
    () => {
      const text = p.out().slice(from);
      if (pattern.test(text)) return text;
      if (press) p.child.stdin.write(press);
      return false;
    },
    { timeoutMs, intervalMs: 2_000, message: `console output matching ${pattern} (output so far ends ${JSON.stringify(p.out().slice(-300))})` },
  );
}

beforeAll(async () => {
  const image = await guestTestImage();
  stack = await startGuestStack({ tag: 'con', controlPlane: { extra: { webRoot: WEB_ROOT } }, agent: { shutdownTimeoutMs: 60_000 } });
  stack.cleanupNamespace(ns);
  stack.files.serve('/images/debian.qcow2', image.path);
  await kubectl(stack.cp.env.kubeconfig, ['create', 'namespace', ns]);
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
    intervalMs: 1_000,
    message: 'the Image is Ready',
  });
  await apply(vmYaml(vmName, 'Always'));
  await apply(vmYaml(`${vmName}-off`, 'Halted'));
  await eventually(async () => ((await store(VM).get(ns, vmName)) as VirtualMachine).status?.phase === 'Running', {
    timeoutMs: 300_000,
    intervalMs: 1_000,
    message: 'the VM runs',
  });
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 180_000);

describe('serial console through qxctl', () => {
  it('shows the login prompt; the test logs in and reads the hostname; Ctrl-] detaches', async () => {
    const p = qxctl(['console', vmName, '-n', ns]);
    await eventually(() => /Connected to the serial console/.test(p.err()), { timeoutMs: 60_000 });
    // The guest boots under TCG: the prompt can take minutes.
    await expectOnConsole(p, /login: $/m, 0, 600_000);
    // cloud-init sets the password after getty starts: log in until it is accepted.
    await eventually(
      async () => {
        const from = p.out().length;
        p.child.stdin.write('root\r');
        await expectOnConsole(p, /Password: ?$/m, from, 30_000, '');
        const afterUser = p.out().length;
        p.child.stdin.write(`${ROOT_PASSWORD}\r`);
        const answer = await expectOnConsole(p, /(# $|login: $)/m, afterUser, 60_000, '');
        if (!/# $/m.test(answer)) throw new Error('login refused (password not set yet)');
        return true;
      },
      { timeoutMs: 300_000, intervalMs: 5_000, message: 'root login on the serial console' },
    );
    const before = p.out().length;
    p.child.stdin.write('hostname\r');
    const text = await expectOnConsole(p, hostnameLine(), before, 30_000, '');
    expect(text).toContain(vmName);
    p.child.stdin.write(Buffer.from([0x1d]));
    expect(await p.exit).toBe(0);
    expect(p.err()).toContain('detached from the console');
  }, 1_000_000);

  it('one session at a time: a second is refused with ConsoleTaken, --force takes over and ends the first', async () => {
    const first = qxctl(['console', vmName, '-n', ns]);
    await eventually(() => /Connected to the serial console/.test(first.err()), { timeoutMs: 60_000 });
    const second = qxctl(['console', vmName, '-n', ns]);
    expect(await second.exit).toBe(4);
    expect(second.err()).toMatch(/Error from server \(Conflict\): .*--force/);
    const forced = qxctl(['console', vmName, '-n', ns, '--force']);
    await eventually(() => /Connected to the serial console of .* \(taken over\)/.test(forced.err()), { timeoutMs: 60_000 });
    expect(await first.exit).toBe(4);
    expect(first.err()).toContain('another session took the console over');
    forced.child.stdin.end();
    expect(await forced.exit).toBe(0);
  }, 180_000);

  it('bad input: no such VM → 404 exit 3; a stopped VM → 409 VMNotRunning exit 4; a viewer → 403 exit 6', async () => {
    const missing = qxctl(['console', 'no-such-vm', '-n', ns]);
    expect(await missing.exit).toBe(3);
    expect(missing.err()).toMatch(/Error from server \(NotFound\): .*no-such-vm/);
    const stopped = qxctl(['console', `${vmName}-off`, '-n', ns]);
    expect(await stopped.exit).toBe(4);
    expect(stopped.err()).toMatch(/Error from server \(Conflict\): .*not running/);
    const viewer = qxctl(['console', vmName, '-n', ns], stack.cp.env.viewerKubeconfig);
    expect(await viewer.exit).toBe(6);
    expect(viewer.err()).toMatch(/Error from server \(Forbidden\): .*viewer.*console/);
  }, 120_000);
});

describe('a second apiserver replica', () => {
  it('serves the console although the agent is connected to the first one', async () => {
    const replica = await startApiserverReplica(stack.cp);
    try {
      const kubeconfig = join(workDir, 'replica.kubeconfig');
      writeFileSync(kubeconfig, renderKubeconfig({ server: replica.url, caCertPem: stack.cp.env.caCertPem, token: stack.cp.env.tokens.admin, user: 'admin' }));
      const p = qxctl(['console', vmName, '-n', ns], kubeconfig);
      await eventually(() => /Connected to the serial console/.test(p.err()), { timeoutMs: 60_000 });
      // Still logged in from the first case: a prompt, then the hostname read through the replica.
      await expectOnConsole(p, /# $/m, 0, 60_000);
      const before = p.out().length;
      p.child.stdin.write('hostname\r');
      expect(await expectOnConsole(p, hostnameLine(), before, 30_000, '')).toContain(vmName);
      p.child.stdin.write(Buffer.from([0x1d]));
      expect(await p.exit).toBe(0);
    } finally {
      await replica.stop();
    }
  }, 180_000);
});

describe('VNC through qxctl vnc', () => {
  it('a raw TCP client completes the RFB handshake (version, security types); SIGINT ends the tunnel', async () => {
    const p = qxctl(['vnc', vmName, '-n', ns]);
    const address = await eventually(() => /^127\.0\.0\.1:(\d+)$/m.exec(p.out()) ?? false, { timeoutMs: 60_000, message: 'the listening address' });
    const port = Number(address[1]);
    // stdout and stderr are separate pipes: the hint may arrive after the address.
    await eventually(() => p.err().includes(`vncviewer 127.0.0.1::${port}`), { timeoutMs: 10_000, message: 'the vncviewer hint on stderr' });
    const tcp = connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    tcp.on('data', (d: Buffer) => (got = Buffer.concat([got, d])));
    await eventually(() => got.length >= 12, { timeoutMs: 60_000, message: 'the server version' });
    expect(got.subarray(0, 12).toString('latin1')).toMatch(/^RFB 003\.00[38]\n$/);
    tcp.write('RFB 003.008\n');
    // RFB 3.8: one byte N, then N security types; QEMU without a password offers None (1).
    await eventually(() => got.length >= 13 && got.length >= 13 + got[12]!, { timeoutMs: 30_000, message: 'the security types' });
    const types = [...got.subarray(13, 13 + got[12]!)];
    expect(got[12]).toBeGreaterThan(0);
    expect(types).toContain(1);
    tcp.destroy();
    p.child.kill('SIGINT');
    expect(await p.exit).toBe(0);
  }, 120_000);
});

describe('Console tab in Chromium', () => {
  beforeAll(async () => {
    browser = await launchBrowser();
  }, 120_000);

  it('the xterm shows the login prompt, and the noVNC canvas is drawn', async () => {
    const page = await browser!.newPage();
    await signIn(page, stack.cp.env.apiserver.url, stack.cp.env.tokens.admin);
    await page.goto(`${stack.cp.env.apiserver.url}/ui/vms/${ns}/${vmName}?tab=console`);
    await page.getByTestId('console-terminal').waitFor();
    await eventually(async () => (await page.getByTestId('console-state').getAttribute('data-state')) === 'connected', { timeoutMs: 60_000 });
    const rows = page.locator('[data-testid="console-terminal"] .xterm-rows');
    await eventually(
      async () => {
        if (/login:|~#/.test(await rows.innerText())) return true;
        await page.getByTestId('console-terminal').click();
        await page.keyboard.press('Enter');
        return false;
      },
      { timeoutMs: 60_000, intervalMs: 2_000, message: 'a prompt in the xterm' },
    );
    expect(await rows.innerText()).toMatch(/login:|~#/);
    await screenshot(page, join(SHOTS, 'console-serial.png'));

    await page.getByTestId('console-vnc').click();
    await page.locator('[data-testid="console-screen"] canvas').waitFor();
    // Drawn: the framebuffer has pixels that are not the background (text of the guest's console).
    const drawn = await eventually(
      async () => {
        const counts = await page.evaluate(() => {
          const canvas = document.querySelector<HTMLCanvasElement>('[data-testid="console-screen"] canvas');
          if (!canvas || canvas.width === 0) return { total: 0, lit: 0 };
          const { data } = canvas.getContext('2d')!.getImageData(0, 0, canvas.width, canvas.height);
          let lit = 0;
          for (let i = 0; i < data.length; i += 4) if (data[i]! + data[i + 1]! + data[i + 2]! > 60) lit++;
          return { total: data.length / 4, lit };
        });
        return counts.lit > 0 ? counts : false;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, message: 'the noVNC canvas is drawn' },
    );
    expect(drawn.lit).toBeGreaterThan(0);
    await screenshot(page, join(SHOTS, 'console-vnc.png'));
    await page.close();
  }, 240_000);

  it('a stopped VM shows that it is not running (no connection attempt)', async () => {
    const page = await browser!.newPage();
    await signIn(page, stack.cp.env.apiserver.url, stack.cp.env.tokens.admin);
    await page.goto(`${stack.cp.env.apiserver.url}/ui/vms/${ns}/${vmName}-off?tab=console`);
    const note = page.getByTestId('console-message');
    await note.waitFor();
    expect(await note.getAttribute('data-state')).toBe('stopped');
    expect(await note.innerText()).toContain('The VM is not running (phase Stopped)');
    await screenshot(page, join(SHOTS, 'console-stopped.png'));
    await page.close();
  }, 60_000);
});
