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

describe('SimDriver guest agent', () => {
  it('answers for running domains with deterministic guest info', async () => {
    const { sim } = await setup();
    await sim.defineNetwork({
      name: 'lan',
      mode: 'nat',
      ipv4: { address: '192.168.150.1', prefix: 24, dhcpStart: '192.168.150.100', dhcpEnd: '192.168.150.199' },
    });
    await sim.startNetwork('lan');
    const spec = vmSpec(await poolWithDisk(sim), {
      networks: [
        { type: 'user', mac: '52:54:00:12:34:56', portForwards: [{ protocol: 'tcp', hostAddress: '127.0.0.1', hostPort: 2222, guestPort: 22 }] },
        { type: 'network', network: 'lan', mac: '02:00:00:00:01:02' },
        { type: 'bridge', bridge: 'br0', mac: '52:54:00:0a:0b:0c' },
      ],
    });
    await sim.defineDomain(spec);
    expect(await sim.guestInfo(spec.uuid)).toEqual({ connected: false, message: 'Requested operation is not valid: domain is not running' });
    await sim.startDomain(spec.uuid);
    const info = await sim.guestInfo(spec.uuid);
    expect(info).toMatchObject({
      connected: true,
      hostname: 'web',
      timezone: 'UTC',
      os: { id: 'debian', prettyName: 'Debian GNU/Linux 12 (bookworm)', versionId: '12', machine: 'x86_64' },
    });
    expect(info.interfaces).toEqual([
      {
        name: 'lo',
        mac: '00:00:00:00:00:00',
        addresses: [
          { ip: '127.0.0.1', prefix: 8, family: 'ipv4' },
          { ip: '::1', prefix: 128, family: 'ipv6' },
        ],
      },
      {
        name: 'enp0s3',
        mac: '52:54:00:12:34:56',
        addresses: [
          { ip: '10.0.2.15', prefix: 24, family: 'ipv4' },
          { ip: 'fe80::5054:ff:fe12:3456', prefix: 64, family: 'ipv6' },
        ],
      },
      {
        name: 'enp0s4',
        mac: '02:00:00:00:01:02',
        addresses: [
          { ip: '192.168.150.158', prefix: 24, family: 'ipv4' }, // 100 + (0x000102 % 100)
          { ip: 'fe80::ff:fe00:102', prefix: 64, family: 'ipv6' },
        ],
      },
      {
        name: 'enp0s5',
        mac: '52:54:00:0a:0b:0c',
        addresses: [
          { ip: '10.11.12.12', prefix: 24, family: 'ipv4' },
          { ip: 'fe80::5054:ff:fe0a:b0c', prefix: 64, family: 'ipv6' },
        ],
      },
    ]);
    expect(await sim.guestInfo(spec.uuid)).toEqual(info);
    expect(await reasonOf(sim.guestInfo(randomUUID()))).toBe('DomainNotFound');
  });

  it('has no agent without the channel or while it does not respond; agent shutdowns need one', async () => {
    const { sim, events } = await setup();
    const disk = await poolWithDisk(sim);
    const noChannel = vmSpec(disk, { guestAgent: false });
    await sim.defineDomain(noChannel);
    await sim.startDomain(noChannel.uuid);
    const notConnected = { connected: false, message: 'Guest agent is not responding: QEMU guest agent is not connected' };
    expect(await sim.guestInfo(noChannel.uuid)).toEqual(notConnected);
    expect(await reasonOf(sim.shutdownDomain(noChannel.uuid, 'agent'))).toBe('GuestAgentUnavailable');

    const spec = vmSpec(disk);
    await sim.defineDomain(spec);
    await sim.startDomain(spec.uuid);
    sim.setGuestAgentResponding(spec.uuid, false);
    expect(await sim.guestInfo(spec.uuid)).toEqual(notConnected);
    expect(await reasonOf(sim.shutdownDomain(spec.uuid, 'agent'))).toBe('GuestAgentUnavailable');
    sim.setGuestAgentResponding(spec.uuid, true);
    expect((await sim.guestInfo(spec.uuid)).connected).toBe(true);
    await sim.shutdownDomain(spec.uuid, 'agent');
    await eventually(() => domainEvents(events, spec.uuid).includes('Stopped:shutdown'));
    expect(await sim.getDomain(spec.uuid)).toMatchObject({ state: 'Shutoff', reason: 'shutdown' });
    await sim.shutdownDomain(spec.uuid, 'agent'); // already off
    expect(await reasonOf(sim.shutdownDomain(spec.uuid, 'reboot' as 'acpi'))).toBe('InvalidSpec');
  });

  it('keeps the domain type per domain and refuses bad port forwards like libvirt', async () => {
    const { sim } = await setup({ domainType: 'kvm' });
    const disk = await poolWithDisk(sim);
    const tcg = vmSpec(disk, { domainType: 'qemu' });
    await sim.defineDomain(tcg);
    expect(await sim.getDomainXml(tcg.uuid)).toContain('<domain type="qemu">');
    const bad = vmSpec(disk, {
      networks: [{ type: 'user', name: 'ssh', portForwards: [{ protocol: 'tcp', hostAddress: 'localhost', hostPort: 22, guestPort: 22 }] }],
    });
    const err = (await sim.defineDomain(bad).catch((e: unknown) => e)) as HypervisorError;
    expect(err.reason).toBe('InvalidSpec');
    expect(err.message).toMatch(/^network "ssh" \(NIC 0\): port forward host address must be an IPv4 literal/);
  });
});

describe('SimDriver networks', () => {
  it('defines idempotently, starts with autostart and a bridge, stops, undefines', async () => {
    const { sim } = await setup();
    const spec = { name: 'lan', mode: 'isolated' as const, ipv4: { address: '192.168.150.1', prefix: 24 } };
    const defined = await sim.defineNetwork(spec);
    expect(defined).toMatchObject({ name: 'lan', active: false, persistent: true, autostart: false, mode: 'isolated', bridgeName: 'virbr0', ipv4: spec.ipv4 });
    expect((await sim.defineNetwork(spec)).uuid).toBe(defined.uuid);
    expect(await sim.bridgeExists('virbr0')).toBe(false);
    expect(await sim.startNetwork('lan')).toMatchObject({ active: true, autostart: true });
    await sim.startNetwork('lan');
    expect(await sim.bridgeExists('virbr0')).toBe(true);
    expect(await reasonOf(sim.defineNetwork({ ...spec, mode: 'nat' }))).toBe('NetworkExists');
    expect(await reasonOf(sim.undefineNetwork('lan'))).toBe('InvalidState');
    expect((await sim.listNetworks()).map((n) => n.name)).toEqual(['lan']);
    await sim.stopNetwork('lan');
    await sim.stopNetwork('lan');
    expect(await sim.getNetwork('lan')).toMatchObject({ active: false, autostart: false });
    expect(await sim.bridgeExists('virbr0')).toBe(false);
    // A changed definition replaces an inactive network, keeping its uuid.
    expect(await sim.defineNetwork({ ...spec, mode: 'nat' })).toMatchObject({ uuid: defined.uuid, mode: 'nat' });
    await sim.undefineNetwork('lan');
    expect(await reasonOf(sim.getNetwork('lan'))).toBe('NetworkNotFound');
    expect(await reasonOf(sim.startNetwork('lan'))).toBe('NetworkNotFound');
  });

  it('refuses a bridge name in use, and knows host bridges', async () => {
    const { sim } = await setup({ bridges: ['br0'] });
    await sim.defineNetwork({ name: 'a', mode: 'nat', bridgeName: 'qxbr1' });
    expect(await reasonOf(sim.defineNetwork({ name: 'b', mode: 'nat', bridgeName: 'qxbr1' }))).toBe('NetworkExists');
    expect(await reasonOf(sim.defineNetwork({ name: 'b', mode: 'nat', ipv4: { address: '10.0.0.0', prefix: 24 } }))).toBe('InvalidSpec');
    expect(await sim.bridgeExists('br0')).toBe(true);
    sim.setBridge('br0', false);
    sim.setBridge('br1', true);
    expect(await sim.bridgeExists('br0')).toBe(false);
    expect(await sim.bridgeExists('br1')).toBe(true);
    expect(await reasonOf(sim.bridgeExists('bad/name'))).toBe('InvalidSpec');
  });

  it('with strictNetworks, starts a domain only when its networks and bridges are there', async () => {
    const { sim } = await setup({ strictNetworks: true });
    const disk = await poolWithDisk(sim);
    const spec = vmSpec(disk, {
      networks: [
        { type: 'network', network: 'lan', name: 'eth0' },
        { type: 'bridge', bridge: 'br0' },
      ],
    });
    await sim.defineDomain(spec);
    expect(await reasonOf(sim.startDomain(spec.uuid))).toBe('NetworkNotFound');
    await sim.defineNetwork({ name: 'lan', mode: 'isolated' });
    const inactive = (await sim.startDomain(spec.uuid).catch((e: unknown) => e)) as HypervisorError;
    expect(inactive.message).toMatch(/^network "eth0" \(NIC 0\): .*not active/);
    await sim.startNetwork('lan');
    expect((await sim.startDomain(spec.uuid).catch((e: unknown) => e)) as HypervisorError).toMatchObject({
      reason: 'OperationFailed',
      message: expect.stringMatching(/^NIC 1: .*br0/),
    });
    sim.setBridge('br0', true);
    await sim.startDomain(spec.uuid);
    expect((await sim.getDomain(spec.uuid)).state).toBe('Running');
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
