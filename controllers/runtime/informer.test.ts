import type { KubeObject } from '../../api-types/meta.js';
import { FakeClock } from '../../lib/clock/clock.js';
import type { WatchEvent } from '../../api-types/meta.js';
import type { ListResult } from '../../lib/apiclient/request.js';
import { Informer, type ListerWatcher } from './informer.js';

const flush = () => new Promise((resolve) => setImmediate(resolve));

function obj(name: string, rv: number, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { name, namespace: 'ns', uid: `uid-${name}`, resourceVersion: String(rv) }, ...extra };
}

class FakeLW implements ListerWatcher<KubeObject> {
  items: KubeObject[] = [];
  rv = '1';
  listError?: Error;
  lists = 0;
  watches: { rv: string; onEvent: (e: WatchEvent<KubeObject>) => void; onDone: (err: unknown) => void; aborted: boolean }[] = [];

  async list(): Promise<ListResult<KubeObject>> {
    this.lists++;
    if (this.listError) throw this.listError;
    return { items: [...this.items], resourceVersion: this.rv };
  }
  async watch(rv: string, onEvent: (e: WatchEvent<KubeObject>) => void, onDone: (err: unknown) => void) {
    const w = { rv, onEvent, onDone, aborted: false };
    this.watches.push(w);
    return { abort: () => (w.aborted = true) };
  }
  get current() {
    return this.watches[this.watches.length - 1]!;
  }
}

function setup() {
  const lw = new FakeLW();
  const clock = new FakeClock();
  const informer = new Informer(lw, { name: 'test', clock, initialBackoffMs: 100, maxBackoffMs: 800 });
  const log: string[] = [];
  informer.on({
    add: (o) => log.push(`add ${o.metadata.name}@${o.metadata.resourceVersion}`),
    update: (old, o) => log.push(`update ${o.metadata.name}@${old.metadata.resourceVersion}->${o.metadata.resourceVersion}`),
    delete: (o) => log.push(`delete ${o.metadata.name}`),
  });
  return { lw, clock, informer, log };
}

describe('Informer', () => {
  it('lists, then watches from the list resourceVersion', async () => {
    const { lw, informer, log } = setup();
    lw.items = [obj('a', 5)];
    lw.rv = '7';
    informer.start();
    await informer.waitForSync();
    await flush();
    expect(informer.hasSynced()).toBe(true);
    expect(lw.current.rv).toBe('7');
    lw.current.onEvent({ type: 'ADDED', object: obj('b', 8) });
    lw.current.onEvent({ type: 'MODIFIED', object: obj('a', 9) });
    lw.current.onEvent({ type: 'DELETED', object: obj('b', 10) });
    expect(log).toEqual(['add a@5', 'add b@8', 'update a@5->9', 'delete b']);
    expect(informer.store.get('ns/a')?.metadata.resourceVersion).toBe('9');
    expect(informer.resourceVersion).toBe('10');
    informer.stop();
  });

  it('skips stale and duplicate events', async () => {
    const { lw, informer, log } = setup();
    lw.items = [obj('a', 5)];
    informer.start();
    await informer.waitForSync();
    await flush();
    lw.current.onEvent({ type: 'MODIFIED', object: obj('a', 5) });
    lw.current.onEvent({ type: 'MODIFIED', object: obj('a', 3) });
    expect(log).toEqual(['add a@5']);
    informer.stop();
  });

  it('advances the resourceVersion on bookmarks without touching the store', async () => {
    const { lw, informer, log } = setup();
    informer.start();
    await informer.waitForSync();
    await flush();
    lw.current.onEvent({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '42' } } });
    expect(informer.resourceVersion).toBe('42');
    expect(log).toEqual([]);
    lw.current.onDone(new Error('connection reset'));
    expect(informer.stats.reconnects).toBe(1);
    informer.stop();
  });

  it.each([
    ['an HTTP 410', (lw: FakeLW) => lw.current.onDone(Object.assign(new Error('Gone'), { statusCode: 410 }))],
    ['an ERROR event with code 410', (lw: FakeLW) => lw.current.onEvent({ type: 'ERROR', object: { code: 410, metadata: {} } as unknown as KubeObject })],
  ])('relists after %s and reports vanished objects as deletes', async (_label, expire) => {
    const { lw, informer, log } = setup();
    lw.items = [obj('a', 5), obj('b', 6)];
    lw.rv = '6';
    informer.start();
    await informer.waitForSync();
    await flush();
    lw.items = [obj('a', 20), obj('c', 21)];
    lw.rv = '21';
    expire(lw);
    await flush();
    expect(lw.lists).toBe(2);
    expect(log).toEqual(['add a@5', 'add b@6', 'update a@5->20', 'add c@21', 'delete b']);
    expect(lw.current.rv).toBe('21');
    expect(lw.watches[0]!.aborted).toBe(true);
    informer.stop();
  });

  it('reconnects from the last resourceVersion with capped exponential backoff, reset by an event', async () => {
    const { lw, clock, informer } = setup();
    informer.start();
    await informer.waitForSync();
    await flush();
    lw.current.onEvent({ type: 'ADDED', object: obj('a', 3) });
    const delays: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = lw.watches.length;
      lw.current.onDone(new Error('ECONNREFUSED'));
      let waited = 0;
      while (lw.watches.length === before) {
        clock.advance(10);
        waited += 10;
        await flush();
      }
      delays.push(waited);
    }
    // 100, 200, 400, 800, 800, 800 with ±20 % jitter
    const expected = [100, 200, 400, 800, 800, 800];
    delays.forEach((d, i) => {
      expect(d).toBeGreaterThanOrEqual(expected[i]! * 0.8 - 10);
      expect(d).toBeLessThanOrEqual(expected[i]! * 1.2 + 10);
    });
    expect(lw.watches.every((w, i) => i === 0 || w.rv === '3')).toBe(true);
    expect(lw.lists).toBe(1);
    lw.current.onEvent({ type: 'MODIFIED', object: obj('a', 4) });
    expect(informer.backoffMs).toBe(0);
    informer.stop();
  });

  it('retries a failed list with backoff', async () => {
    const { lw, clock, informer } = setup();
    lw.listError = new Error('connection refused');
    informer.start();
    await flush();
    expect(lw.lists).toBe(1);
    expect(informer.hasSynced()).toBe(false);
    lw.listError = undefined;
    clock.advance(200);
    await flush();
    expect(lw.lists).toBe(2);
    expect(informer.hasSynced()).toBe(true);
    informer.stop();
  });

  it('replays cached objects to handlers registered after sync', async () => {
    const { lw, informer } = setup();
    lw.items = [obj('a', 1), obj('b', 2)];
    informer.start();
    await informer.waitForSync();
    const late: string[] = [];
    informer.on({ add: (o) => late.push(o.metadata.name!) });
    expect(late.sort()).toEqual(['a', 'b']);
    informer.stop();
  });

  it('ignores events from a watch it has stopped', async () => {
    const { lw, informer, log } = setup();
    informer.start();
    await informer.waitForSync();
    await flush();
    const old = lw.current;
    informer.stop();
    old.onEvent({ type: 'ADDED', object: obj('late', 9) });
    expect(log).toEqual([]);
    expect(old.aborted).toBe(true);
  });

  it('freezes cached objects so controllers cannot modify them', async () => {
    const { lw, informer } = setup();
    lw.items = [obj('a', 1, { spec: { x: 1 } })];
    informer.start();
    await informer.waitForSync();
    const cached = informer.store.get('ns/a') as unknown as { spec: { x: number } };
    expect(() => {
      cached.spec.x = 2;
    }).toThrow(TypeError);
    informer.stop();
  });
});

describe('Store indexes', () => {
  it('keeps an index in step with adds, updates and deletes', async () => {
    const { lw, informer } = setup();
    informer.store.addIndex('node', (o) => [String((o as { spec?: { node?: string } }).spec?.node ?? '')].filter(Boolean));
    lw.items = [obj('a', 1, { spec: { node: 'n1' } }), obj('b', 2, { spec: { node: 'n1' } })];
    informer.start();
    await informer.waitForSync();
    await flush();
    expect(
      informer.store
        .byIndex('node', 'n1')
        .map((o) => o.metadata.name)
        .sort(),
    ).toEqual(['a', 'b']);
    lw.current.onEvent({ type: 'MODIFIED', object: obj('b', 3, { spec: { node: 'n2' } }) });
    expect(informer.store.byIndex('node', 'n1').map((o) => o.metadata.name)).toEqual(['a']);
    expect(informer.store.byIndex('node', 'n2').map((o) => o.metadata.name)).toEqual(['b']);
    lw.current.onEvent({ type: 'DELETED', object: obj('a', 4, { spec: { node: 'n1' } }) });
    expect(informer.store.byIndex('node', 'n1')).toEqual([]);
    expect(informer.store.indexValues('node')).toEqual(['n2']);
    informer.stop();
  });
});
