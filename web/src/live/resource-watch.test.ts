import type { KubeObject } from '../../../api-types/meta.js';
import { eventually } from '../../../hack/testenv/eventually.js';
import { ApiClient } from '../api/client.js';
import { VirtualMachines } from '../api/resources.js';
import { ConnectionManager } from './connection-manager.js';
import { FakeApiserver } from './fake-apiserver.js';
import { ResourceWatch } from './resource-watch.js';

const fast = { backoff: { baseMs: 5, maxMs: 20 }, minHealthyWatchMs: 0 };

describe('ResourceWatch', () => {
  let server: FakeApiserver;
  const realFetch = globalThis.fetch;
  const watches: ResourceWatch<never>[] = [];
  const start = (options = {}) => {
    const w = new ResourceWatch(new ApiClient('t0ken'), VirtualMachines, { ...fast, ...options });
    watches.push(w as never);
    w.start();
    return w;
  };
  const names = <T extends KubeObject>(w: ResourceWatch<T>) =>
    w
      .getSnapshot()
      .items.map((o) => o.metadata.name)
      .sort();

  beforeEach(() => {
    server = new FakeApiserver();
    globalThis.fetch = server.fetch as typeof fetch;
  });
  afterEach(() => {
    for (const w of watches.splice(0)) w.stop();
    server.closeWatches();
    globalThis.fetch = realFetch;
  });

  it('lists in pages, then watches from the list resourceVersion and applies events', async () => {
    for (const n of ['a', 'b', 'c']) server.put(n);
    const w = start({ pageSize: 2 });
    await eventually(() => w.getSnapshot().state === 'live');
    expect(names(w)).toEqual(['a', 'b', 'c']);
    expect(server.lists()).toBe(2);
    expect(server.watches()[0]!.searchParams.get('resourceVersion')).toBe('103');
    expect(server.watches()[0]!.searchParams.get('allowWatchBookmarks')).toBe('true');
    server.put('d');
    server.remove('a');
    await eventually(() => expect(names(w)).toEqual(['b', 'c', 'd']));
  });

  it('skips a stale event and moves its resourceVersion forward on bookmarks', async () => {
    server.put('a', { v: 1 });
    const w = start();
    await eventually(() => w.getSnapshot().state === 'live');
    server.send({ type: 'MODIFIED', object: { metadata: { uid: 'uid-a', name: 'a', resourceVersion: '50' }, v: 0 } });
    server.send({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '500' } } });
    await eventually(() => w.getSnapshot().resourceVersion === '500');
    expect((w.getSnapshot().items[0] as unknown as { v: number }).v).toBe(1);
    expect(w.stats.staleSkipped).toBe(1);
  });

  it('relists after a 410 ERROR event, dropping objects deleted meanwhile', async () => {
    server.put('a');
    server.put('b');
    const w = start();
    await eventually(() => w.getSnapshot().state === 'live');
    server.remove('a', { silently: true });
    server.expireWatches();
    await eventually(() => expect(names(w)).toEqual(['b']));
    expect(server.lists()).toBe(2);
  });

  it('shows reconnecting while the server is unreachable, keeps the items, and resumes from the last resourceVersion', async () => {
    server.put('a');
    const w = start();
    await eventually(() => w.getSnapshot().state === 'live');
    server.down = true;
    server.failWatches();
    await eventually(() => w.getSnapshot().state === 'reconnecting');
    expect(names(w)).toEqual(['a']);
    expect(w.getSnapshot().error?.describe()).toMatch(/Cannot reach the API server/);
    server.down = false;
    await eventually(() => w.getSnapshot().state === 'live');
    const last = server.watches().at(-1)!;
    expect(last.searchParams.get('resourceVersion')).toBe('101');
    expect(server.lists()).toBe(1);
  });

  it('rewatches without backoff when the server ends the stream (timeoutSeconds)', async () => {
    server.put('a');
    const w = start({ backoff: { baseMs: 60_000, maxMs: 60_000 } });
    await eventually(() => w.getSnapshot().state === 'live');
    server.closeWatches();
    await eventually(() => server.watches().length === 2, { timeoutMs: 2_000 });
    expect(w.getSnapshot().state).toBe('live');
  });

  it('reports a refused token as a readable error', async () => {
    server.refuseWith = 401;
    const w = start();
    await eventually(() => w.getSnapshot().state === 'error');
    expect(w.getSnapshot().error?.describe()).toMatch(/^Your token was not accepted \(401 Unauthorized\)/);
    expect(w.getSnapshot().synced).toBe(false);
  });

  it('sends the bearer token and a request id on every call', async () => {
    const seen: Headers[] = [];
    globalThis.fetch = (async (input: RequestInfo | URL, init?: RequestInit) => {
      seen.push(new Headers(init?.headers));
      return server.fetch(input, init);
    }) as typeof fetch;
    const w = start();
    await eventually(() => w.getSnapshot().state === 'live');
    expect(seen.length).toBeGreaterThanOrEqual(2);
    for (const h of seen) {
      expect(h.get('authorization')).toBe('Bearer t0ken');
      expect(h.get('x-request-id')).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    }
  });
});

describe('ConnectionManager', () => {
  const realFetch = globalThis.fetch;
  afterEach(() => {
    globalThis.fetch = realFetch;
  });

  it('shares one stream per resource and stops it after the last user lets go', async () => {
    const server = new FakeApiserver();
    globalThis.fetch = server.fetch as typeof fetch;
    const manager = new ConnectionManager(new ApiClient('t'), { ...fast, lingerMs: 10 });
    const states: string[] = [];
    manager.subscribeOverall(() => states.push(manager.getOverall()));
    const one = manager.acquire(VirtualMachines);
    const two = manager.acquire(VirtualMachines);
    expect(one.watch).toBe(two.watch);
    await eventually(() => manager.getOverall() === 'live');
    expect(server.watches()).toHaveLength(1);
    one.release();
    one.release(); // idempotent
    expect(manager.activeKeys()).toEqual(['virtualmachines']);
    two.release();
    await eventually(() => manager.activeKeys().length === 0);
    expect(manager.getOverall()).toBe('idle');
    expect(states).toEqual(['connecting', 'live', 'idle']);
    server.closeWatches();
  });
});
