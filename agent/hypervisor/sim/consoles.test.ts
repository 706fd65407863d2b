import { randomUUID } from 'node:crypto';
import { eventually } from '../../../hack/testenv/eventually.js';
import type { ConsoleChannel, ConsoleEndReason } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { RFB_GREETING } from './consoles.js';
import { SimDriver } from './driver.js';

const MiB = 1024 * 1024;

async function runningDomain(): Promise<{ sim: SimDriver; uuid: string; name: string }> {
  const sim = new SimDriver();
  await sim.connect();
  await sim.definePool({ name: 'local', type: 'dir', targetPath: '/var/lib/qx/local' });
  await sim.startPool('local');
  const disk = await sim.createVolume('local', { name: 'disk.qcow2', capacityBytes: 1024 * MiB });
  const uuid = randomUUID();
  const name = `vm-${uuid.slice(0, 8)}`;
  await sim.defineDomain({
    uuid,
    name,
    vcpus: 1,
    memoryBytes: 256 * MiB,
    disks: [{ path: disk.path }],
    networks: [],
    owner: { namespace: 'default', name: 'web', uid: uuid },
  });
  await sim.startDomain(uuid);
  return { sim, uuid, name };
}

/** Everything a channel sends, and how it ended. */
function record(channel: ConsoleChannel) {
  const seen = { data: '', ended: [] as [ConsoleEndReason, string][] };
  channel.onData((d) => {
    seen.data += d.toString('utf8');
  });
  channel.onClose((reason, message) => seen.ended.push([reason, message]));
  return seen;
}

const reasonOf = async (p: Promise<unknown>): Promise<string> => {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(HypervisorError);
  return (err as HypervisorError).reason;
};

describe('SimDriver consoles', () => {
  it('the serial console echoes what is written, and close ends it once with "closed"', async () => {
    const { sim, uuid } = await runningDomain();
    const channel = await sim.openConsole(uuid, 'serial');
    const seen = record(channel);
    channel.write(Buffer.from('hostname\r'));
    await eventually(() => expect(seen.data).toBe('hostname\r'));
    channel.close();
    channel.close();
    expect(seen.ended).toEqual([['closed', 'the console session was closed']]);
    expect(sim.openConsoleCount).toBe(0);
    // A closed session frees the console: a new one opens without force.
    const again = await sim.openConsole(uuid, 'serial');
    expect(sim.openConsoleCount).toBe(1);
    again.close();
  });

  it('holds one serial session: a second is refused with ConsoleTaken, with force the first ends "taken"', async () => {
    const { sim, uuid, name } = await runningDomain();
    const first = await sim.openConsole(uuid, 'serial');
    const firstSeen = record(first);
    expect(await reasonOf(sim.openConsole(uuid, 'serial'))).toBe('ConsoleTaken');
    expect(firstSeen.ended).toEqual([]);
    const second = await sim.openConsole(uuid, 'serial', { force: true });
    expect(firstSeen.ended).toEqual([['taken', `another session took over the serial console of domain '${name}'`]]);
    expect(sim.openConsoleCount).toBe(1);
    // The first session's writes go nowhere now; the second one echoes.
    const secondSeen = record(second);
    first.write(Buffer.from('lost'));
    second.write(Buffer.from('kept'));
    await eventually(() => expect(secondSeen.data).toBe('kept'));
    second.close();
  });

  it('vnc sends the RFB greeting, then echoes; it does not take the serial console', async () => {
    const { sim, uuid } = await runningDomain();
    const serial = await sim.openConsole(uuid, 'serial');
    const vnc = await sim.openConsole(uuid, 'vnc');
    const seen = record(vnc);
    await eventually(() => expect(seen.data).toBe(RFB_GREETING));
    vnc.write(Buffer.from(RFB_GREETING));
    await eventually(() => expect(seen.data).toBe(RFB_GREETING + RFB_GREETING));
    expect(sim.openConsoleCount).toBe(2);
    vnc.close();
    serial.close();
    expect(sim.openConsoleCount).toBe(0);
  });

  it.each([
    ['destroyed', (sim: SimDriver, uuid: string) => sim.destroyDomain(uuid)],
    ['crashed', async (sim: SimDriver, uuid: string) => sim.crashDomain(uuid)],
    ['shutdown', async (sim: SimDriver, uuid: string) => sim.guestPowerOff(uuid)],
  ])('sessions end "stopped" when the domain stops (%s)', async (detail, stop) => {
    const { sim, uuid, name } = await runningDomain();
    const serial = record(await sim.openConsole(uuid, 'serial'));
    const vnc = record(await sim.openConsole(uuid, 'vnc'));
    await stop(sim, uuid);
    expect(serial.ended).toEqual([['stopped', `domain '${name}' stopped (${detail})`]]);
    expect(vnc.ended).toEqual([['stopped', `domain '${name}' stopped (${detail})`]]);
    expect(sim.openConsoleCount).toBe(0);
  });

  it('a running domain undefined (made transient) then destroyed ends its sessions "stopped"', async () => {
    const { sim, uuid } = await runningDomain();
    const serial = record(await sim.openConsole(uuid, 'serial'));
    await sim.undefineDomain(uuid);
    expect(serial.ended).toEqual([]);
    await sim.destroyDomain(uuid);
    expect(serial.ended.map(([r]) => r)).toEqual(['stopped']);
    expect(await reasonOf(sim.getDomain(uuid))).toBe('DomainNotFound');
  });

  it('sessions end "error" when the hypervisor goes away', async () => {
    const { sim, uuid } = await runningDomain();
    const serial = record(await sim.openConsole(uuid, 'serial'));
    sim.hypervisorDown('libvirtd restarted');
    expect(serial.ended).toEqual([['error', 'the console stream failed: libvirtd restarted']]);
    expect(await reasonOf(sim.openConsole(uuid, 'serial'))).toBe('HypervisorUnavailable');
  });

  it('refuses a domain that is unknown or not running, and an unknown kind', async () => {
    const { sim, uuid } = await runningDomain();
    expect(await reasonOf(sim.openConsole(randomUUID(), 'serial'))).toBe('DomainNotFound');
    expect(await reasonOf(sim.openConsole(uuid, 'spice' as 'vnc'))).toBe('InvalidSpec');
    await sim.destroyDomain(uuid);
    expect(await reasonOf(sim.openConsole(uuid, 'serial'))).toBe('InvalidState');
    expect(await reasonOf(sim.openConsole(uuid, 'vnc'))).toBe('InvalidState');
    expect(sim.openConsoleCount).toBe(0);
  });
});
