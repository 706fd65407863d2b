/**
 * The informer's cache: objects by key, with secondary indexes (e.g. VMs by
 * `spec.nodeName`). Updates come in two shapes — a full list (`replace`) and single
 * watch events (`apply`) — and both report what changed as deltas. Stale events (a
 * lower resourceVersion than the cached one, as a reconnect may replay) are skipped.
 *
 * Objects in the cache are shared by every controller: never modify one (they are
 * frozen by default to make a mistake fail loudly); copy with `structuredClone` first.
 */
import type { KubeObject } from '../../api-types/meta.js';
import { keyOf } from './resources.js';

export type Delta<T> = { type: 'add'; obj: T } | { type: 'update'; old: T; obj: T } | { type: 'delete'; obj: T };

export type IndexFunc<T> = (obj: T) => string[];

export class Store<T extends KubeObject> {
  readonly #items = new Map<string, T>();
  readonly #indexers = new Map<string, IndexFunc<T>>();
  readonly #indices = new Map<string, Map<string, Set<string>>>();
  readonly #freeze: boolean;

  constructor(options: { freeze?: boolean } = {}) {
    this.#freeze = options.freeze ?? true;
  }

  get(key: string): T | undefined {
    return this.#items.get(key);
  }

  list(): T[] {
    return [...this.#items.values()];
  }

  keys(): string[] {
    return [...this.#items.keys()];
  }

  get size(): number {
    return this.#items.size;
  }

  hasIndex(name: string): boolean {
    return this.#indexers.has(name);
  }

  /** Adds an index (may be called after items exist: it is built at once). */
  addIndex(name: string, fn: IndexFunc<T>): void {
    this.#indexers.set(name, fn);
    const index = new Map<string, Set<string>>();
    this.#indices.set(name, index);
    for (const [key, obj] of this.#items) for (const v of fn(obj)) addTo(index, v, key);
  }

  /** Objects whose index `name` yields `value`. */
  byIndex(name: string, value: string): T[] {
    const index = this.#indices.get(name);
    if (!index) throw new Error(`no index "${name}"`);
    const keys = index.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) {
      const obj = this.#items.get(k);
      if (obj) out.push(obj);
    }
    return out;
  }

  /** Index values in use (e.g. every node name that has VMs). */
  indexValues(name: string): string[] {
    return [...(this.#indices.get(name)?.keys() ?? [])];
  }

  /** Replaces the content with a fresh list; returns adds, updates and deletes. */
  replace(items: T[]): Delta<T>[] {
    const deltas: Delta<T>[] = [];
    const seen = new Set<string>();
    for (const item of items) {
      const key = keyOf(item);
      seen.add(key);
      const d = this.#put(key, item, false);
      if (d) deltas.push(d);
    }
    for (const [key, obj] of [...this.#items]) {
      if (seen.has(key)) continue;
      this.#remove(key, obj);
      deltas.push({ type: 'delete', obj });
    }
    return deltas;
  }

  /** Applies one watch event; returns the change, or undefined when nothing changed. */
  apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: T): Delta<T> | undefined {
    const key = keyOf(obj);
    if (type === 'DELETED') {
      const old = this.#items.get(key);
      if (!old) return undefined;
      if (isOlder(obj, old)) return undefined;
      this.#remove(key, old);
      return { type: 'delete', obj: this.#freeze ? deepFreeze(obj) : obj };
    }
    return this.#put(key, obj, true);
  }

  #put(key: string, obj: T, skipStale: boolean): Delta<T> | undefined {
    const old = this.#items.get(key);
    if (old) {
      if (old.metadata.resourceVersion === obj.metadata.resourceVersion && old.metadata.uid === obj.metadata.uid) return undefined;
      if (skipStale && old.metadata.uid === obj.metadata.uid && isOlder(obj, old)) return undefined;
    }
    const stored = this.#freeze ? deepFreeze(obj) : obj;
    if (old) this.#unindex(key, old);
    this.#items.set(key, stored);
    this.#index(key, stored);
    return old ? { type: 'update', old, obj: stored } : { type: 'add', obj: stored };
  }

  #remove(key: string, old: T): void {
    this.#unindex(key, old);
    this.#items.delete(key);
  }

  #index(key: string, obj: T): void {
    for (const [name, fn] of this.#indexers) for (const v of fn(obj)) addTo(this.#indices.get(name)!, v, key);
  }

  #unindex(key: string, obj: T): void {
    for (const [name, fn] of this.#indexers) {
      const index = this.#indices.get(name)!;
      for (const v of fn(obj)) {
        const set = index.get(v);
        if (!set) continue;
        set.delete(key);
        if (set.size === 0) index.delete(v);
      }
    }
  }
}

function addTo(index: Map<string, Set<string>>, value: string, key: string): void {
  let set = index.get(value);
  if (!set) index.set(value, (set = new Set()));
  set.add(key);
}

/** Quantix resourceVersions are etcd revisions: compare numerically when both are numbers. */
function isOlder(candidate: KubeObject, current: KubeObject): boolean {
  const a = candidate.metadata.resourceVersion;
  const b = current.metadata.resourceVersion;
  if (!a || !b || !/^\d+$/.test(a) || !/^\d+$/.test(b)) return false;
  return BigInt(a) < BigInt(b);
}

export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value as Record<string, unknown>)) deepFreeze(v);
  }
  return value;
}
