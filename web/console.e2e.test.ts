/**
 * Consoles end to end, on one real guest shared by every case (a boot costs about a minute
 * under TCG): the Debian test image boots under real libvirtd/QEMU (TCG here) behind real
 * etcd, apiserver + node gateway, the controller-manager and an agent on the LibvirtDriver.
 *
 * - The agent's LibvirtDriver itself (libvirt's console stream and VNC): the serial console's
 *   login prompt, the console lock (ConsoleTaken, force, 'taken'; shared with `virsh
 *   console`), the VNC display on a unix socket and its RFB handshake, refusals for a
 *   domain that does not exist or does not run, ConsoleUnavailable for a domain defined the
 *   way Quantix did before it added a display, and (last, it stops the guest) sessions ending
 *   with 'stopped' when the domain is destroyed.
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
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import type { ConsoleChannel, ConsoleEndReason } from '../agent/hypervisor/driver.js';
import { HypervisorError } from '../agent/hypervisor/errors.js';
import { buildDomainXml, vncListen } from '../agent/hypervisor/libvirt/xml.js';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { renderKubeconfig } from '../apiserver/pki/kubeconfig.js';
import { startApiserverReplica } from '../hack/testenv/agent.js';
import { kubectl } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import {
  applyYaml,
  GUEST_BOOT_MS,
  type GuestStack,
  guestAcceleration,
  guestSettled,
  guestTestImage,
  importTestImage,
  startGuestStack,
} from '../hack/testenv/guests.js';
import { qxTestName, virsh } from '../hack/testenv/libvirt.js';
import { logInAsRoot } from '../hack/testenv/serial-login.js';
import { launchBrowser, screenshot, type Browser } from './e2e/browser.js';
import { WEB_ROOT } from './e2e/cluster.js';
import { signIn } from './e2e/page-helpers.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const MiB = 1024 * 1024;
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
/** The VM's uid: its libvirt domain's UUID. */
let vmUid: string;

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

function vmYaml(name: string, runStrategy: string): string {
  // The image has no password: cloud-init sets root's for the console login.
  // bootcmd: no kernel messages on the console (under TCG on a loaded host the clocksource
  // watchdog prints there, into prompts and the takeover case's quiet console).
  const userData = `#cloud-config\nbootcmd:\n- [dmesg, -n, '1']\nchpasswd:\n  expire: false\n  users:\n  - {name: root, password: ${ROOT_PASSWORD}, type: text}\n`;
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
  await kubectl(stack.cp.env.kubeconfig, ['create', 'namespace', ns]);
  await importTestImage(stack, imageName, image);
  await applyYaml(stack, vmYaml(vmName, 'Always'));
  await applyYaml(stack, vmYaml(`${vmName}-off`, 'Halted'));
  await eventually(async () => ((await store(VM).get(ns, vmName)) as VirtualMachine).status?.phase === 'Running', {
    timeoutMs: 300_000,
    intervalMs: 1_000,
    message: 'the VM runs',
  });
  vmUid = ((await store(VM).get(ns, vmName)) as VirtualMachine).metadata.uid!;
}, 900_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  rmSync(workDir, { recursive: true, force: true });
}, 180_000);

/** Everything a driver console channel delivered, and how it ended. */
class Recorder {
  chunks: Buffer[] = [];
  ended: { reason: ConsoleEndReason; message: string } | null = null;

  constructor(readonly channel: ConsoleChannel) {
    channel.onData((d) => this.chunks.push(d));
    channel.onClose((reason, message) => {
      this.ended = { reason, message };
    });
  }

  get bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }

  text(): string {
    return this.bytes.toString('latin1');
  }

  /** Waits for `n` bytes beyond `from` and returns them. */
  async read(from: number, n: number): Promise<Buffer> {
    await eventually(() => this.bytes.length >= from + n, { timeoutMs: 30_000, message: `${n} bytes from the console` });
    return this.bytes.subarray(from, from + n);
  }
}

/** The HypervisorError a driver call failed with. */
async function reasonOf(p: Promise<unknown>): Promise<HypervisorError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HypervisorError);
  return err as HypervisorError;
}

/**
 * Waits until the console has delivered nothing new for `quietMs`. libvirtd tells the holder of
 * a console that `virsh console --force` took it only when none of its output is in flight at
 * that instant (docs/guests.md), so the takeover case starts from a quiet console: the Enters
 * loginPrompt pressed can still be echoing.
 */
async function quietConsole(rec: Recorder, quietMs = 3_000): Promise<void> {
  let seen = -1;
  let since = 0;
  await eventually(
    () => {
      const now = rec.bytes.length;
      if (now !== seen) {
        seen = now;
        since = Date.now();
        return false;
      }
      return Date.now() - since >= quietMs;
    },
    { timeoutMs: 60_000, intervalMs: 250, message: `the serial console quiet for ${quietMs} ms` },
  );
}

/** Presses Enter until getty prints a login prompt after what the recorder had seen. */
async function loginPrompt(rec: Recorder): Promise<void> {
  const from = rec.text().length;
  await eventually(
    () => {
      if (rec.ended) throw new Error(`the session ended: ${rec.ended.reason}: ${rec.ended.message}`);
      if (/login: /.test(rec.text().slice(from))) return true;
      rec.channel.write(Buffer.from('\r'));
      return false;
    },
    { timeoutMs: GUEST_BOOT_MS, intervalMs: 2_000, message: 'login prompt on the serial console' },
  );
}

describe("consoles on the agent's LibvirtDriver (libvirt's console stream and the VNC socket)", () => {
  const driver = () => stack.driver;
  const domainName = () => `${ns}_${vmName}`;
  /** A domain defined the way Quantix did before it added a display: no input tablet, graphics or video (diskless: the BIOS finds nothing to boot). */
  const old = { uuid: randomUUID(), name: qxTestName('nodisplay') };
  let first: Recorder;
  let second: Recorder;
  let third: Recorder;
  let vnc: Recorder;

  beforeAll(async () => {
    stack.cleanup.domain(old.name);
    const xml = buildDomainXml(
      {
        uuid: old.uuid,
        name: old.name,
        vcpus: 1,
        memoryBytes: 64 * MiB,
        disks: [],
        networks: [],
        guestAgent: false,
        owner: { namespace: 'qxtest', name: 'nodisplay', uid: old.uuid },
      },
      guestAcceleration().domainType,
    )
      .split('\n')
      .filter((l) => !/<(input|graphics|video)[\s>]/.test(l))
      .join('\n');
    const file = join(workDir, `${old.name}.xml`);
    writeFileSync(file, xml);
    await virsh('define', file);
  });

  it('refuses consoles of a domain that does not exist or does not run', async () => {
    const missing = randomUUID();
    expect(await reasonOf(driver().openConsole(missing, 'serial'))).toMatchObject({ reason: 'DomainNotFound' });
    expect(await reasonOf(driver().openConsole(missing, 'vnc'))).toMatchObject({ reason: 'DomainNotFound' });
    const stopped = await reasonOf(driver().openConsole(old.uuid, 'serial'));
    expect(stopped).toMatchObject({ reason: 'InvalidState' });
    expect(stopped.message).toMatch(/not running \(Shutoff\)/);
    expect(await reasonOf(driver().openConsole(old.uuid, 'vnc'))).toMatchObject({ reason: 'InvalidState' });
  });

  it('answers ConsoleUnavailable for VNC of a running domain defined before displays existed', async () => {
    await virsh('start', old.name);
    // libvirt adds no display of its own to such a domain.
    expect(vncListen(await driver().getDomainXml(old.uuid))).toEqual({ unavailable: expect.stringMatching(/no VNC graphics/) });
    const err = await reasonOf(driver().openConsole(old.uuid, 'vnc'));
    expect(err.reason).toBe('ConsoleUnavailable');
    expect(err.message).toMatch(/has no VNC graphics/);
    // Its serial console is there as before.
    const serial = new Recorder(await driver().openConsole(old.uuid, 'serial'));
    expect(serial.ended).toBeNull();
    serial.channel.close();
    expect(serial.ended).toEqual({ reason: 'closed', message: expect.any(String) });
    await driver().destroyDomain(old.uuid);
    expect(driver().openConsoleSessions).toBe(0);
  });

  it(
    'shows the login prompt on the serial console',
    async () => {
      first = new Recorder(await driver().openConsole(vmUid, 'serial'));
      // The guest boots under TCG: the prompt can take minutes.
      await loginPrompt(first);
      expect(first.ended).toBeNull();
    },
    GUEST_BOOT_MS + 60_000,
  );

  it('refuses a second serial session without force, and hands the console over with force', async () => {
    const taken = await reasonOf(driver().openConsole(vmUid, 'serial'));
    expect(taken.reason).toBe('ConsoleTaken');
    expect(taken.message).toMatch(/in use by another session/);
    expect(first.ended).toBeNull();

    second = new Recorder(await driver().openConsole(vmUid, 'serial', { force: true }));
    // Ended as soon as the forced open returned: this driver displaced it.
    expect(first.ended).toEqual({ reason: 'taken', message: expect.stringMatching(/took the serial console over/) });
    await loginPrompt(second);
    expect(second.ended).toBeNull();
  }, 120_000);

  it(
    'shares the lock with virsh console: its --force takes the console from us, and ours from it',
    async () => {
      // A guest that finished booting prints nothing by itself (bootcmd also turned the kernel's
      // console messages off): libvirtd then reports the takeover (see quietConsole).
      await guestSettled(domainName());
      for (let attempt = 1; ; attempt++) {
        if (second.ended) {
          second = new Recorder(await driver().openConsole(vmUid, 'serial', { force: true }));
          await loginPrompt(second);
        }
        await quietConsole(second);
        // virsh console needs a terminal: script(1) gives it a pty.
        const virshConsole = spawn('script', ['-qfec', `virsh -c qemu:///system console --force ${domainName()}`, '/dev/null'], { stdio: 'pipe' });
        let virshOut = '';
        virshConsole.stdout.on('data', (d: Buffer) => (virshOut += d.toString('latin1')));
        const virshExited = new Promise<void>((resolve) => virshConsole.on('exit', () => resolve()));
        try {
          await eventually(() => /Connected to domain/.test(virshOut), { timeoutMs: 30_000, message: 'virsh console connected' });
          const reported = await eventually(() => second.ended !== null, { timeoutMs: 30_000, message: 'our session ends' }).then(
            () => true,
            () => false,
          );
          if (!reported) {
            // libvirt 9.0's known gap (docs/guests.md): output to our stream was on its way at the
            // takeover, so libvirtd never told it. Not Quantix's to detect; start over, at most 3 times.
            if (attempt === 3) throw new Error('virsh console --force was never reported to our session in 3 attempts');
            process.stdout.write(`console takeover by virsh not reported by libvirtd (attempt ${attempt}): again\n`);
            second.channel.close();
            continue;
          }
          expect(second.ended).toEqual({ reason: 'taken', message: expect.stringMatching(/took the serial console over/) });
          expect(await reasonOf(driver().openConsole(vmUid, 'serial'))).toMatchObject({ reason: 'ConsoleTaken' });
          third = new Recorder(await driver().openConsole(vmUid, 'serial', { force: true }));
          await loginPrompt(third);
          expect(third.ended).toBeNull();
          break;
        } finally {
          virshConsole.kill();
          await virshExited;
        }
      }
    },
    GUEST_BOOT_MS + 200_000,
  );

  it('serves the VNC display on a unix socket libvirt chose, with a VGA device on slot 0x02', async () => {
    const live = await driver().getDomainXml(vmUid);
    const listen = vncListen(live);
    expect(listen).toEqual({ socket: expect.stringMatching(/^\/(var\/lib\/libvirt|run\/libvirt)\//) });
    const graphics = /<graphics type='vnc'[^>]*>[\s\S]*?<\/graphics>/.exec(live)?.[0] ?? '';
    expect(graphics).not.toBe('');
    // Never TCP: no port, no autoport, no listen address.
    expect(graphics).not.toMatch(/\sport=|autoport=|listen=|type='address'|type='network'/);
    expect(live).toMatch(
      /<video>\s*<model type='vga'[^>]*\/>\s*<alias name='video0'\/>\s*<address type='pci' domain='0x0000' bus='0x00' slot='0x02' function='0x0'\/>/,
    );
  });

  it('completes the RFB version and security handshake over the VNC channel; closing the sessions frees the console', async () => {
    vnc = new Recorder(await driver().openConsole(vmUid, 'vnc'));
    expect((await vnc.read(0, 12)).toString('latin1')).toBe('RFB 003.008\n');
    vnc.channel.write(Buffer.from('RFB 003.008\n'));
    const count = (await vnc.read(12, 1))[0]!;
    expect(count).toBeGreaterThan(0);
    const types = [...(await vnc.read(13, count))];
    expect(types).toContain(1); // None: the socket is only reachable on the host, as root
    vnc.channel.write(Buffer.from([1]));
    expect((await vnc.read(13 + count, 4)).readUInt32BE(0)).toBe(0); // SecurityResult OK
    vnc.channel.write(Buffer.from([1])); // ClientInit, shared
    const init = await vnc.read(17 + count, 24);
    const [width, height, nameLength] = [init.readUInt16BE(0), init.readUInt16BE(2), init.readUInt32BE(20)];
    expect(width).toBeGreaterThan(0);
    expect(height).toBeGreaterThan(0);
    expect((await vnc.read(41 + count, nameLength)).toString('utf8')).toContain(domainName()); // QEMU names the desktop "QEMU (<domain>)"
    expect(vnc.ended).toBeNull();

    // The cases below reach the same console through the API: ours end here.
    expect(driver().openConsoleSessions).toBe(2);
    third.channel.close();
    vnc.channel.close();
    expect([third.ended?.reason, vnc.ended?.reason]).toEqual(['closed', 'closed']);
    expect(driver().openConsoleSessions).toBe(0);
  });
});

describe('serial console through qxctl', () => {
  it('shows the login prompt; the test logs in and reads the hostname; Ctrl-] detaches', async () => {
    const p = qxctl(['console', vmName, '-n', ns]);
    await eventually(() => /Connected to the serial console/.test(p.err()), { timeoutMs: 60_000 });
    // The guest boots under TCG: the prompt can take minutes.
    await expectOnConsole(p, /login: /m, 0, 600_000);
    // cloud-init sets the password after getty starts: a refused login is answered again.
    await logInAsRoot({ output: p.out, send: (keys) => p.child.stdin.write(keys) }, ROOT_PASSWORD, { timeoutMs: 300_000 });
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

describe('the guest destroyed (last: it stops the guest)', () => {
  it('ends open driver sessions with stopped when the domain is destroyed, and leaves none open', async () => {
    // The API sessions of the cases above are gone (their clients went away).
    await eventually(() => stack.driver.openConsoleSessions === 0, { timeoutMs: 30_000, message: 'no console session left open' });
    const serial = new Recorder(await stack.driver.openConsole(vmUid, 'serial', { force: true }));
    const vnc = new Recorder(await stack.driver.openConsole(vmUid, 'vnc'));
    expect(stack.driver.openConsoleSessions).toBe(2);
    await stack.driver.destroyDomain(vmUid);
    await eventually(() => serial.ended !== null && vnc.ended !== null, { timeoutMs: 30_000, message: 'both sessions end' });
    expect(serial.ended?.reason).toBe('stopped');
    expect(vnc.ended?.reason).toBe('stopped');
    expect(stack.driver.openConsoleSessions).toBe(0);
    // close() after the end changes nothing.
    serial.channel.close();
    expect(serial.ended?.reason).toBe('stopped');
  }, 60_000);
});
