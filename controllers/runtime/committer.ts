/**
 * The committer: turns "the object as it is" and "the object as it should be" into one
 * RFC 7386 merge patch holding only what changed — or nothing, so an unchanged
 * reconcile writes nothing (no hot loops).
 *
 * Merge patches replace arrays whole. A patch that replaces an array another writer may
 * also change (status.conditions: the agent writes some, controllers others) carries
 * `metadata.resourceVersion`, which makes the server apply it only to the version it was
 * computed from (409 Conflict otherwise; the reconcile is retried on fresh state).
 */
import { isDeepStrictEqual } from 'node:util';
import type { ApiClient } from './client.js';
import type { ResourceRef } from './resources.js';

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The merge patch turning `from` into `to`, or undefined when they are equal. */
export function mergePatch(from: unknown, to: unknown): Record<string, unknown> | undefined {
  if (!isPlainObject(from) || !isPlainObject(to)) throw new Error('mergePatch: both sides must be objects');
  const patch: Record<string, unknown> = {};
  for (const key of new Set([...Object.keys(from), ...Object.keys(to)])) {
    const a = from[key];
    const b = to[key];
    if (b === undefined) {
      if (a !== undefined) patch[key] = null;
      continue;
    }
    if (a === undefined) {
      patch[key] = b;
      continue;
    }
    if (isPlainObject(a) && isPlainObject(b)) {
      const sub = mergePatch(a, b);
      if (sub) patch[key] = sub;
      continue;
    }
    if (!isDeepStrictEqual(a, b)) patch[key] = b;
  }
  return Object.keys(patch).length ? patch : undefined;
}

function containsArray(v: unknown): boolean {
  if (Array.isArray(v)) return true;
  if (isPlainObject(v)) return Object.values(v).some(containsArray);
  return false;
}

/**
 * The /status merge patch from `oldStatus` to `newStatus`, or undefined when unchanged.
 * Guarded by `resourceVersion` when it replaces an array.
 */
export function statusPatch(
  obj: { metadata: { resourceVersion?: string } },
  oldStatus: object | undefined,
  newStatus: object | undefined,
): Record<string, unknown> | undefined {
  const diff = mergePatch({ status: oldStatus ?? {} }, { status: newStatus ?? {} });
  if (!diff) return undefined;
  if (containsArray(diff) && obj.metadata.resourceVersion) {
    return { metadata: { resourceVersion: obj.metadata.resourceVersion }, ...diff };
  }
  return diff;
}

/** Applies an RFC 7386 merge patch (for tests and the fake client). */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}

export type { Json };

/**
 * Writes `newStatus` through /status as a minimal merge patch; no request when nothing
 * changed. Returns the updated object, or undefined when nothing was written.
 */
export async function commitStatus<T extends { metadata: { name?: string; namespace?: string; resourceVersion?: string }; status?: object }>(
  client: ApiClient,
  r: ResourceRef,
  obj: T,
  newStatus: object | undefined,
): Promise<T | undefined> {
  const patch = statusPatch(obj, obj.status, newStatus);
  if (!patch) return undefined;
  return (await client.patch(r, obj.metadata.namespace, obj.metadata.name!, patch, { subresource: 'status' })) as unknown as T;
}
