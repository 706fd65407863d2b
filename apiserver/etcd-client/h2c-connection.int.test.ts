/**
 * The h2c client (h2c-connection.ts) against a real `node:http2` server in this process
 * (h2c, no TLS) and against a real etcd (gRPC KV.Range / KV.Txn / KV.Put and a Watch stream).
 */
import { createHash } from 'node:crypto';
import http2 from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { jest } from '@jest/globals';
import protobuf from 'protobufjs';
import { eventually } from '../../hack/testenv/eventually.js';
import { startEtcd, type EtcdInstance } from '../../hack/testenv/etcd.js';
import {
  encodeHeaderBlock,
  encodeRequestHeaders,
  H2_ERRORS,
  H2cConnection,
  type H2cConnectionOptions,
  type H2cStream,
  type HeaderList,
  type StreamCloseInfo,
} from './h2c-connection.js';

jest.setTimeout(60_000);

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

// ------------------------------------------------------------------ helpers

interface Result {
  headers: HeaderList[];
  ends: boolean[];
  body: Buffer;
  info: StreamCloseInfo;
}

/** Runs one request to completion. */
function call(
  conn: H2cConnection,
  block: Buffer,
  opts: { body?: Buffer; endStream?: boolean } = { endStream: true },
  onStream?: (s: H2cStream) => void,
): Promise<Result> {
  return new Promise((resolve) => {
    const headers: HeaderList[] = [];
    const ends: boolean[] = [];
    const chunks: Buffer[] = [];
    const s = conn.request(
      block,
      {
        headers: (f, e) => {
          headers.push(f);
          ends.push(e);
        },
        data: (c) => chunks.push(c),
        close: (info) => resolve({ headers, ends, body: Buffer.concat(chunks), info }),
      },
      opts,
    );
    onStream?.(s);
  });
}

const field = (list: HeaderList | undefined, name: string): string | undefined => {
  if (!list) return undefined;
  for (let i = 0; i < list.length; i += 2) if (list[i] === name) return list[i + 1];
  return undefined;
};

async function h2server(
  onStream: (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders, session: http2.ServerHttp2Session) => void,
  settings: http2.Settings = {},
): Promise<{ server: http2.Http2Server; origin: string; sessions: Set<http2.ServerHttp2Session>; sockets: Set<Socket> }> {
  const server = http2.createServer({ settings });
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<Socket>(); // the raw TCP sockets (session.socket may not be destroyed)
  server.on('connection', (sock: Socket) => {
    sockets.add(sock);
    sock.on('close', () => sockets.delete(sock));
  });
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => undefined);
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => undefined);
    onStream(stream, headers, stream.session as http2.ServerHttp2Session);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  );
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, sessions, sockets };
}

function open(origin: string, opts?: H2cConnectionOptions): H2cConnection {
  const conn = H2cConnection.connect(origin, opts);
  cleanups.push(() => conn.destroy());
  return conn;
}

/** Collects a request body, then answers with headers, the body echoed and trailers. */
function echo(stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders): void {
  const chunks: Buffer[] = [];
  stream.on('data', (c: Buffer) => chunks.push(c));
  stream.on('end', () => {
    const body = Buffer.concat(chunks);
    stream.respond({ ':status': 200, 'x-path': String(headers[':path']), 'x-len': String(body.length) }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-sha': createHash('sha256').update(body).digest('hex') }));
    stream.end(body);
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

// ------------------------------------------------------------------ node:http2 server

describe('against node:http2', () => {
  test('unary request: headers, body and trailers', async () => {
    const { origin } = await h2server((st, h) => {
      expect(h[':method']).toBe('POST');
      expect(h['content-type']).toBe('application/grpc');
      echo(st, h);
    });
    const conn = open(origin);
    const block = encodeRequestHeaders('POST', conn.authority, '/svc/Method', { 'content-type': 'application/grpc', te: 'trailers' });
    const res = await call(conn, block, { body: Buffer.from('hello'), endStream: true });
    expect(res.info).toEqual({ unsent: false });
    expect(res.ends).toEqual([false, true]);
    expect(field(res.headers[0], ':status')).toBe('200');
    expect(field(res.headers[0], 'x-path')).toBe('/svc/Method');
    expect(res.body.toString()).toBe('hello');
    expect(res.headers[1]).toEqual(['grpc-status', '0', 'x-sha', sha(Buffer.from('hello'))]);
    expect(conn.connected).toBe(true);
    expect(conn.nextStreamId).toBe(3);

    // A request without a body, and a headers-only response.
    const { origin: o2 } = await h2server((st) => st.respond({ ':status': 204 }, { endStream: true }));
    const c2 = open(o2);
    const r2 = await call(c2, encodeRequestHeaders('GET', c2.authority, '/'));
    expect(r2.ends).toEqual([true]);
    expect(field(r2.headers[0], ':status')).toBe('204');
    expect(r2.info.unsent).toBe(false);
  });

  test('500 concurrent streams above maxConcurrentStreams 5 are queued', async () => {
    let active = 0;
    let peak = 0;
    const { origin } = await h2server(
      (st, h) => {
        active++;
        peak = Math.max(peak, active);
        st.on('close', () => active--);
        // Answer asynchronously so that streams overlap.
        setImmediate(() => echo(st, h));
      },
      { maxConcurrentStreams: 5 },
    );
    const conn = open(origin);
    const block = encodeRequestHeaders('POST', conn.authority, '/q');
    const all = Array.from({ length: 500 }, (_, i) => call(conn, block, { body: Buffer.from(`req-${i}`), endStream: true }));
    expect(conn.queuedStreams).toBe(500); // nothing starts before the server's SETTINGS
    const results = await Promise.all(all);
    results.forEach((r, i) => {
      expect(r.info.unsent).toBe(false);
      expect(r.body.toString()).toBe(`req-${i}`);
    });
    expect(peak).toBeLessThanOrEqual(5);
    expect(peak).toBeGreaterThan(1);
    expect(conn.activeStreams).toBe(0);
    expect(conn.queuedStreams).toBe(0);
    expect(conn.nextStreamId).toBe(1001);
  });

  test('a response body of several MiB (receive flow control, WINDOW_UPDATE)', async () => {
    const big = Buffer.alloc(9 << 20);
    for (let i = 0; i < big.length; i += 4) big.writeUInt32LE((i * 2654435761) >>> 0, i);
    const { origin } = await h2server((st) => {
      st.respond({ ':status': 200 });
      st.end(big);
    });
    // Default windows (4 MiB stream, 16 MiB connection) and HTTP/2's minimum (64 KiB).
    for (const opts of [{}, { initialWindowSize: 65_535, connectionWindowSize: 65_535 }]) {
      const conn = open(origin, opts);
      const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/big'));
      expect(res.info).toEqual({ unsent: false });
      expect(res.body.length).toBe(big.length);
      expect(sha(res.body)).toBe(sha(big));
    }
  });

  test('a request body larger than the server window (send flow control), split at MAX_FRAME_SIZE', async () => {
    const { origin } = await h2server(echo, { initialWindowSize: 65_535 });
    const conn = open(origin);
    const body = Buffer.alloc(5 << 20, 7);
    body.write('start', 0);
    body.write('end', body.length - 3);
    const res = await call(conn, encodeRequestHeaders('POST', conn.authority, '/upload'), { body, endStream: true });
    expect(res.info.unsent).toBe(false);
    expect(field(res.headers[0], 'x-len')).toBe(String(body.length));
    expect(field(res.headers[1], 'x-sha')).toBe(sha(body));

    // Written in pieces with write() / end(), including pieces larger than a frame.
    const pieces = [Buffer.alloc(100_000, 1), Buffer.alloc(10, 2), Buffer.alloc(1 << 20, 3)];
    const res2 = await call(conn, encodeRequestHeaders('POST', conn.authority, '/upload'), {}, (s) => {
      s.write(pieces[0]!);
      s.write(pieces[1]!);
      s.end(pieces[2]!);
    });
    expect(field(res2.headers[1], 'x-sha')).toBe(sha(Buffer.concat(pieces)));
  });

  test('400 request bodies waiting on one 64 KiB connection window: each arrives whole, in the order they were sent', async () => {
    // The scale benchmark's create burst: thousands of writes blocked on etcd's connection
    // window. They are resumed in the order they blocked, only as far as each update reaches.
    const ended: number[] = [];
    const { origin } = await h2server(
      (st, h) => {
        const chunks: Buffer[] = [];
        st.on('data', (c: Buffer) => chunks.push(c));
        st.on('end', () => {
          const body = Buffer.concat(chunks);
          ended.push(Number(h['x-n']));
          st.respond({ ':status': 200, 'x-len': String(body.length), 'x-sha': sha(body) });
          st.end();
        });
      },
      { initialWindowSize: 65_535 },
    );
    const conn = open(origin);
    const bodies = Array.from({ length: 400 }, (_, n) => Buffer.alloc(12_000 + n, n % 251));
    const base = encodeRequestHeaders('POST', conn.authority, '/burst');
    const results = await Promise.all(bodies.map((body, n) => call(conn, Buffer.concat([base, encodeHeaderBlock({ 'x-n': n })]), { body, endStream: true })));
    results.forEach((r, n) => {
      expect(r.info.unsent).toBe(false);
      expect(field(r.headers[0], 'x-len')).toBe(String(bodies[n]!.length));
      expect(field(r.headers[0], 'x-sha')).toBe(sha(bodies[n]!));
    });
    expect(ended).toEqual(bodies.map((_, n) => n));
    expect(conn.activeStreams).toBe(0);
  });

  test('long, Huffman-coded and repeated header values across many requests (server dynamic table)', async () => {
    const latin = String.fromCharCode(...Array.from({ length: 128 }, (_, i) => 128 + i));
    const printable = String.fromCharCode(...Array.from({ length: 95 }, (_, i) => 32 + i)).trim();
    const { origin } = await h2server((st, h) => {
      const n = Number(h['x-n']);
      st.respond({
        ':status': 200,
        'x-repeated': 'the same value every time',
        'x-long': 'L'.repeat(3000) + (n % 3),
        'x-printable': printable,
        'x-latin1': latin,
        'x-n': String(n),
        'set-cookie': [`a=${n}`, `b=${n}`],
      });
      st.end();
    });
    const conn = open(origin);
    const base = encodeRequestHeaders('GET', conn.authority, '/h');
    for (let n = 0; n < 200; n++) {
      // A constant block with a per-request block appended: blocks are stateless.
      const res = await call(conn, Buffer.concat([base, encodeHeaderBlock({ 'x-n': n })]));
      const h = res.headers[0]!;
      expect(field(h, 'x-n')).toBe(String(n));
      expect(field(h, 'x-repeated')).toBe('the same value every time');
      expect(field(h, 'x-long')).toBe('L'.repeat(3000) + (n % 3));
      expect(field(h, 'x-printable')).toBe(printable);
      expect(field(h, 'x-latin1')).toBe(latin);
      expect(h.filter((_, i) => i % 2 === 0 && h[i] === 'set-cookie').length).toBe(2);
    }
  });

  test('REFUSED_STREAM from the server is unsent', async () => {
    // (node:http2's stream.close(code) ends the stream before its RST_STREAM once a response
    // started; a RST_STREAM mid-response is tested with a raw server under "protocol errors".)
    const { origin } = await h2server((st) => st.close(http2.constants.NGHTTP2_REFUSED_STREAM));
    const conn = open(origin);
    const r2 = await call(conn, encodeRequestHeaders('GET', conn.authority, '/refuse'));
    expect(r2.info.rstCode).toBe(H2_ERRORS.REFUSED_STREAM);
    expect(r2.info.unsent).toBe(true);
    expect(r2.info.error?.message).toMatch(/refused/);
    expect(conn.connected).toBe(true); // the connection is still usable
  });

  test('server GOAWAY: streams above its last id are unsent, lower ones finish, no new streams', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    let session: http2.ServerHttp2Session | undefined;
    const { origin } = await h2server((st, _h, sess) => {
      session = sess;
      held.push(st);
    });
    const goaways: [number, number][] = [];
    let closed = false;
    const conn = open(origin, { onGoaway: (code, last) => goaways.push([code, last]), onClose: () => (closed = true) });
    const block = encodeRequestHeaders('GET', conn.authority, '/hold');
    const calls = [call(conn, block), call(conn, block), call(conn, block)];
    await eventually(() => held.length === 3);
    session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    const [r3, r5] = await Promise.all([calls[1], calls[2]]);
    expect(r3!.info.unsent).toBe(true);
    expect(r5!.info.unsent).toBe(true);
    expect(goaways).toEqual([[0, 1]]);
    expect(conn.closed).toBe(true);
    expect(closed).toBe(false); // stream 1 is still open
    // New requests are refused locally, as unsent.
    const late = await call(conn, block);
    expect(late.info.unsent).toBe(true);
    expect(late.info.error?.message).toMatch(/going away/);
    // Stream 1 finishes normally.
    held[0]!.respond({ ':status': 200 });
    held[0]!.end('done');
    const r1 = await calls[0]!;
    expect(r1.info).toEqual({ unsent: false });
    expect(r1.body.toString()).toBe('done');
    await eventually(() => closed);
  });

  test('server session.close(): open streams finish, then the connection closes', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const { origin, sessions } = await h2server((st) => held.push(st));
    let closed = false;
    const conn = open(origin, { onClose: () => (closed = true) });
    const block = encodeRequestHeaders('GET', conn.authority, '/hold');
    const calls = [call(conn, block), call(conn, block)];
    await eventually(() => held.length === 2);
    for (const s of sessions) s.close();
    await eventually(() => conn.closed);
    for (const st of held) {
      st.respond({ ':status': 200 });
      st.end('ok');
    }
    for (const r of await Promise.all(calls)) {
      expect(r.info).toEqual({ unsent: false });
      expect(r.body.toString()).toBe('ok');
    }
    await eventually(() => closed);
  });

  test('server socket destroyed mid-stream: the stream fails with an error, not unsent', async () => {
    const { origin, sockets } = await h2server((st) => {
      st.respond({ ':status': 200 });
      st.write('some bytes', () => {
        for (const sock of sockets) sock.destroy();
      });
    });
    const errors: Error[] = [];
    const conn = open(origin, { onError: (e) => errors.push(e) });
    const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/x'));
    expect(res.info.error).toBeInstanceOf(Error);
    expect(res.info.unsent).toBe(false);
    expect(res.body.toString()).toBe('some bytes');
    expect(conn.destroyed).toBe(true);
    expect(errors).toHaveLength(1);
    const after = await call(conn, encodeRequestHeaders('GET', conn.authority, '/x'));
    expect(after.info.unsent).toBe(true);
  });

  test('connect refused: queued streams close as unsent', async () => {
    const srv = createNetServer();
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    const port = (srv.address() as AddressInfo).port;
    await new Promise((r) => srv.close(r));
    let pingErr: Error | undefined;
    const conn = open(`http://127.0.0.1:${port}`);
    conn.ping((err) => (pingErr = err));
    const results = await Promise.all([1, 2, 3].map(() => call(conn, encodeRequestHeaders('GET', conn.authority, '/'))));
    for (const r of results) {
      expect(r.info.unsent).toBe(true);
      expect(r.info.error?.message).toMatch(/cannot connect.*ECONNREFUSED/);
    }
    expect(pingErr).toBeInstanceOf(Error);
    expect(conn.connected).toBe(false);
  });

  test('ping', async () => {
    const { origin } = await h2server(echo);
    const conn = open(origin);
    const rtts = await Promise.all([1, 2, 3].map(() => new Promise<Error | undefined>((r) => conn.ping(r))));
    expect(rtts).toEqual([undefined, undefined, undefined]);
    conn.close();
    expect(conn.ping(() => undefined)).toBe(false);
  });

  test('a bidirectional stream: DATA both ways, then end', async () => {
    const { origin } = await h2server((st) => {
      st.respond({ ':status': 200 });
      st.on('data', (c: Buffer) => st.write(Buffer.from(c.toString().toUpperCase())));
      st.on('end', () => st.end());
    });
    const conn = open(origin);
    const got: string[] = [];
    let wake: (() => void) | undefined;
    let closeInfo: StreamCloseInfo | undefined;
    const s = conn.request(encodeRequestHeaders('POST', conn.authority, '/bidi'), {
      headers: () => undefined,
      data: (c) => {
        got.push(c.toString());
        wake?.();
      },
      close: (info) => (closeInfo = info),
    });
    for (const msg of ['one', 'two', 'three']) {
      const n = got.length;
      const arrived = new Promise<void>((r) => (wake = r));
      s.write(Buffer.from(msg));
      await arrived;
      expect(got.slice(n).join('')).toBe(msg.toUpperCase());
    }
    expect(closeInfo).toBeUndefined();
    s.end();
    await eventually(() => closeInfo !== undefined);
    expect(closeInfo).toEqual({ unsent: false });
  });

  test('server GOAWAY with requests queued behind MAX_CONCURRENT_STREAMS: the queued ones close as unsent', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    let session: http2.ServerHttp2Session | undefined;
    const { origin } = await h2server(
      (st, _h, sess) => {
        session = sess;
        held.push(st);
      },
      { maxConcurrentStreams: 1 },
    );
    let closed = false;
    const conn = open(origin, { onClose: () => (closed = true) });
    const block = encodeRequestHeaders('GET', conn.authority, '/hold');
    const calls = [call(conn, block), call(conn, block), call(conn, block)];
    await eventually(() => held.length === 1);
    expect(conn.queuedStreams).toBe(2);
    // node:http2 always names the last stream it processed (1); the queued two never started.
    session!.goaway(http2.constants.NGHTTP2_NO_ERROR, 1);
    const queued = await Promise.all([calls[1]!, calls[2]!]);
    expect(queued.map((r) => r.info.unsent)).toEqual([true, true]);
    expect(conn.queuedStreams).toBe(0);
    held[0]!.respond({ ':status': 200 });
    held[0]!.end('done');
    expect((await calls[0]!).info).toEqual({ unsent: false });
    await eventually(() => closed);
  });

  test('a stream cancelled before its frames were flushed is still sent (never reported unsent)', async () => {
    const seen: string[] = [];
    const { origin } = await h2server((st, h) => {
      seen.push(String(h[':path']));
      if (h[':path'] === '/warm') st.respond({ ':status': 200 });
      st.on('close', () => seen.push(`rst ${st.rstCode}`));
    });
    const conn = open(origin);
    await new Promise<void>((resolve) => {
      conn.request(encodeRequestHeaders('GET', conn.authority, '/warm'), { headers: () => resolve(), data: () => undefined, close: () => resolve() });
    });
    let info: StreamCloseInfo | undefined;
    const s = conn.request(
      encodeRequestHeaders('POST', conn.authority, '/put'),
      { headers: () => undefined, data: () => undefined, close: (i) => (info = i) },
      { body: Buffer.from('PUT x') },
    );
    s.cancel(); // same tick: HEADERS and body are still in the write buffer
    expect(info).toEqual({ rstCode: H2_ERRORS.CANCEL, local: true, unsent: false });
    await eventually(() => seen.includes('/put') && seen.includes(`rst ${http2.constants.NGHTTP2_CANCEL}`));
  });

  test('ping works on a closing connection that still carries an open stream', async () => {
    let session: http2.ServerHttp2Session | undefined;
    const { origin } = await h2server((st, _h, sess) => {
      session = sess;
      st.respond({ ':status': 200 }); // a long-lived response, like a watch
    });
    const conn = open(origin);
    await new Promise<void>((resolve) => {
      conn.request(encodeRequestHeaders('GET', conn.authority, '/watch'), { headers: () => resolve(), data: () => undefined, close: () => undefined });
    });
    conn.close(); // retired: no new streams, the open one stays
    expect(conn.closed).toBe(true);
    const acked = await new Promise<Error | undefined>((resolve) => expect(conn.ping(resolve)).toBe(true));
    expect(acked).toBeUndefined();
    expect(session).toBeDefined();
  });

  test('cancel: RST_STREAM CANCEL reaches the server', async () => {
    let serverRst: number | undefined;
    const { origin } = await h2server((st) => {
      st.respond({ ':status': 200 });
      st.on('close', () => (serverRst = st.rstCode));
    });
    const conn = open(origin);
    let info: StreamCloseInfo | undefined;
    let s: H2cStream | undefined;
    const headersSeen = new Promise<void>((r) => {
      s = conn.request(encodeRequestHeaders('GET', conn.authority, '/c'), { headers: () => r(), data: () => undefined, close: (i) => (info = i) });
    });
    await headersSeen;
    s!.cancel();
    expect(info).toEqual({ rstCode: H2_ERRORS.CANCEL, local: true, unsent: false });
    await eventually(() => serverRst === http2.constants.NGHTTP2_CANCEL);
    // Cancelling a queued stream (before the server's SETTINGS): unsent.
    const c2 = open(origin);
    let info2: StreamCloseInfo | undefined;
    const s2 = c2.request(encodeRequestHeaders('GET', c2.authority, '/c'), { headers: () => undefined, data: () => undefined, close: (i) => (info2 = i) });
    s2.cancel();
    expect(info2).toEqual({ rstCode: H2_ERRORS.CANCEL, local: true, unsent: true });
  });

  test('stream id exhaustion: requests past maxStreamId are unsent, the connection closes gracefully', async () => {
    const { origin } = await h2server(echo);
    let closed = false;
    const conn = open(origin, { maxStreamId: 5, onClose: () => (closed = true) });
    const block = encodeRequestHeaders('POST', conn.authority, '/ids');
    const results = await Promise.all([1, 2, 3, 4].map(() => call(conn, block)));
    expect(results.map((r) => r.info.unsent)).toEqual([false, false, false, true]);
    expect(results[3]!.info.error?.message).toMatch(/no stream ids left|closed/);
    await eventually(() => closed);
  });

  test('graceful close(): in-flight streams finish, queued ones are unsent', async () => {
    const held: http2.ServerHttp2Stream[] = [];
    const { origin } = await h2server((st) => held.push(st), { maxConcurrentStreams: 1 });
    let closed = false;
    const conn = open(origin, { onClose: () => (closed = true) });
    const block = encodeRequestHeaders('GET', conn.authority, '/hold');
    const first = call(conn, block);
    const second = call(conn, block);
    await eventually(() => held.length === 1);
    conn.close();
    expect((await second).info.unsent).toBe(true);
    expect(closed).toBe(false);
    held[0]!.respond({ ':status': 200 });
    held[0]!.end('fin');
    expect((await first).body.toString()).toBe('fin');
    await eventually(() => closed);
  });
});

// ------------------------------------------------------------------ protocol errors (raw server)

/** A raw TCP server that answers the client preface with the given frames. */
async function rawServer(frames: (received: Buffer) => Buffer[] | undefined): Promise<{ origin: string; received: () => Buffer }> {
  let got = Buffer.alloc(0);
  const sockets = new Set<Socket>();
  const srv: NetServer = createNetServer((sock) => {
    sockets.add(sock);
    sock.on('error', () => undefined);
    sock.on('data', (c) => {
      got = Buffer.concat([got, c]);
      for (const f of frames(got) ?? []) sock.write(f);
    });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        srv.close(() => r());
      }),
  );
  return { origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, received: () => got };
}

function frame(type: number, flags: number, sid: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(sid, 5);
  return Buffer.concat([h, payload]);
}

/** The GOAWAY error codes in a client byte stream (after the 24-byte preface). */
function goawayCodes(bytes: Buffer): number[] {
  const codes: number[] = [];
  for (let p = 24; p + 9 <= bytes.length; ) {
    const len = bytes.readUIntBE(p, 3);
    if (bytes[p + 3] === 7 && p + 9 + 8 <= bytes.length) codes.push(bytes.readUInt32BE(p + 13));
    p += 9 + len;
  }
  return codes;
}

describe('protocol errors', () => {
  const settings = frame(4, 0, 0, Buffer.alloc(0));
  const hasHeaders = (b: Buffer) => b.length > 24 && b.subarray(24).includes(Buffer.from([0x01, 0x05, 0, 0, 0, 1])); // HEADERS, END_STREAM|END_HEADERS, stream 1
  /** SETTINGS once the preface arrived, then `reply` once the request's HEADERS arrived. */
  const script = (reply: Buffer[]) => {
    let step = 0;
    return (b: Buffer): Buffer[] | undefined => {
      if (step === 0 && b.length >= 24) {
        step = 1;
        if (!hasHeaders(b)) return [settings];
        step = 2;
        return [settings, ...reply];
      }
      if (step === 1 && hasHeaders(b)) {
        step = 2;
        return reply;
      }
      return undefined;
    };
  };

  test('a bad HPACK block: COMPRESSION_ERROR, the stream fails', async () => {
    const { origin, received } = await rawServer(script([frame(1, 0x5, 1, Buffer.from([0x80]))]));
    const conn = open(origin);
    const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/'));
    expect(res.info.error?.message).toMatch(/index 0/);
    expect((res.info.error as { code?: number }).code).toBe(H2_ERRORS.COMPRESSION_ERROR);
    await eventually(() => goawayCodes(received()).includes(H2_ERRORS.COMPRESSION_ERROR));
  });

  test('PUSH_PROMISE and HEADERS on a server-initiated stream: PROTOCOL_ERROR', async () => {
    for (const bad of [frame(5, 0x4, 1, Buffer.from([0, 0, 0, 2, 0x82])), frame(1, 0x5, 2, Buffer.from([0x88]))]) {
      const { origin, received } = await rawServer(script([bad]));
      const conn = open(origin);
      const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/'));
      expect((res.info.error as { code?: number }).code).toBe(H2_ERRORS.PROTOCOL_ERROR);
      await eventually(() => goawayCodes(received()).includes(H2_ERRORS.PROTOCOL_ERROR));
    }
  });

  test('RST_STREAM mid-response: the stream fails with the code, the connection stays', async () => {
    const { origin } = await rawServer(
      script([frame(1, 0x4, 1, Buffer.from([0x88])), frame(0, 0, 1, Buffer.from('partial')), frame(3, 0, 1, Buffer.from([0, 0, 0, 2]))]),
    );
    const conn = open(origin);
    const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/'));
    expect(res.body.toString()).toBe('partial');
    expect(res.info.rstCode).toBe(H2_ERRORS.INTERNAL_ERROR);
    expect(res.info.unsent).toBe(false);
    expect(res.info.error?.message).toMatch(/reset by the server with code 2/);
    expect(conn.destroyed).toBe(false);
  });

  test('a frame larger than our MAX_FRAME_SIZE: FRAME_SIZE_ERROR', async () => {
    const { origin, received } = await rawServer(script([frame(0, 0, 1, Buffer.alloc(20_000))]));
    const conn = open(origin);
    const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/'));
    expect((res.info.error as { code?: number }).code).toBe(H2_ERRORS.FRAME_SIZE_ERROR);
    await eventually(() => goawayCodes(received()).includes(H2_ERRORS.FRAME_SIZE_ERROR));
  });

  test('padded HEADERS with CONTINUATION, and padded DATA, are decoded', async () => {
    // :status 200 split over HEADERS (padded, with priority) + CONTINUATION; DATA padded.
    const headers = Buffer.concat([Buffer.from([3]), Buffer.from([0, 0, 0, 0, 16]), Buffer.from([0x88]), Buffer.alloc(3)]);
    const cont = Buffer.from([0x40, 1, 0x78, 1, 0x79]); // literal x: y (indexed)
    const data = Buffer.concat([Buffer.from([2]), Buffer.from('body'), Buffer.alloc(2)]);
    const { origin } = await rawServer(script([frame(1, 0x8 | 0x20, 1, headers), frame(9, 0x4, 1, cont), frame(0, 0x8 | 0x1, 1, data)]));
    const conn = open(origin);
    const res = await call(conn, encodeRequestHeaders('GET', conn.authority, '/'));
    expect(res.headers).toEqual([[':status', '200', 'x', 'y']]);
    expect(res.body.toString()).toBe('body');
    expect(res.info).toEqual({ unsent: false });
  });
});

// ------------------------------------------------------------------ etcd

describe.each(['http', 'https'] as const)('against etcd (gRPC over %s; https with client certificates, as make up runs it)', (scheme) => {
  let etcd: EtcdInstance;
  /** A connection to the test member, with its client certificate over TLS. */
  const openEtcd = () => open(etcd.clientUrl, etcd.tls && { tls: etcd.kvTls() });
  const protoFile = join(dirname(createRequire(import.meta.url).resolve('etcd3/package.json')), 'proto', 'rpc.proto');
  const root = new protobuf.Root().loadSync(protoFile, { keepCase: true });
  root.resolveAll();
  const etcdType = (n: string) => root.lookupType(`etcdserverpb.${n}`);
  const TO_OBJECT: protobuf.IConversionOptions = { longs: String, enums: String, defaults: true, oneofs: true };

  beforeAll(async () => {
    etcd = await startEtcd({ tls: scheme === 'https' });
  });
  afterAll(async () => {
    await etcd?.stop();
  });

  const grpcFrame = (type: protobuf.Type, obj: object): Buffer => {
    const msg = type.encode(type.fromObject(obj as Record<string, unknown>)).finish();
    const out = Buffer.alloc(5 + msg.length);
    out.writeUInt32BE(msg.length, 1);
    out.set(msg, 5);
    return out;
  };
  const headersFor = (conn: H2cConnection, path: string) =>
    encodeRequestHeaders('POST', conn.authority, path, { 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'quantix-h2c-test' }, scheme);

  async function unary(conn: H2cConnection, path: string, reqType: string, req: object, resType: string): Promise<Record<string, unknown>> {
    const res = await call(conn, headersFor(conn, path), { body: grpcFrame(etcdType(reqType), req), endStream: true });
    expect(res.info).toEqual({ unsent: false });
    expect(field(res.headers[0], ':status')).toBe('200');
    expect(field(res.headers.at(-1), 'grpc-status')).toBe('0');
    expect(res.body.readUInt32BE(1)).toBe(res.body.length - 5);
    const t = etcdType(resType);
    return t.toObject(t.decode(res.body.subarray(5)), TO_OBJECT);
  }

  test('KV.Txn and KV.Range round trip', async () => {
    const conn = openEtcd();
    const b = (s: string) => Buffer.from(s);
    const txn = await unary(
      conn,
      '/etcdserverpb.KV/Txn',
      'TxnRequest',
      {
        compare: [{ key: b('/h2c/a'), target: 'MOD', result: 'EQUAL', mod_revision: 0 }],
        success: [{ request_put: { key: b('/h2c/a'), value: b('one') } }, { request_put: { key: b('/h2c/b'), value: b('two') } }],
        failure: [],
      },
      'TxnResponse',
    );
    expect(txn.succeeded).toBe(true);
    const range = await unary(conn, '/etcdserverpb.KV/Range', 'RangeRequest', { key: b('/h2c/'), range_end: b('/h2c0') }, 'RangeResponse');
    expect(range.count).toBe('2');
    const kvs = range.kvs as { key: Buffer; value: Buffer; mod_revision: string }[];
    expect(kvs.map((kv) => [kv.key.toString(), kv.value.toString()])).toEqual([
      ['/h2c/a', 'one'],
      ['/h2c/b', 'two'],
    ]);
    expect((range.header as { revision: string }).revision).toBe((txn.header as { revision: string }).revision);
    // The same Txn again fails its compare.
    const again = await unary(
      conn,
      '/etcdserverpb.KV/Txn',
      'TxnRequest',
      { compare: [{ key: b('/h2c/a'), target: 'MOD', result: 'EQUAL', mod_revision: 0 }], success: [], failure: [] },
      'TxnResponse',
    );
    expect(again.succeeded).toBe(false);
    // Many concurrent ranges on the one connection.
    const many = await Promise.all(
      Array.from({ length: 200 }, () => unary(conn, '/etcdserverpb.KV/Range', 'RangeRequest', { key: b('/h2c/a') }, 'RangeResponse')),
    );
    for (const r of many) expect((r.kvs as { value: Buffer }[])[0]!.value.toString()).toBe('one');
    // A gRPC error status (an unknown method) arrives in the trailers.
    const bad = await call(conn, headersFor(conn, '/etcdserverpb.KV/Nope'), { body: grpcFrame(etcdType('RangeRequest'), {}), endStream: true });
    expect(field(bad.headers.at(-1), 'grpc-status')).toBe('12');
  });

  test('a Watch stream receives events for puts', async () => {
    const conn = openEtcd();
    const WatchResponse = etcdType('WatchResponse');
    const responses: Record<string, unknown>[] = [];
    let pending = Buffer.alloc(0);
    let info: StreamCloseInfo | undefined;
    const watch = conn.request(headersFor(conn, '/etcdserverpb.Watch/Watch'), {
      headers: () => undefined,
      data: (c) => {
        pending = Buffer.concat([pending, c]);
        while (pending.length >= 5 && pending.length >= 5 + pending.readUInt32BE(1)) {
          const len = pending.readUInt32BE(1);
          responses.push(WatchResponse.toObject(WatchResponse.decode(pending.subarray(5, 5 + len)), TO_OBJECT));
          pending = pending.subarray(5 + len);
        }
      },
      close: (i) => (info = i),
    });
    watch.write(grpcFrame(etcdType('WatchRequest'), { create_request: { key: Buffer.from('/w/'), range_end: Buffer.from('/w0') } }));
    await eventually(() => responses.some((r) => r.created === true));
    for (const [k, v] of [
      ['/w/1', 'a'],
      ['/w/2', 'b'],
      ['/w/1', 'c'],
    ]) {
      await unary(conn, '/etcdserverpb.KV/Put', 'PutRequest', { key: Buffer.from(k!), value: Buffer.from(v!) }, 'PutResponse');
    }
    const events = () =>
      responses.flatMap((r) =>
        (r.events as { type: string; kv: { key: Buffer; value: Buffer } }[]).map((e) => [e.type, e.kv.key.toString(), e.kv.value.toString()]),
      );
    await eventually(() => events().length === 3);
    expect(events()).toEqual([
      ['Put', '/w/1', 'a'],
      ['Put', '/w/2', 'b'],
      ['Put', '/w/1', 'c'],
    ]);
    expect(info).toBeUndefined();
    watch.cancel();
    expect(info).toEqual({ rstCode: H2_ERRORS.CANCEL, local: true, unsent: false });
  });
});
