/**
 * RpcClient against a fake libvirtd on a unix socket: multiplexing by serial, frames split
 * across reads, error replies, keepalive, events, timeouts and connection loss.
 */
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { mkdtempSync, rmSync } from 'node:fs';
import { eventually } from '../../../hack/testenv/eventually.js';
import {
  decodeHeader,
  encodeFrame,
  encodeRemoteError,
  KEEPALIVE_PROC_PING,
  KEEPALIVE_PROC_PONG,
  KEEPALIVE_PROGRAM,
  MessageStatus,
  MessageType,
  Procs,
  REMOTE_PROGRAM,
  type MessageHeader,
} from './protocol.js';
import { RpcClient, RpcError } from './rpc.js';
import { XdrReader, XdrWriter } from './xdr.js';

interface Received {
  header: MessageHeader;
  body: XdrReader;
}

class FakeServer {
  readonly server: net.Server;
  socket: net.Socket | null = null;
  readonly received: Received[] = [];
  private buf = Buffer.alloc(0);

  constructor(readonly socketPath: string) {
    this.server = net.createServer((s) => {
      this.socket = s;
      s.on('data', (d: Buffer) => {
        this.buf = Buffer.concat([this.buf, d]);
        while (this.buf.length >= 4 && this.buf.length >= this.buf.readUInt32BE(0)) {
          const len = this.buf.readUInt32BE(0);
          const frame = this.buf.subarray(0, len);
          this.buf = this.buf.subarray(len);
          const r = new XdrReader(Buffer.from(frame), 4);
          this.received.push({ header: decodeHeader(r), body: r });
        }
      });
    });
  }

  listen(): Promise<void> {
    return new Promise((resolve) => this.server.listen(this.socketPath, resolve));
  }

  reply(serial: number, proc: number, payload: Buffer, status = MessageStatus.Ok): Buffer {
    return encodeFrame({ prog: REMOTE_PROGRAM, vers: 1, proc, type: MessageType.Reply, serial, status }, payload);
  }

  send(buf: Buffer): void {
    this.socket!.write(buf);
  }

  close(): Promise<void> {
    this.socket?.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

function stringPayload(s: string): Buffer {
  return new XdrWriter().string(s).toBuffer();
}

describe('RpcClient', () => {
  let dir: string;
  let server: FakeServer;
  let client: RpcClient;
  const messages: Array<{ proc: number; value: number }> = [];
  let closedWith: string | null = null;

  beforeEach(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'qx-rpc-'));
    server = new FakeServer(path.join(dir, 'sock'));
    await server.listen();
    messages.length = 0;
    closedWith = null;
    client = await RpcClient.connect(server.socketPath, {
      callTimeoutMs: 5_000,
      onMessage: (proc, body) => messages.push({ proc, value: body.int() }),
      onClose: (reason) => {
        closedWith = reason;
      },
    });
    await eventually(() => server.socket !== null);
  });

  afterEach(async () => {
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('multiplexes concurrent calls by serial, answering out of order', async () => {
    const a = client.call(Procs.connectGetHostname, undefined);
    const b = client.call(Procs.connectGetType, undefined);
    const c = client.call(Procs.connectGetHostname, undefined);
    await eventually(() => server.received.length === 3);
    const [ra, rb, rc] = server.received;
    expect(new Set([ra!.header.serial, rb!.header.serial, rc!.header.serial]).size).toBe(3);
    expect(rb!.header.proc).toBe(Procs.connectGetType.proc);
    // Reply in reverse order, all three frames in one write split at odd places.
    const all = Buffer.concat([
      server.reply(rc!.header.serial, rc!.header.proc, stringPayload('host-c')),
      server.reply(rb!.header.serial, rb!.header.proc, stringPayload('QEMU')),
      server.reply(ra!.header.serial, ra!.header.proc, stringPayload('host-a')),
    ]);
    server.send(all.subarray(0, 5));
    server.send(all.subarray(5, 47));
    server.send(all.subarray(47));
    await expect(a).resolves.toBe('host-a');
    await expect(b).resolves.toBe('QEMU');
    await expect(c).resolves.toBe('host-c');
    expect(client.pendingCalls).toBe(0);
  });

  it('turns error replies into RpcError with the remote error', async () => {
    const p = client.call(Procs.domainLookupByName, { name: 'nope' });
    await eventually(() => server.received.length === 1);
    const h = server.received[0]!.header;
    expect(server.received[0]!.body.string()).toBe('nope');
    const w = new XdrWriter();
    encodeRemoteError(w, {
      code: 42,
      domain: 10,
      message: "Domain not found: no domain with matching name 'nope'",
      level: 2,
      str1: null,
      str2: null,
      str3: null,
      int1: 0,
      int2: 0,
    });
    server.send(server.reply(h.serial, h.proc, w.toBuffer(), MessageStatus.Error));
    const err = await p.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RpcError);
    expect((err as RpcError).kind).toBe('remote');
    expect((err as RpcError).remote?.code).toBe(42);
    expect((err as RpcError).message).toMatch(/no domain with matching name/);
  });

  it('answers keepalive PING with PONG and delivers event messages', async () => {
    server.send(encodeFrame({ prog: KEEPALIVE_PROGRAM, vers: 1, proc: KEEPALIVE_PROC_PING, type: MessageType.Message, serial: 0, status: MessageStatus.Ok }));
    await eventually(() => server.received.some((m) => m.header.prog === KEEPALIVE_PROGRAM));
    const pong = server.received.find((m) => m.header.prog === KEEPALIVE_PROGRAM)!;
    expect(pong.header.proc).toBe(KEEPALIVE_PROC_PONG);
    expect(pong.header.type).toBe(MessageType.Message);

    server.send(
      encodeFrame(
        { prog: REMOTE_PROGRAM, vers: 1, proc: 318, type: MessageType.Message, serial: 0, status: MessageStatus.Ok },
        new XdrWriter().int(99).toBuffer(),
      ),
    );
    await eventually(() => messages.length === 1);
    expect(messages[0]).toEqual({ proc: 318, value: 99 });
  });

  it('times out a call without blocking the others, and ignores the late reply', async () => {
    const slow = client.call(Procs.connectGetHostname, undefined, { timeoutMs: 50 });
    const fast = client.call(Procs.connectGetType, undefined);
    await eventually(() => server.received.length === 2);
    const [s, f] = server.received;
    server.send(server.reply(f!.header.serial, f!.header.proc, stringPayload('QEMU')));
    await expect(fast).resolves.toBe('QEMU');
    const err = await slow.catch((e: unknown) => e);
    expect((err as RpcError).kind).toBe('timeout');
    server.send(server.reply(s!.header.serial, s!.header.proc, stringPayload('late')));
    const next = client.call(Procs.connectGetType, undefined);
    await eventually(() => server.received.length === 3);
    const n = server.received[2]!;
    server.send(server.reply(n.header.serial, n.header.proc, stringPayload('still fine')));
    await expect(next).resolves.toBe('still fine');
    expect(client.closed).toBe(false);
  });

  it('fails pending calls when the server goes away, and later calls at once', async () => {
    const p = client.call(Procs.connectGetHostname, undefined);
    await eventually(() => server.received.length === 1);
    server.socket!.destroy();
    const err = await p.catch((e: unknown) => e);
    expect((err as RpcError).kind).toBe('closed');
    await eventually(() => closedWith !== null);
    await expect(client.call(Procs.connectGetType, undefined)).rejects.toMatchObject({ kind: 'closed' });
  });

  it('closes on a frame with an impossible length', async () => {
    const bad = Buffer.alloc(8);
    bad.writeUInt32BE(3, 0);
    server.send(bad);
    await eventually(() => closedWith !== null);
    expect(closedWith).toMatch(/invalid frame length/);
  });

  it('rejects connecting to a socket nobody listens on', async () => {
    await expect(RpcClient.connect(path.join(dir, 'absent'))).rejects.toMatchObject({ kind: 'closed' });
  });
});
