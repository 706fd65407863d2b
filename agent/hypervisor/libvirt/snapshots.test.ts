/**
 * Live disk snapshots through the libvirt driver against a scripted fake libvirtd: the
 * freeze, the QMP snapshot per disk node through the libvirt-qemu program, and the thaw,
 * which always runs, also when the snapshot fails; without an answering guest agent the
 * snapshot is taken unfrozen. The real daemon and guest: agent/guests.e2e.test.ts.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { uuidToBytes } from '../validate.js';
import { LibvirtDriver } from './driver.js';
import { decodeHeader, encodeFrame, encodeRemoteError, MessageStatus, MessageType, Procs, QEMU_PROGRAM, QemuProcs, REMOTE_PROGRAM } from './protocol.js';
import { XdrReader, XdrWriter } from './xdr.js';

const UUID = '6f1c1e7e-4d0b-4f63-9a55-2a4d7f2b9c02';
type Answer = Buffer | { error: { code: number; message: string } };
type Handler = (body: XdrReader) => Answer;

/** A fake libvirtd answering by (program, procedure); records every call as `PROC` or `QMP:<command>`. */
class FakeLibvirtd {
  server: net.Server | null = null;
  readonly sockets = new Set<net.Socket>();
  readonly calls: string[] = [];
  readonly handlers = new Map<string, Handler>();
  /** QMP command → its JSON answer. */
  readonly qmp = new Map<string, (args: Record<string, unknown>) => unknown>();

  constructor(readonly socketPath: string) {
    const none = (): Buffer => Buffer.alloc(0);
    const id = (): Buffer => new XdrWriter().int(1).toBuffer();
    this.on(Procs.authList.proc, () => new XdrWriter().array([0], (w, v) => w.int(v)).toBuffer());
    this.on(Procs.connectOpen.proc, none);
    this.on(Procs.connectClose.proc, none);
    this.on(Procs.connectDomainEventCallbackRegisterAny.proc, id);
    this.on(Procs.connectStoragePoolEventRegisterAny.proc, id);
    this.on(Procs.connectGetHostname.proc, () => new XdrWriter().string('fakehost').toBuffer());
    this.on(Procs.domainLookupByUuid.proc, () => new XdrWriter().string('vm1').fixedOpaque(uuidToBytes(UUID), 16).int(3).toBuffer());
    this.on(Procs.domainGetState.proc, () => new XdrWriter().int(1).int(1).toBuffer()); // running
    this.handlers.set(`${QEMU_PROGRAM}:${QemuProcs.domainMonitorCommand.proc}`, (body) => {
      body.string();
      body.fixedOpaque(16);
      body.int();
      const cmd = JSON.parse(body.string()) as { execute: string; arguments: Record<string, unknown> };
      this.calls.push(`QMP:${cmd.execute}:${JSON.stringify(cmd.arguments)}`);
      const answer = this.qmp.get(cmd.execute)?.(cmd.arguments) ?? { error: { class: 'CommandNotFound', desc: `no ${cmd.execute}` } };
      return new XdrWriter().string(JSON.stringify(answer)).toBuffer();
    });
  }

  on(proc: number, handler: Handler): void {
    this.handlers.set(`${REMOTE_PROGRAM}:${proc}`, handler);
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
          if (h.prog === REMOTE_PROGRAM) this.calls.push(Object.values(Procs).find((p) => p.proc === h.proc)?.name ?? String(h.proc));
          const handler = this.handlers.get(`${h.prog}:${h.proc}`);
          const out = handler ? handler(r) : { error: { code: 3, message: `this function is not supported: ${h.proc}` } };
          const header = { prog: h.prog, vers: 1, proc: h.proc, type: MessageType.Reply, serial: h.serial };
          if (Buffer.isBuffer(out)) {
            s.write(encodeFrame({ ...header, status: MessageStatus.Ok }, out));
            continue;
          }
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
      });
    });
    return new Promise((resolve) => this.server!.listen(this.socketPath, resolve));
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

describe('LibvirtDriver disk snapshots of a running domain (fake libvirtd)', () => {
  let dir: string;
  let fake: FakeLibvirtd;
  let driver: LibvirtDriver;
  const disks = [
    { disk: 'root', path: '/pool/web_root.qcow2' },
    { disk: 'data', path: '/pool/web_data.qcow2' },
  ];
  const frozenCount = () => new XdrWriter().int(2).toBuffer();

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'qx-fakevirt-snap-'));
    fake = new FakeLibvirtd(path.join(dir, 'libvirt-sock'));
    fake.qmp.set('query-block', () => ({
      return: [
        { device: '', qdev: '/machine/peripheral/virtio-disk0', inserted: { file: '/pool/web_root.qcow2', 'node-name': 'libvirt-2-format' } },
        { device: '', qdev: '/machine/peripheral/virtio-disk1', inserted: { file: '/pool/web_data.qcow2', 'node-name': 'libvirt-1-format' } },
        { device: '', qdev: '/machine/peripheral/sata0-0-0' },
      ],
    }));
    fake.qmp.set('blockdev-snapshot-internal-sync', () => ({ return: {} }));
    fake.qmp.set('blockdev-snapshot-delete-internal-sync', () => ({ return: {} }));
    await fake.start();
    driver = new LibvirtDriver({ socketPath: fake.socketPath, connectTimeoutMs: 2_000, domainType: 'qemu' });
    await driver.connect();
  });

  afterEach(async () => {
    await driver.close();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const sequence = () => fake.calls.filter((c) => c.startsWith('QMP:blockdev') || c.startsWith('DOMAIN_FS'));

  it('freezes, snapshots each disk by its QEMU node, then thaws', async () => {
    fake.on(Procs.domainFsFreeze.proc, frozenCount);
    fake.on(Procs.domainFsThaw.proc, frozenCount);
    const outcome = await driver.snapshotDisks(UUID, 'snap-1', disks);
    expect(outcome).toMatchObject({ running: true, frozen: true });
    expect(outcome.freezeMessage).toBeUndefined();
    expect(outcome.disks.map((d) => d.disk)).toEqual(['root', 'data']);
    expect(sequence()).toEqual([
      'DOMAIN_FSFREEZE',
      'QMP:blockdev-snapshot-internal-sync:{"device":"libvirt-2-format","name":"snap-1"}',
      'QMP:blockdev-snapshot-internal-sync:{"device":"libvirt-1-format","name":"snap-1"}',
      'DOMAIN_FSTHAW',
    ]);
  });

  it('thaws also when a disk snapshot fails, and takes back the disks already done', async () => {
    fake.on(Procs.domainFsFreeze.proc, frozenCount);
    fake.on(Procs.domainFsThaw.proc, frozenCount);
    fake.qmp.set('blockdev-snapshot-internal-sync', (args) =>
      args.device === 'libvirt-1-format' ? { error: { class: 'GenericError', desc: 'No space left on device' } } : { return: {} },
    );
    await expect(driver.snapshotDisks(UUID, 'snap-1', disks)).rejects.toMatchObject({
      reason: 'OperationFailed',
      message: expect.stringContaining('No space left on device'),
    });
    expect(sequence()).toEqual([
      'DOMAIN_FSFREEZE',
      'QMP:blockdev-snapshot-internal-sync:{"device":"libvirt-2-format","name":"snap-1"}',
      'QMP:blockdev-snapshot-internal-sync:{"device":"libvirt-1-format","name":"snap-1"}',
      'QMP:blockdev-snapshot-delete-internal-sync:{"device":"libvirt-2-format","name":"snap-1"}',
      'DOMAIN_FSTHAW',
    ]);
  });

  it('without an answering guest agent: snapshots unfrozen, no thaw, says why', async () => {
    fake.on(Procs.domainFsFreeze.proc, () => ({ error: { code: 86, message: 'Guest agent is not responding: QEMU guest agent is not connected' } }));
    const outcome = await driver.snapshotDisks(UUID, 'snap-2', disks);
    expect(outcome).toMatchObject({ running: true, frozen: false });
    expect(outcome.freezeMessage).toContain('QEMU guest agent is not connected');
    expect(sequence()).toEqual([
      'DOMAIN_FSFREEZE',
      'QMP:blockdev-snapshot-internal-sync:{"device":"libvirt-2-format","name":"snap-2"}',
      'QMP:blockdev-snapshot-internal-sync:{"device":"libvirt-1-format","name":"snap-2"}',
    ]);
  });

  it('a name QEMU already has is SnapshotExists; a revert of the running domain is InvalidState', async () => {
    fake.on(Procs.domainFsFreeze.proc, frozenCount);
    fake.on(Procs.domainFsThaw.proc, frozenCount);
    fake.qmp.set('blockdev-snapshot-internal-sync', () => ({ error: { class: 'GenericError', desc: "Snapshot with name 'snap-1' already exists" } }));
    await expect(driver.snapshotDisks(UUID, 'snap-1', disks)).rejects.toMatchObject({ reason: 'SnapshotExists' });
    expect(fake.calls).toContain('DOMAIN_FSTHAW');
    await expect(driver.revertDisks(UUID, 'snap-1', disks)).rejects.toMatchObject({ reason: 'InvalidState' });
  });
});
