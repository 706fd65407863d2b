/**
 * etcd upkeep by the apiserver (storage/etcd-maintenance.ts) on real etcd members over TLS:
 * - interval compaction as kube-apiserver does it: one replica per interval, to the revision
 *   recorded one interval earlier, another replica taking over when the first stops;
 * - the real apiserver compacting on a short interval while the watch cache keeps serving
 *   watches (new ones and ones resuming from before the compaction);
 * - a member with a tiny space quota filled until NOSPACE: writes through the apiserver get a
 *   507 InsufficientStorage Status, /readyz fails its etcd-nospace check naming the alarm;
 *   after POST /admin/etcd/defragment?compact=true&disarm=true writes work again.
 */
import { Agent, request } from 'node:https';
import { resourceFor } from '../api-types/registry.js';
import type { KubeObject } from '../api-types/meta.js';
import { startEtcd, type EtcdInstance } from '../hack/testenv/etcd.js';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import { createKvClient, type LeanKvClient } from './etcd-client/etcd-kv.js';
import { compactor } from './storage/etcd-maintenance.js';
import { isEtcdNoSpace } from './storage/errors.js';
import type { WatchEvent } from './storage/interface.js';

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

interface Reply {
  status: number;
  text: string;
  body: { kind?: string; reason?: string; message?: string; code?: number; metadata?: { resourceVersion?: string } } & Record<string, unknown>;
}

function sender(env: TestApiserver, agent: Agent) {
  return (method: string, path: string, body?: unknown, token = env.tokens.admin): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent,
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let body: Reply['body'] = {};
            try {
              body = JSON.parse(text) as Reply['body'];
            } catch {
              // plain text (/readyz)
            }
            resolve({ status: res.statusCode ?? 0, text, body });
          });
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
}

const vm = (name: string) => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name, namespace: 'default' },
  spec: { cpu: 1, memory: '256Mi', disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }] },
});

const leanFor = (etcd: EtcdInstance): LeanKvClient => createKvClient(etcd.endpoints, { tls: etcd.kvTls() });

/** Whether etcd still has revision `revision` (false: compacted away). */
async function hasRevision(kv: LeanKvClient, revision: number): Promise<boolean> {
  try {
    await kv.range({ key: Buffer.from('/probe'), revision });
    return true;
  } catch (err) {
    if (/required revision has been compacted/.test((err as Error).message)) return false;
    throw err;
  }
}

describe('interval compaction across replicas (compact_rev_key)', () => {
  let etcd: EtcdInstance;
  let kv: LeanKvClient;
  beforeAll(async () => {
    etcd = await startEtcd({ tls: true });
    kv = leanFor(etcd);
  });
  afterAll(async () => {
    kv?.close();
    await etcd?.stop();
  });

  const put = (key: string, value: string) =>
    kv.txn({ compare: [], success: [{ request_put: { key: Buffer.from(key), value: Buffer.from(value) } }], failure: [] });

  it('one replica compacts per interval, to the revision it recorded one interval earlier; the other takes over when it stops', async () => {
    const compacted: string[] = [];
    const a = compactor({ kv, prefix: '/registry', intervalMs: 0, onCompacted: (r) => compacted.push(`a:${r}`) });
    const b = compactor({ kv, prefix: '/registry', intervalMs: 0, onCompacted: (r) => compacted.push(`b:${r}`) });
    for (let i = 0; i < 5; i++) await put('/registry/x', `v${i}`);

    // Interval 1: a claims the fresh key (nothing recorded yet: no compaction); b syncs.
    expect(await a.step()).toEqual({ claimed: true });
    const recordedByA = a.state.revision;
    expect(await b.step()).toEqual({ claimed: false });
    for (let i = 0; i < 5; i++) await put('/registry/x', `w${i}`);

    // Interval 2: a claims again and compacts to what it recorded at interval 1, not further.
    expect(await a.step()).toEqual({ claimed: true, compactTo: recordedByA });
    expect(await hasRevision(kv, recordedByA - 1)).toBe(false);
    expect(await hasRevision(kv, recordedByA)).toBe(true);
    // b lost this interval (a moved the key's version): no second compaction.
    expect(await b.step()).toEqual({ claimed: false });
    const recordedByB = b.state.revision;
    expect(compacted).toEqual([`a:${recordedByA}`]);

    // a stops: b's next interval claims and compacts to what it recorded when it lost.
    for (let i = 0; i < 5; i++) await put('/registry/x', `z${i}`);
    expect(await b.step()).toEqual({ claimed: true, compactTo: recordedByB });
    expect(await hasRevision(kv, recordedByB - 1)).toBe(false);
    expect(compacted).toEqual([`a:${recordedByA}`, `b:${recordedByB}`]);
    const key = await kv.range({ key: Buffer.from('/registry/compact_rev_key') });
    expect(key.kvs[0]!.version).toBe('3');
  });
});

describe('the apiserver compacts etcd on its interval', () => {
  let env: TestApiserver;
  let kv: LeanKvClient;
  let agent: Agent;
  beforeAll(async () => {
    env = await startTestApiserver({ extra: { etcdCompactionIntervalMs: 250 } });
    kv = leanFor(env.etcd);
    agent = new Agent({ keepAlive: true, ca: env.caCertPem });
  });
  afterAll(async () => {
    agent?.destroy();
    kv?.close();
    await env?.stop();
  });

  it('compacts the history after writes, while watches from the watch cache keep working (also one resuming from before the compaction)', async () => {
    const send = sender(env, agent);
    const store = env.apiserver.context.stores.get(resourceFor('quantix.io', 'virtualmachines')!);
    const seen: string[] = [];
    const errors: Error[] = [];
    const watch = store.watch(
      { namespace: 'default', resourceVersion: '0' },
      (e: WatchEvent) => void seen.push(`${e.type} ${(e.object as KubeObject).metadata.name}`),
      (err) => errors.push(err),
    );
    try {
      const created = await send('POST', VMS, vm('before'));
      expect(created.status).toBe(201);
      const before = Number(created.body.metadata!.resourceVersion);
      // Writes go on until etcd's history below `before` is gone (two intervals at least).
      let n = 0;
      await eventually(
        async () => {
          const r = await send('PUT', `${VMS}/before`, { ...vm('before'), metadata: { name: 'before', namespace: 'default', labels: { n: String(++n) } } });
          expect(r.status).toBe(200);
          return !(await hasRevision(kv, before));
        },
        { timeoutMs: 30_000, intervalMs: 100, message: 'etcd history below the first write compacted' },
      );
      const after = await send('POST', VMS, vm('after'));
      expect(after.status).toBe(201);
      await eventually(() => seen.includes('ADDED after'));
      expect(seen[0]).toBe('ADDED before');
      expect(seen.filter((s) => s === 'MODIFIED before')).toHaveLength(n);
      expect(errors).toEqual([]);

      // A watch resuming from before etcd's compaction is served from the cache's window.
      const resumed: string[] = [];
      const resumedErrors: Error[] = [];
      const w2 = store.watch(
        { namespace: 'default', resourceVersion: String(before) },
        (e: WatchEvent) => void resumed.push(`${e.type} ${(e.object as KubeObject).metadata.name}`),
        (err) => resumedErrors.push(err),
      );
      await eventually(() => resumed.includes('ADDED after'));
      w2.stop();
      expect(resumed.filter((s) => s === 'MODIFIED before')).toHaveLength(n);
      expect(resumedErrors).toEqual([]);
      // A consistent list (from etcd) works too.
      const list = await send('GET', VMS);
      expect(list.status).toBe(200);
    } finally {
      watch.stop();
    }
  });
});

describe('etcd NOSPACE (space quota exhausted)', () => {
  let env: TestApiserver;
  let kv: LeanKvClient;
  let agent: Agent;
  beforeAll(async () => {
    env = await startTestApiserver({
      etcd: { extraArgs: [`--quota-backend-bytes=${4 * 1024 * 1024}`] },
      extra: { etcdCompactionIntervalMs: 0 },
    });
    kv = leanFor(env.etcd);
    agent = new Agent({ keepAlive: true, ca: env.caCertPem });
  });
  afterAll(async () => {
    agent?.destroy();
    kv?.close();
    await env?.stop();
  });

  it('answers writes with 507 InsufficientStorage and fails /readyz etcd-nospace; compact + defragment + disarm makes writes work again', async () => {
    const send = sender(env, agent);
    expect((await send('POST', VMS, vm('first'))).status).toBe(201);
    expect((await send('GET', '/readyz')).text).toBe('ok');

    // Overwrite one key with 128 KiB values: every revision stays until etcd refuses (NOSPACE).
    const value = Buffer.alloc(128 * 1024, 'x');
    let refused: Error | undefined;
    for (let i = 0; i < 400 && !refused; i++) {
      try {
        await kv.txn({ compare: [], success: [{ request_put: { key: Buffer.from('/filler'), value } }], failure: [] });
      } catch (err) {
        refused = err as Error;
      }
    }
    expect(refused && isEtcdNoSpace(refused)).toBe(true);

    const write = await send('POST', VMS, vm('second'));
    expect(write.status).toBe(507);
    expect(write.body).toMatchObject({ kind: 'Status', status: 'Failure', code: 507, reason: 'InsufficientStorage' });
    expect(write.body.message).toMatch(/etcd's space quota is exhausted/);
    expect(write.body.message).toMatch(/compact.*defragment.*disarm/);
    // Updates too.
    const update = await send('PUT', `${VMS}/first`, { ...vm('first'), metadata: { name: 'first', namespace: 'default', labels: { a: 'b' } } });
    expect(update.status).toBe(507);
    expect(update.body.reason).toBe('InsufficientStorage');

    const ready = await send('GET', '/readyz');
    expect(ready.status).toBe(503);
    expect(ready.text).toMatch(/^\[\+\]etcd ok$/m);
    expect(ready.text).toMatch(/^\[-\]etcd-nospace failed: etcd alarm NOSPACE raised on member\(s\) \d+/m);
    expect(ready.text).toMatch(/readyz check failed/);

    // Only admins reclaim space.
    expect((await send('POST', '/admin/etcd/defragment?compact=true&disarm=true', undefined, env.tokens.viewer)).status).toBe(403);
    const reclaimed = await send('POST', '/admin/etcd/defragment?compact=true&disarm=true');
    expect(reclaimed.status).toBe(200);
    const report = reclaimed.body as unknown as {
      compactedTo: number;
      members: { endpoint: string; dbSizeBefore: number; dbSizeAfter: number }[];
      disarmed: { alarm: string }[];
    };
    expect(report.compactedTo).toBeGreaterThan(0);
    expect(report.members).toHaveLength(1);
    expect(report.members[0]!.dbSizeAfter).toBeLessThan(report.members[0]!.dbSizeBefore);
    expect(report.disarmed).toEqual([expect.objectContaining({ alarm: 'Nospace' })]);

    expect((await send('GET', '/readyz')).text).toBe('ok');
    expect((await send('POST', VMS, vm('second'))).status).toBe(201);
  });
});
