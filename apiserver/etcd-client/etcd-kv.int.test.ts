/**
 * The lean KV client (etcd-kv.ts) against a real etcd over TLS with client certificates (as
 * `make up` runs it), side by side with etcd3's
 * `client.kv` and watch client: same responses (shapes and values), same error messages,
 * plus what only the lean client does (size cap, deadline, reconnect after a connection
 * loss, watch keepalive).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http2 from 'node:http2';
import { createRequire } from 'node:module';
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { jest } from '@jest/globals';
import { Etcd3, type IRangeResponse, type ITxnRequest, type ITxnResponse, type IWatchRequest, type IWatchResponse } from 'etcd3';
import protobuf from 'protobufjs';
import { startEtcd, type EtcdInstance } from '../../hack/testenv/etcd.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { createKvClient, EtcdKvError, type LeanKvClient, MIN_PING_INTERVAL_MS, PING_TIMEOUT_MS, type WatchDuplex } from './etcd-kv.js';
import { EtcdStore } from '../storage/etcd-store.js';

jest.setTimeout(30_000);

let etcd: EtcdInstance;
let e3: Etcd3;
let lean: LeanKvClient;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  etcd = await startEtcd({ tls: true });
  e3 = new Etcd3(etcd.etcd3Options()); // as the apiserver: ETCD_GRPC_OPTIONS, no size cap
  lean = createKvClient(etcd.endpoints, { tls: tls() });
});

/** The lean client's TLS options for the test member (and members sharing its PKI). */
const tls = () => etcd.kvTls();

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  lean?.close();
  e3?.close();
  await etcd?.stop();
});

let seq = 0;
const prefix = () => `/kvtest/${++seq}/`;
const b = (s: string) => Buffer.from(s);

async function rejection(p: Promise<unknown>): Promise<Error & { code?: number }> {
  try {
    await p;
  } catch (err) {
    return err as Error & { code?: number };
  }
  throw new Error('expected a rejection');
}

/** Revisions relative to the response's header revision, so two writes' responses compare. */
function relative<T>(res: T): T {
  const base = Number((res as { header: { revision: string } }).header.revision);
  const walk = (v: unknown): unknown => {
    if (Buffer.isBuffer(v) || v === null || typeof v !== 'object') return v;
    if (Array.isArray(v)) return v.map(walk);
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      out[k] = /^(revision|create_revision|mod_revision)$/.test(k) && typeof x === 'string' && x !== '0' ? String(Number(x) - base) : walk(x);
    }
    return out;
  };
  return walk(res) as T;
}

/** A TCP proxy in front of etcd whose connections a test can cut, refuse, and point elsewhere. */
class TcpProxy {
  readonly #sockets = new Set<Socket>();
  open = true;
  private constructor(
    readonly server: Server,
    public target: string,
  ) {}

  static async start(target: string): Promise<TcpProxy> {
    const self: TcpProxy = new TcpProxy(
      createServer((down) => {
        if (!self.open) return void down.destroy();
        const { hostname, port } = new URL(self.target);
        const up = createConnection({ host: hostname, port: Number(port) });
        self.#sockets.add(down).add(up);
        const drop = () => {
          down.destroy();
          up.destroy();
          self.#sockets.delete(down);
          self.#sockets.delete(up);
        };
        down.on('error', drop).on('close', drop);
        up.on('error', drop).on('close', drop);
        down.pipe(up).pipe(down);
      }),
      target,
    );
    await new Promise<void>((r) => self.server.listen(0, '127.0.0.1', r));
    cleanups.push(() => self.close());
    return self;
  }

  /** The proxy's URL, with the target's scheme (TLS passes through). */
  get url(): string {
    return `${new URL(this.target).protocol}//127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  cut(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  /** Stops forwarding either way, closing nothing: a silently dead link (e.g. a partition). */
  freeze(): void {
    for (const s of this.#sockets) {
      s.unpipe();
      s.pause();
    }
  }

  async close(): Promise<void> {
    this.open = false;
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

describe('same responses as etcd3', () => {
  it('range: single key, missing key, range_end / limit / count, at a revision, keys_only / count_only', async () => {
    const p = prefix();
    for (const k of ['a', 'b', 'c', 'd', 'e']) await e3.put(p + k).value(`value of ${k}`);
    const old = await e3.kv.range({ key: b(`${p}a`) });
    await e3.put(`${p}a`).value('changed');
    const requests = [
      { key: b(`${p}a`) },
      { key: b(`${p}missing`) },
      { key: b(p), range_end: b(`${p}\xff`) },
      { key: b(p), range_end: b(`${p}\xff`), limit: 2 },
      { key: b(`${p}b`), range_end: b(`${p}d`), limit: '1' },
      { key: b(`${p}a`), revision: old.header.revision },
      { key: b(p), range_end: b(`${p}\xff`), revision: Number(old.header.revision), limit: 3 },
      { key: b(p), range_end: b(`${p}\xff`), keys_only: true, sort_order: 'Descend' as const, sort_target: 'Mod' as const },
      { key: b(p), range_end: b(`${p}\xff`), count_only: true },
    ];
    for (const req of requests) {
      const [want, got] = await Promise.all([e3.kv.range(req), lean.range(req)]);
      expect(got).toEqual(want);
    }
    const one: IRangeResponse = await lean.range({ key: b(`${p}a`) });
    const kv = one.kvs[0]!;
    expect(Buffer.isBuffer(kv.key) && Buffer.isBuffer(kv.value)).toBe(true);
    expect(kv.value.toString()).toBe('changed');
    expect(typeof kv.mod_revision).toBe('string');
    expect(typeof one.header.revision).toBe('string');
    expect(one.more).toBe(false);
    const page = await lean.range({ key: b(p), range_end: b(`${p}\xff`), limit: 2 });
    expect(page.more).toBe(true);
    expect(page.count).toBe('5');
    const atOld = await lean.range({ key: b(`${p}a`), revision: old.header.revision });
    expect(atOld.kvs[0]!.value.toString()).toBe('value of a');
  });

  it('range: a multi-megabyte response (many HTTP/2 data frames)', async () => {
    const p = prefix();
    const big = Buffer.alloc(1 << 20, 'x');
    for (let i = 0; i < 6; i++) await e3.put(`${p}${i}`).value(big);
    const req = { key: b(p), range_end: b(`${p}\xff`) };
    const [want, got] = await Promise.all([e3.kv.range(req), lean.range(req)]);
    expect(got.kvs).toHaveLength(6);
    // (jest compares Buffers byte by byte: slow for megabytes)
    for (const [i, kv] of got.kvs.entries()) expect(kv.value.equals(want.kvs[i]!.value)).toBe(true);
    const strip = (r: IRangeResponse) => ({ ...r, kvs: r.kvs.map((kv) => ({ ...kv, value: kv.value.length })) });
    expect(strip(got)).toEqual(strip(want));
  });

  it('txn: failure branch with request_range (read-only), compare on mod revision', async () => {
    const p = prefix();
    await e3.put(`${p}k`).value('v1');
    const cur = await e3.kv.range({ key: b(`${p}k`) });
    const stale: ITxnRequest = {
      compare: [{ key: b(`${p}k`), target: 'Mod', result: 'Equal', mod_revision: Number(cur.kvs[0]!.mod_revision) - 1 }],
      success: [{ request_put: { key: b(`${p}k`), value: b('never') } }],
      failure: [{ request_range: { key: b(`${p}k`) } }],
    };
    const [want, got] = await Promise.all([e3.kv.txn(stale), lean.txn(stale)]);
    expect(got).toEqual(want);
    expect(got.succeeded).toBe(false);
    expect(got.responses[0]!.response_range.kvs[0]!.value.toString()).toBe('v1');
    // Create-if-absent on a key that exists: fails with no responses.
    const create: ITxnRequest = {
      compare: [{ key: b(`${p}k`), target: 'Mod', result: 'Equal', mod_revision: 0 }],
      success: [{ request_put: { key: b(`${p}k`), value: b('never') } }],
      failure: [],
    };
    const [w2, g2] = await Promise.all([e3.kv.txn(create), lean.txn(create)]);
    expect(g2).toEqual(w2);
    expect(g2.responses).toEqual([]);
  });

  it('txn: success branches (create, compare-and-swap put, delete) have the same shapes', async () => {
    const p = prefix();
    const key = b(`${p}k`);
    const run = async (client: { txn(r: ITxnRequest): Promise<ITxnResponse> }) => {
      const out: ITxnResponse[] = [];
      out.push(
        await client.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: 0 }],
          success: [{ request_put: { key, value: b('v1') } }, { request_range: { key } }],
          failure: [],
        }),
      );
      const rev = out[0]!.header.revision;
      out.push(
        await client.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: rev }],
          success: [{ request_put: { key, value: b('v2'), prev_kv: true } }],
          failure: [{ request_range: { key } }],
        }),
      );
      out.push(
        await client.txn({
          compare: [{ key, target: 'Mod', result: 'Equal', mod_revision: out[1]!.header.revision }],
          success: [{ request_delete_range: { key, prev_kv: true } }],
          failure: [{ request_range: { key } }],
        }),
      );
      return out.map(relative);
    };
    const got = await run(lean);
    const want = await run(e3.kv); // the key is gone again: same starting state
    expect(got).toEqual(want);
    expect(got.map((r) => r.succeeded)).toEqual([true, true, true]);
    expect(got[0]!.responses.map((r) => (r as unknown as { response: string }).response)).toEqual(['response_put', 'response_range']);
    expect(got[1]!.responses[0]!.response_put.prev_kv.value.toString()).toBe('v1');
    expect(got[2]!.responses[0]!.response_delete_range.deleted).toBe('1');
  });

  it('errors: same messages for a future and a compacted revision, with a numeric code', async () => {
    const p = prefix();
    await e3.put(`${p}a`).value('1');
    const { header } = await e3.kv.range({ key: b(`${p}a`) });
    const future = { key: b(`${p}a`), revision: Number(header.revision) + 1000 };
    const [ef, lf] = await Promise.all([rejection(e3.kv.range(future)), rejection(lean.range(future))]);
    expect(lf.message).toBe(ef.message);
    expect(lf.message).toMatch(/required revision is a future revision/);
    expect(lf).toBeInstanceOf(EtcdKvError);
    expect(lf.code).toBe(11);
    await e3.put(`${p}a`).value('2');
    await e3.kv.compact({ revision: Number(header.revision) + 1, physical: true });
    const compacted = { key: b(`${p}a`), revision: header.revision };
    const [ec, lc] = await Promise.all([rejection(e3.kv.range(compacted)), rejection(lean.range(compacted))]);
    expect(lc.message).toBe(ec.message);
    expect(lc.message).toMatch(/required revision has been compacted/);
  });

  it('compact, and the maintenance calls status / alarm / defragment: same responses and errors', async () => {
    const p = prefix();
    await e3.put(`${p}a`).value('1');
    await e3.put(`${p}a`).value('2');
    const { header } = await e3.kv.range({ key: b(`${p}a`) });
    const got = await lean.compact({ revision: Number(header.revision) - 1, physical: true });
    const want = await e3.kv.compact({ revision: header.revision, physical: true });
    expect(got).toEqual(want);
    expect(got.header.revision).toBe(header.revision);
    expect(await lean.range({ key: b(`${p}a`), revision: header.revision })).toMatchObject({ kvs: [{ value: b('2') }] });
    // Compacting again at or below: etcd's ErrCompacted, the message storage matches on.
    const again = { revision: Number(header.revision) - 1 };
    const [ec, lc] = await Promise.all([rejection(e3.kv.compact(again)), rejection(lean.compact(again))]);
    expect(lc.message).toBe(ec.message);
    expect(lc.message).toMatch(/required revision has been compacted/);

    const [ws, gs] = await Promise.all([e3.maintenance.status(), lean.status()]);
    expect(Object.keys(gs).sort()).toEqual(Object.keys(ws).sort());
    expect(gs.version).toBe(ws.version);
    expect(gs.header.member_id).toBe(ws.header.member_id);
    expect(Number(gs.dbSize)).toBeGreaterThan(0);
    expect(Number(gs.dbSizeInUse)).toBeGreaterThan(0);
    expect(typeof gs.dbSize).toBe('string');

    const get = { action: 'Get' as const, memberID: 0, alarm: 'None' as const };
    expect(await lean.alarm(get)).toEqual(await e3.maintenance.alarm(get));
    const memberID = gs.header.member_id;
    await e3.maintenance.alarm({ action: 'Activate', memberID, alarm: 'Nospace' });
    try {
      const [wa, ga] = await Promise.all([e3.maintenance.alarm(get), lean.alarm(get)]);
      expect(ga).toEqual(wa);
      expect(ga.alarms).toEqual([{ memberID, alarm: 'Nospace' }]);
      // Disarm through the lean client.
      const disarmed = await lean.alarm({ action: 'Deactivate', memberID, alarm: 'Nospace' });
      expect(disarmed.alarms).toEqual([{ memberID, alarm: 'Nospace' }]);
      expect((await lean.alarm(get)).alarms).toEqual([]);
    } finally {
      await e3.maintenance.alarm({ action: 'Deactivate', memberID, alarm: 'Nospace' });
    }

    const [wd, gd] = [await e3.maintenance.defragment(), await lean.defragment()];
    expect(gd).toEqual(wd);
  });
});

describe('lean client specifics', () => {
  it('rejects a response above maxReceiveBytes with RESOURCE_EXHAUSTED, which EtcdStore answers with smaller chunks', async () => {
    const small = createKvClient(etcd.endpoints, { maxReceiveBytes: 2000, tls: tls() });
    cleanups.push(() => small.close());
    const p = prefix();
    await e3.put(`${p}big`).value(Buffer.alloc(3000, 'x'));
    const err = await rejection(small.range({ key: b(`${p}big`) }));
    expect(err.code).toBe(8);
    expect(err.message).toMatch(/^8 RESOURCE_EXHAUSTED: Received message larger than max \(\d+ vs 2000\)$/);
    // The connection is still good for smaller responses.
    expect((await small.range({ key: b(`${p}missing`) })).kvs).toEqual([]);

    const resource = { group: 'quantix.io', resource: `things${++seq}`, namespaced: false };
    const store = new EtcdStore(e3, resource, { kv: small, listChunkSize: 64 });
    for (let i = 0; i < 20; i++) {
      await store.create({ apiVersion: 'v1', kind: 'Thing', metadata: { name: `t${String(i).padStart(2, '0')}` }, spec: { pad: 'y'.repeat(300) } });
    }
    const listed = await store.list({});
    expect(listed.items.map((o) => o.metadata.name)).toEqual(Array.from({ length: 20 }, (_, i) => `t${String(i).padStart(2, '0')}`));
  });

  it('fails a call after its deadline with DEADLINE_EXCEEDED when etcd does not answer', async () => {
    const held: Socket[] = [];
    const blackhole = createServer((s) => void held.push(s));
    await new Promise<void>((r) => blackhole.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      for (const s of held) s.destroy();
      return new Promise<void>((r) => blackhole.close(() => r()));
    });
    const client = createKvClient([`http://127.0.0.1:${(blackhole.address() as { port: number }).port}`], { deadlineMs: 200 });
    cleanups.push(() => client.close());
    const err = await rejection(client.range({ key: b('/x') }));
    expect(err.code).toBe(4);
    expect(err.message).toMatch(/^4 DEADLINE_EXCEEDED: /);
  });

  it('reports a lost connection as UNAVAILABLE and reconnects on the next call, also to a restarted etcd', async () => {
    const proxy = await TcpProxy.start(etcd.clientUrl);
    const client = createKvClient([proxy.url], { tls: tls() });
    cleanups.push(() => client.close());
    const p = prefix();
    await e3.put(`${p}a`).value('1');
    expect((await client.range({ key: b(`${p}a`) })).kvs).toHaveLength(1);

    // Connection cut and refused: calls fail with UNAVAILABLE (503 in toApiError).
    proxy.open = false;
    proxy.cut();
    const down = await rejection(client.range({ key: b(`${p}a`) }));
    expect(down.code).toBe(14);
    expect(down.message).toMatch(/^14 UNAVAILABLE: /);
    const downTxn = await rejection(client.txn({ compare: [], success: [{ request_range: { key: b(`${p}a`) } }], failure: [] }));
    expect(downTxn.code).toBe(14);

    // Back: the next call reconnects.
    proxy.open = true;
    expect((await client.range({ key: b(`${p}a`) })).kvs[0]!.value.toString()).toBe('1');

    // A cut between calls (etcd restarted / connection lost while idle) is invisible to reads.
    proxy.cut();
    expect((await client.range({ key: b(`${p}a`) })).kvs).toHaveLength(1);

    // etcd "restarts" (a new member behind the same address): the client follows.
    const other = await startEtcd({ tls: true, pkiDir: etcd.tls!.pkiDir });
    cleanups.push(() => other.stop());
    const o3 = new Etcd3(other.etcd3Options());
    cleanups.push(() => o3.close());
    await o3.put(`${p}a`).value('from the restarted etcd');
    proxy.target = other.clientUrl;
    proxy.cut();
    // Reads retry across the cut and land on the new member once the client sees the close.
    await eventually(async () => expect((await client.range({ key: b(`${p}a`) })).kvs[0]!.value.toString()).toBe('from the restarted etcd'));
    const txn = await client.txn({ compare: [], success: [{ request_range: { key: b(`${p}a`) } }], failure: [] });
    expect(txn.responses[0]!.response_range.kvs[0]!.value.toString()).toBe('from the restarted etcd');
  });

  it('multiplexes concurrent calls on one connection', async () => {
    const p = prefix();
    for (let i = 0; i < 20; i++) await e3.put(`${p}${i}`).value(String(i));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => lean.range({ key: b(`${p}${i % 20}`) })));
    for (const [i, r] of results.entries()) expect(r.kvs[0]!.value.toString()).toBe(String(i % 20));
  });

  it('close() lets calls in flight finish, also those still waiting for the connection to come up', async () => {
    const p = prefix();
    await e3.put(`${p}a`).value('1');
    const client = createKvClient(etcd.endpoints, { tls: tls() });
    const pending = [client.range({ key: b(`${p}a`) }), client.txn({ compare: [], success: [{ request_range: { key: b(`${p}a`) } }], failure: [] })];
    client.close();
    const [range, txn] = (await Promise.all(pending)) as [IRangeResponse, ITxnResponse];
    expect(range.kvs[0]!.value.toString()).toBe('1');
    expect(txn.responses[0]!.response_range.kvs[0]!.value.toString()).toBe('1');
    expect((await rejection(client.range({ key: b(`${p}a`) }))).message).toMatch(/closed/);
  });

  it('lets the process exit with an idle connection and an open watch; a call in flight keeps it alive', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'etcd-kv-exit-'));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const script = join(dir, 'exit.mts');
    writeFileSync(
      script,
      [
        `import { createKvClient } from ${JSON.stringify(fileURLToPath(new URL('./etcd-kv.ts', import.meta.url)))};`,
        `const client = createKvClient([${JSON.stringify(etcd.clientUrl)}], { tls: ${JSON.stringify(tls())} });`,
        // Only the call's deadline timer keeps the process alive until the response arrives.
        `const res = await client.range({ key: Buffer.from('/exit-check') });`,
        `const watch = await client.watch();`,
        `watch.on('error', (err) => console.log('watch error', err.message));`,
        `watch.write({ create_request: { key: Buffer.from('/exit-check') } });`,
        `const hold = setTimeout(() => console.log('no watch response'), 10_000);`, // an open watch does not keep it alive
        `await new Promise((resolve) => watch.on('data', resolve));`,
        `clearTimeout(hold);`,
        `console.log('idle', res.kvs.length);`,
      ].join('\n'),
    );
    const tsx = fileURLToPath(new URL('../../node_modules/.bin/tsx', import.meta.url));
    const child = spawn(tsx, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    cleanups.push(() => void child.kill('SIGKILL'));
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    // It exits on its own (else jest's timeout fails the test), before the hold timer fires. ('close' waits for stdout and stderr to drain.)
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(out.trim()).toBe('idle 0');
    expect(code).toBe(0);
  });

  it('accepts http:// and https:// endpoints (host:port is http, as for etcd3), and fails calls after close()', async () => {
    expect(() => createKvClient(['unix:///run/etcd.sock'])).toThrow(/only http:\/\/ and https:\/\//);
    expect(() => createKvClient([])).toThrow(/no endpoints/);
    const plain = await startEtcd();
    cleanups.push(() => plain.stop());
    const bare = createKvClient([plain.clientUrl.replace(/^http:\/\//, '')]);
    cleanups.push(() => bare.close());
    await bare.range({ key: b('/x') });
    const client = createKvClient(etcd.endpoints, { tls: tls() });
    await client.range({ key: b('/x') });
    client.close();
    client.close();
    const err = await rejection(client.range({ key: b('/x') }));
    expect(err.message).toMatch(/closed/);
  });
});

/** What a watch stream reported. Cleanup closes it as EtcdWatchStream does (etcd3's breaker). */
class Recorded {
  readonly responses: IWatchResponse[] = [];
  readonly errors: (Error & { code?: number })[] = [];
  ended = false;

  constructor(stream: WatchDuplex) {
    stream.on('data', (res) => this.responses.push(res));
    stream.on('error', (err) => this.errors.push(err));
    stream.on('end', () => {
      this.ended = true;
    });
    cleanups.push(() => {
      stream.end();
      stream.cancel();
    });
  }

  events(): IWatchResponse['events'] {
    return this.responses.flatMap((r) => r.events);
  }

  /** watch_id numbers the watches of one stream: equal across two fresh streams, but not part of the shape. */
  normalized(): IWatchResponse[] {
    return this.responses.map((r) => ({ ...r, watch_id: 'id' }));
  }
}
const record = (stream: WatchDuplex) => new Recorded(stream);

async function watchBoth(req: IWatchRequest) {
  const [leanStream, e3Stream] = await Promise.all([lean.watch(), e3.watchClient.watch()]);
  const got = record(leanStream);
  const want = record(e3Stream);
  leanStream.write(req);
  e3Stream.write(req);
  return { got, want, leanStream };
}

const range = (p: string) => ({ key: b(p), range_end: b(`${p}\xff`) });

describe('watch', () => {
  it('delivers puts and deletes in order with prev_kv, in the same responses as etcd3', async () => {
    const p = prefix();
    const start = (await e3.kv.put({ key: b(`${p}a`), value: b('1') })).header.revision;
    await e3.kv.put({ key: b(`${p}a`), value: b('2') });
    await e3.kv.put({ key: b(`${p}b`), value: b('x') });
    await e3.kv.deleteRange({ key: b(`${p}a`) });
    await e3.kv.txn({
      compare: [],
      success: [{ request_put: { key: b(`${p}c`), value: b('c') } }, { request_put: { key: b(`${p}b`), value: b('y') } }],
      failure: [],
    });

    // From history: one created response and one with all five revisions, on both clients.
    const { got, want } = await watchBoth({ create_request: { ...range(p), start_revision: start, prev_kv: true } });
    await eventually(() => got.events().length === 6 && want.events().length === 6);
    expect(got.normalized()).toEqual(want.normalized());
    expect(got.responses[0]!.created).toBe(true);

    // Live: a put, then a range delete (three events at one revision).
    await e3.kv.put({ key: b(`${p}d`), value: b('d') });
    await e3.kv.deleteRange({ ...range(p), prev_kv: true });
    await eventually(() => got.events().length === 10 && want.events().length === 10);
    expect(got.events()).toEqual(want.events());

    const events = got.events();
    expect(events.map((e) => `${e.type} ${e.kv.key.toString().slice(p.length)}`)).toEqual([
      'Put a',
      'Put a',
      'Put b',
      'Delete a',
      'Put c',
      'Put b',
      'Put d',
      'Delete b',
      'Delete c',
      'Delete d',
    ]);
    const revisions = events.map((e) => Number(e.kv.mod_revision));
    expect(revisions).toEqual([...revisions].sort((x, y) => x - y));
    expect(events[1]!.prev_kv.value.toString()).toBe('1');
    expect(events[3]!.prev_kv.value.toString()).toBe('2');
    expect(events[7]!.prev_kv.value.toString()).toBe('y');
    expect(Buffer.isBuffer(events[0]!.kv.key) && Buffer.isBuffer(events[0]!.kv.value)).toBe(true);
    expect(typeof events[0]!.kv.mod_revision).toBe('string');
    expect(got.errors).toEqual([]);
  });

  it('streams responses larger than a DATA frame, one or many per watch, as etcd3 does', async () => {
    const p = prefix();
    const value = (i: number) => Buffer.alloc(2048, String(i % 10));
    const putAll = async () => {
      let first = '';
      for (let batch = 0; batch < 20; batch++) {
        const puts = Array.from({ length: 100 }, (_, j) => batch * 100 + j).map((i) => ({
          request_put: { key: b(`${p}${String(i).padStart(4, '0')}`), value: value(i) },
        }));
        const res = await lean.txn({ compare: [], success: puts, failure: [] });
        first ||= res.header.revision;
      }
      return first;
    };
    const strip = (events: IWatchResponse['events']) => events.map((e) => ({ ...e, kv: { ...e.kv, value: e.kv.value.length } }));
    const check = (events: IWatchResponse['events'], want: IWatchResponse['events']) => {
      expect(events).toHaveLength(2000);
      for (const [i, e] of events.entries()) expect(e.kv.key.toString()).toBe(`${p}${String(i).padStart(4, '0')}`);
      expect(events.every((e, i) => e.kv.value.equals(value(i)))).toBe(true);
      expect(strip(events)).toEqual(strip(want)); // (jest compares Buffers byte by byte: slow for megabytes)
    };

    // Live: twenty 200 KiB responses back to back, message boundaries inside DATA frames.
    const live = await watchBoth({ create_request: range(p) });
    await eventually(() => live.got.responses.length === 1 && live.want.responses.length === 1);
    const start = await putAll();
    await eventually(() => live.got.events().length === 2000 && live.want.events().length === 2000);
    check(live.got.events(), live.want.events());
    expect(live.got.responses.length).toBeGreaterThan(2);

    // From history: one 4 MiB response.
    const history = await watchBoth({ create_request: { ...range(p), start_revision: start } });
    await eventually(() => history.got.events().length === 2000 && history.want.events().length === 2000);
    check(history.got.events(), history.want.events());
    expect(history.got.responses).toHaveLength(2);
    expect(history.got.errors).toEqual([]);
  });

  it('answers a compacted start revision with a canceled response carrying compact_revision', async () => {
    const p = prefix();
    const old = (await e3.kv.put({ key: b(`${p}a`), value: b('1') })).header.revision;
    const compactAt = Number((await e3.kv.put({ key: b(`${p}a`), value: b('2') })).header.revision);
    await e3.kv.compact({ revision: compactAt, physical: true });
    const { got, want } = await watchBoth({ create_request: { ...range(p), start_revision: old } });
    await eventually(() => got.responses.some((r) => r.canceled) && want.responses.some((r) => r.canceled));
    expect(got.normalized()).toEqual(want.normalized());
    const canceled = got.responses.find((r) => r.canceled)!;
    expect(canceled.compact_revision).toBe(String(compactAt));
    expect(canceled.events).toEqual([]);
  });

  it('end() half-closes (events still arrive); cancel() stops the stream without an error', async () => {
    const p = prefix();
    const stream = await lean.watch();
    const rec = record(stream);
    stream.write({ create_request: range(p) });
    await eventually(() => rec.responses.length === 1);
    stream.end();
    await e3.kv.put({ key: b(`${p}a`), value: b('1') });
    await eventually(() => rec.events().length === 1);
    stream.cancel();
    stream.cancel();
    // The stream is gone: a put and a fresh watch's view of it pass without anything more here.
    const probe = await lean.watch();
    const seen = record(probe);
    probe.write({ create_request: range(p) });
    await eventually(() => seen.responses.length === 1);
    await e3.kv.put({ key: b(`${p}a`), value: b('2') });
    await eventually(() => seen.events().length === 1);
    expect(rec.events()).toHaveLength(1);
    expect(rec.errors).toEqual([]);
    expect(rec.ended).toBe(false);
  });

  it('fails open watch streams promptly when the client is closed, and opens none after', async () => {
    const client = createKvClient(etcd.endpoints, { tls: tls() });
    cleanups.push(() => client.close());
    const stream = await client.watch();
    const rec = record(stream);
    stream.write({ create_request: range(prefix()) });
    await eventually(() => rec.responses.length === 1);
    client.close();
    await eventually(() => rec.errors.length === 1);
    expect(rec.errors[0]).toBeInstanceOf(EtcdKvError);
    expect(rec.errors[0]!.message).toBe('1 CANCELLED: the etcd KV client was closed');
    const err = await rejection(client.watch());
    expect(err.code).toBe(1);
    expect(err.message).toMatch(/closed/);
  });

  it('fails a watch with UNAVAILABLE when the connection is lost; the next one reconnects, also to a restarted etcd', async () => {
    const proxy = await TcpProxy.start(etcd.clientUrl);
    const client = createKvClient([proxy.url], { tls: tls() });
    cleanups.push(() => client.close());
    const p = prefix();
    const open = async () => {
      const stream = await client.watch();
      const rec = record(stream);
      stream.write({ create_request: range(p) });
      await eventually(() => rec.responses.length === 1 || rec.errors.length > 0);
      expect(rec.errors).toEqual([]);
      return rec;
    };
    const first = await open();
    proxy.cut();
    await eventually(() => first.errors.length === 1);
    expect(first.errors[0]!.code).toBe(14);
    expect(first.errors[0]!.message).toMatch(/^14 UNAVAILABLE: /);

    const second = await open();
    await e3.kv.put({ key: b(`${p}a`), value: b('1') });
    await eventually(() => second.events().length === 1);

    // etcd "restarts" (a new member behind the same address): the next watch goes to it.
    const other = await startEtcd({ tls: true, pkiDir: etcd.tls!.pkiDir });
    cleanups.push(() => other.stop());
    const o3 = new Etcd3(other.etcd3Options());
    cleanups.push(() => o3.close());
    proxy.target = other.clientUrl;
    proxy.cut();
    await eventually(() => second.errors.length === 1);
    const third = await open();
    await o3.put(`${p}a`).value('from the restarted etcd');
    await eventually(() => third.events().length === 1);
    expect(third.events()[0]!.kv.value.toString()).toBe('from the restarted etcd');
  });

  it('fails a watch on a silently dead connection after an unanswered keepalive ping', async () => {
    const proxy = await TcpProxy.start(etcd.clientUrl);
    const client = createKvClient([proxy.url], { watchKeepaliveMs: 100, tls: tls() });
    cleanups.push(() => client.close());
    const stream = await client.watch();
    const rec = record(stream);
    stream.write({ create_request: range(prefix()) });
    await eventually(() => rec.responses.length === 1);
    proxy.freeze();
    // The ping that finds it may wait out the ping spacing left from the last one, then its
    // own answer timeout; the deadline leaves room for a loaded CI machine beyond both.
    await eventually(() => rec.errors.length === 1, { timeoutMs: MIN_PING_INTERVAL_MS + PING_TIMEOUT_MS + 20_000 });
    expect(rec.errors[0]!.code).toBe(14);
  });

  it('reassembles messages split anywhere and packed several to a DATA frame; reports the final gRPC status', async () => {
    // A fake etcd, to control the framing exactly.
    const root = new protobuf.Root().loadSync(join(dirname(createRequire(import.meta.url).resolve('etcd3/package.json')), 'proto', 'rpc.proto'), {
      keepCase: true,
    });
    const WatchResponse = root.lookupType('etcdserverpb.WatchResponse');
    const frame = (res: object) => {
      const msg = WatchResponse.encode(WatchResponse.fromObject(res)).finish();
      const out = Buffer.alloc(5 + msg.length);
      out.writeUInt32BE(msg.length, 1);
      out.set(msg, 5);
      return out;
    };
    const header = { cluster_id: 1, member_id: 2, revision: 7, raft_term: 3 };
    const kv = (i: number) => ({ key: b(`/k${i}`), value: Buffer.alloc(i * 10, 'v'), create_revision: i, mod_revision: i, version: 1 });
    const sent = [
      { header, watch_id: 0, created: true },
      ...Array.from({ length: 6 }, (_, i) => ({ header, watch_id: 0, events: [{ type: 0, kv: kv(i + 1) }] })),
      { header, watch_id: 0 }, // a progress notification: all defaults, an empty message
      { header, watch_id: 0, events: [{ type: 1, kv: kv(9), prev_kv: kv(8) }] },
    ];
    const body = Buffer.concat(sent.map(frame));
    let trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '0' };
    const requests: http2.IncomingHttpHeaders[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      requests.push(headers);
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.on('error', () => undefined);
      // Pieces of 1, 2, ... 12 bytes, then the rest at once (several whole messages in one frame).
      let offset = 0;
      const next = (size: number): void => {
        if (offset >= body.length) return void stream.end();
        const piece = body.subarray(offset, size > 12 ? body.length : offset + size);
        offset += piece.length;
        stream.write(piece, () => setImmediate(() => next(size + 1)));
      };
      next(1);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const client = createKvClient([`http://127.0.0.1:${(server.address() as { port: number }).port}`]);
    cleanups.push(() => client.close());

    const ok = record(await client.watch());
    await eventually(() => ok.ended);
    expect(ok.errors).toEqual([]);
    expect(ok.responses).toHaveLength(sent.length);
    expect(ok.responses[0]!.created).toBe(true);
    expect(ok.events().map((e) => `${e.type} ${e.kv.key.toString()} ${e.kv.value.length}`)).toEqual([
      'Put /k1 10',
      'Put /k2 20',
      'Put /k3 30',
      'Put /k4 40',
      'Put /k5 50',
      'Put /k6 60',
      'Delete /k9 90',
    ]);
    expect(ok.responses[7]).toMatchObject({ watch_id: '0', created: false, canceled: false, compact_revision: '0', events: [] });
    expect(ok.responses[8]!.events[0]!.prev_kv.key.toString()).toBe('/k8');
    expect(requests[0]).toMatchObject({ ':method': 'POST', ':path': '/etcdserverpb.Watch/Watch', 'content-type': 'application/grpc', te: 'trailers' });
    expect(requests[0]!['grpc-timeout']).toBeUndefined();

    trailers = { 'grpc-status': '14', 'grpc-message': 'etcdserver%3A%20no%20leader' };
    const failed = record(await client.watch());
    await eventually(() => failed.errors.length === 1);
    expect(failed.responses).toHaveLength(sent.length);
    expect(failed.errors[0]).toBeInstanceOf(EtcdKvError);
    expect(failed.errors[0]!.message).toBe('14 UNAVAILABLE: etcdserver: no leader');
    expect(failed.ended).toBe(false);
  });
});

describe('against a fake etcd (responses etcd would not send)', () => {
  const root = new protobuf.Root().loadSync(join(dirname(createRequire(import.meta.url).resolve('etcd3/package.json')), 'proto', 'rpc.proto'), {
    keepCase: true,
  });
  const RangeResponse = root.lookupType('etcdserverpb.RangeResponse');
  const grpcFrame = (msg: Uint8Array, flag = 0) => {
    const out = Buffer.alloc(5 + msg.length);
    out[0] = flag;
    out.writeUInt32BE(msg.length, 1);
    out.set(msg, 5);
    return out;
  };
  const okRange = grpcFrame(RangeResponse.encode(RangeResponse.fromObject({ header: { revision: 42 }, count: 0 })).finish());
  /** Not a protobuf message: a field tag whose varint never ends. */
  const garbage = grpcFrame(Buffer.from([0xff, 0xff, 0xff]));

  /** A node:http2 server standing in for etcd; `respond` answers the n-th request (1-based). */
  async function fakeEtcd(respond: (stream: http2.ServerHttp2Stream, n: number, headers: http2.IncomingHttpHeaders) => void) {
    const requests: http2.IncomingHttpHeaders[] = [];
    const resets: number[] = [];
    const server = http2.createServer();
    server.on('stream', (stream, headers) => {
      requests.push(headers);
      stream.on('error', () => undefined);
      stream.on('close', () => resets.push(stream.rstCode));
      respond(stream, requests.length, headers);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    const client = createKvClient([`http://127.0.0.1:${(server.address() as { port: number }).port}`]);
    cleanups.push(() => client.close());
    return { client, requests, resets };
  }

  /** A unary answer: 200, `body`, then the trailers. */
  const answer = (stream: http2.ServerHttp2Stream, body: Buffer, trailers: http2.OutgoingHttpHeaders = { 'grpc-status': '0' }) => {
    stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.end(body);
  };

  it('an undecodable or malformed response fails its call with INTERNAL (nothing escapes the connection); the connection stays usable', async () => {
    const bodies = [garbage, grpcFrame(Buffer.alloc(3), 1), Buffer.concat([okRange, okRange]), okRange.subarray(0, 4), okRange];
    const { client, requests } = await fakeEtcd((stream, n) => answer(stream, bodies[n - 1]!));
    const undecodable = await rejection(client.range({ key: b('/a') }));
    expect(undecodable).toBeInstanceOf(EtcdKvError);
    expect(undecodable.message).toMatch(/^13 INTERNAL: Failed to parse server response: /);
    for (let i = 0; i < 3; i++) {
      const malformed = await rejection(client.range({ key: b('/a') }));
      expect(malformed.message).toBe('13 INTERNAL: malformed gRPC response: expected one uncompressed message');
    }
    const ok = await client.range({ key: b('/a') });
    expect(ok.header.revision).toBe('42');
    expect(requests).toHaveLength(5); // INTERNAL is not retried
    expect(requests[0]).toMatchObject({ ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' });
    expect(requests[0]!['grpc-timeout']).toBe('30000m');
  });

  it('an undecodable or compressed watch message fails the watch with INTERNAL and resets its stream', async () => {
    const { client, resets } = await fakeEtcd((stream, n) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      stream.write(n === 1 ? garbage : grpcFrame(Buffer.alloc(3), 1)); // and never ends
    });
    const undecodable = record(await client.watch());
    await eventually(() => undecodable.errors.length === 1);
    expect(undecodable.errors[0]).toBeInstanceOf(EtcdKvError);
    expect(undecodable.errors[0]!.message).toMatch(/^13 INTERNAL: Failed to parse server response: /);
    const compressed = record(await client.watch());
    await eventually(() => compressed.errors.length === 1);
    expect(compressed.errors[0]!.message).toBe('13 INTERNAL: malformed gRPC response: compressed message');
    await eventually(() => resets.length === 2);
    expect(resets).toEqual([http2.constants.NGHTTP2_CANCEL, http2.constants.NGHTTP2_CANCEL]);
    expect(undecodable.responses).toEqual([]);
  });

  it('RST_STREAM codes: REFUSED_STREAM is retried even for a txn, CANCEL only for a read; ENHANCE_YOUR_CALM and others', async () => {
    const c = http2.constants;
    let plan: number[] = [];
    const { client, requests } = await fakeEtcd((stream, n) => {
      const code = plan[n - 1];
      if (code === undefined) answer(stream, okRange);
      else stream.close(code);
    });
    const txn = () => client.txn({ compare: [], success: [], failure: [] });
    const run = async (codes: number[], call: () => Promise<unknown>) => {
      requests.length = 0;
      plan = codes;
      try {
        await call();
        return { requests: requests.length };
      } catch (err) {
        return { requests: requests.length, error: (err as Error).message };
      }
    };
    expect(await run([c.NGHTTP2_REFUSED_STREAM], txn)).toEqual({ requests: 2 });
    expect(await run([c.NGHTTP2_REFUSED_STREAM, c.NGHTTP2_REFUSED_STREAM], txn)).toEqual({
      requests: 2,
      error: '14 UNAVAILABLE: Stream refused by server',
    });
    expect(await run([c.NGHTTP2_CANCEL], txn)).toEqual({ requests: 1, error: '14 UNAVAILABLE: Connection dropped' }); // never resent
    expect(await run([c.NGHTTP2_CANCEL], () => client.range({ key: b('/a') }))).toEqual({ requests: 2 });
    expect(await run([c.NGHTTP2_ENHANCE_YOUR_CALM], txn)).toEqual({
      requests: 1,
      error: '8 RESOURCE_EXHAUSTED: Bandwidth exhausted or memory limit exceeded',
    });
    expect(await run([c.NGHTTP2_INTERNAL_ERROR], () => client.range({ key: b('/a') }))).toEqual({
      requests: 1,
      error: '13 INTERNAL: Received RST_STREAM with code 2',
    });
  });

  it('a txn etcd received is never resent when the connection dies under it; a read after it reconnects', async () => {
    let dropNext = true;
    const { client, requests } = await fakeEtcd((stream) => {
      if (dropNext) {
        dropNext = false;
        stream.session?.destroy(); // the request arrived: etcd may have applied it
      } else answer(stream, okRange);
    });
    const err = await rejection(client.txn({ compare: [], success: [], failure: [] }));
    expect(err.code).toBe(14);
    expect(requests.map((h) => h[':path'])).toEqual(['/etcdserverpb.KV/Txn']);
    expect((await client.range({ key: b('/a') })).header.revision).toBe('42');
    expect(requests.map((h) => h[':path'])).toEqual(['/etcdserverpb.KV/Txn', '/etcdserverpb.KV/Range']);
  });

  it('statuses: trailers-only responses, HTTP errors, a non-numeric grpc-status, a response without a status', async () => {
    let reply: (stream: http2.ServerHttp2Stream) => void = () => undefined;
    const { client, requests } = await fakeEtcd((stream) => reply(stream));
    const failure = async (call: Promise<unknown>) => {
      requests.length = 0;
      const err = await rejection(call);
      return { message: err.message, code: err.code, requests: requests.length };
    };
    reply = (s) =>
      s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'key%20not%20found%' }, { endStream: true });
    expect(await failure(client.range({ key: b('/a') }))).toEqual({ message: '5 NOT_FOUND: key%20not%20found%', code: 5, requests: 1 });
    reply = (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '9', 'grpc-message': 'no%20%E2%9C%93' }, { endStream: true });
    expect(await failure(client.range({ key: b('/a') }))).toEqual({ message: '9 FAILED_PRECONDITION: no \u2713', code: 9, requests: 1 });
    reply = (s) => s.respond({ ':status': 503 }, { endStream: true });
    expect(await failure(client.range({ key: b('/a') }))).toEqual({ message: '14 UNAVAILABLE: Received HTTP status code 503', code: 14, requests: 2 });
    reply = (s) => s.respond({ ':status': 404 }, { endStream: true });
    expect(await failure(client.txn({ compare: [], success: [], failure: [] }))).toEqual({
      message: '12 UNIMPLEMENTED: Received HTTP status code 404',
      code: 12,
      requests: 1,
    });
    reply = (s) => answer(s, okRange, { 'grpc-status': 'x' });
    expect(await failure(client.range({ key: b('/a') }))).toEqual({ message: '2 UNKNOWN: ', code: 2, requests: 1 });
    reply = (s) => {
      s.respond({ ':status': 200, 'content-type': 'application/grpc' });
      s.end(okRange); // no trailers
    };
    expect(await failure(client.range({ key: b('/a') }))).toEqual({ message: '13 INTERNAL: Received RST_STREAM with code 0', code: 13, requests: 1 });
  });
});
