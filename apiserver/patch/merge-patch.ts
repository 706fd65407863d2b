/**
 * RFC 7386 JSON Merge Patch (`application/merge-patch+json`).
 *
 * A patch object is merged into the target key by key; `null` deletes a key; any
 * non-object patch (including an array) replaces the target wholesale. Inputs are never
 * mutated. `applyMergePatch`'s result shares no structure with either of them;
 * `applyMergePatchSharing`'s shares what the patch does not reach.
 */
import { clone, getOwn, isObject, setOwn, type JsonObject } from './json.js';

/** Applies `patch` to `target` per RFC 7386 and returns the new document. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  return mergeInto(clone(target), patch);
}

/** Merges `patch` into `target`, which the caller owns (a fresh copy) and may be reused. */
function mergeInto(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return clone(patch);
  const out: JsonObject = isObject(target) ? target : {};
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete out[key];
    else setOwn(out, key, mergeInto(getOwn(out, key), value));
  }
  return out;
}

/**
 * {@link applyMergePatch} without copying what the patch leaves alone: only the objects on
 * the patch's paths are copied (shallowly), every other subtree of the result is `target`'s
 * own, and values taken from `patch` are `patch`'s own. Neither input is mutated. For callers
 * that treat the result as read-only or copy it before changing it (the apiserver's PATCH,
 * whose update strategy rebuilds the object) — a write to a shared subtree would change
 * `target`.
 */
export function applyMergePatchSharing(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: JsonObject = {};
  if (isObject(target)) for (const key of Object.keys(target)) setOwn(out, key, target[key]);
  for (const key of Object.keys(patch)) {
    const value = patch[key];
    if (value === null) delete out[key];
    else setOwn(out, key, applyMergePatchSharing(getOwn(out, key), value));
  }
  return out;
}
