/**
 * The libvirt driver against the real libvirtd (qemu:///system) and QEMU/KVM of this host.
 * Every object is named qxtest-* and removed in afterAll, even after failures.
 */
import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import { eventually } from '../../../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh, virshQuiet, waitForLibvirt } from '../../../hack/testenv/libvirt.js';
import type { DomainEventType, DomainSpec, HypervisorEvent } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { subnetBounds } from '../ipv4.js';
import { LibvirtDriver } from './driver.js';
import { parseOwnerFromDomainXml } from './xml.js';
import { setLogLevel, setLogSink, withCorrelation } from '../../../lib/logging/logger.js';
import type { LogRecord } from '../../../lib/logging/record.js';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;

/** A TCP port on 127.0.0.1 that nothing listens on right now (the kernel's pick, released at once). */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a TCP connection to 127.0.0.1:port is accepted. */
function tcpConnects(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => resolve(false));
  });
}

/** Whether a TCP socket listens on exactly 127.0.0.1:port (/proc/net/tcp: local address 0100007F:PORT in state 0A). */
function listensOnLoopback(port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .some((line) => {
      const f = line.trim().split(/\s+/);
      return f[1] === want && f[3] === '0A';
    });
}

/**
 * A 192.168.x.0/24 that overlaps no route of this host and no libvirt network, picked at random
 * among the free ones (other suites may be picking at the same time).
 */
async function freeSubnet(libvirtNets: string[]): Promise<number> {
  const { stdout } = await execFileP('ip', ['-4', '-o', 'route', 'show', 'table', 'all']);
  const taken = stdout
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((dst) => /^\d+\.\d+\.\d+\.\d+(\/\d+)?$/.test(dst))
    .concat(libvirtNets)
    .map((dst) => {
      const [addr, len] = dst.split('/');
      return subnetBounds(addr!, len === undefined ? 32 : Number(len));
    });
  const free: number[] = [];
  for (let x = 100; x < 250; x++) {
    const mine = subnetBounds(`192.168.${x}.1`, 24);
    if (taken.every((t) => t.broadcast < mine.network || t.network > mine.broadcast)) free.push(x);
  }
  if (free.length === 0) throw new Error('no free 192.168.x.0/24 on this host');
  return free[Math.floor(Math.random() * free.length)]!;
}

jest.setTimeout(120_000);

describe('LibvirtDriver against libvirtd', () => {
  const cleanup = new LibvirtCleanup();
  const events: HypervisorEvent[] = [];
  const records: LogRecord[] = [];
  let driver: LibvirtDriver;
  let base: string;

  const domainEvents = (uuid: string): string[] => events.flatMap((e) => (e.kind === 'domain' && e.uuid === uuid ? [e.type] : []));
  const sawDomainEvent = (uuid: string, type: DomainEventType, detail?: string): boolean =>
    events.some((e) => e.kind === 'domain' && e.uuid === uuid && e.type === type && (detail === undefined || e.detail === detail));

  const reasonOf = async (p: Promise<unknown>): Promise<HypervisorError> => {
    const err = await p.then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(HypervisorError);
    return err as HypervisorError;
  };

  /** A running dir pool with one qcow2 volume, for domain tests. */
  async function poolAndDisk(tag: string): Promise<{ pool: string; disk: string }> {
    const pool = qxTestName(tag);
    cleanup.pool(pool);
    await driver.definePool({ name: pool, type: 'dir', targetPath: path.join(base, pool) });
    await driver.startPool(pool);
    const vol = await driver.createVolume(pool, { name: 'root.qcow2', capacityBytes: 64 * MiB });
    cleanup.volume(pool, 'root.qcow2');
    return { pool, disk: vol.path };
  }

  function smallVm(disk: string, tag: string): DomainSpec {
    const uuid = randomUUID();
    const name = qxTestName(tag);
    cleanup.domain(name);
    return { uuid, name, vcpus: 1, memoryBytes: 128 * MiB, disks: [{ path: disk }], networks: [], owner: { namespace: 'qxtest', name: tag, uid: uuid } };
  }

  beforeAll(async () => {
    setLogSink((line) => records.push(JSON.parse(line) as LogRecord));
    setLogLevel('info');
    await ensureLibvirt();
    base = path.join('/var/lib/libvirt/images', qxTestName('base'));
    mkdirSync(base, { recursive: true });
    cleanup.path(base);
    driver = new LibvirtDriver({ reconnectInitialDelayMs: 50, reconnectMaxDelayMs: 500 });
    driver.subscribe((e) => events.push(e));
    await driver.connect();
  });

  afterAll(async () => {
    await cleanup.run();
    await driver?.close();
  });

  it('reports host info', async () => {
    const h = await driver.hostInfo();
    expect(h.hostname).toBe(os.hostname());
    expect(h.cpuCount).toBe(os.cpus().length);
    expect(h.memoryBytes).toBeGreaterThan(256 * MiB);
    expect(h.cpuModel.length).toBeGreaterThan(0);
    expect(h.cpuArch).toBe('x86_64');
    expect(h.hypervisorType).toBe('QEMU');
    expect(h.hypervisorVersion).toMatch(/^\d+\.\d+\.\d+$/);
    const { stdout } = await virsh('version');
    expect(stdout).toContain(`Using library: libvirt ${h.libvirtVersion}`);
    expect(h.domainType).toBe(existsSync('/dev/kvm') ? 'kvm' : 'qemu');
  });

  it('defines, starts, refreshes, stops and undefines a dir pool; the data survives', async () => {
    const name = qxTestName('dirpool');
    const target = path.join(base, name);
    cleanup.pool(name);
    const defined = await driver.definePool({ name, type: 'dir', targetPath: target });
    expect(defined).toMatchObject({ name, type: 'dir', state: 'Inactive', targetPath: target, volumeCount: 0 });
    // idempotent define
    expect((await driver.definePool({ name, type: 'dir', targetPath: target })).uuid).toBe(defined.uuid);

    const running = await driver.startPool(name);
    expect(running.state).toBe('Running');
    expect(running.capacityBytes).toBeGreaterThan(0);
    expect(running.availableBytes).toBeGreaterThan(0);
    expect(running.availableBytes).toBeLessThanOrEqual(running.capacityBytes);
    await driver.startPool(name); // idempotent

    writeFileSync(path.join(target, 'keep.img'), Buffer.alloc(4096));
    const refreshed = await driver.refreshPool(name);
    expect(refreshed.volumeCount).toBe(1);
    expect((await driver.listVolumes(name)).map((v) => v.name)).toEqual(['keep.img']);
    expect((await driver.listPools()).some((p) => p.name === name && p.state === 'Running')).toBe(true);

    await driver.stopPool(name);
    await driver.stopPool(name); // idempotent
    expect((await driver.getPool(name)).state).toBe('Inactive');
    expect(await reasonOf(driver.refreshPool(name))).toMatchObject({ reason: 'PoolInactive' });
    await driver.undefinePool(name);
    expect(await reasonOf(driver.getPool(name))).toMatchObject({ reason: 'PoolNotFound' });
    expect(readFileSync(path.join(target, 'keep.img')).length).toBe(4096);
    await eventually(() => events.some((e) => e.kind === 'pool' && e.name === name && e.type === 'Undefined'));
    expect(events.flatMap((e) => (e.kind === 'pool' && e.name === name ? [e.type] : []))).toEqual(
      expect.arrayContaining(['Defined', 'Started', 'Stopped', 'Undefined']),
    );
  });

  it('refuses to undefine a running pool', async () => {
    const { pool } = await poolAndDisk('busypool');
    expect(await reasonOf(driver.undefinePool(pool))).toMatchObject({ reason: 'InvalidState' });
  });

  it('creates, looks up and deletes qcow2 volumes, also backed by a base image', async () => {
    const { pool, disk: basePath } = await poolAndDisk('volpool');
    const overlay = await driver.createVolume(pool, { name: 'overlay.qcow2', capacityBytes: 128 * MiB, backingPath: basePath });
    cleanup.volume(pool, 'overlay.qcow2');
    expect(overlay).toMatchObject({ pool, name: 'overlay.qcow2', type: 'file', capacityBytes: 128 * MiB });
    expect(await driver.volumePath(pool, 'overlay.qcow2')).toBe(overlay.path);
    const { stdout } = await execFileP('qemu-img', ['info', '--output=json', '-U', overlay.path]);
    const info = JSON.parse(stdout) as { format: string; 'backing-filename'?: string; 'virtual-size': number };
    expect(info.format).toBe('qcow2');
    expect(info['backing-filename']).toBe(basePath);
    expect(info['virtual-size']).toBe(128 * MiB);

    expect(await reasonOf(driver.createVolume(pool, { name: 'overlay.qcow2', capacityBytes: MiB }))).toMatchObject({ reason: 'VolumeExists' });
    expect((await driver.listVolumes(pool)).map((v) => v.name)).toEqual(['overlay.qcow2', 'root.qcow2']);
    await driver.deleteVolume(pool, 'overlay.qcow2');
    expect(existsSync(overlay.path)).toBe(false);
    expect(await reasonOf(driver.getVolume(pool, 'overlay.qcow2'))).toMatchObject({ reason: 'VolumeNotFound' });
    expect(await reasonOf(driver.createVolume('qxtest-no-such-pool', { name: 'x.qcow2', capacityBytes: MiB }))).toMatchObject({ reason: 'PoolNotFound' });
  });

  it('runs a domain through its lifecycle with events', async () => {
    const { disk } = await poolAndDisk('vmpool');
    const spec = smallVm(disk, 'vm');
    const defined = await driver.defineDomain(spec);
    expect(defined).toMatchObject({
      uuid: spec.uuid,
      name: spec.name,
      state: 'Shutoff',
      persistent: true,
      vcpus: 1,
      memoryBytes: 128 * MiB,
      owner: spec.owner,
    });
    await eventually(() => sawDomainEvent(spec.uuid, 'Defined', 'added'));
    const xml = await driver.getDomainXml(spec.uuid);
    expect(xml).toContain(`<domain type='${existsSync('/dev/kvm') ? 'kvm' : 'qemu'}'`);
    expect(xml).toContain('quantix.io');

    await driver.startDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Started', 'booted'), { message: 'Started event' });
    expect(await driver.getDomain(spec.uuid)).toMatchObject({ state: 'Running', reason: 'booted' });
    expect((await driver.getDomain(spec.uuid)).id).toBeGreaterThan(0);
    await driver.startDomain(spec.uuid); // idempotent

    await driver.suspendDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Suspended', 'paused'), { message: 'Suspended event' });
    expect(await driver.getDomain(spec.uuid)).toMatchObject({ state: 'Paused', reason: 'user' });
    await driver.resumeDomain(spec.uuid);
    await eventually(() => domainEvents(spec.uuid).filter((t) => t === 'Resumed').length >= 2, { message: 'Resumed event' });
    expect((await driver.getDomain(spec.uuid)).state).toBe('Running');

    // Sitting in the BIOS, the guest ignores ACPI; the request itself is accepted. The stop
    // runs under a correlation id, as the agent's worker runs a VM's work under its object's.
    const stopId = `cid-stop-${randomBytes(4).toString('hex')}`;
    const before = records.length;
    await withCorrelation(stopId, async () => {
      await driver.shutdownDomain(spec.uuid);
      await driver.destroyDomain(spec.uuid);
    });
    const calls = records.slice(before).filter((r) => r.message === 'libvirt call');
    // Each call that changes the host is one info line with the id; the lookups and state reads are debug (not shown at info).
    expect(calls.map((r) => [r.level, r.procedure, r.domain, r.result, r.correlationId])).toEqual([
      ['info', 'DOMAIN_SHUTDOWN_FLAGS', spec.name, 'ok', stopId],
      ['info', 'DOMAIN_DESTROY', spec.name, 'ok', stopId],
    ]);
    for (const r of calls) expect(r).toMatchObject({ component: 'agent', subsystem: 'libvirt', durationMs: expect.any(Number) });

    await eventually(() => sawDomainEvent(spec.uuid, 'Stopped', 'destroyed'), { timeoutMs: 30_000, message: 'Stopped event' });
    expect(await driver.getDomain(spec.uuid)).toMatchObject({ state: 'Shutoff', reason: 'destroyed', id: -1 });
    await driver.destroyDomain(spec.uuid); // idempotent
    expect(await reasonOf(driver.suspendDomain(spec.uuid))).toMatchObject({ reason: 'InvalidState' });

    await driver.undefineDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Undefined', 'removed'), { message: 'Undefined event' });
    expect(await reasonOf(driver.getDomain(spec.uuid))).toMatchObject({ reason: 'DomainNotFound' });
    const evs = events.filter((e) => e.kind === 'domain' && e.uuid === spec.uuid);
    expect(evs.every((e) => typeof e.timestamp === 'number' && e.timestamp > 0)).toBe(true);
  });

  it('refuses a second domain with the same name or uuid', async () => {
    const { disk } = await poolAndDisk('duppool');
    const spec = smallVm(disk, 'dup');
    await driver.defineDomain(spec);
    expect(await reasonOf(driver.defineDomain({ ...spec, uuid: randomUUID() }))).toMatchObject({ reason: 'DomainExists' });
    const other = qxTestName('dup2');
    cleanup.domain(other);
    expect(await reasonOf(driver.defineDomain({ ...spec, name: other }))).toMatchObject({ reason: 'DomainExists' });
    // Redefining the same uuid+name is an update.
    expect(await driver.defineDomain({ ...spec, vcpus: 2 })).toMatchObject({ vcpus: 2 });
    await driver.undefineDomain(spec.uuid);
  });

  it('lists a domain defined out of band with virsh, without owner', async () => {
    const uuid = randomUUID();
    const name = qxTestName('foreign');
    cleanup.domain(name);
    const file = path.join(base, `${name}.xml`);
    writeFileSync(
      file,
      `<domain type='qemu'><name>${name}</name><uuid>${uuid}</uuid><memory unit='MiB'>64</memory><os><type arch='x86_64'>hvm</type></os></domain>`,
    );
    await virsh('define', file);
    await eventually(() => sawDomainEvent(uuid, 'Defined'), { message: 'Defined event of the virsh-defined domain' });
    const list = await driver.listDomains();
    expect(list.find((d) => d.uuid === uuid)).toMatchObject({ name, state: 'Shutoff', persistent: true, owner: null, memoryBytes: 64 * MiB });
    await virsh('undefine', name);
    await eventually(() => sawDomainEvent(uuid, 'Undefined'));
    expect((await driver.listDomains()).some((d) => d.uuid === uuid)).toBe(false);
  });

  it('fails an nfs pool to an unreachable server with PoolMountFailed, and stays healthy', async () => {
    const name = qxTestName('nfs');
    cleanup.pool(name);
    const target = path.join(base, name);
    await driver.definePool({ name, type: 'nfs', targetPath: target, source: { host: '127.0.0.1', dir: '/export/qx' } });
    const err = await reasonOf(driver.startPool(name));
    expect(err.reason).toBe('PoolMountFailed');
    expect(err.message).toContain('127.0.0.1:/export/qx');
    expect(err.message).toMatch(/mount/i);
    expect(err.details.libvirtCode).toBeDefined();
    const info = await driver.getPool(name);
    expect(info).toMatchObject({ type: 'netfs', state: 'Inactive', targetPath: target, source: { host: '127.0.0.1', dir: '/export/qx' } });
    expect(driver.connectionState()).toBe('connected');
    await driver.undefinePool(name);
  });

  it('lists pool files and refuses escapes', async () => {
    const { pool } = await poolAndDisk('files');
    const root = (await driver.getPool(pool)).targetPath;
    mkdirSync(path.join(root, 'isos'));
    writeFileSync(path.join(root, 'isos', 'a.iso'), 'iso');
    symlinkSync('/etc', path.join(root, 'etc-link'));
    const listing = await driver.listFiles(root, '');
    expect(listing.entries.map((e) => `${e.name}:${e.type}`)).toEqual(['etc-link:symlink', 'isos:dir', 'root.qcow2:file']);
    expect((await driver.listFiles(root, 'isos')).entries).toEqual([expect.objectContaining({ name: 'a.iso', type: 'file', sizeBytes: 3 })]);
    expect(await reasonOf(driver.listFiles(root, '../'))).toMatchObject({ reason: 'PathEscape' });
    expect(await reasonOf(driver.listFiles(root, '/etc'))).toMatchObject({ reason: 'PathEscape' });
    expect(await reasonOf(driver.listFiles(root, 'etc-link'))).toMatchObject({ reason: 'PathEscape' });
  });

  // genisoimage builds the cloud-init seed ISO the CD-ROM carries (Debian package genisoimage).
  const haveGenisoimage = existsSync('/usr/bin/genisoimage');
  (haveGenisoimage ? it : it.skip)('runs a guest with a forwarded user NIC, a seed ISO CD-ROM and the guest agent channel', async () => {
    const { disk } = await poolAndDisk('guest');
    const seedSrc = path.join(base, qxTestName('seed'));
    mkdirSync(seedSrc);
    writeFileSync(path.join(seedSrc, 'meta-data'), 'instance-id: qxtest\nlocal-hostname: qxtest-guest\n');
    writeFileSync(path.join(seedSrc, 'user-data'), '#cloud-config\n');
    const iso = path.join(base, `${qxTestName('seed')}.iso`);
    await execFileP('genisoimage', ['-quiet', '-output', iso, '-volid', 'cidata', '-joliet', '-rock', seedSrc]);
    const port = await freePort();
    const spec: DomainSpec = {
      ...smallVm(disk, 'guest'),
      domainType: 'qemu',
      disks: [{ path: disk }, { path: iso, device: 'cdrom', bus: 'sata', format: 'raw', readonly: true }],
      networks: [{ type: 'user', name: 'eth0', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: port, guestPort: 22 }] }],
    };

    // libvirt accepts the definition (VIR_DOMAIN_DEFINE_VALIDATE checks it against its schema).
    expect(await driver.defineDomain(spec)).toMatchObject({ uuid: spec.uuid, state: 'Shutoff', owner: spec.owner });
    const defined = await driver.getDomainXml(spec.uuid);
    expect(defined).toMatch(/^<domain type='qemu' xmlns:qemu='http:\/\/libvirt.org\/schemas\/domain\/qemu\/1.0'>/);
    expect(defined).toMatch(/<type arch='x86_64' machine='pc-i440fx-[^']+'>hvm<\/type>/);
    expect(defined).toMatch(
      /<disk type='file' device='cdrom'>\s*<driver name='qemu' type='raw'\/>\s*<source file='[^']+\.iso'\/>\s*<target dev='sda' bus='sata'\/>\s*<readonly\/>/,
    );
    expect(defined).toMatch(/<channel type='unix'>\s*<target type='virtio' name='org.qemu.guest_agent.0'\/>/);
    expect(defined).toContain(`<qemu:arg value='user,id=qxnet0,hostfwd=tcp:127.0.0.1:${port}-:22'/>`);
    // libvirt kept our addresses and put nothing of its own on the command-line NIC's slot 0x03.
    const slots = [...defined.matchAll(/<address type='pci' domain='0x0000' bus='0x00' slot='(0x[0-9a-f]+)' function='(0x[0-9a-f])'\/>/g)].map(
      (m) => `${m[1]}.${m[2]}`,
    );
    expect(slots).not.toContain('0x03.0x0');
    expect(new Set(slots).size).toBe(slots.length);

    await driver.startDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Started', 'booted'), { message: 'Started event' });
    // QEMU's user networking listens on the forwarded port, on loopback only, and accepts connections.
    await eventually(() => listensOnLoopback(port), { timeoutMs: 30_000, message: `QEMU listening on 127.0.0.1:${port}` });
    expect(await tcpConnects(port)).toBe(true);
    const live = await driver.getDomainXml(spec.uuid);
    expect(parseOwnerFromDomainXml(live)).toEqual(spec.owner);
    expect(await driver.getDomain(spec.uuid)).toMatchObject({ state: 'Running', owner: spec.owner });
    expect(live).toMatch(/name='org.qemu.guest_agent.0' state='disconnected'/);
    const log = readFileSync(`/var/log/libvirt/qemu/${spec.name}.log`, 'utf8');
    expect(log).toMatch(/tainted: custom-argv/);

    // A blank disk boots no OS, so no agent ever answers: an answer, not an error, and at once.
    const asked = Date.now();
    const info = await driver.guestInfo(spec.uuid);
    expect(info).toEqual({ connected: false, message: expect.stringMatching(/guest agent is not (responding|connected)/i) });
    const shutdown = await reasonOf(driver.shutdownDomain(spec.uuid, 'agent'));
    expect(shutdown.reason).toBe('GuestAgentUnavailable');
    expect(shutdown.message).toMatch(/guest agent is not responding/i);
    expect(Date.now() - asked).toBeLessThan(15_000);
    expect((await driver.getDomain(spec.uuid)).state).toBe('Running');

    await driver.destroyDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Stopped', 'destroyed'), { timeoutMs: 30_000, message: 'Stopped event' });
    expect(await driver.guestInfo(spec.uuid)).toEqual({ connected: false, message: expect.stringMatching(/not running/) });
    await eventually(async () => !(await tcpConnects(port)), { message: 'forwarded port closed with QEMU' });
    await driver.undefineDomain(spec.uuid);
    expect(await reasonOf(driver.guestInfo(spec.uuid))).toMatchObject({ reason: 'DomainNotFound' });
  });

  it('defines, starts, stops and undefines an isolated network on a free 192.168.x.0/24', async () => {
    const name = qxTestName('net');
    const bridge = `qxt${randomBytes(4).toString('hex')}`;
    cleanup.custom(async () => {
      await virshQuiet('net-destroy', name);
      await virshQuiet('net-undefine', name);
    });
    const others = (await driver.listNetworks()).flatMap((n) => (n.ipv4 ? [`${n.ipv4.address}/${n.ipv4.prefix}`] : []));
    const x = await freeSubnet(others);
    const ipv4 = { address: `192.168.${x}.1`, prefix: 24, dhcpStart: `192.168.${x}.100`, dhcpEnd: `192.168.${x}.199` };
    const spec = { name, mode: 'isolated' as const, bridgeName: bridge, ipv4 };

    const defined = await driver.defineNetwork(spec);
    expect(defined).toMatchObject({ name, active: false, persistent: true, autostart: false, mode: 'isolated', bridgeName: bridge, ipv4 });
    expect((await driver.defineNetwork(spec)).uuid).toBe(defined.uuid); // idempotent
    expect(await driver.bridgeExists(bridge)).toBe(false);

    const started = await driver.startNetwork(name);
    expect(started).toMatchObject({ active: true, autostart: true, bridgeName: bridge, ipv4 });
    await driver.startNetwork(name); // idempotent
    expect(await driver.bridgeExists(bridge)).toBe(true);
    const { stdout } = await execFileP('ip', ['-4', '-o', 'addr', 'show', 'dev', bridge]);
    expect(stdout).toContain(`inet 192.168.${x}.1/24`);
    expect((await driver.listNetworks()).find((n) => n.name === name)).toMatchObject({ uuid: defined.uuid, active: true });
    expect(await reasonOf(driver.defineNetwork({ ...spec, mode: 'nat' }))).toMatchObject({ reason: 'NetworkExists' });
    expect(await reasonOf(driver.undefineNetwork(name))).toMatchObject({ reason: 'InvalidState' });

    await driver.stopNetwork(name);
    await driver.stopNetwork(name); // idempotent
    expect(await driver.getNetwork(name)).toMatchObject({ active: false, autostart: false });
    expect(await driver.bridgeExists(bridge)).toBe(false);
    // A changed definition replaces the inactive network under the same uuid.
    expect(await driver.defineNetwork({ ...spec, ipv4: { address: `192.168.${x}.1`, prefix: 24 } })).toMatchObject({
      uuid: defined.uuid,
      ipv4: { address: `192.168.${x}.1`, prefix: 24 },
    });
    await driver.undefineNetwork(name);
    expect(await reasonOf(driver.getNetwork(name))).toMatchObject({ reason: 'NetworkNotFound' });
    expect(await reasonOf(driver.startNetwork(name))).toMatchObject({ reason: 'NetworkNotFound' });
  });

  it('survives a libvirtd restart: reconnects, the domain keeps running, events flow again', async () => {
    const { disk } = await poolAndDisk('restart');
    const spec = smallVm(disk, 'restart');
    await driver.defineDomain(spec);
    await driver.startDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Started'));

    const lostBefore = events.filter((e) => e.kind === 'connection' && e.state === 'lost').length;
    const restoredBefore = events.filter((e) => e.kind === 'connection' && e.state === 'restored').length;
    const { stdout } = await execFileP('pgrep', ['-x', 'libvirtd']);
    const pid = Number(stdout.trim().split('\n')[0]);
    expect(pid).toBeGreaterThan(0);
    process.kill(pid, 'SIGTERM');
    await eventually(() => events.filter((e) => e.kind === 'connection' && e.state === 'lost').length > lostBefore, { message: 'connection lost event' });
    expect(await reasonOf(driver.listDomains())).toMatchObject({ reason: 'HypervisorUnavailable' });
    await eventually(() => !existsSync(`/proc/${pid}`), { timeoutMs: 30_000, message: 'old libvirtd exits' });
    await execFileP('libvirtd', ['-d']);
    await waitForLibvirt();
    await eventually(() => events.filter((e) => e.kind === 'connection' && e.state === 'restored').length > restoredBefore, {
      timeoutMs: 30_000,
      message: 'connection restored event',
    });
    expect(driver.connectionState()).toBe('connected');
    expect(await driver.getDomain(spec.uuid)).toMatchObject({ state: 'Running', owner: spec.owner });

    // Events registered again on the new connection.
    await virsh('suspend', spec.name);
    await eventually(() => sawDomainEvent(spec.uuid, 'Suspended'), { message: 'Suspended event after reconnect' });
    await driver.destroyDomain(spec.uuid);
    await eventually(() => sawDomainEvent(spec.uuid, 'Stopped', 'destroyed'), { timeoutMs: 30_000, message: 'Stopped event after reconnect' });
    await driver.undefineDomain(spec.uuid);
  });
});
