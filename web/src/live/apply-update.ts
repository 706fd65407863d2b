/**
 * Pure list maintenance for watch streams (after Headlamp's KubeList.applyUpdate): objects
 * are matched by uid, and an event older than what the list already holds is skipped, so a
 * replayed or reordered event can never move the view backwards.
 */
import type { KubeObject, WatchEvent } from '../../../api-types/meta.js';

/** Identity of an object in a list: its uid (namespace/name only for objects without one). */
export function identityOf(obj: KubeObject): string {
  return obj.metadata.uid ?? `${obj.metadata.namespace ?? ''}/${obj.metadata.name ?? ''}`;
}

/**
 * Whether resourceVersion `incoming` is newer than `current`. Quantix resourceVersions are
 * etcd revisions (decimal integers) and compare numerically; anything else is treated as
 * opaque (Kubernetes allows that), where only arrival order is known, so it counts as newer.
 */
export function isNewerVersion(incoming: string | undefined, current: string | undefined): boolean {
  if (!incoming || !current) return true;
  if (!/^\d+$/.test(incoming) || !/^\d+$/.test(current)) return incoming !== current;
  return BigInt(incoming) > BigInt(current);
}

/**
 * The list after one watch event. Returns the same array when nothing changed (stale or
 * duplicate event, BOOKMARK, ERROR, delete of an unknown object), so React can skip work.
 */
export function applyUpdate<T extends KubeObject>(list: readonly T[], event: WatchEvent<T>): readonly T[] {
  if (event.type !== 'ADDED' && event.type !== 'MODIFIED' && event.type !== 'DELETED') return list;
  const id = identityOf(event.object);
  const index = list.findIndex((item) => identityOf(item) === id);
  if (index < 0) return event.type === 'DELETED' ? list : [...list, event.object];
  const current = list[index]!;
  if (event.type === 'DELETED') {
    // A delete carries the object's last version; one older than ours was overtaken already.
    if (!isNewerOrSame(event.object.metadata.resourceVersion, current.metadata.resourceVersion)) return list;
    return [...list.slice(0, index), ...list.slice(index + 1)];
  }
  if (!isNewerVersion(event.object.metadata.resourceVersion, current.metadata.resourceVersion)) return list;
  const next = list.slice();
  next[index] = event.object;
  return next;
}

function isNewerOrSame(incoming: string | undefined, current: string | undefined): boolean {
  return incoming === current || isNewerVersion(incoming, current);
}

/**
 * The list after a relist: the fresh items, keeping the previous object (same reference)
 * wherever uid and resourceVersion are unchanged, so rows that did not change do not re-render.
 * Objects missing from `fresh` are dropped (their deletes happened while we were not watching).
 */
export function replaceList<T extends KubeObject>(previous: readonly T[], fresh: readonly T[]): readonly T[] {
  if (previous.length === 0) return fresh;
  const old = new Map(previous.map((item) => [identityOf(item), item]));
  return fresh.map((item) => {
    const before = old.get(identityOf(item));
    return before && before.metadata.resourceVersion === item.metadata.resourceVersion ? before : item;
  });
}
