/**
 * Small helpers for plain JSON values (what `JSON.parse` returns), shared by the patch
 * modules. Everything here is pure; nothing mutates its arguments.
 *
 * Keys are always read and written as *own* properties, so a document key such as
 * `__proto__` or `constructor` is data like any other and can never reach a prototype.
 */

/** A parsed JSON object. */
export type JsonObject = { [key: string]: unknown };

/** True for a plain JSON object (not null, not an array). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `obj[key]` if `key` is an own property, else undefined. */
export function getOwn(obj: JsonObject, key: string): unknown {
  return Object.hasOwn(obj, key) ? obj[key] : undefined;
}

/** Whether `key` is an own property of `obj`. */
export function hasOwn(obj: JsonObject, key: string): boolean {
  return Object.hasOwn(obj, key);
}

/** Sets an own, enumerable property (safe for `__proto__`). Mutates `obj`: use on fresh copies. */
export function setOwn(obj: JsonObject, key: string, value: unknown): void {
  if (key === '__proto__') {
    Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
  } else {
    obj[key] = value;
  }
}

/** A deep copy of a JSON value. */
export function clone<T>(value: T): T {
  if (typeof value !== 'object' || value === null) return value;
  if (Array.isArray(value)) {
    const out: unknown[] = [];
    for (const item of value) out.push(clone(item));
    return out as T;
  }
  const source = value as JsonObject;
  const out: JsonObject = {};
  for (const key of Object.keys(source)) {
    if (key === '__proto__') setOwn(out, key, clone(source[key]));
    else out[key] = clone(source[key]);
  }
  return out as T;
}

/** JSON equality: objects compare key by key regardless of order, arrays element by element. */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    return Array.isArray(b) && a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    if (keys.length !== Object.keys(b).length) return false;
    return keys.every((k) => hasOwn(b, k) && deepEqual(a[k], b[k]));
  }
  return false;
}

/** JSON text with object keys sorted at every level: equal values give equal strings. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (isObject(value)) {
    const keys = Object.keys(value).sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(value[k])}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
