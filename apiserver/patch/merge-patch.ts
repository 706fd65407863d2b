/**
 * RFC 7386 JSON Merge Patch (`application/merge-patch+json`).
 *
 * A patch object is merged into the target key by key; `null` deletes a key; any
 * non-object patch (including an array) replaces the target wholesale. Inputs are never
 * mutated and the result shares no structure with either of them.
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
