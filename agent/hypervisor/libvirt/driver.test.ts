/**
 * LibvirtDriver against a scripted fake libvirtd on a unix socket: handshake, event
 * callback registration, reconnect with re-registration after the daemon goes away, event
 * decoding, the mapping of libvirt error codes to typed reasons, and how console sessions
 * open and end. The real daemon is exercised by libvirt.int.test.ts, and its consoles of a
 * real guest by web/console.e2e.test.ts.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { eventually } from '../../../hack/testenv/eventually.js';
import type { ConsoleChannel, ConsoleEndReason, HypervisorEvent } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { uuidToBytes } from '../validate.js';
import { LibvirtDriver } from './driver.js';
import {
  decodeHeader,
  encodeDomainLifecycleMsg,
  encodeFrame,
  encodeRemoteError,
  MessageStatus,
  MessageType,
  Procs,
  REMOTE_PROGRAM,
  type TypedParam,
  TypedParamType,
  writeTypedParam,
} from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

/** A reply, an error reply, or (`never`) no reply at all. */
type Handler = (body: XdrReader) => Buffer | { error: { code: number; message: string } } | { never: true };

const UUID = '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c01';

class FakeLibvirtd {
  server: net.Server | null = null;
  sockets = new Set<net.Socket>();
  calls: string[] = [];
  /** Header of the call being handled (handlers that open streams need its serial). */
  current: { proc: number; serial: number } | null = null;
  /** Stream messages received from the client. */
  streamIn: Array<{ serial: number; status: MessageStatus; payload: Buffer }> = [];
  nextCallbackId = 10;
  readonly handlers = new Map<number, Handler>();

  constructor(readonly socketPath: string) {
    const none = (): Buffer => Buffer.alloc(0);
    this.handlers.set(Procs.authList.proc, () => new XdrWriter().array([0], (w, v) => w.int(v)).toBuffer());
    this.handlers.set(Procs.connectOpen.proc, none);
    this.handlers.set(Procs.connectClose.proc, none);
    this.handlers.set(Procs.connectDomainEventCallbackRegisterAny.proc, () => new XdrWriter().int(this.nextCallbackId++).toBuffer());
    this.handlers.set(Procs.connectStoragePoolEventRegisterAny.proc, () => new XdrWriter().int(this.nextCallbackId++).toBuffer());
    this.handlers.set(Procs.connectGetHostname.proc, () => new XdrWriter().string('fakehost').toBuffer());
  }

  start(): Promise<void> {
    this.server = net.createServer((s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
      let buf = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= buf.readUInt32BE(0)) {
          const len = buf.readUInt32BE(0);
          const r = new XdrReader(Buffer.from(buf.subarray(0, len)), 4);
          buf = buf.subarray(len);
          const h = decodeHeader(r);
          if (h.type === MessageType.Stream) {
            this.streamIn.push({ serial: h.serial, status: h.status, payload: Buffer.from(r.rest()) });
            continue;
          }
          this.current = { proc: h.proc, serial: h.serial };
          const name = Object.values(Procs).find((p) => p.proc === h.proc)?.name ?? String(h.proc);
          this.calls.push(name);
          const handler = this.handlers.get(h.proc);
          const out = handler ? handler(r) : { error: { code: 3, message: `this function is not supported: ${name}` } };
          const header = { prog: REMOTE_PROGRAM, vers: 1, proc: h.proc, type: MessageType.Reply, serial: h.serial };
          if ('never' in out) continue; // a call libvirtd never answers
          if (Buffer.isBuffer(out)) {
            s.write(encodeFrame({ ...header, status: MessageStatus.Ok }, out));
          } else {
            const w = new XdrWriter();
            encodeRemoteError(w, {
              code: out.error.code,
              domain: 10,
              message: out.error.message,
              level: 2,
              str1: null,
              str2: null,
              str3: null,
              int1: 0,
              int2: 0,
            });
            s.write(encodeFrame({ ...header, status: MessageStatus.Error }, w.toBuffer()));
          }
        }
      });
    });
    return new Promise((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  /** Sends a Stream message of the stream opened by call `serial` (proc `proc`) on every connection. */
  stream(proc: number, serial: number, status: MessageStatus, payload?: Buffer): void {
    for (const s of this.sockets) s.write(encodeFrame({ prog: REMOTE_PROGRAM, vers: 1, proc, type: MessageType.Stream, serial, status }, payload));
  }

  /** Sends a lifecycle event on every connection. */
  event(callbackID: number, event: number, detail: number): void {
    const w = new XdrWriter();
    encodeDomainLifecycleMsg(w, { callbackID, dom: { name: 'vm1', uuid: uuidToBytes(UUID), id: 3 }, event, detail });
    for (const s of this.sockets) {
      s.write(encodeFrame({ prog: REMOTE_PROGRAM, vers: 1, proc: 318, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }, w.toBuffer()));
    }
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.server = null;
  }
}

describe('LibvirtDriver (fake libvirtd)', () => {
  let dir: string;
  let fake: FakeLibvirtd;
  let driver: LibvirtDriver;
  let events: HypervisorEvent[];

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'qx-fakevirt-'));
    fake = new FakeLibvirtd(path.join(dir, 'libvirt-sock'));
    await fake.start();
    driver = new LibvirtDriver({
      socketPath: fake.socketPath,
      reconnectInitialDelayMs: 10,
      reconnectMaxDelayMs: 40,
      connectTimeoutMs: 2_000,
      domainType: 'qemu',
    });
    events = [];
    driver.subscribe((e) => events.push(e));
    await driver.connect();
  });

  afterEach(async () => {
    await driver.close();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('authenticates, opens qemu:///system and registers lifecycle callbacks', () => {
    expect(fake.calls.slice(0, 4)).toEqual([
      'AUTH_LIST',
      'CONNECT_OPEN',
      'CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY',
      'CONNECT_STORAGE_POOL_EVENT_REGISTER_ANY',
    ]);
    expect(driver.connectionState()).toBe('connected');
  });

  it('decodes lifecycle events and ignores those of other callbacks', async () => {
    fake.event(10, 2, 0); // Started booted
    fake.event(999, 5, 1); // someone else's callback
    fake.event(10, 5, 1); // Stopped destroyed
    await eventually(() => events.filter((e) => e.kind === 'domain').length === 2);
    expect(events.map((e) => (e.kind === 'domain' ? `${e.uuid}:${e.name}:${e.type}:${e.detail}` : ''))).toEqual([
      `${UUID}:vm1:Started:booted`,
      `${UUID}:vm1:Stopped:destroyed`,
    ]);
  });

  it('maps libvirt error codes to typed reasons with libvirt’s message', async () => {
    fake.handlers.set(Procs.domainLookupByUuid.proc, () => ({ error: { code: 42, message: `Domain not found: no domain with matching uuid '${UUID}'` } }));
    const err = (await driver.getDomain(UUID).catch((e: unknown) => e)) as HypervisorError;
    expect(err).toBeInstanceOf(HypervisorError);
    expect(err.reason).toBe('DomainNotFound');
    expect(err.message).toContain('no domain with matching uuid');
    expect(err.details).toMatchObject({ libvirtCode: 42, operation: 'getDomain', target: UUID });

    fake.handlers.set(Procs.storagePoolLookupByName.proc, () => ({ error: { code: 49, message: 'Storage pool not found' } }));
    await expect(driver.getPool('p')).rejects.toMatchObject({ reason: 'PoolNotFound' });
    await expect(driver.getDomainXml('bad uuid')).rejects.toMatchObject({ reason: 'InvalidSpec' });
  });

  describe('guest agent', () => {
    const S = TypedParamType.String;
    const U = TypedParamType.UInt;
    /** What libvirt 9.0 answers for a Debian 12 guest (types OS|TIMEZONE|HOSTNAME|INTERFACES). */
    const debianParams: TypedParam[] = [
      { field: 'hostname', type: S, value: 'web-1' },
      { field: 'os.id', type: S, value: 'debian' },
      { field: 'os.name', type: S, value: 'Debian GNU/Linux' },
      { field: 'os.pretty-name', type: S, value: 'Debian GNU/Linux 12 (bookworm)' },
      { field: 'os.version', type: S, value: '12 (bookworm)' },
      { field: 'os.version-id', type: S, value: '12' },
      { field: 'os.kernel-release', type: S, value: '6.1.0-28-amd64' },
      { field: 'os.kernel-version', type: S, value: '#1 SMP PREEMPT_DYNAMIC Debian 6.1.119-1 (2024-11-22)' },
      { field: 'os.machine', type: S, value: 'x86_64' },
      { field: 'timezone.name', type: S, value: 'UTC' },
      { field: 'timezone.offset', type: TypedParamType.Int, value: 0 },
      { field: 'if.count', type: U, value: 2 },
      { field: 'if.0.name', type: S, value: 'lo' },
      { field: 'if.0.hwaddr', type: S, value: '00:00:00:00:00:00' },
      { field: 'if.0.addr.count', type: U, value: 2 },
      { field: 'if.0.addr.0.type', type: S, value: 'ipv4' },
      { field: 'if.0.addr.0.addr', type: S, value: '127.0.0.1' },
      { field: 'if.0.addr.0.prefix', type: U, value: 8 },
      { field: 'if.0.addr.1.type', type: S, value: 'ipv6' },
      { field: 'if.0.addr.1.addr', type: S, value: '::1' },
      { field: 'if.0.addr.1.prefix', type: U, value: 128 },
      { field: 'if.1.name', type: S, value: 'enp0s3' },
      { field: 'if.1.hwaddr', type: S, value: '52:54:00:12:34:56' },
      { field: 'if.1.addr.count', type: U, value: 1 },
      { field: 'if.1.addr.0.type', type: S, value: 'ipv4' },
      { field: 'if.1.addr.0.addr', type: S, value: '10.0.2.15' },
      { field: 'if.1.addr.0.prefix', type: U, value: 24 },
    ];
    const typesAsked: number[] = [];

    beforeEach(() => {
      typesAsked.length = 0;
      fake.handlers.set(Procs.domainLookupByUuid.proc, () => new XdrWriter().string('vm1').fixedOpaque(uuidToBytes(UUID), 16).int(3).toBuffer());
    });

    /** GET_GUEST_INFO answers with `answer(types)` and records the types asked. */
    function guestInfoReplies(answer: (types: number) => TypedParam[] | { code: number; message: string }): void {
      fake.handlers.set(Procs.domainGetGuestInfo.proc, (body) => {
        body.string();
        body.fixedOpaque(16);
        body.int();
        const types = body.uint();
        typesAsked.push(types);
        const out = answer(types);
        if (!Array.isArray(out)) return { error: out };
        return new XdrWriter().array(out, writeTypedParam).toBuffer();
      });
    }

    it('asks for os, timezone, hostname and interfaces in one call and folds the answer', async () => {
      guestInfoReplies(() => debianParams);
      expect(await driver.guestInfo(UUID)).toEqual({
        connected: true,
        hostname: 'web-1',
        os: {
          id: 'debian',
          name: 'Debian GNU/Linux',
          prettyName: 'Debian GNU/Linux 12 (bookworm)',
          version: '12 (bookworm)',
          versionId: '12',
          kernelRelease: '6.1.0-28-amd64',
          machine: 'x86_64',
        },
        timezone: 'UTC',
        interfaces: [
          {
            name: 'lo',
            mac: '00:00:00:00:00:00',
            addresses: [
              { ip: '127.0.0.1', prefix: 8, family: 'ipv4' },
              { ip: '::1', prefix: 128, family: 'ipv6' },
            ],
          },
          { name: 'enp0s3', mac: '52:54:00:12:34:56', addresses: [{ ip: '10.0.2.15', prefix: 24, family: 'ipv4' }] },
        ],
      });
      expect(typesAsked).toEqual([2 | 4 | 8 | 64]);
    });

    it.each([
      ['no agent in the guest', 86, 'Guest agent is not responding: QEMU guest agent is not connected'],
      ['a hung agent', 86, 'Guest agent is not responding: Guest agent not available for now'],
      ['an agent out of sync', 97, 'Guest agent not synchronized'],
      ['a domain that is not running', 55, 'Requested operation is not valid: domain is not running'],
      ['a busy agent job', 68, 'Timed out during operation: cannot acquire state change lock (held by agent=remoteDispatchDomainGetGuestInfo)'],
    ])('answers connected: false for %s, with libvirt’s message', async (_what, code, message) => {
      guestInfoReplies(() => ({ code, message }));
      expect(await driver.guestInfo(UUID)).toEqual({ connected: false, message });
      expect(typesAsked).toHaveLength(1);
    });

    it('asks again for whatever the agent supports when one command fails', async () => {
      guestInfoReplies((types) =>
        types === 0
          ? debianParams.slice(0, 1)
          : {
              code: 1,
              message:
                "internal error: unable to execute QEMU agent command 'guest-get-osinfo': The command guest-get-osinfo has been disabled for this instance",
            },
      );
      expect(await driver.guestInfo(UUID)).toEqual({ connected: true, hostname: 'web-1' });
      expect(typesAsked).toEqual([78, 0]);
    });

    it('throws DomainNotFound and HypervisorUnavailable like every call', async () => {
      fake.handlers.set(Procs.domainLookupByUuid.proc, () => ({ error: { code: 42, message: `Domain not found: no domain with matching uuid '${UUID}'` } }));
      await expect(driver.guestInfo(UUID)).rejects.toMatchObject({ reason: 'DomainNotFound' });
      await fake.stop();
      await eventually(() => driver.connectionState() !== 'connected');
      await expect(driver.guestInfo(UUID)).rejects.toMatchObject({ reason: 'HypervisorUnavailable' });
    });

    it('answers connected: false when libvirt does not answer in time', async () => {
      await driver.close();
      const impatient = new LibvirtDriver({ socketPath: fake.socketPath, domainType: 'qemu', guestAgentTimeoutMs: 50 });
      try {
        await impatient.connect();
        fake.handlers.set(Procs.domainGetGuestInfo.proc, () => ({ never: true }) as never);
        expect(await impatient.guestInfo(UUID)).toEqual({ connected: false, message: 'guest agent did not answer within 50 ms' });
      } finally {
        await impatient.close();
      }
    });

    it('shuts down through the agent with VIR_DOMAIN_SHUTDOWN_GUEST_AGENT, typed when no agent answers', async () => {
      const flags: number[] = [];
      fake.handlers.set(Procs.domainShutdownFlags.proc, (body) => {
        body.string();
        body.fixedOpaque(16);
        body.int();
        flags.push(body.uint());
        return flags.length === 1 ? Buffer.alloc(0) : { error: { code: 86, message: 'Guest agent is not responding: QEMU guest agent is not connected' } };
      });
      await driver.shutdownDomain(UUID);
      const err = (await driver.shutdownDomain(UUID, 'agent').catch((e: unknown) => e)) as HypervisorError;
      expect(err).toBeInstanceOf(HypervisorError);
      expect(err.reason).toBe('GuestAgentUnavailable');
      expect(err.message).toBe('Guest agent is not responding: QEMU guest agent is not connected');
      expect(err.details).toMatchObject({ libvirtCode: 86, operation: 'shutdownDomain', target: UUID });
      expect(flags).toEqual([1, 2]);
    });
  });

  it('maps network errors and checks bridges in sysfs', async () => {
    fake.handlers.set(Procs.networkLookupByName.proc, () => ({ error: { code: 43, message: "Network not found: no network with matching name 'n1'" } }));
    await expect(driver.getNetwork('n1')).rejects.toMatchObject({
      reason: 'NetworkNotFound',
      details: { libvirtCode: 43, operation: 'getNetwork', target: 'n1' },
    });
    await expect(driver.defineNetwork({ name: 'n1', mode: 'nat', ipv4: { address: '10.0.0.0', prefix: 24 } })).rejects.toMatchObject({ reason: 'InvalidSpec' });

    const sys = path.join(dir, 'sys-class-net');
    mkdirSync(path.join(sys, 'br0', 'bridge'), { recursive: true });
    mkdirSync(path.join(sys, 'eth0'), { recursive: true });
    writeFileSync(path.join(sys, 'eth0', 'address'), '02:00:00:00:00:01\n');
    const withSys = new LibvirtDriver({ socketPath: fake.socketPath, domainType: 'qemu', sysClassNetPath: sys });
    expect(await withSys.bridgeExists('br0')).toBe(true);
    expect(await withSys.bridgeExists('eth0')).toBe(false);
    expect(await withSys.bridgeExists('br9')).toBe(false);
    await expect(withSys.bridgeExists('../br0')).rejects.toMatchObject({ reason: 'InvalidSpec' });
    await withSys.close();
  });

  it('reconnects with backoff after the daemon goes away, re-registers and announces lost/restored', async () => {
    await fake.stop();
    await eventually(() => events.some((e) => e.kind === 'connection' && e.state === 'lost'));
    expect(driver.connectionState()).toBe('connecting');
    await expect(driver.hostInfo()).rejects.toMatchObject({ reason: 'HypervisorUnavailable' });

    fake.calls = [];
    await fake.start();
    await eventually(() => events.some((e) => e.kind === 'connection' && e.state === 'restored'));
    expect(driver.connectionState()).toBe('connected');
    expect(fake.calls).toContain('CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY');
    expect(events.filter((e) => e.kind === 'connection').length).toBe(2);

    // Events flow on the new connection with its new callback id.
    const newId = fake.nextCallbackId - 2;
    fake.event(newId, 3, 0);
    await eventually(() => events.some((e) => e.kind === 'domain' && e.type === 'Suspended'));
  });

  it('times out connect() while the daemon is absent and connects later in the background', async () => {
    await driver.close();
    await fake.stop();
    const late = new LibvirtDriver({ socketPath: fake.socketPath, reconnectInitialDelayMs: 10, reconnectMaxDelayMs: 40, connectTimeoutMs: 100 });
    try {
      await expect(late.connect()).rejects.toMatchObject({ reason: 'HypervisorUnavailable' });
      await fake.start();
      await eventually(() => late.connectionState() === 'connected');
      await late.connect();
    } finally {
      await late.close();
    }
  });

  describe('consoles', () => {
    /** virDomainState answered by DOMAIN_GET_STATE: 1 running, 5 shut off. */
    let state: number;
    /** Opened console streams: call serial and flags. */
    let opened: Array<{ serial: number; flags: number }>;
    let openAnswer: (() => { error: { code: number; message: string } }) | null;

    beforeEach(() => {
      state = 1;
      opened = [];
      openAnswer = null;
      fake.handlers.set(Procs.domainLookupByUuid.proc, () => new XdrWriter().string('vm1').fixedOpaque(uuidToBytes(UUID), 16).int(3).toBuffer());
      fake.handlers.set(Procs.domainGetState.proc, () => new XdrWriter().int(state).int(1).toBuffer());
      fake.handlers.set(Procs.domainOpenConsole.proc, (body) => {
        body.string();
        body.fixedOpaque(16);
        body.int();
        expect(body.optional((r) => r.string())).toBeNull();
        const flags = body.uint();
        if (openAnswer) return openAnswer();
        opened.push({ serial: fake.current!.serial, flags });
        return Buffer.alloc(0);
      });
    });

    const record = (ch: ConsoleChannel) => {
      const rec = { data: [] as string[], ended: null as { reason: ConsoleEndReason; message: string } | null };
      ch.onData((d) => rec.data.push(d.toString()));
      ch.onClose((reason, message) => {
        rec.ended = { reason, message };
      });
      return rec;
    };
    const remoteError = (code: number, message: string): Buffer => {
      const w = new XdrWriter();
      encodeRemoteError(w, { code, domain: 10, message, level: 2, str1: null, str2: null, str3: null, int1: 0, int2: 0 });
      return w.toBuffer();
    };
    const CONSOLE = Procs.domainOpenConsole.proc;

    it('opens the serial console with VIR_DOMAIN_CONSOLE_SAFE (and FORCE), carries bytes both ways and finishes on close', async () => {
      const ch = await driver.openConsole(UUID, 'serial');
      const rec = record(ch);
      expect(opened).toEqual([{ serial: expect.any(Number), flags: 2 }]);
      const serial = opened[0]!.serial;
      fake.stream(CONSOLE, serial, MessageStatus.Continue, Buffer.from('login: '));
      await eventually(() => rec.data.length === 1);
      expect(rec.data).toEqual(['login: ']);
      ch.write(Buffer.from('root\r'));
      await eventually(() => fake.streamIn.length === 1);
      expect(fake.streamIn[0]).toEqual({ serial, status: MessageStatus.Continue, payload: Buffer.from('root\r') });

      ch.close();
      expect(rec.ended).toEqual({ reason: 'closed', message: expect.any(String) });
      await eventually(() => fake.streamIn.length === 2);
      expect(fake.streamIn[1]).toEqual({ serial, status: MessageStatus.Ok, payload: Buffer.alloc(0) });
      ch.close(); // idempotent
      ch.write(Buffer.from('ignored'));
      expect(fake.streamIn).toHaveLength(2);
      expect(driver.openConsoleSessions).toBe(0);

      // force: FORCE|SAFE; the session this driver displaces ends as taken once the forced open
      // succeeds, without waiting for libvirtd's abort of its stream (which may never come).
      const a = record(await driver.openConsole(UUID, 'serial'));
      await driver.openConsole(UUID, 'serial', { force: true });
      expect(opened.map((o) => o.flags)).toEqual([2, 2, 3]);
      expect(a.ended).toEqual({ reason: 'taken', message: expect.stringMatching(/took the serial console over/) });
      // The abort, when libvirtd sends it, changes nothing.
      fake.stream(CONSOLE, opened[1]!.serial, MessageStatus.Error, remoteError(39, 'stream had I/O failure'));
      await eventually(() => fake.streamIn.some((m) => m.serial === opened[1]!.serial && m.status === MessageStatus.Ok));
      expect(a.ended).toEqual({ reason: 'taken', message: expect.stringMatching(/took the serial console over/) });
      expect(driver.openConsoleSessions).toBe(1);
    });

    it('refuses with typed reasons: not running, held by another session, no console device, unknown kind', async () => {
      state = 5;
      const stopped = (await driver.openConsole(UUID, 'serial').catch((e: unknown) => e)) as HypervisorError;
      expect(stopped).toMatchObject({ reason: 'InvalidState', message: expect.stringMatching(/not running \(Shutoff\)/) });
      await expect(driver.openConsole(UUID, 'vnc')).rejects.toMatchObject({ reason: 'InvalidState' });
      expect(fake.calls).not.toContain('DOMAIN_OPEN_CONSOLE');
      state = 1;

      openAnswer = () => ({ error: { code: 9, message: 'operation failed: Active console session exists for this domain' } });
      const taken = (await driver.openConsole(UUID, 'serial').catch((e: unknown) => e)) as HypervisorError;
      expect(taken).toMatchObject({ reason: 'ConsoleTaken', details: { libvirtCode: 9, operation: 'openConsole', target: UUID } });
      expect(taken.message).toMatch(/in use by another session .*force takes it over/);

      openAnswer = () => ({ error: { code: 1, message: 'internal error: cannot find character device <null>' } });
      await expect(driver.openConsole(UUID, 'serial')).rejects.toMatchObject({ reason: 'ConsoleUnavailable' });
      openAnswer = () => ({ error: { code: 55, message: 'Requested operation is not valid: domain is not running' } });
      await expect(driver.openConsole(UUID, 'serial')).rejects.toMatchObject({ reason: 'InvalidState' });

      fake.handlers.set(Procs.domainLookupByUuid.proc, () => ({ error: { code: 42, message: `Domain not found: no domain with matching uuid '${UUID}'` } }));
      await expect(driver.openConsole(UUID, 'serial')).rejects.toMatchObject({ reason: 'DomainNotFound' });
      await expect(driver.openConsole(UUID, 'rdp' as 'vnc')).rejects.toMatchObject({ reason: 'InvalidSpec' });
      expect(driver.openConsoleSessions).toBe(0);
    });

    it("ends sessions with stopped (event, or the stream ending on a stopped domain), taken (another's force) and error (libvirtd lost)", async () => {
      const byEvent = record(await driver.openConsole(UUID, 'serial'));
      fake.event(10, 5, 1); // Stopped destroyed
      await eventually(() => byEvent.ended !== null);
      expect(byEvent.ended).toEqual({ reason: 'stopped', message: 'the domain stopped (destroyed)' });

      const byEof = record(await driver.openConsole(UUID, 'serial'));
      state = 5;
      fake.stream(CONSOLE, opened[1]!.serial, MessageStatus.Ok);
      await eventually(() => byEof.ended !== null);
      expect(byEof.ended?.reason).toBe('stopped');
      // The server's end of data is answered with our finish.
      await eventually(() => fake.streamIn.some((m) => m.serial === opened[1]!.serial && m.status === MessageStatus.Ok));
      state = 1;

      // Aborted by libvirt while the domain keeps running (virsh console --force elsewhere).
      const byOther = record(await driver.openConsole(UUID, 'serial'));
      fake.stream(CONSOLE, opened[2]!.serial, MessageStatus.Error, remoteError(39, 'stream had I/O failure'));
      await eventually(() => byOther.ended !== null, { timeoutMs: 10_000 });
      expect(byOther.ended?.reason).toBe('taken');

      const byLoss = record(await driver.openConsole(UUID, 'serial'));
      await fake.stop();
      await eventually(() => byLoss.ended !== null);
      expect(byLoss.ended).toEqual({ reason: 'error', message: expect.stringMatching(/libvirtd connection lost/) });
      expect(driver.openConsoleSessions).toBe(0);
    });

    it('connects VNC to the unix socket of the live XML, and answers ConsoleUnavailable without one', async () => {
      const sock = path.join(dir, 'vnc.sock');
      const received: Buffer[] = [];
      let peer: net.Socket | null = null;
      const vncServer = net.createServer((s) => {
        peer = s;
        s.on('data', (d: Buffer) => received.push(d));
        s.write('RFB 003.008\n');
      });
      await new Promise<void>((resolve) => vncServer.listen(sock, resolve));
      try {
        let xml = `<domain type='qemu' id='3'><name>vm1</name><devices><graphics type='vnc' socket='${sock}'><listen type='socket' socket='${sock}'/></graphics></devices></domain>`;
        fake.handlers.set(Procs.domainGetXmlDesc.proc, () => new XdrWriter().string(xml).toBuffer());
        const ch = await driver.openConsole(UUID, 'vnc');
        const rec = record(ch);
        await eventually(() => rec.data.join('') === 'RFB 003.008\n');
        ch.write(Buffer.from('RFB 003.008\n'));
        await eventually(() => Buffer.concat(received).toString() === 'RFB 003.008\n');
        // QEMU went away with the domain.
        state = 5;
        peer!.destroy();
        await eventually(() => rec.ended !== null);
        expect(rec.ended?.reason).toBe('stopped');
        state = 1;

        xml = `<domain type='qemu' id='3'><name>vm1</name><devices><console type='pty' tty='/dev/pts/3'/></devices></domain>`;
        const none = (await driver.openConsole(UUID, 'vnc').catch((e: unknown) => e)) as HypervisorError;
        expect(none).toMatchObject({ reason: 'ConsoleUnavailable', message: expect.stringMatching(/vm1: the domain has no VNC graphics/) });
        expect(driver.openConsoleSessions).toBe(0);
      } finally {
        await new Promise<void>((resolve) => vncServer.close(() => resolve()));
      }
    });
  });
});
