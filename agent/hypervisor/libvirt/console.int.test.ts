/**
 * Consoles of a real guest on the real libvirtd: one boot of the test image (a qcow2 overlay
 * backed by the cached image, TCG) shared by all cases, in order — the serial console's login
 * prompt, the console lock (ConsoleTaken, force, 'taken'; shared with `virsh console`), the VNC display's RFB handshake on
 * its unix socket, and sessions ending with 'stopped' when the domain is destroyed. A second,
 * diskless domain defined the way Quantix did before it added a display answers
 * ConsoleUnavailable for VNC. Run under `flock /tmp/qx-libvirt.lock`.
 */
import { execFile, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import { eventually } from '../../../hack/testenv/eventually.js';
import { guestAcceleration, guestTestImage } from '../../../hack/testenv/guests.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh } from '../../../hack/testenv/libvirt.js';
import type { ConsoleChannel, ConsoleEndReason, DomainSpec } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { LibvirtDriver } from './driver.js';
import { buildDomainXml, vncListen } from './xml.js';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;
/** Under TCG on a loaded shared host the boot can take minutes. */
const BOOT_TIMEOUT_MS = 480_000;

jest.setTimeout(600_000);

/** Everything a channel delivered, and how it ended. */
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

describe('consoles of a real guest (libvirt)', () => {
  const cleanup = new LibvirtCleanup();
  const logs: string[] = [];
  let driver: LibvirtDriver;
  let spec: DomainSpec;

  const reasonOf = async (p: Promise<unknown>): Promise<HypervisorError> => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HypervisorError);
    return err as HypervisorError;
  };

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
      { timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 2_000, message: 'login prompt on the serial console' },
    );
  }

  let first: Recorder;
  let second: Recorder;
  let third: Recorder;
  let vnc: Recorder;

  beforeAll(async () => {
    await ensureLibvirt();
    const image = await guestTestImage();
    const dir = path.join('/var/lib/libvirt/images', qxTestName('console'));
    mkdirSync(dir, { recursive: true });
    cleanup.path(dir);
    const overlay = path.join(dir, 'root.qcow2');
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image.path, '-F', 'qcow2', overlay]);
    driver = new LibvirtDriver({ domainType: guestAcceleration().domainType, log: (level, message) => logs.push(`${level}: ${message}`) });
    await driver.connect();
    const uuid = randomUUID();
    const name = qxTestName('console');
    cleanup.domain(name);
    spec = {
      uuid,
      name,
      vcpus: 1,
      memoryBytes: 512 * MiB,
      disks: [{ path: overlay }],
      // A NIC (user mode: no host set-up, nothing leaves QEMU). Without one, the guest's boot
      // waits for systemd-networkd-wait-online to time out (2 min) before getty starts.
      networks: [{ type: 'user' }],
      owner: { namespace: 'qxtest', name: 'console', uid: uuid },
    };
    await driver.defineDomain(spec);
  });

  afterAll(async () => {
    if (process.env.QX_DEBUG) process.stderr.write(`${logs.join('\n')}\n`);
    await cleanup.run();
    await driver?.close();
  });

  it('refuses consoles of a domain that does not exist or does not run', async () => {
    const missing = randomUUID();
    expect(await reasonOf(driver.openConsole(missing, 'serial'))).toMatchObject({ reason: 'DomainNotFound' });
    expect(await reasonOf(driver.openConsole(missing, 'vnc'))).toMatchObject({ reason: 'DomainNotFound' });
    const stopped = await reasonOf(driver.openConsole(spec.uuid, 'serial'));
    expect(stopped).toMatchObject({ reason: 'InvalidState' });
    expect(stopped.message).toMatch(/not running \(Shutoff\)/);
    expect(await reasonOf(driver.openConsole(spec.uuid, 'vnc'))).toMatchObject({ reason: 'InvalidState' });
  });

  it('shows the login prompt on the serial console', async () => {
    await driver.startDomain(spec.uuid);
    first = new Recorder(await driver.openConsole(spec.uuid, 'serial'));
    await loginPrompt(first);
    expect(first.ended).toBeNull();
  });

  it('refuses a second serial session without force, and hands the console over with force', async () => {
    const taken = await reasonOf(driver.openConsole(spec.uuid, 'serial'));
    expect(taken.reason).toBe('ConsoleTaken');
    expect(taken.message).toMatch(/in use by another session/);
    expect(first.ended).toBeNull();

    second = new Recorder(await driver.openConsole(spec.uuid, 'serial', { force: true }));
    await eventually(() => first.ended !== null, { timeoutMs: 30_000, message: 'the first session ends' });
    expect(first.ended).toEqual({ reason: 'taken', message: expect.stringMatching(/took the serial console over/) });
    await loginPrompt(second);
    expect(second.ended).toBeNull();
  });

  it('shares the lock with virsh console: its --force takes the console from us, and ours from it', async () => {
    // virsh console needs a terminal: script(1) gives it a pty.
    const virshConsole = spawn('script', ['-qfec', `virsh -c qemu:///system console --force ${spec.name}`, '/dev/null'], { stdio: 'pipe' });
    let virshOut = '';
    virshConsole.stdout.on('data', (d: Buffer) => (virshOut += d.toString('latin1')));
    const virshExited = new Promise<void>((resolve) => virshConsole.on('exit', () => resolve()));
    try {
      await eventually(() => /Connected to domain/.test(virshOut), { timeoutMs: 30_000, message: 'virsh console connected' });
      await eventually(() => second.ended !== null, { timeoutMs: 30_000, message: 'our session ends' });
      expect(second.ended).toEqual({ reason: 'taken', message: expect.stringMatching(/took the serial console over/) });
      expect(await reasonOf(driver.openConsole(spec.uuid, 'serial'))).toMatchObject({ reason: 'ConsoleTaken' });
      third = new Recorder(await driver.openConsole(spec.uuid, 'serial', { force: true }));
      await loginPrompt(third);
      expect(third.ended).toBeNull();
    } finally {
      virshConsole.kill();
      await virshExited;
    }
  });

  it('serves the VNC display on a unix socket libvirt chose, with a VGA device on slot 0x02', async () => {
    const live = await driver.getDomainXml(spec.uuid);
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

  it('completes the RFB version and security handshake over the VNC channel', async () => {
    vnc = new Recorder(await driver.openConsole(spec.uuid, 'vnc'));
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
    expect((await vnc.read(41 + count, nameLength)).toString('utf8')).toContain(spec.name); // QEMU names the desktop "QEMU (<domain>)"
    expect(vnc.ended).toBeNull();
  });

  it('ends open sessions with stopped when the domain is destroyed, and leaves none open', async () => {
    expect(driver.openConsoleSessions).toBe(2);
    await driver.destroyDomain(spec.uuid);
    await eventually(() => third.ended !== null && vnc.ended !== null, { timeoutMs: 30_000, message: 'both sessions end' });
    expect(third.ended?.reason).toBe('stopped');
    expect(vnc.ended?.reason).toBe('stopped');
    expect(driver.openConsoleSessions).toBe(0);
    // close() after the end changes nothing.
    third.channel.close();
    expect(third.ended?.reason).toBe('stopped');
  });

  it('answers ConsoleUnavailable for VNC of a running domain defined before displays existed', async () => {
    const uuid = randomUUID();
    const name = qxTestName('nodisplay');
    cleanup.domain(name);
    // Quantix's domain XML as it was: no input tablet, graphics or video (a diskless domain: the BIOS finds nothing to boot).
    const xml = buildDomainXml(
      { uuid, name, vcpus: 1, memoryBytes: 64 * MiB, disks: [], networks: [], guestAgent: false, owner: { namespace: 'qxtest', name: 'nodisplay', uid: uuid } },
      guestAcceleration().domainType,
    )
      .split('\n')
      .filter((l) => !/<(input|graphics|video)[\s>]/.test(l))
      .join('\n');
    const file = path.join('/tmp', `${name}.xml`);
    writeFileSync(file, xml);
    cleanup.path(file);
    await virsh('define', file);
    await virsh('start', name);
    // libvirt adds no display of its own to such a domain.
    expect(vncListen(await driver.getDomainXml(uuid))).toEqual({ unavailable: expect.stringMatching(/no VNC graphics/) });
    const err = await reasonOf(driver.openConsole(uuid, 'vnc'));
    expect(err.reason).toBe('ConsoleUnavailable');
    expect(err.message).toMatch(/has no VNC graphics/);
    // Its serial console is there as before.
    const serial = new Recorder(await driver.openConsole(uuid, 'serial'));
    expect(serial.ended).toBeNull();
    serial.channel.close();
    expect(serial.ended).toEqual({ reason: 'closed', message: expect.any(String) });
    await driver.destroyDomain(uuid);
    expect(driver.openConsoleSessions).toBe(0);
  });
});
