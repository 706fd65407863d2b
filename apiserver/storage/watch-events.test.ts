import type { KubeObject } from '../../api-types/meta.js';
import { SlowWatcherError } from './errors.js';
import { jsonEqual, parseResourceVersion } from './etcd-store.js';
import type { WatchEvent } from './interface.js';
import { deepFreeze } from './frozen-sharing.js';
import { LazyWatchEvent, WatcherChannel, bookmarkEvent, eventLine, objectJson } from './watch-events.js';

const obj = (name: string): KubeObject => deepFreeze({ metadata: { name, resourceVersion: '7' }, spec: { a: [1, { b: 2 }] } });
const ev = (name: string) => new LazyWatchEvent('ADDED', obj(name));

describe('LazyWatchEvent', () => {
  it('serializes once and shares the object JSON between event types', () => {
    const o = obj('a');
    const added = new LazyWatchEvent('ADDED', o);
    const modified = new LazyWatchEvent('MODIFIED', o);
    expect(JSON.parse(added.json)).toEqual({ type: 'ADDED', object: o });
    expect(added.json).toBe(added.json);
    expect(modified.json.endsWith(`${objectJson(o)}}`)).toBe(true);
  });

  it('encodes the stream line once per event (UTF-8, newline-terminated)', () => {
    const o = obj('ä-名');
    const event = new LazyWatchEvent('MODIFIED', o);
    const line = eventLine(event);
    expect(line.toString('utf8')).toBe(`${event.json}\n`);
    expect(eventLine(event)).toBe(line);
    expect(eventLine(new LazyWatchEvent('MODIFIED', o))).not.toBe(line);
  });

  it('builds bookmarks with kind and apiVersion of the resource', () => {
    const b = bookmarkEvent({ group: 'quantix.io', resource: 'vms', namespaced: true, kind: 'VirtualMachine', apiVersion: 'quantix.io/v1alpha1' }, '42', true);
    expect(JSON.parse(b.json)).toEqual({
      type: 'BOOKMARK',
      object: {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { resourceVersion: '42', annotations: { 'k8s.io/initial-events-end': 'true' } },
      },
    });
  });

  it('deepFreeze freezes nested values', () => {
    const o = obj('a');
    expect(() => ((o.spec as { a: unknown[] }).a as unknown[]).push(3)).toThrow(TypeError);
  });
});

describe('WatcherChannel', () => {
  it('delivers synchronously while the handler keeps up', () => {
    const seen: string[] = [];
    const ch = new WatcherChannel(
      (e) => void seen.push(e.object.metadata.name!),
      () => {},
      2,
    );
    for (const n of ['a', 'b', 'c', 'd']) ch.push(ev(n));
    expect(seen).toEqual(['a', 'b', 'c', 'd']);
  });

  it('holds events while a handler promise is pending, in order, and ends on overflow', async () => {
    const seen: string[] = [];
    const errors: Error[] = [];
    const releases: (() => void)[] = [];
    let done = 0;
    const ch = new WatcherChannel(
      (e) => {
        seen.push(e.object.metadata.name!);
        return new Promise<void>((r) => releases.push(r));
      },
      (e) => void errors.push(e),
      2,
      () => done++,
    );
    ch.push(ev('a'));
    ch.push(ev('b'));
    ch.push(ev('c'));
    expect(seen).toEqual(['a']);
    expect(ch.buffered).toBe(2);
    releases.shift()!();
    await Promise.resolve();
    await Promise.resolve();
    expect(seen).toEqual(['a', 'b']);
    ch.push(ev('d'));
    ch.push(ev('e')); // buffer (2) full: the watcher ends
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(SlowWatcherError);
    expect(ch.done).toBe(true);
    expect(done).toBe(1);
    ch.push(ev('f'));
    releases.shift()!();
    await Promise.resolve();
    expect(seen).toEqual(['a', 'b']);
  });

  it('ends the watcher with the error a handler throws, once', () => {
    const errors: Error[] = [];
    const ch = new WatcherChannel(
      () => {
        throw new Error('boom');
      },
      (e) => void errors.push(e),
      10,
    );
    ch.push(ev('a'));
    ch.push(ev('b'));
    expect(errors.map((e) => e.message)).toEqual(['boom']);
  });

  it('keeps order when a handler pushes re-entrantly, and does not count snapshots against the buffer', () => {
    const seen: string[] = [];
    let ch!: WatcherChannel;
    ch = new WatcherChannel(
      (e: WatchEvent) => {
        seen.push(e.object.metadata.name!);
        if (e.object.metadata.name === 'a') ch.push(ev('nested'));
      },
      () => {},
      1,
    );
    ch.pushUnbounded([ev('a'), ev('b'), ev('c')]);
    expect(seen).toEqual(['a', 'b', 'c', 'nested']);
    expect(ch.done).toBe(false);
  });

  it('stop() is silent and idempotent', () => {
    const errors: Error[] = [];
    let done = 0;
    const ch = new WatcherChannel(
      () => {},
      (e) => void errors.push(e),
      1,
      () => done++,
    );
    ch.stop();
    ch.stop();
    ch.fail(new Error('late'));
    expect(errors).toEqual([]);
    expect(done).toBe(1);
  });
});

describe('etcd-store helpers', () => {
  it.each([
    [{ a: 1, b: [1, 2] }, { b: [1, 2], a: 1 }, true],
    [{ a: 1, b: undefined }, { a: 1 }, true],
    [{ a: 1 }, { a: 2 }, false],
    [[1, 2], [2, 1], false],
    [{ a: [] }, { a: {} }, false],
    [null, undefined, false],
    [{ a: { b: { c: 'x' } } }, { a: { b: { c: 'x' } } }, true],
  ])('jsonEqual(%j, %j) = %s', (a, b, want) => {
    expect(jsonEqual(a, b)).toBe(want);
  });

  it.each([
    ['', 0],
    [undefined, 0],
    ['0', 0],
    ['123', 123],
  ])('parseResourceVersion(%j) = %d', (rv, want) => {
    expect(parseResourceVersion(rv)).toBe(want);
  });

  it.each(['-1', 'abc', '1.5', '9999999999999999'])('rejects resourceVersion %j', (rv) => {
    expect(() => parseResourceVersion(rv)).toThrow(/invalid resourceVersion/);
  });
});
