/**
 * The libvirt driver against the real libvirtd (qemu:///system) and QEMU/KVM of this host.
 * Every object is named qxtest-* and removed in afterAll, even after failures.
 */
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { jest } from '@jest/globals';
import { eventually } from '../../../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh, waitForLibvirt } from '../../../hack/testenv/libvirt.js';
import type { DomainEventType, DomainSpec, HypervisorEvent } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { LibvirtDriver } from './driver.js';

const execFileP = promisify(execFile);
const MiB = 1024 * 1024;

jest.setTimeout(120_000);

describe('LibvirtDriver against libvirtd', () => {
  const cleanup = new LibvirtCleanup();
  const events: HypervisorEvent[] = [];
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

    // Sitting in the BIOS, the guest ignores ACPI; the request itself is accepted.
    await driver.shutdownDomain(spec.uuid);

    await driver.destroyDomain(spec.uuid);
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
