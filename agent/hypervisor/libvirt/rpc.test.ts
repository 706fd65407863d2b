/**
 * RpcClient against a fake libvirtd on a unix socket: multiplexing by serial, frames split
 * across reads, error replies, keepalive, events, timeouts and connection loss, and the
 * framing of data streams (open, data both ways, finish, abort, end and errors from the server).
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
  STREAM_PAYLOAD_MAX,
  type MessageHeader,
  type RemoteDomain,
} from './protocol.js';
import { RpcClient, RpcError, type RpcStream, type RpcStreamEnd } from './rpc.js';
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

function remoteErrorPayload(code: number, message: string): Buffer {
  const w = new XdrWriter();
  encodeRemoteError(w, { code, domain: 10, message, level: 2, str1: null, str2: null, str3: null, int1: 0, int2: 0 });
  return w.toBuffer();
}

const DOM: RemoteDomain = { name: 'vm1', uuid: Buffer.alloc(16, 7), id: 3 };

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

  describe('streams', () => {
    const CONSOLE = Procs.domainOpenConsole;
    /** A Stream message from the server on the stream of call `serial`. */
    const streamMsg = (serial: number, status: MessageStatus, payload?: Buffer): Buffer =>
      encodeFrame({ prog: REMOTE_PROGRAM, vers: 1, proc: CONSOLE.proc, type: MessageType.Stream, serial, status }, payload);
    const streamFrames = (serial: number) => server.received.filter((m) => m.header.type === MessageType.Stream && m.header.serial === serial);

    /** Opens a console stream: the call, then (with data already sent before it) the empty reply. */
    async function open(): Promise<{ stream: RpcStream; serial: number; data: string[]; ends: RpcStreamEnd[] }> {
      const opening = client.openStream(CONSOLE, { dom: DOM, devName: null, flags: 2 });
      await eventually(() => server.received.length === 1);
      const call = server.received[0]!;
      expect(call.header).toMatchObject({ proc: 201, type: MessageType.Call, status: MessageStatus.Ok });
      expect(call.body.string()).toBe('vm1');
      call.body.fixedOpaque(16);
      expect(call.body.int()).toBe(3);
      expect(call.body.optional((r) => r.string())).toBeNull(); // dev_name: the first console
      expect(call.body.uint()).toBe(2); // flags
      const serial = call.header.serial;
      // libvirtd may start sending before its reply is on the wire.
      server.send(Buffer.concat([streamMsg(serial, MessageStatus.Continue, Buffer.from('early ')), server.reply(serial, CONSOLE.proc, Buffer.alloc(0))]));
      const stream = await opening;
      expect(stream.serial).toBe(serial);
      const data: string[] = [];
      const ends: RpcStreamEnd[] = [];
      stream.onData((d) => data.push(d.toString('latin1')));
      stream.onEnd((e) => ends.push(e));
      return { stream, serial, data, ends };
    }

    it("carries raw bytes both ways under the opening call's proc and serial, and finishes with a confirmed Ok", async () => {
      const { stream, serial, data, ends } = await open();
      expect(client.openStreams).toBe(1);
      // Server to client: raw payloads (no XDR), split anywhere across reads.
      const down = Buffer.concat([
        streamMsg(serial, MessageStatus.Continue, Buffer.from('login: ')),
        streamMsg(serial, MessageStatus.Continue, Buffer.from([0, 1, 2])),
      ]);
      server.send(down.subarray(0, 30));
      server.send(down.subarray(30));
      await eventually(() => data.length === 3);
      expect(data).toEqual(['early ', 'login: ', '\u0000\u0001\u0002']);

      // Client to server: Stream/Continue with the raw bytes; large writes split at libvirt's payload limit.
      expect(stream.write(Buffer.from('root\r'))).toBe(true);
      const big = Buffer.alloc(STREAM_PAYLOAD_MAX + 10, 0x61);
      expect(stream.write(big)).toBe(true);
      await eventually(() => streamFrames(serial).length === 3);
      const [small, part1, part2] = streamFrames(serial);
      for (const f of [small!, part1!, part2!])
        expect(f.header).toMatchObject({ prog: REMOTE_PROGRAM, proc: 201, type: MessageType.Stream, status: MessageStatus.Continue });
      expect(small!.body.rest().toString()).toBe('root\r');
      expect(part1!.body.rest().length).toBe(STREAM_PAYLOAD_MAX);
      expect(part2!.body.rest().length).toBe(10);

      // finish: an empty Stream/Ok, confirmed by the server with an empty Stream/Ok.
      const finished = stream.finish();
      expect(stream.ended).toBe(true);
      expect(stream.write(Buffer.from('late'))).toBe(false);
      await eventually(() => streamFrames(serial).length === 4);
      const fin = streamFrames(serial)[3]!;
      expect(fin.header.status).toBe(MessageStatus.Ok);
      expect(fin.body.remaining).toBe(0);
      expect(ends).toEqual([]);
      server.send(streamMsg(serial, MessageStatus.Ok));
      await finished;
      expect(ends).toEqual([{ kind: 'finished' }]);
      expect(client.openStreams).toBe(0);
      // Calls still work on the same connection.
      const p = client.call(Procs.connectGetType, undefined);
      await eventually(() => server.received.some((m) => m.header.type === MessageType.Call && m.header.proc === Procs.connectGetType.proc));
      const c = server.received.find((m) => m.header.proc === Procs.connectGetType.proc)!;
      server.send(server.reply(c.header.serial, c.header.proc, stringPayload('QEMU')));
      await expect(p).resolves.toBe('QEMU');
    });

    it('aborts with an empty Stream/Error, confirmed with Ok', async () => {
      const { stream, serial, ends } = await open();
      const aborted = stream.abort();
      await eventually(() => streamFrames(serial).length === 1);
      const abort = streamFrames(serial)[0]!;
      expect(abort.header.status).toBe(MessageStatus.Error);
      expect(abort.body.remaining).toBe(0);
      server.send(streamMsg(serial, MessageStatus.Ok));
      await aborted;
      expect(ends).toEqual([{ kind: 'finished' }]);
      expect(client.openStreams).toBe(0);
    });

    it("answers the server's end of data by finishing its side, and swallows the confirmation", async () => {
      const { stream, serial, ends } = await open();
      server.send(streamMsg(serial, MessageStatus.Ok));
      await eventually(() => ends.length === 1);
      expect(ends).toEqual([{ kind: 'eof' }]);
      expect(stream.ended).toBe(true);
      await eventually(() => streamFrames(serial).length === 1);
      expect(streamFrames(serial)[0]!.header.status).toBe(MessageStatus.Ok);
      expect(client.openStreams).toBe(1);
      server.send(streamMsg(serial, MessageStatus.Ok));
      await eventually(() => client.openStreams === 0);
      expect(ends).toHaveLength(1);
    });

    it('ends with the remote error of a Stream/Error from the server, sending nothing back', async () => {
      const { stream, serial, data, ends } = await open();
      server.send(streamMsg(serial, MessageStatus.Error, remoteErrorPayload(39, 'stream had I/O failure')));
      await eventually(() => ends.length === 1);
      expect(ends[0]).toMatchObject({ kind: 'error', message: 'stream had I/O failure', remote: { code: 39 } });
      expect(client.openStreams).toBe(0);
      expect(stream.write(Buffer.from('x'))).toBe(false);
      // Data for a stream that no longer exists is dropped.
      server.send(streamMsg(serial, MessageStatus.Continue, Buffer.from('ghost')));
      await expect(stream.finish()).resolves.toBeUndefined();
      expect(data).toEqual(['early ']);
      expect(streamFrames(serial)).toHaveLength(0);
    });

    it('ends with the error of a Reply/Error carrying the stream serial (data libvirtd could not write)', async () => {
      const { stream, serial, ends } = await open();
      stream.write(Buffer.from('x'));
      server.send(server.reply(serial, CONSOLE.proc, remoteErrorPayload(38, 'cannot write to console: Input/output error'), MessageStatus.Error));
      await eventually(() => ends.length === 1);
      expect(ends[0]).toMatchObject({ kind: 'error', message: /cannot write to console/ });
      expect(client.openStreams).toBe(0);
    });

    it('rejects when the opening call fails, keeping no stream', async () => {
      const opening = client.openStream(CONSOLE, { dom: DOM, devName: null, flags: 2 });
      await eventually(() => server.received.length === 1);
      const h = server.received[0]!.header;
      server.send(
        server.reply(h.serial, h.proc, remoteErrorPayload(9, 'operation failed: Active console session exists for this domain'), MessageStatus.Error),
      );
      await expect(opening).rejects.toMatchObject({ kind: 'remote', message: /Active console session exists/, remote: { code: 9 } });
      expect(client.openStreams).toBe(0);
    });

    it('ends open streams as closed when the connection goes away', async () => {
      const { stream, ends } = await open();
      server.socket!.destroy();
      await eventually(() => ends.length === 1);
      expect(ends[0]).toMatchObject({ kind: 'closed' });
      expect(client.openStreams).toBe(0);
      await expect(stream.finish()).resolves.toBeUndefined();
    });
  });
});
