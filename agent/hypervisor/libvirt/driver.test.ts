/**
 * LibvirtDriver against a scripted fake libvirtd on a unix socket: handshake, event
 * callback registration, reconnect with re-registration after the daemon goes away, event
 * decoding, and the mapping of libvirt error codes to typed reasons. The real daemon is
 * exercised by libvirt.int.test.ts.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { eventually } from '../../../hack/testenv/eventually.js';
import type { HypervisorEvent } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { uuidToBytes } from '../validate.js';
import { LibvirtDriver } from './driver.js';
import { decodeHeader, encodeDomainLifecycleMsg, encodeFrame, encodeRemoteError, MessageStatus, MessageType, Procs, REMOTE_PROGRAM } from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

type Handler = (body: XdrReader) => Buffer | { error: { code: number; message: string } };

const UUID = '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c01';

class FakeLibvirtd {
  server: net.Server | null = null;
  sockets = new Set<net.Socket>();
  calls: string[] = [];
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
          const name = Object.values(Procs).find((p) => p.proc === h.proc)?.name ?? String(h.proc);
          this.calls.push(name);
          const handler = this.handlers.get(h.proc);
          const out = handler ? handler(r) : { error: { code: 3, message: `this function is not supported: ${name}` } };
          const header = { prog: REMOTE_PROGRAM, vers: 1, proc: h.proc, type: MessageType.Reply, serial: h.serial };
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
});
