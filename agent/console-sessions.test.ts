import { describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { VirtualMachine } from '../api-types/generated/types.js';
import type { ConsoleFrame, OpenConsoleRequest } from '../api-types/proto/types.js';
import { eventually } from '../hack/testenv/eventually.js';
import { createLogger } from '../lib/logging/logger.js';
import { ConsoleSessions, MAX_QUEUED_CONSOLE_BYTES, consoleEndReason } from './console-sessions.js';
import type { GatewayClient } from './gateway-client.js';
import { SimDriver } from './hypervisor/sim/driver.js';

/** A ConsoleSession client stream that records what the agent writes; `flush` false never acknowledges a write (a stalled gateway). */
class FakeStream extends EventEmitter {
  readonly written: ConsoleFrame[] = [];
  ended = false;
  cancelled = false;
  constructor(private readonly flush = true) {
    super();
  }
  write(frame: ConsoleFrame, cb?: () => void): boolean {
    this.written.push(frame);
    if (this.flush) cb?.();
    return true;
  }
  end(): void {
    this.ended = true;
  }
  cancel(): void {
    this.cancelled = true;
    this.emit('error', new Error('cancelled'));
  }
}

async function setup(flush = true) {
  const sim = new SimDriver();
  await sim.connect();
  await sim.definePool({ name: 'local', type: 'dir', targetPath: '/var/lib/qx/local' });
  await sim.startPool('local');
  const disk = await sim.createVolume('local', { name: 'd.qcow2', capacityBytes: 1024 ** 3 });
  const uid = randomUUID();
  await sim.defineDomain({
    uuid: uid,
    name: 'web',
    vcpus: 1,
    memoryBytes: 256 * 1024 ** 2,
    disks: [{ path: disk.path }],
    networks: [],
    owner: { namespace: 'default', name: 'web', uid },
  });
  await sim.startDomain(uid);
  const vm = { metadata: { namespace: 'default', name: 'web', uid }, spec: { nodeName: 'n1' }, status: { domainUUID: uid } } as unknown as VirtualMachine;
  const streams: FakeStream[] = [];
  const client = {
    consoleSession: () => {
      const s = new FakeStream(flush);
      streams.push(s);
      return s;
    },
  } as unknown as GatewayClient;
  const sessions = new ConsoleSessions(
    client,
    sim,
    (ns, name) => (ns === 'default' && name === 'web' ? vm : undefined),
    () => 'n1',
    createLogger('test'),
  );
  const request = (over: Partial<OpenConsoleRequest> = {}): OpenConsoleRequest => ({
    sessionId: randomUUID(),
    namespace: 'default',
    name: 'web',
    domainUuid: uid,
    kind: 'serial',
    force: false,
    ...over,
  });
  return { sim, uid, sessions, streams, request };
}

describe('ConsoleSessions (the agent end)', () => {
  it('refuses VMs not bound here, another domain, an unknown kind, and passes the driver refusal on', async () => {
    const { sessions, request, streams } = await setup();
    expect(await sessions.open(request({ name: 'other' }))).toEqual({ reason: 'VMNotFound', message: 'VM default/other is not bound to node n1' });
    const stranger = randomUUID();
    expect(await sessions.open(request({ domainUuid: stranger }))).toEqual({
      reason: 'DomainNotFound',
      message: `domain ${stranger} is not the domain of VM default/web`,
    });
    expect(await sessions.open(request({ kind: 'spice' }))).toEqual({ reason: 'InvalidSpec', message: 'unknown console kind "spice" (serial, vnc)' });
    expect(await sessions.open(request())).toBeUndefined();
    expect((await sessions.open(request()))?.reason).toBe('ConsoleTaken');
    expect(streams).toHaveLength(1);
    expect(sessions.count).toBe(1);
  });

  it('opens its stream with the session id, carries bytes both ways, and the stream ending closes the console', async () => {
    const { sim, sessions, request, streams } = await setup();
    const req = request();
    expect(await sessions.open(req)).toBeUndefined();
    const stream = streams[0]!;
    expect(stream.written[0]).toEqual({ sessionId: req.sessionId });
    stream.emit('data', { data: Buffer.from('ls\r') });
    await eventually(() => expect(stream.written.slice(1).map((f) => f.data?.toString())).toEqual(['ls\r']));
    stream.emit('end');
    expect(sessions.count).toBe(0);
    expect(sim.openConsoleCount).toBe(0);
  });

  it('the console ending (VM stopped) sends the reason as the last frame and ends the stream', async () => {
    const { sim, uid, sessions, request, streams } = await setup();
    await sessions.open(request());
    await sim.destroyDomain(uid);
    const stream = streams[0]!;
    expect(stream.written.at(-1)).toEqual({ end: { reason: 'VMStopped', message: "domain 'web' stopped (destroyed)" } });
    expect(stream.ended).toBe(true);
    expect(sessions.count).toBe(0);
  });

  it('a gateway that takes nothing: past the queue limit the session ends with Error, not unbounded memory', async () => {
    const { sim, sessions, request, streams } = await setup(false);
    await sessions.open(request({ kind: 'vnc' }));
    const stream = streams[0]!;
    const MiB = Buffer.alloc(1024 * 1024);
    for (let i = 0; i <= MAX_QUEUED_CONSOLE_BYTES / MiB.length; i++) stream.emit('data', { data: MiB }); // echoed back by the sim
    await eventually(() => expect(stream.ended).toBe(true));
    expect(stream.written.at(-1)).toEqual({
      end: { reason: 'Error', message: `the client reads more slowly than the console writes: over ${MAX_QUEUED_CONSOLE_BYTES} bytes queued` },
    });
    expect(sim.openConsoleCount).toBe(0);
  });

  it('closeAll cancels every stream (the agent stops)', async () => {
    const { sim, sessions, request, streams } = await setup();
    await sessions.open(request());
    await sessions.open(request({ kind: 'vnc' }));
    sessions.closeAll();
    expect(streams.map((s) => s.cancelled)).toEqual([true, true]);
    expect([sessions.count, sim.openConsoleCount]).toEqual([0, 0]);
  });

  it("maps the driver's end reasons to the wire's (the apiserver's close reason codes)", () => {
    expect((['stopped', 'taken', 'closed', 'error'] as const).map(consoleEndReason)).toEqual(['VMStopped', 'ConsoleTaken', 'Closed', 'Error']);
  });
});
