import { randomUUID } from 'node:crypto';
import { eventually } from '../../../hack/testenv/eventually.js';
import type { DomainSpec, HypervisorEvent } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { SimDriver } from './driver.js';

const MiB = 1024 * 1024;

async function setup(opts: ConstructorParameters<typeof SimDriver>[0] = {}): Promise<{ sim: SimDriver; events: HypervisorEvent[] }> {
  const sim = new SimDriver(opts);
  const events: HypervisorEvent[] = [];
  sim.subscribe((e) => events.push(e));
  await sim.connect();
  return { sim, events };
}

async function poolWithDisk(sim: SimDriver, pool = 'local'): Promise<string> {
  await sim.definePool({ name: pool, type: 'dir', targetPath: `/var/lib/qx/${pool}` });
  await sim.startPool(pool);
  const v = await sim.createVolume(pool, { name: `disk-${randomUUID().slice(0, 8)}.qcow2`, capacityBytes: 10 * 1024 * MiB });
  return v.path;
}

function vmSpec(disk: string, over: Partial<DomainSpec> = {}): DomainSpec {
  const uuid = randomUUID();
  return {
    uuid,
    name: `vm-${uuid.slice(0, 8)}`,
    vcpus: 2,
    memoryBytes: 512 * MiB,
    disks: [{ path: disk }],
    networks: [{ type: 'user' }],
    owner: { namespace: 'default', name: 'web', uid: uuid },
    ...over,
  };
}

const domainEvents = (events: HypervisorEvent[], uuid: string): string[] =>
  events.flatMap((e) => (e.kind === 'domain' && e.uuid === uuid ? [`${e.type}:${e.detail}`] : []));

const reasonOf = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HypervisorError);
  return (err as HypervisorError).reason;
};

describe('SimDriver domains', () => {
  it('walks the lifecycle with libvirt-like states, reasons and events', async () => {
    const { sim, events } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    const defined = await sim.defineDomain(spec);
    expect(defined).toMatchObject({ uuid: spec.uuid, state: 'Shutoff', id: -1, persistent: true, vcpus: 2, memoryBytes: 512 * MiB, owner: spec.owner });

    await sim.startDomain(spec.uuid);
    expect(await sim.getDomain(spec.uuid)).toMatchObject({ state: 'Running', reason: 'booted' });
    expect((await sim.getDomain(spec.uuid)).id).toBeGreaterThan(0);
    await sim.suspendDomain(spec.uuid);
    expect(await sim.getDomain(spec.uuid)).toMatchObject({ state: 'Paused', reason: 'user' });
    await sim.resumeDomain(spec.uuid);
    await sim.destroyDomain(spec.uuid);
    expect(await sim.getDomain(spec.uuid)).toMatchObject({ state: 'Shutoff', reason: 'destroyed', id: -1 });
    await sim.undefineDomain(spec.uuid);
    expect(await reasonOf(sim.getDomain(spec.uuid))).toBe('DomainNotFound');

    await eventually(() => domainEvents(events, spec.uuid).length === 8);
    expect(domainEvents(events, spec.uuid)).toEqual([
      'Defined:added',
      'Resumed:unpaused',
      'Started:booted',
      'Suspended:paused',
      'Resumed:unpaused',
      'Shutdown:host',
      'Stopped:destroyed',
      'Undefined:removed',
    ]);
  });

  it('is idempotent towards the target state and typed otherwise', async () => {
    const { sim } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    await sim.destroyDomain(spec.uuid); // already off
    await sim.shutdownDomain(spec.uuid); // already off
    expect(await reasonOf(sim.suspendDomain(spec.uuid))).toBe('InvalidState');
    await sim.startDomain(spec.uuid);
    await sim.startDomain(spec.uuid);
    await sim.resumeDomain(spec.uuid);
    await sim.suspendDomain(spec.uuid);
    await sim.suspendDomain(spec.uuid);
    expect(await reasonOf(sim.shutdownDomain(spec.uuid))).toBe('InvalidState');
    expect(await reasonOf(sim.getDomain('not-a-uuid'))).toBe('InvalidSpec');
  });

  it('shuts down gracefully after the ACPI delay, or not at all when the guest ignores it', async () => {
    const { sim, events } = await setup({ acpiShutdownDelayMs: 5 });
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    await sim.startDomain(spec.uuid);
    await sim.shutdownDomain(spec.uuid);
    await eventually(async () => (await sim.getDomain(spec.uuid)).state === 'Shutoff');
    expect((await sim.getDomain(spec.uuid)).reason).toBe('shutdown');
    await eventually(() => domainEvents(events, spec.uuid).includes('Stopped:shutdown'));
    expect(domainEvents(events, spec.uuid)).toContain('Shutdown:guest');

    sim.setAcpiShutdownDelay(null);
    await sim.startDomain(spec.uuid);
    await sim.shutdownDomain(spec.uuid);
    await new Promise((r) => setImmediate(r));
    expect((await sim.getDomain(spec.uuid)).state).toBe('Running');
    await sim.close();
  });

  it('redefines with the same uuid, refuses name/uuid clashes', async () => {
    const { sim, events } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    const updated = await sim.defineDomain({ ...spec, vcpus: 4 });
    expect(updated.vcpus).toBe(4);
    expect(await reasonOf(sim.defineDomain({ ...spec, name: 'other-name' }))).toBe('DomainExists');
    expect(await reasonOf(sim.defineDomain({ ...spec, uuid: randomUUID() }))).toBe('DomainExists');
    await eventually(() => domainEvents(events, spec.uuid).includes('Defined:updated'));
  });

  it('keeps running config until restart after a redefine', async () => {
    const { sim } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    await sim.startDomain(spec.uuid);
    await sim.defineDomain({ ...spec, vcpus: 8 });
    expect((await sim.getDomain(spec.uuid)).vcpus).toBe(2);
    await sim.destroyDomain(spec.uuid);
    expect((await sim.getDomain(spec.uuid)).vcpus).toBe(8);
  });

  it('refuses to start a domain whose disk is not a volume of a running pool', async () => {
    const { sim } = await setup();
    const spec = vmSpec('/nowhere/disk.qcow2');
    await sim.defineDomain(spec);
    expect(await reasonOf(sim.startDomain(spec.uuid))).toBe('OperationFailed');
    sim.addHostFile('/nowhere/disk.qcow2');
    await sim.startDomain(spec.uuid);
  });

  it('undefine of a running domain leaves it transient; destroying it then removes it', async () => {
    const { sim, events } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    await sim.startDomain(spec.uuid);
    await sim.undefineDomain(spec.uuid);
    expect(await sim.getDomain(spec.uuid)).toMatchObject({ state: 'Running', persistent: false });
    await sim.destroyDomain(spec.uuid);
    expect(await reasonOf(sim.getDomain(spec.uuid))).toBe('DomainNotFound');
    await eventually(() => domainEvents(events, spec.uuid).at(-1) === 'Stopped:destroyed');
  });

  it('crashes a domain on request', async () => {
    const { sim, events } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    await sim.startDomain(spec.uuid);
    sim.crashDomain(spec.uuid);
    expect(await sim.getDomain(spec.uuid)).toMatchObject({ state: 'Shutoff', reason: 'crashed' });
    await eventually(() => domainEvents(events, spec.uuid).slice(-2).join() === 'Crashed:panicked,Stopped:crashed');
  });

  it('reports foreign domains without owner', async () => {
    const { sim } = await setup();
    const uuid = randomUUID();
    sim.defineForeignDomain({ uuid, name: 'handmade', vcpus: 1, memoryBytes: 64 * MiB, disks: [], networks: [] });
    const list = await sim.listDomains();
    expect(list.find((d) => d.uuid === uuid)).toMatchObject({ name: 'handmade', owner: null });
  });

  it('injects define failures for a number of calls', async () => {
    const { sim } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    sim.injectFailure('defineDomain', 'OperationFailed', 'disk full', 2);
    expect(await reasonOf(sim.defineDomain(spec))).toBe('OperationFailed');
    expect(await reasonOf(sim.defineDomain(spec))).toBe('OperationFailed');
    await expect(sim.defineDomain(spec)).resolves.toMatchObject({ uuid: spec.uuid });
  });
});

describe('SimDriver host connection', () => {
  it('goes away and comes back with connection events; calls fail typed meanwhile; domains survive', async () => {
    const { sim, events } = await setup();
    const spec = vmSpec(await poolWithDisk(sim));
    await sim.defineDomain(spec);
    await sim.startDomain(spec.uuid);
    sim.hypervisorDown('libvirtd restarting');
    expect(sim.connectionState()).toBe('connecting');
    expect(await reasonOf(sim.listDomains())).toBe('HypervisorUnavailable');
    sim.hypervisorUp();
    expect(sim.connectionState()).toBe('connected');
    expect((await sim.getDomain(spec.uuid)).state).toBe('Running');
    await eventually(() => events.filter((e) => e.kind === 'connection').length === 2);
    expect(events.filter((e) => e.kind === 'connection').map((e) => (e.kind === 'connection' ? e.state : ''))).toEqual(['lost', 'restored']);
    expect(sim.callCounts.get('listDomains')).toBe(1);
  });
});

describe('SimDriver storage', () => {
  it('defines, starts, reports, stops and undefines pools without losing data', async () => {
    const { sim, events } = await setup({ poolCapacityBytes: 1000 * MiB });
    const inactive = await sim.definePool({ name: 'p1', type: 'dir', targetPath: '/srv/p1' });
    expect(inactive).toMatchObject({ state: 'Inactive', capacityBytes: 0, type: 'dir', targetPath: '/srv/p1', volumeCount: 0 });
    expect(await sim.definePool({ name: 'p1', type: 'dir', targetPath: '/srv/p1' })).toMatchObject({ name: 'p1' });
    const running = await sim.startPool('p1');
    expect(running).toMatchObject({ state: 'Running', capacityBytes: 1000 * MiB });
    await sim.createVolume('p1', { name: 'a.qcow2', capacityBytes: 5 * MiB });
    expect(await reasonOf(sim.createVolume('p1', { name: 'a.qcow2', capacityBytes: 5 * MiB }))).toBe('VolumeExists');
    const refreshed = await sim.refreshPool('p1');
    expect(refreshed.volumeCount).toBe(1);
    expect(refreshed.allocationBytes).toBeGreaterThan(0);
    expect(refreshed.availableBytes).toBe(refreshed.capacityBytes - refreshed.allocationBytes);
    expect(await sim.volumePath('p1', 'a.qcow2')).toBe('/srv/p1/a.qcow2');
    expect(await reasonOf(sim.undefinePool('p1'))).toBe('InvalidState');
    await sim.stopPool('p1');
    await sim.stopPool('p1');
    expect(await reasonOf(sim.createVolume('p1', { name: 'b.qcow2', capacityBytes: MiB }))).toBe('PoolInactive');
    await sim.startPool('p1');
    expect((await sim.listVolumes('p1')).map((v) => v.name)).toEqual(['a.qcow2']);
    await sim.deleteVolume('p1', 'a.qcow2');
    expect(await reasonOf(sim.getVolume('p1', 'a.qcow2'))).toBe('VolumeNotFound');
    await sim.stopPool('p1');
    await sim.undefinePool('p1');
    expect(await reasonOf(sim.getPool('p1'))).toBe('PoolNotFound');
    await eventually(() => events.filter((e) => e.kind === 'pool').length >= 7);
    expect(events.flatMap((e) => (e.kind === 'pool' ? [e.type] : []))).toEqual([
      'Defined',
      'Created',
      'Started',
      'Stopped',
      'Created',
      'Started',
      'Stopped',
      'Undefined',
    ]);
  });

  it('fails nfs mounts visibly and reports faults of running pools', async () => {
    const { sim } = await setup();
    await sim.definePool({ name: 'nas', type: 'nfs', targetPath: '/mnt/nas', source: { host: '192.0.2.1', dir: '/export' } });
    sim.setPoolMountFailure('nas', 'mount.nfs: Connection timed out');
    const err = await sim.startPool('nas').catch((e: unknown) => e as HypervisorError);
    expect(err).toMatchObject({ reason: 'PoolMountFailed' });
    expect((err as HypervisorError).message).toMatch(/192\.0\.2\.1:\/export.*Connection timed out/);
    expect((await sim.getPool('nas')).state).toBe('Inactive');
    sim.setPoolMountFailure('nas', null);
    expect(await sim.startPool('nas')).toMatchObject({ state: 'Running', source: { host: '192.0.2.1', dir: '/export' } });
    sim.setPoolFault('nas', { state: 'Inaccessible', message: 'stale file handle' });
    expect((await sim.getPool('nas')).state).toBe('Inaccessible');
    expect(await reasonOf(sim.refreshPool('nas'))).toBe('OperationFailed');
    sim.setPoolFault('nas', null);
    expect((await sim.refreshPool('nas')).state).toBe('Running');
    expect(await reasonOf(sim.definePool({ name: 'nas', type: 'dir', targetPath: '/mnt/other' }))).toBe('PoolExists');
  });

  it('browses the pool file tree and refuses escapes', async () => {
    const { sim } = await setup();
    await sim.definePool({ name: 'p', type: 'dir', targetPath: '/srv/p' });
    await sim.startPool('p');
    await sim.createVolume('p', { name: 'disk.qcow2', capacityBytes: MiB });
    sim.addPoolFile('p', 'isos/debian.iso', { type: 'file', sizeBytes: 4096 });
    sim.addPoolFile('p', 'iso-link', { type: 'symlink', target: 'isos' });
    sim.addPoolFile('p', 'escape', { type: 'symlink', target: '/etc' });
    sim.addPoolFile('p', 'isos/up', { type: 'symlink', target: '../../..' });
    const root = await sim.listFiles('/srv/p', '');
    expect(root.entries.map((e) => `${e.name}:${e.type}`)).toEqual(['disk.qcow2:file', 'escape:symlink', 'iso-link:symlink', 'isos:dir']);
    expect((await sim.listFiles('/srv/p', 'iso-link')).entries.map((e) => e.name)).toEqual(['debian.iso', 'up']);
    expect((await sim.listFiles('/srv/p', 'isos')).entries[0]).toMatchObject({ name: 'debian.iso', sizeBytes: 4096 });
    expect(await reasonOf(sim.listFiles('/srv/p', '../'))).toBe('PathEscape');
    expect(await reasonOf(sim.listFiles('/srv/p', '/etc'))).toBe('PathEscape');
    expect(await reasonOf(sim.listFiles('/srv/p', 'escape'))).toBe('PathEscape');
    expect(await reasonOf(sim.listFiles('/srv/p', 'isos/up'))).toBe('PathEscape');
    expect(await reasonOf(sim.listFiles('/srv/p', 'missing'))).toBe('PathNotFound');
    expect(await reasonOf(sim.listFiles('/srv/p', 'disk.qcow2'))).toBe('PathNotFound');
  });
});

describe('SimDriver at scale', () => {
  it('runs 300 hollow hosts with 20 domains each', async () => {
    const hosts = await Promise.all(Array.from({ length: 300 }, (_, i) => setup({ hostname: `node-${i}` })));
    await Promise.all(
      hosts.map(async ({ sim }) => {
        const disk = await poolWithDisk(sim);
        for (let i = 0; i < 20; i++) {
          const spec = vmSpec(disk);
          await sim.defineDomain(spec);
          await sim.startDomain(spec.uuid);
        }
      }),
    );
    const counts = await Promise.all(hosts.map(async ({ sim }) => (await sim.listDomains()).filter((d) => d.state === 'Running').length));
    expect(counts.every((c) => c === 20)).toBe(true);
    await eventually(() => hosts.every(({ events }) => events.filter((e) => e.kind === 'domain').length === 60));
  });
});
