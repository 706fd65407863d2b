/**
 * Boots the guest image (hack/guest-image/build.sh) the way tests and the control plane use
 * it, and checks what they rely on: BIOS boot from its own disk, a NoCloud `cidata` seed on a
 * CD-ROM (hostname and SSH key applied), DHCP on the first NIC, the guest agent, and a
 * clean power-off. Prints a JSON summary with the measured times on stdout; progress on stderr.
 *
 *   tsx hack/guest-image/check.ts [--image PATH] [--machine q35|pc] [--disk-bus virtio|sata]
 *       [--network-config] [--shutdown agent|acpi] [--accel tcg|kvm] [--smp 2] [--memory 1024]
 *       [--serial-log FILE]
 *
 * Without --image it runs build.sh (a cached image is returned at once). QEMU runs on a
 * copy-on-write overlay with user networking restricted to the guest (`restrict=on`): the
 * only traffic is the SSH port forward on 127.0.0.1. Everything it creates goes in one
 * temporary directory, removed at the end, and the QEMU process is always stopped.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { loadavg, tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { eventually } from '../testenv/eventually.js';

const execFileP = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));

const HOSTNAME = 'myvm1';
const GUEST_IP = '10.0.2.15'; // QEMU user networking's first DHCP lease
const SEED_IP = '10.0.2.16'; // a static address in the seed's network-config (--network-config)
const BOOT_TIMEOUT_MS = 300_000;

const { values: opts } = parseArgs({
  options: {
    image: { type: 'string' },
    machine: { type: 'string', default: 'q35' },
    'disk-bus': { type: 'string', default: 'virtio' },
    'network-config': { type: 'boolean', default: false },
    shutdown: { type: 'string', default: 'agent' },
    accel: { type: 'string', default: 'tcg' },
    smp: { type: 'string', default: '2' },
    memory: { type: 'string', default: '1024' },
    'serial-log': { type: 'string' },
  },
});
if (!['q35', 'pc'].includes(opts.machine!)) throw new Error('--machine is q35 or pc');
if (!['virtio', 'sata'].includes(opts['disk-bus']!)) throw new Error('--disk-bus is virtio or sata');
if (!['agent', 'acpi'].includes(opts.shutdown!)) throw new Error('--shutdown is agent or acpi');

const log = (msg: string) => process.stderr.write(`guest-check: ${msg}\n`);

async function buildImage(): Promise<string> {
  const { stdout } = await execFileP('bash', [path.join(here, 'build.sh')], { maxBuffer: 1 << 20, timeout: 900_000 });
  const lines = stdout.trim().split('\n');
  return lines[lines.length - 1]!;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/**
 * Sends `requests` one at a time on a line-delimited JSON socket (the guest agent's or QMP's)
 * and resolves with their `return` values. QMP speaks first (a greeting); its events are
 * skipped. With `syncId`, replies are dropped until the one carrying that id: a guest agent
 * that started late may still answer requests sent by an earlier, abandoned try.
 */
function jsonExchange(
  socketPath: string,
  requests: object[],
  { timeoutMs = 5_000, expectReply = true, syncId }: { timeoutMs?: number; expectReply?: boolean; syncId?: number } = {},
): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    const sock = net.createConnection(socketPath);
    const replies: unknown[] = [];
    let buf = '';
    let sent = 0;
    let syncing = syncId !== undefined;
    const timer = setTimeout(() => finish(new Error(`no answer on ${path.basename(socketPath)} within ${timeoutMs} ms`)), timeoutMs);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(replies);
    };
    const sendNext = () => {
      sock.write(JSON.stringify(requests[sent++]) + '\n');
      if (!expectReply && sent === requests.length) setTimeout(() => finish(), 200);
    };
    sock.on('connect', () => {
      if (!socketPath.endsWith('qmp.sock')) sendNext();
    });
    sock.on('data', (chunk) => {
      buf += chunk.toString('utf8');
      for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
        const line = buf.slice(0, i).trim();
        buf = buf.slice(i + 1);
        if (!line) continue;
        const msg = JSON.parse(line) as Record<string, unknown>;
        if ('QMP' in msg) {
          sendNext();
          continue;
        }
        if ('event' in msg) continue;
        if (syncing) {
          if (msg.return !== syncId) continue;
          syncing = false;
        }
        if ('error' in msg) return finish(new Error(JSON.stringify(msg.error)));
        replies.push(msg.return);
        if (sent < requests.length) sendNext();
        else return finish();
      }
    });
    sock.on('error', (err) => finish(err));
  });
}

/** Guest agent commands after a guest-sync, so that only answers to this call are read. */
async function agent(socketPath: string, ...commands: object[]): Promise<unknown[]> {
  const id = Math.floor(Math.random() * 2 ** 31);
  const [, ...replies] = await jsonExchange(socketPath, [{ execute: 'guest-sync', arguments: { id } }, ...commands], { syncId: id });
  return replies;
}

interface AgentInterface {
  name: string;
  'ip-addresses'?: { 'ip-address': string; 'ip-address-type': string }[];
}

async function main(): Promise<void> {
  const image = path.resolve(opts.image ?? (await buildImage()));
  if (!existsSync(image)) throw new Error(`no image at ${image}`);
  const tmp = mkdtempSync(path.join(tmpdir(), 'qx-guest-check-'));
  let qemu: ChildProcess | undefined;
  let exited: Promise<void> | undefined;
  try {
    const overlay = path.join(tmp, 'overlay.qcow2');
    await execFileP('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', image, '-F', 'qcow2', overlay, '4G']);
    const key = path.join(tmp, 'id_ed25519');
    await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'qx-guest-check', '-f', key]);
    const pub = readFileSync(`${key}.pub`, 'utf8').trim();
    const seedFiles = ['user-data', 'meta-data'];
    writeFileSync(path.join(tmp, 'user-data'), `#cloud-config\nssh_authorized_keys:\n  - ${pub}\n`);
    writeFileSync(path.join(tmp, 'meta-data'), `instance-id: x\nlocal-hostname: ${HOSTNAME}\n`);
    if (opts['network-config']) {
      // DHCP plus a second, static address: seeing it proves the seed's network-config was used
      // rather than cloud-init's fallback (DHCP on the first NIC).
      writeFileSync(path.join(tmp, 'network-config'), `version: 2\nethernets:\n  eth0:\n    dhcp4: true\n    addresses: [${SEED_IP}/24]\n`);
      seedFiles.push('network-config');
    }
    const seed = path.join(tmp, 'seed.iso');
    await execFileP('genisoimage', ['-quiet', '-output', seed, '-volid', 'cidata', '-joliet', '-rock', ...seedFiles], { cwd: tmp });

    const port = await freePort();
    const qga = path.join(tmp, 'qga.sock');
    const qmp = path.join(tmp, 'qmp.sock');
    const serial = path.join(tmp, 'serial.log');
    const q35 = opts.machine === 'q35';
    const args = ['-accel', opts.accel!, '-machine', opts.machine!, '-smp', opts.smp!, '-m', opts.memory!];
    args.push('-nodefaults', '-display', 'none', '-serial', `file:${serial}`, '-qmp', `unix:${qmp},server=on,wait=off`);
    args.push('-drive', `file=${overlay},if=none,id=d0,format=qcow2`);
    if (opts['disk-bus'] === 'virtio') args.push('-device', 'virtio-blk-pci,drive=d0,bootindex=0');
    else if (q35) args.push('-device', 'ide-hd,drive=d0,bus=ide.1,bootindex=0');
    else args.push('-device', 'ahci,id=ahci0', '-device', 'ide-hd,drive=d0,bus=ahci0.0,bootindex=0');
    // The seed on a SATA CD-ROM: q35's own AHCI controller, or the PIIX IDE of pc (-cdrom).
    if (q35) args.push('-drive', `file=${seed},media=cdrom,if=none,id=cd0,format=raw`, '-device', 'ide-cd,drive=cd0,bus=ide.0');
    else args.push('-cdrom', seed);
    args.push('-netdev', `user,id=n0,restrict=on,hostfwd=tcp:127.0.0.1:${port}-:22`, '-device', 'virtio-net-pci,netdev=n0');
    args.push('-chardev', `socket,path=${qga},server=on,wait=off,id=qga0`);
    args.push('-device', 'virtio-serial', '-device', 'virtserialport,chardev=qga0,name=org.qemu.guest_agent.0');

    log(`booting ${image} (${opts.machine}, disk on ${opts['disk-bus']}, ${opts.accel}, ${opts.smp} vCPUs, ${opts.memory} MiB)`);
    const started = Date.now();
    const since = () => Math.round((Date.now() - started) / 100) / 10;
    const proc = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    qemu = proc;
    let qemuErr = '';
    proc.stderr?.on('data', (d: Buffer) => (qemuErr += d.toString()));
    exited = new Promise((resolve) => proc.on('exit', () => resolve()));
    const alive = () => {
      if (proc.exitCode !== null || proc.signalCode !== null) throw new Error(`qemu exited: ${qemuErr.trim()}`);
    };

    const serialText = () => (existsSync(serial) ? readFileSync(serial, 'latin1') : '');
    const waitOpts = (message: string) => ({ timeoutMs: BOOT_TIMEOUT_MS, intervalMs: 1_000, message });
    const loginPrompt = eventually(() => {
      alive();
      return /login: /.test(serialText()) && since();
    }, waitOpts('login prompt on ttyS0'));
    const agentIp = eventually(
      async () => {
        alive();
        const [ifaces] = (await agent(qga, { execute: 'guest-network-get-interfaces' })) as [AgentInterface[]];
        const ips = ifaces.flatMap((i) => (i['ip-addresses'] ?? []).map((a) => `${i.name}=${a['ip-address']}`));
        const want = opts['network-config'] ? [GUEST_IP, SEED_IP] : [GUEST_IP];
        return want.every((w) => ips.some((ip) => ip.endsWith(`=${w}`))) && { seconds: since(), ips };
      },
      waitOpts(`guest agent reporting ${GUEST_IP}`),
    );
    const sshArgs = ['-q', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null'];
    sshArgs.push('-o', 'ConnectTimeout=5', '-i', key, '-p', String(port), 'debian@127.0.0.1');
    const ssh = async (cmd: string) => (await execFileP('ssh', [...sshArgs, cmd], { timeout: 60_000 })).stdout.trim();
    const sshReady = eventually(
      async () => {
        alive();
        return (await ssh('hostname')) === HOSTNAME && since();
      },
      waitOpts(`ssh debian@127.0.0.1:${port} printing ${HOSTNAME}`),
    );
    const [loginSeconds, agentResult, sshSeconds] = await Promise.all([loginPrompt, agentIp, sshReady]);
    log(`login prompt ${loginSeconds} s, guest agent ${GUEST_IP} ${agentResult.seconds} s, ssh ${sshSeconds} s`);

    const [ping, osinfo, hostName] = await agent(qga, { execute: 'guest-ping' }, { execute: 'guest-get-osinfo' }, { execute: 'guest-get-host-name' });
    const os = osinfo as { id?: string; 'version-id'?: string; 'kernel-release'?: string };
    if (os.id !== 'debian' || os['version-id'] !== '12') throw new Error(`guest-get-osinfo: ${JSON.stringify(osinfo)}`);
    if ((hostName as { 'host-name'?: string })['host-name'] !== HOSTNAME) throw new Error(`guest-get-host-name: ${JSON.stringify(hostName)}`);
    // cloud-init's final stage runs after ssh is up; wait for it, then read what it found.
    const cloudInit = await ssh('cloud-init status --wait --long >/dev/null; cloud-init status --long; sudo -n true && echo sudo=ok');
    const inGuest = {
      cloudInit: cloudInit.split('\n').filter((l) => l.trim()),
      cmdline: await ssh('cat /proc/cmdline'),
      rootDisk: await ssh('findmnt -n -o SOURCE,SIZE /; lsblk -n -o NAME,TYPE,SIZE,LABEL | tr -s " "'),
      hostKeys: await ssh('ls /etc/ssh/ | grep "_key.pub$" | tr "\\n" " "'),
      systemdAnalyze: await ssh('systemd-analyze 2>&1 | head -n 1'),
      sshCriticalChain: (await ssh('systemd-analyze critical-chain --no-pager ssh.service 2>&1 | tail -n +3')).split('\n'),
      cloudInitBlame: (await ssh('sudo cloud-init analyze blame 2>&1 | head -n 6')).split('\n').map((l) => l.trim()),
      failedUnits: await ssh('systemctl --failed --no-legend --plain | cut -d" " -f1 | tr "\\n" " "'),
    };
    log(`cloud-init: ${inGuest.cloudInit.join('; ')}`);

    const shutdownStarted = Date.now();
    if (opts.shutdown === 'agent') {
      // guest-shutdown answers nothing on success: the guest is going away.
      await jsonExchange(qga, [{ execute: 'guest-shutdown', arguments: { mode: 'powerdown' } }], { expectReply: false });
    } else {
      await jsonExchange(qmp, [{ execute: 'qmp_capabilities' }, { execute: 'system_powerdown' }]);
    }
    await Promise.race([exited, new Promise((_, reject) => setTimeout(() => reject(new Error('the guest did not power off within 120 s')), 120_000).unref())]);
    const poweroffSeconds = Math.round((Date.now() - shutdownStarted) / 100) / 10;
    log(`powered off (${opts.shutdown}) in ${poweroffSeconds} s`);

    const summary = {
      image,
      imageMiB: Math.round(statSync(image).size / 2 ** 20),
      machine: opts.machine,
      diskBus: opts['disk-bus'],
      networkConfig: opts['network-config'],
      accel: opts.accel,
      smp: Number(opts.smp),
      memoryMiB: Number(opts.memory),
      secondsFromStart: { loginPrompt: loginSeconds, guestAgentIp: agentResult.seconds, ssh: sshSeconds },
      poweroff: { via: opts.shutdown, seconds: poweroffSeconds },
      agent: { ping, osinfo, hostName, addresses: agentResult.ips },
      inGuest,
      hostLoadAverage: loadavg().map((l) => Math.round(l * 10) / 10),
    };
    process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  } finally {
    if (qemu && qemu.exitCode === null && qemu.signalCode === null) {
      qemu.kill('SIGKILL');
      await exited;
    }
    const serial = path.join(tmp, 'serial.log');
    if (opts['serial-log'] && existsSync(serial)) copyFileSync(serial, opts['serial-log']);
    rmSync(tmp, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(`FAILED: ${err instanceof Error ? err.message : String(err)}`);
  process.exitCode = 1;
});
