/**
 * The storage contract suite: every test runs against EtcdStore and CachedStore on a
 * real etcd started by the harness (nothing mocks etcd), each with range / txn through
 * etcd3's `client.kv` and through the lean KV client the apiserver uses (../etcd-client/etcd-kv.ts).
 * Each test uses its own resource (its own key prefix), so tests never see each other's
 * objects.
 */
import { createConnection, createServer, type Server, type Socket } from 'node:net';
import { jest } from '@jest/globals';
import { Etcd3 } from 'etcd3';
import type { KubeObject } from '../../api-types/meta.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { startEtcd, type EtcdInstance } from '../../hack/testenv/etcd.js';
import { AlreadyExistsError, ConflictError, ExpiredError, InvalidRequestError, NotFoundError, SlowWatcherError } from './errors.js';
import { createKvClient, type KvClient } from '../etcd-client/etcd-kv.js';
import { ETCD_GRPC_OPTIONS, etcd3Options, EtcdStore } from './etcd-store.js';
import { WatchableEtcdStore } from './etcd-store-watch.test-support.js';
import type { StorageResource, Store, WatchEvent, WatchOptions } from './interface.js';
import { CachedStore } from './watch-cache.js';

jest.setTimeout(30_000);

let etcd: EtcdInstance;
let client: Etcd3;
let leanKv: KvClient;
const cleanups: (() => void | Promise<void>)[] = [];

beforeAll(async () => {
  // TLS with client certificates, as `make up` runs etcd.
  etcd = await startEtcd({ tls: true });
  client = new Etcd3(etcd.etcd3Options());
  leanKv = createKvClient(etcd.endpoints, { tls: tls() });
});

/** The lean client's TLS options for the test member. */
const tls = () => etcd.kvTls();

afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()!();
});

afterAll(async () => {
  client?.close();
  leanKv?.close();
  await etcd?.stop();
});

interface MakeOptions {
  client?: Etcd3;
  /** For the lean-kv kinds; default: the shared lean client. */
  kv?: KvClient;
  windowSize?: number;
  windowBytes?: number;
  bookmarkIntervalMs?: number;
  watcherBufferSize?: number;
  listChunkSize?: number;
}

/** The store, and whether range / txn go through the lean client (../etcd-client/etcd-kv.ts) or etcd3's kv. */
type Kind = 'EtcdStore' | 'CachedStore' | 'EtcdStore, lean kv' | 'CachedStore, lean kv';
const isLean = (kind: Kind) => kind.endsWith('lean kv');

async function makeStore(kind: Kind, resource: StorageResource, o: MakeOptions = {}): Promise<Store> {
  const inner = new WatchableEtcdStore(o.client ?? client, resource, {
    listChunkSize: o.listChunkSize,
    bookmarkIntervalMs: o.bookmarkIntervalMs,
    watcherBufferSize: o.watcherBufferSize,
    kv: isLean(kind) ? (o.kv ?? leanKv) : undefined,
  });
  if (kind.startsWith('EtcdStore')) return inner;
  const cached = new CachedStore(inner, {
    windowSize: o.windowSize,
    windowBytes: o.windowBytes,
    bookmarkIntervalMs: o.bookmarkIntervalMs ?? 0,
    watcherBufferSize: o.watcherBufferSize,
  });
  cleanups.push(() => cached.close());
  await cached.ready();
  return cached;
}

let seq = 0;
function vmResource(): StorageResource {
  return {
    group: 'quantix.io',
    resource: `virtualmachines${++seq}`,
    namespaced: true,
    kind: 'VirtualMachine',
    apiVersion: 'quantix.io/v1alpha1',
    selectableFields: {
      'spec.nodeName': (o) => (o.spec as { nodeName?: string } | undefined)?.nodeName ?? '',
      'status.phase': (o) => (o.status as { phase?: string } | undefined)?.phase ?? '',
    },
  };
}

function vm(name: string, extra: Partial<KubeObject> & { labels?: Record<string, string>; ns?: string } = {}): KubeObject {
  const { labels, ns, ...rest } = extra;
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: ns ?? 'default', ...(labels ? { labels } : {}) },
    spec: { cpu: 1, memory: '1Gi' },
    ...rest,
  };
}

async function etcdRevision(): Promise<number> {
  const res = await client.kv.range({ key: Buffer.from('/nothing') });
  return Number(res.header.revision);
}

async function modRevision(key: string): Promise<string | undefined> {
  const res = await client.kv.range({ key: Buffer.from(key) });
  return res.kvs[0] ? String(res.kvs[0].mod_revision) : undefined;
}

function watchAll(store: Store, opts: WatchOptions) {
  const events: WatchEvent[] = [];
  const errors: Error[] = [];
  const w = store.watch(
    opts,
    (e) => void events.push(e),
    (e) => void errors.push(e),
  );
  cleanups.push(() => w.stop());
  const objects = () => events.filter((e) => e.type !== 'BOOKMARK');
  return {
    events,
    errors,
    stop: () => w.stop(),
    /** "TYPE name" of non-bookmark events. */
    summary: () => objects().map((e) => `${e.type} ${e.object.metadata.name}`),
  };
}

/** For a CachedStore, waits until its cache has caught up with `rv` (so '0' reads see it). */
async function settled(store: Store, rv: string | undefined): Promise<void> {
  if (store instanceof CachedStore) await eventually(() => store.stats().cacheRevision >= Number(rv));
}

async function expectReject(p: Promise<unknown>, cls: new (...args: never[]) => Error): Promise<Error> {
  let err: unknown;
  try {
    await p;
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(cls);
  return err as Error;
}

/** A TCP proxy in front of etcd whose traffic a test can cut and restore. */
class CuttableProxy {
  readonly #sockets = new Set<Socket>();
  #open = true;
  private constructor(
    readonly server: Server,
    readonly url: string,
  ) {}

  static async start(target: string): Promise<CuttableProxy> {
    const { hostname, port } = new URL(target);
    let self!: CuttableProxy;
    const server = createServer((down) => {
      if (!self.#open) {
        down.destroy();
        return;
      }
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
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const addr = server.address() as { port: number };
    self = new CuttableProxy(server, `${new URL(target).protocol}//127.0.0.1:${addr.port}`);
    return self;
  }

  cut(): void {
    this.#open = false;
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  restore(): void {
    this.#open = true;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise((r) => this.server.close(r));
  }
}

describe.each<Kind>(['EtcdStore', 'CachedStore', 'EtcdStore, lean kv', 'CachedStore, lean kv'])('%s', (kind) => {
  describe('create / get', () => {
    it('sets uid, creationTimestamp, generation and resourceVersion = mod revision; rejects duplicates', async () => {
      const res = vmResource();
      const store = await makeStore(kind, res);
      const input = vm('a', { metadata: { name: 'a', namespace: 'default', resourceVersion: '999', uid: 'mine' } });
      const created = await store.create(input);
      expect(input.metadata.uid).toBe('mine'); // input untouched
      expect(created.metadata.uid).toMatch(/^[0-9a-f-]{36}$/);
      expect(created.metadata.creationTimestamp).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      expect(created.metadata.generation).toBe(1);
      const key = `/registry/quantix.io/${res.resource}/default/a`;
      expect(created.metadata.resourceVersion).toBe(await modRevision(key));
      expect(await store.get('default', 'a')).toEqual(created);
      const dup = await expectReject(store.create(vm('a')), AlreadyExistsError);
      expect(dup.message).toContain(key);
    });

    it('lays out cluster-scoped keys without a namespace segment and the core group as "core"', async () => {
      const res: StorageResource = { group: '', resource: `nodes${++seq}`, namespaced: false };
      const store = await makeStore(kind, res);
      const node = await store.create({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'host-1' } });
      expect(await modRevision(`/registry/core/${res.resource}/host-1`)).toBe(node.metadata.resourceVersion);
      expect((await store.get(undefined, 'host-1')).metadata.name).toBe('host-1');
      await expectReject(store.create({ metadata: { name: 'x', namespace: 'ns' } }), InvalidRequestError);
    });

    it('get of a missing object is NotFound; bad names are invalid', async () => {
      const store = await makeStore(kind, vmResource());
      await expectReject(store.get('default', 'missing'), NotFoundError);
      await expectReject(store.create(vm('a/b')), InvalidRequestError);
      await expectReject(store.create({ metadata: { name: 'x' } }), InvalidRequestError); // namespace required
    });
  });

  describe('update', () => {
    it('is a compare-and-swap on resourceVersion', async () => {
      const store = await makeStore(kind, vmResource());
      const v1 = await store.create(vm('a'));
      const v2 = await store.update({ ...v1, spec: { cpu: 2 } });
      expect(Number(v2.metadata.resourceVersion)).toBeGreaterThan(Number(v1.metadata.resourceVersion));
      const err = (await expectReject(store.update({ ...v1, spec: { cpu: 3 } }), ConflictError)) as ConflictError;
      expect(err.expectedResourceVersion).toBe(v1.metadata.resourceVersion);
      expect(err.actualResourceVersion).toBe(v2.metadata.resourceVersion);
      expect((await store.get('default', 'a')).spec).toEqual({ cpu: 2 });
      // Empty resourceVersion: unconditional.
      const v3 = await store.update({ ...v1, metadata: { ...v1.metadata, resourceVersion: '' }, spec: { cpu: 4 } });
      expect(v3.spec).toEqual({ cpu: 4 });
      await expectReject(store.update(vm('missing')), NotFoundError);
    });

    it('writes nothing when nothing changed: same resourceVersion, no new etcd revision', async () => {
      const store = await makeStore(kind, vmResource());
      const v1 = await store.create(vm('a', { status: { phase: 'Running' } }));
      const before = await etcdRevision();
      const same = await store.update(structuredClone(v1));
      // Same content, different key order: still nothing to write.
      const reordered = await store.update({
        status: { phase: 'Running' },
        spec: { memory: '1Gi', cpu: 1 },
        metadata: { ...v1.metadata },
        kind: v1.kind,
        apiVersion: v1.apiVersion,
      });
      const viaGU = await store.guaranteedUpdate('default', 'a', (cur) => cur);
      const viaNull = await store.guaranteedUpdate('default', 'a', () => null);
      for (const o of [same, reordered, viaGU, viaNull]) expect(o.metadata.resourceVersion).toBe(v1.metadata.resourceVersion);
      expect(await etcdRevision()).toBe(before);
    });

    it('bumps generation only when spec changes, and keeps system fields', async () => {
      const store = await makeStore(kind, vmResource());
      const v1 = await store.create(vm('a'));
      const labelled = await store.update({ ...v1, metadata: { ...v1.metadata, labels: { x: 'y' } } });
      expect(labelled.metadata.generation).toBe(1);
      const status = await store.update({ ...labelled, status: { phase: 'Running' } });
      expect(status.metadata.generation).toBe(1);
      const spec = await store.update({ ...status, spec: { cpu: 8, memory: '1Gi' } });
      expect(spec.metadata.generation).toBe(2);
      const tampered = await store.update({
        ...spec,
        metadata: { ...spec.metadata, uid: 'other', creationTimestamp: '2000-01-01T00:00:00Z', generation: 77 },
      });
      expect(tampered.metadata.uid).toBe(v1.metadata.uid);
      expect(tampered.metadata.creationTimestamp).toBe(v1.metadata.creationTimestamp);
      expect(tampered.metadata.generation).toBe(2);
    });
  });

  describe('delete and finalizers', () => {
    it('sets deletionTimestamp while finalizers remain and removes the key with the last one; DELETED only then', async () => {
      const store = await makeStore(kind, vmResource());
      const v1 = await store.create(vm('a', { metadata: { name: 'a', namespace: 'default', finalizers: ['quantix.io/a', 'quantix.io/b'] } }));
      const w = watchAll(store, { resourceVersion: v1.metadata.resourceVersion });
      const d1 = await store.delete('default', 'a');
      expect(d1.deleted).toBe(false);
      expect(d1.object.metadata.deletionTimestamp).toBeDefined();
      expect(d1.object.metadata.generation).toBe(2); // as Kubernetes: first deletion mark bumps generation
      const again = await store.delete('default', 'a');
      expect(again.deleted).toBe(false);
      expect(again.object.metadata.resourceVersion).toBe(d1.object.metadata.resourceVersion);
      const cur = await store.get('default', 'a');
      const one = await store.update({ ...cur, metadata: { ...cur.metadata, finalizers: ['quantix.io/b'] } });
      expect(one.metadata.deletionTimestamp).toBe(d1.object.metadata.deletionTimestamp);
      // An update cannot clear deletionTimestamp.
      const keep = await store.update({ ...one, metadata: { ...one.metadata, deletionTimestamp: undefined } });
      expect(keep.metadata.deletionTimestamp).toBe(d1.object.metadata.deletionTimestamp);
      await eventually(() => expect(w.summary()).toEqual(['MODIFIED a', 'MODIFIED a']));
      const last = await store.update({ ...keep, metadata: { ...keep.metadata, finalizers: [] } });
      await expectReject(store.get('default', 'a'), NotFoundError);
      await eventually(() => expect(w.summary()).toEqual(['MODIFIED a', 'MODIFIED a', 'DELETED a']));
      expect(w.events[2]!.object.metadata.resourceVersion).toBe(last.metadata.resourceVersion);
    });

    it('removes an object without finalizers at once and honours preconditions', async () => {
      const store = await makeStore(kind, vmResource());
      const v1 = await store.create(vm('a'));
      const uidErr = await expectReject(store.delete('default', 'a', { preconditions: { uid: 'nope' } }), ConflictError);
      expect(uidErr.message).toContain('UID in precondition: nope');
      const v2 = await store.update({ ...v1, spec: { cpu: 2 } });
      await expectReject(store.delete('default', 'a', { preconditions: { resourceVersion: v1.metadata.resourceVersion } }), ConflictError);
      const d = await store.delete('default', 'a', { preconditions: { uid: v1.metadata.uid, resourceVersion: v2.metadata.resourceVersion } });
      expect(d.deleted).toBe(true);
      expect(Number(d.object.metadata.resourceVersion)).toBeGreaterThan(Number(v2.metadata.resourceVersion));
      await expectReject(store.get('default', 'a'), NotFoundError);
      await expectReject(store.delete('default', 'a'), NotFoundError);
    });
  });

  describe('list', () => {
    async function seed(store: Store) {
      const specs: [string, string, Record<string, string>, string][] = [
        ['a', 'ns1', { app: 'web', tier: 'front' }, 'n1'],
        ['b', 'ns1', { app: 'db' }, 'n2'],
        ['c', 'ns2', { app: 'web' }, 'n1'],
        ['d', 'ns2', {}, ''],
      ];
      let last: KubeObject | undefined;
      for (const [name, ns, labels, node] of specs) {
        last = await store.create(vm(name, { ns, labels, spec: { cpu: 1, nodeName: node } }));
      }
      await settled(store, last!.metadata.resourceVersion);
      return last!.metadata.resourceVersion!;
    }
    const names = (items: KubeObject[]) => items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`);

    it.each([
      [{}, ['ns1/a', 'ns1/b', 'ns2/c', 'ns2/d']],
      [{ namespace: 'ns2' }, ['ns2/c', 'ns2/d']],
      [{ labelSelector: 'app=web' }, ['ns1/a', 'ns2/c']],
      [{ labelSelector: 'app==web,tier' }, ['ns1/a']],
      [{ labelSelector: 'app!=web' }, ['ns1/b', 'ns2/d']],
      [{ labelSelector: 'app in (db,web)' }, ['ns1/a', 'ns1/b', 'ns2/c']],
      [{ labelSelector: 'app notin (web)' }, ['ns1/b', 'ns2/d']],
      [{ labelSelector: '!app' }, ['ns2/d']],
      [{ labelSelector: 'app' }, ['ns1/a', 'ns1/b', 'ns2/c']],
      [{ fieldSelector: 'metadata.name=c' }, ['ns2/c']],
      [{ fieldSelector: 'metadata.namespace==ns1' }, ['ns1/a', 'ns1/b']],
      [{ fieldSelector: 'metadata.namespace=ns1,metadata.name=b' }, ['ns1/b']],
      [{ fieldSelector: 'spec.nodeName=n1' }, ['ns1/a', 'ns2/c']],
      [{ fieldSelector: 'spec.nodeName!=n1' }, ['ns1/b', 'ns2/d']],
      [{ fieldSelector: 'spec.nodeName=n1', labelSelector: 'tier=front' }, ['ns1/a']],
      [{ namespace: 'ns1', fieldSelector: 'metadata.name=c' }, []],
    ])('%j', async (opts, want) => {
      const store = await makeStore(kind, vmResource());
      const last = await seed(store);
      for (const resourceVersion of ['', '0', last]) {
        const got = await store.list({ ...opts, resourceVersion });
        expect(names(got.items)).toEqual(want);
      }
    });

    it('rejects bad selectors with InvalidRequestError naming the problem', async () => {
      const store = await makeStore(kind, vmResource());
      const err = await expectReject(store.list({ fieldSelector: 'spec.cpu=1' }), InvalidRequestError);
      expect(err.message).toContain('"spec.cpu"');
      expect((err as InvalidRequestError).field).toBe('fieldSelector');
      await expectReject(store.list({ labelSelector: 'a in ()' }), InvalidRequestError);
      await expectReject(store.list({ continue: 'garbage' }), InvalidRequestError);
      expect(() =>
        store.watch(
          { labelSelector: '!' },
          () => {},
          () => {},
        ),
      ).toThrow(InvalidRequestError);
    });

    it('lists more objects than one etcd range chunk', async () => {
      const store = await makeStore(kind, vmResource(), { listChunkSize: 7 });
      let last: KubeObject | undefined;
      for (let i = 0; i < 30; i++) last = await store.create(vm(`o${String(i).padStart(2, '0')}`));
      await settled(store, last!.metadata.resourceVersion);
      for (const resourceVersion of ['', '0']) {
        const got = await store.list({ resourceVersion });
        expect(got.items).toHaveLength(30);
        expect(got.continue).toBeUndefined();
      }
      const some = await store.list({ labelSelector: '!nope', limit: 12 });
      expect(some.items).toHaveLength(12);
    });

    it('paginates with limit/continue over one consistent revision despite concurrent writes', async () => {
      const store = await makeStore(kind, vmResource());
      const originals = new Map<string, string>();
      for (let i = 0; i < 25; i++) {
        const o = await store.create(vm(`o${String(i).padStart(2, '0')}`));
        originals.set(o.metadata.name!, o.metadata.resourceVersion!);
      }
      const p1 = await store.list({ limit: 10 });
      expect(p1.items).toHaveLength(10);
      expect(p1.remainingItemCount).toBe(15);
      // Concurrent writers: new objects, deletions and updates on both sides of the cursor.
      await Promise.all([
        store.create(vm('o05x')),
        store.create(vm('o99')),
        store.delete('default', 'o15'),
        store.delete('default', 'o02'),
        store.guaranteedUpdate('default', 'o20', (o) => ({ ...o, spec: { cpu: 9 } })),
      ]);
      const p2 = await store.list({ limit: 10, continue: p1.continue });
      expect(p2.resourceVersion).toBe(p1.resourceVersion);
      expect(p2.remainingItemCount).toBe(5);
      const p3 = await store.list({ limit: 10, continue: p2.continue });
      expect(p3.items).toHaveLength(5);
      expect(p3.continue).toBeUndefined();
      const all = [...p1.items, ...p2.items, ...p3.items];
      expect(all.map((o) => o.metadata.name)).toEqual([...originals.keys()]);
      for (const o of all) expect(o.metadata.resourceVersion).toBe(originals.get(o.metadata.name!));
      // A fresh list sees the writes.
      const now = await store.list({});
      expect(now.items.map((o) => o.metadata.name)).toContain('o99');
      expect(now.items.map((o) => o.metadata.name)).not.toContain('o15');
    });

    it('paginates with a selector (no remainingItemCount) and expires a continue token after compaction', async () => {
      const store = await makeStore(kind, vmResource());
      for (let i = 0; i < 10; i++) await store.create(vm(`o${i}`, { labels: { odd: String(i % 2) } }));
      const p1 = await store.list({ labelSelector: 'odd=1', limit: 2 });
      expect(p1.items.map((o) => o.metadata.name)).toEqual(['o1', 'o3']);
      expect(p1.remainingItemCount).toBeUndefined();
      const p2 = await store.list({ labelSelector: 'odd=1', limit: 2, continue: p1.continue });
      expect(p2.items.map((o) => o.metadata.name)).toEqual(['o5', 'o7']);
      await store.create(vm('later'));
      await client.kv.compact({ revision: await etcdRevision(), physical: true });
      await expectReject(store.list({ labelSelector: 'odd=1', limit: 2, continue: p2.continue }), ExpiredError);
    });

    it('rejects a resourceVersion etcd has not reached', async () => {
      const store = await makeStore(kind, vmResource());
      const far = String((await etcdRevision()) + 1000);
      await expect(store.list({ resourceVersion: far, limit: 5 })).rejects.toThrow(/Too large resource version/);
    });
  });

  describe('watch', () => {
    it("sends current objects as ADDED for '' and '0', then changes, and an initial-events-end bookmark", async () => {
      const store = await makeStore(kind, vmResource());
      await store.create(vm('a'));
      await store.create(vm('b'));
      const w0 = watchAll(store, { resourceVersion: '0', allowBookmarks: true });
      const wEmpty = watchAll(store, {});
      await eventually(() => expect(w0.summary()).toEqual(['ADDED a', 'ADDED b']));
      await eventually(() => expect(wEmpty.summary()).toEqual(['ADDED a', 'ADDED b']));
      const bm = w0.events.find((e) => e.type === 'BOOKMARK')!;
      expect(bm.object.metadata.annotations).toEqual({ 'k8s.io/initial-events-end': 'true' });
      expect(JSON.parse(bm.json)).toEqual({
        type: 'BOOKMARK',
        object: { apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: bm.object.metadata },
      });
      const c = await store.create(vm('c'));
      await eventually(() => expect(wEmpty.summary()).toEqual(['ADDED a', 'ADDED b', 'ADDED c']));
      const none = watchAll(store, { resourceVersion: c.metadata.resourceVersion });
      await store.delete('default', 'c');
      await eventually(() => expect(none.summary()).toEqual(['DELETED c']));
      expect(JSON.parse(none.events[0]!.json)).toEqual({ type: 'DELETED', object: none.events[0]!.object });
    });

    it('resumes from a resourceVersion: only later changes, in order', async () => {
      const store = await makeStore(kind, vmResource());
      const a = await store.create(vm('a'));
      const a2 = await store.update({ ...a, spec: { cpu: 2 } });
      await store.create(vm('b'));
      await store.delete('default', 'a');
      const w = watchAll(store, { resourceVersion: a.metadata.resourceVersion });
      await eventually(() => expect(w.summary()).toEqual(['MODIFIED a', 'ADDED b', 'DELETED a']));
      expect(w.events[0]!.object.metadata.resourceVersion).toBe(a2.metadata.resourceVersion);
      const w2 = watchAll(store, { resourceVersion: a2.metadata.resourceVersion });
      await eventually(() => expect(w2.summary()).toEqual(['ADDED b', 'DELETED a']));
    });

    it('delivers selector transitions as ADDED / DELETED, like the Kubernetes cacher', async () => {
      const store = await makeStore(kind, vmResource());
      const w = watchAll(store, { resourceVersion: '0', labelSelector: 'app=web' });
      const f = watchAll(store, { resourceVersion: '0', fieldSelector: 'spec.nodeName=n1', namespace: 'default' });
      const x = await store.create(vm('x', { labels: { app: 'db' } }));
      const x2 = await store.update({ ...x, metadata: { ...x.metadata, labels: { app: 'web' } } });
      const x3 = await store.update({ ...x2, spec: { cpu: 2, nodeName: 'n1' } });
      const x4 = await store.update({ ...x3, metadata: { ...x3.metadata, labels: { app: 'db' } } });
      const x5 = await store.update({ ...x4, spec: { cpu: 2, nodeName: 'n2' } });
      await store.delete('default', 'x');
      await eventually(() => expect(w.summary()).toEqual(['ADDED x', 'MODIFIED x', 'DELETED x']));
      await eventually(() => expect(f.summary()).toEqual(['ADDED x', 'MODIFIED x', 'DELETED x']));
      // The DELETED of a transition carries the previous object at the event's revision.
      const del = w.events.filter((e) => e.type === 'DELETED')[0]!;
      expect(del.object.metadata.labels).toEqual({ app: 'web' });
      expect(del.object.metadata.resourceVersion).toBe(x4.metadata.resourceVersion);
      const fdel = f.events.filter((e) => e.type === 'DELETED')[0]!;
      expect(fdel.object.metadata.resourceVersion).toBe(x5.metadata.resourceVersion);
      expect((fdel.object.spec as { nodeName: string }).nodeName).toBe('n1');
    });

    it('filters by namespace', async () => {
      const store = await makeStore(kind, vmResource());
      const w = watchAll(store, { namespace: 'ns1' });
      await store.create(vm('a', { ns: 'ns2' }));
      await store.create(vm('b', { ns: 'ns1' }));
      await eventually(() => expect(w.summary()).toEqual(['ADDED b']));
    });

    it('ends a watch from a compacted revision with ExpiredError', async () => {
      const store = await makeStore(kind, vmResource(), { windowSize: 3 });
      const a = await store.create(vm('a'));
      let cur = a;
      for (let i = 0; i < 6; i++) cur = await store.update({ ...cur, spec: { cpu: i + 2 } });
      // The cache catches up first: compacting under a lagging cache watch would make it
      // relist, and a watch from `a` would then get the (valid) diff instead of expiring.
      await settled(store, cur.metadata.resourceVersion);
      await client.kv.compact({ revision: Number(cur.metadata.resourceVersion), physical: true });
      const w = watchAll(store, { resourceVersion: a.metadata.resourceVersion });
      await eventually(() => expect(w.errors).toHaveLength(1));
      expect(w.errors[0]).toBeInstanceOf(ExpiredError);
      expect(w.events).toHaveLength(0);
      // A revision still available works.
      const ok = watchAll(store, { resourceVersion: cur.metadata.resourceVersion });
      await store.update({ ...cur, spec: { cpu: 100 } });
      await eventually(() => expect(ok.summary()).toEqual(['MODIFIED a']));
      expect(ok.errors).toHaveLength(0);
    });

    it('ends a watcher that cannot keep up with SlowWatcherError and leaves the others alone', async () => {
      const store = await makeStore(kind, vmResource(), { watcherBufferSize: 5 });
      const base = await store.create(vm('base'));
      const slowErrors: Error[] = [];
      let calls = 0;
      const slow = store.watch(
        { resourceVersion: base.metadata.resourceVersion },
        () => {
          calls++;
          return new Promise<void>(() => {}); // never done
        },
        (e) => void slowErrors.push(e),
      );
      cleanups.push(() => slow.stop());
      const fast = watchAll(store, { resourceVersion: base.metadata.resourceVersion });
      await store.create(vm('warmup'));
      await eventually(() => expect(calls).toBe(1));
      for (let i = 0; i < 10; i++) await store.create(vm(`o${i}`));
      await eventually(() => expect(slowErrors[0]).toBeInstanceOf(SlowWatcherError));
      expect(calls).toBe(1);
      await eventually(() => expect(fast.summary()).toHaveLength(11));
      expect(fast.errors).toHaveLength(0);
    });

    it('applies a handler promise as backpressure without losing or reordering events', async () => {
      const store = await makeStore(kind, vmResource());
      const base = await store.create(vm('base'));
      const seen: string[] = [];
      let release: () => void = () => {};
      const w = store.watch(
        { resourceVersion: base.metadata.resourceVersion },
        (e) => {
          seen.push(e.object.metadata.name!);
          return new Promise<void>((r) => (release = r));
        },
        () => {},
      );
      cleanups.push(() => w.stop());
      for (let i = 0; i < 5; i++) await store.create(vm(`o${i}`));
      for (let i = 1; i <= 5; i++) {
        await eventually(() => expect(seen).toHaveLength(i));
        release();
      }
      expect(seen).toEqual(['o0', 'o1', 'o2', 'o3', 'o4']);
    });

    it('sends periodic bookmarks when allowed', async () => {
      const store = await makeStore(kind, vmResource(), { bookmarkIntervalMs: 100 });
      const a = await store.create(vm('a'));
      const w = watchAll(store, { resourceVersion: a.metadata.resourceVersion, allowBookmarks: true });
      const plain = watchAll(store, { resourceVersion: a.metadata.resourceVersion });
      await eventually(() => expect(w.events.some((e) => e.type === 'BOOKMARK')).toBe(true));
      const bm = w.events.find((e) => e.type === 'BOOKMARK')!;
      expect(Number(bm.object.metadata.resourceVersion)).toBeGreaterThanOrEqual(Number(a.metadata.resourceVersion));
      expect(plain.events.filter((e) => e.type === 'BOOKMARK')).toHaveLength(0);
    });
  });

  it('concurrent writers through guaranteedUpdate lose no update', async () => {
    const res = vmResource();
    const writers = 8;
    const increments = 15;
    const clients = Array.from({ length: writers }, () => new Etcd3(etcd.etcd3Options()));
    const kvs = clients.map(() => (isLean(kind) ? createKvClient(etcd.endpoints, { tls: tls() }) : undefined));
    cleanups.push(() => {
      for (const c of clients) c.close();
    });
    cleanups.push(() => {
      for (const kv of kvs) kv?.close();
    });
    const stores = await Promise.all(clients.map((c, i) => makeStore(kind, res, { client: c, kv: kvs[i] })));
    await stores[0]!.create({ metadata: { name: 'counter', namespace: 'default' }, spec: { count: 0 } });
    await Promise.all(
      stores.map(async (s) => {
        for (let i = 0; i < increments; i++) {
          await s.guaranteedUpdate('default', 'counter', (cur) => {
            const spec = cur.spec as { count: number };
            return { ...cur, spec: { count: spec.count + 1 } };
          });
        }
      }),
    );
    const final = await stores[0]!.get('default', 'counter');
    expect((final.spec as { count: number }).count).toBe(writers * increments);
    expect(final.metadata.generation).toBe(1 + writers * increments);
  });
});

describe.each<Kind>(['EtcdStore', 'EtcdStore, lean kv'])('%s: nothing to write, decided on a cached state', (kind) => {
  it("is confirmed by the key's mod revision; a stale cached state is decided again on etcd's", async () => {
    const store = (await makeStore(kind, vmResource())) as unknown as EtcdStore;
    const created = await store.create(vm('a', { status: { x: 1 } }));
    const cachedAtOne = (await store.readStored(store.keyFor('default', 'a')))!;
    const setOne = (cur: KubeObject) => ((cur.status as { x: number }).x === 1 ? null : { ...cur, status: { x: 1 } });

    // The cached state is current: nothing is written, and the answer is that state.
    const same = await store.guaranteedUpdateFrom('default', 'a', setOne, cachedAtOne);
    expect(same.metadata.resourceVersion).toBe(created.metadata.resourceVersion);
    expect(same.status).toEqual({ x: 1 });

    // Another writer sets x: 2; the cache still says 1. The no-op is not trusted: x: 1 is written.
    await store.guaranteedUpdate('default', 'a', (cur) => ({ ...cur, status: { x: 2 } }));
    const written = await store.guaranteedUpdateFrom('default', 'a', setOne, cachedAtOne);
    expect(written.status).toEqual({ x: 1 });
    expect(await modRevision(store.keyFor('default', 'a'))).toBe(written.metadata.resourceVersion);
    expect(Number(written.metadata.resourceVersion)).toBeGreaterThan(Number(created.metadata.resourceVersion) + 1);

    // Deleted since it was cached: NotFound, not the cached copy.
    await store.delete('default', 'a');
    await expectReject(store.guaranteedUpdateFrom('default', 'a', setOne, cachedAtOne), NotFoundError);
  });
});

describe('CachedStore specifics', () => {
  it('serves resourceVersion=0 lists and gets from memory with shared frozen objects', async () => {
    const store = (await makeStore('CachedStore', vmResource())) as CachedStore;
    const a = await store.create(vm('a'));
    await eventually(() => store.stats().cacheRevision >= Number(a.metadata.resourceVersion));
    const l1 = await store.list({ resourceVersion: '0' });
    const l2 = await store.list({ resourceVersion: '0', limit: 1 });
    expect(l1.items[0]).toBe(l2.items[0]);
    expect(Object.isFrozen(l1.items[0])).toBe(true);
    expect(() => {
      (l1.items[0]!.metadata as { name: string }).name = 'x';
    }).toThrow(TypeError);
    const g = await store.get('default', 'a', { resourceVersion: '0' });
    expect(Object.isFrozen(g)).toBe(false);
    expect(g).toEqual(a);
    const l3 = await store.list({ resourceVersion: a.metadata.resourceVersion });
    expect(l3.items).toHaveLength(1);
  });

  it('expires a watch older than its window without touching etcd', async () => {
    const store = (await makeStore('CachedStore', vmResource(), { windowSize: 4 })) as CachedStore;
    const a = await store.create(vm('a'));
    let cur = a;
    for (let i = 0; i < 6; i++) cur = await store.update({ ...cur, spec: { cpu: i + 2 } });
    await eventually(() => store.stats().cacheRevision >= Number(cur.metadata.resourceVersion));
    const w = watchAll(store, { resourceVersion: a.metadata.resourceVersion });
    await eventually(() => expect(w.errors[0]).toBeInstanceOf(ExpiredError));
    expect(store.stats().windowEvents).toBe(4);
    const start = String(store.stats().windowStartRevision);
    const ok = watchAll(store, { resourceVersion: start });
    await eventually(() => expect(ok.summary()).toHaveLength(4));
  });

  it('bounds the window by stored bytes too: large objects shorten it, a watch from before it expires', async () => {
    const store = (await makeStore('CachedStore', vmResource())) as CachedStore;
    const first = await store.create(vm('big', { labels: { pad: 'x'.repeat(60) } }));
    await eventually(() => store.stats().cacheRevision >= Number(first.metadata.resourceVersion));
    const perEvent = store.stats().windowBytes;
    expect(perEvent).toBeGreaterThan(100); // the stored JSON of one VM

    // A budget of about three versions: six updates leave three events (count allows 10,000).
    const bounded = (await makeStore('CachedStore', vmResource(), { windowBytes: perEvent * 3 + perEvent / 2 })) as CachedStore;
    let cur = await bounded.create(vm('big2', { labels: { pad: 'x'.repeat(60) } }));
    const created = cur;
    for (let i = 0; i < 6; i++) cur = await bounded.update({ ...cur, spec: { cpu: i + 2 } });
    await eventually(() => bounded.stats().cacheRevision >= Number(cur.metadata.resourceVersion));
    expect(bounded.stats().windowEvents).toBe(3);
    expect(bounded.stats().windowBytes).toBeLessThanOrEqual(perEvent * 3 + perEvent / 2);
    const old = watchAll(bounded, { resourceVersion: created.metadata.resourceVersion });
    await eventually(() => expect(old.errors[0]).toBeInstanceOf(ExpiredError));
    const ok = watchAll(bounded, { resourceVersion: String(bounded.stats().windowStartRevision) });
    await eventually(() => expect(ok.summary()).toHaveLength(3));
  });

  it('fans one etcd watch out to many watchers, serializing each event once', async () => {
    const counts: number[] = [];
    const inner = new EtcdStore(client, vmResource());
    const store = new CachedStore(inner, { bookmarkIntervalMs: 0, metrics: { watchers: (n) => void counts.push(n) } });
    cleanups.push(() => store.close());
    await store.ready();
    const ws = Array.from({ length: 50 }, () => watchAll(store, { sendInitialEvents: false }));
    await store.create(vm('a'));
    await eventually(() => ws.every((w) => w.events.length === 1));
    const first = ws[0]!.events[0]!;
    for (const w of ws) expect(w.events[0]).toBe(first); // one shared event, one JSON string
    expect(counts[counts.length - 1]).toBe(50);
    ws[0]!.stop();
    expect(store.stats().watchers).toBe(49);
  });

  it('replays window events after their fan-out with the same JSON, serialized again', async () => {
    const store = (await makeStore('CachedStore', vmResource())) as CachedStore;
    const live = watchAll(store, { sendInitialEvents: false });
    const a = await store.create(vm('a'));
    const a2 = await store.update({ ...a, spec: { cpu: 2 } });
    await eventually(() => expect(live.summary()).toEqual(['ADDED a', 'MODIFIED a']));
    const liveJson = live.events.map((e) => e.json);
    expect(JSON.parse(liveJson[1]!).object.metadata.resourceVersion).toBe(a2.metadata.resourceVersion);
    const resumed = watchAll(store, { resourceVersion: String(Number(a.metadata.resourceVersion) - 1) });
    await eventually(() => expect(resumed.summary()).toEqual(['ADDED a', 'MODIFIED a']));
    expect(resumed.events.map((e) => e.json)).toEqual(liveJson);
    // The window kept the events' objects, not the events the live watcher was given.
    expect(resumed.events[1]).not.toBe(live.events[1]);
    expect(resumed.events[1]!.object).toBe(live.events[1]!.object);
  });

  it('survives a stored value that does not decode: the object is treated as gone', async () => {
    const res = vmResource();
    const store = (await makeStore('CachedStore', res)) as CachedStore;
    const a = await store.create(vm('a'));
    const w = watchAll(store, { resourceVersion: a.metadata.resourceVersion });
    await client.put(`/registry/quantix.io/${res.resource}/default/a`).value('not json');
    await store.create(vm('b'));
    await eventually(() => expect(w.summary()).toEqual(['DELETED a', 'ADDED b']));
    expect(store.stats().corruptObjects).toBe(1);
    expect(w.errors).toHaveLength(0);
  });

  it.each(['etcd3 kv', 'lean kv'])('reconnects a broken etcd watch from its last revision, and relists with a diff after compaction (%s)', async (kvKind) => {
    const proxy = await CuttableProxy.start(etcd.clientUrl);
    cleanups.push(() => proxy.close());
    const viaProxy = new Etcd3({
      ...etcd3Options([proxy.url], etcd.tls),
      grpcOptions: { ...ETCD_GRPC_OPTIONS, 'grpc.initial_reconnect_backoff_ms': 50, 'grpc.max_reconnect_backoff_ms': 500 },
    });
    cleanups.push(() => viaProxy.close());
    const kv = kvKind === 'lean kv' ? createKvClient([proxy.url], { tls: tls() }) : undefined;
    cleanups.push(() => kv?.close());
    const res = vmResource();
    const direct = new EtcdStore(client, res);
    const store = new CachedStore(new EtcdStore(viaProxy, res, { kv }), { bookmarkIntervalMs: 0, backoff: { initialMs: 50, maxMs: 500 } });
    cleanups.push(() => store.close());
    await store.ready();
    const w = watchAll(store, { sendInitialEvents: false });
    const keep = await direct.create(vm('keep'));
    await direct.create(vm('gone'));
    await eventually(() => expect(w.summary()).toEqual(['ADDED keep', 'ADDED gone']));

    // 1. Cut, write, restore: the watch resumes where it stopped.
    proxy.cut();
    const keep2 = await direct.update({ ...keep, spec: { cpu: 2 } });
    proxy.restore();
    await eventually(() => expect(w.summary()).toEqual(['ADDED keep', 'ADDED gone', 'MODIFIED keep']), { timeoutMs: 20_000 });
    expect(store.stats().reconnects).toBeGreaterThan(0);

    // 2. Cut, write, compact, restore: the cache relists and emits the difference.
    proxy.cut();
    await direct.update({ ...keep2, spec: { cpu: 3 } });
    await direct.delete('default', 'gone');
    await direct.create(vm('new'));
    await client.kv.compact({ revision: await etcdRevision(), physical: true });
    proxy.restore();
    await eventually(() => expect(store.stats().relists).toBe(1), { timeoutMs: 20_000 });
    await eventually(() => expect(w.summary().slice(3).sort()).toEqual(['ADDED new', 'DELETED gone', 'MODIFIED keep']));
    const listed = await store.list({ resourceVersion: '0' });
    expect(listed.items.map((o) => o.metadata.name)).toEqual(['keep', 'new']);
    expect(w.errors).toHaveLength(0);
  });
});
