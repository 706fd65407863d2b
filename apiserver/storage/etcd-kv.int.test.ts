/**
 * The lean KV client (etcd-kv.ts) against a real etcd, side by side with etcd3's
 * `client.kv`: same responses (shapes and values), same error messages, plus what only
 * the lean client does (size cap, deadline, reconnect after a connection loss).
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { jest } from '@jest/globals';
import { Etcd3, type IRangeResponse, type ITxnRequest, type ITxnResponse } from 'etcd3';
import { startEtcd, type EtcdInstance } from '../../hack/testenv/etcd.js';
import { createKvClient, EtcdKvError, type KvClient } from './etcd-kv.js';
import { ETCD_GRPC_OPTIONS, EtcdStore } from './etcd-store.js';

jest.setTimeout(30_000);

let etcd: EtcdInstance;
let e3: Etcd3;
let lean: KvClient;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  etcd = await startEtcd();
  e3 = new Etcd3({ hosts: etcd.endpoints, grpcOptions: ETCD_GRPC_OPTIONS }); // as the apiserver: no size cap
  lean = createKvClient(etcd.endpoints);
});

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

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  cut(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
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
    got.kvs.forEach((kv, i) => expect(kv.value.equals(want.kvs[i]!.value)).toBe(true));
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
});

describe('lean client specifics', () => {
  it('rejects a response above maxReceiveBytes with RESOURCE_EXHAUSTED, which EtcdStore answers with smaller chunks', async () => {
    const small = createKvClient(etcd.endpoints, { maxReceiveBytes: 2000 });
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
      held.forEach((s) => s.destroy());
      return new Promise<void>((r) => blackhole.close(() => r()));
    });
    const client = createKvClient([`http://127.0.0.1:${(blackhole.address() as { port: number }).port}`], { deadlineMs: 200 });
    cleanups.push(() => client.close());
    const started = Date.now();
    const err = await rejection(client.range({ key: b('/x') }));
    expect(Date.now() - started).toBeLessThan(5000);
    expect(err.code).toBe(4);
    expect(err.message).toMatch(/^4 DEADLINE_EXCEEDED: /);
  });

  it('reports a lost connection as UNAVAILABLE and reconnects on the next call, also to a restarted etcd', async () => {
    const proxy = await TcpProxy.start(etcd.clientUrl);
    const client = createKvClient([proxy.url]);
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
    const other = await startEtcd();
    cleanups.push(() => other.stop());
    const o3 = new Etcd3({ hosts: other.endpoints });
    cleanups.push(() => o3.close());
    await o3.put(`${p}a`).value('from the restarted etcd');
    proxy.target = other.clientUrl;
    proxy.cut();
    await new Promise((r) => setTimeout(r, 50)); // let the client see the close
    const txn = await client.txn({ compare: [], success: [{ request_range: { key: b(`${p}a`) } }], failure: [] });
    expect(txn.responses[0]!.response_range.kvs[0]!.value.toString()).toBe('from the restarted etcd');
  });

  it('multiplexes concurrent calls on one connection', async () => {
    const p = prefix();
    for (let i = 0; i < 20; i++) await e3.put(`${p}${i}`).value(String(i));
    const results = await Promise.all(Array.from({ length: 200 }, (_, i) => lean.range({ key: b(`${p}${i % 20}`) })));
    results.forEach((r, i) => expect(r.kvs[0]!.value.toString()).toBe(String(i % 20)));
  });

  it('accepts only plain http endpoints, and fails calls after close()', async () => {
    expect(() => createKvClient(['https://127.0.0.1:2379'])).toThrow(/only plain http:\/\//);
    expect(() => createKvClient([])).toThrow(/no endpoints/);
    const client = createKvClient([etcd.clientUrl.replace(/^http:\/\//, '')]); // etcd3 accepts host:port too
    await client.range({ key: b('/x') });
    client.close();
    client.close();
    const err = await rejection(client.range({ key: b('/x') }));
    expect(err.message).toMatch(/closed/);
  });
});
