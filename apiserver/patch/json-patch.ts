/**
 * RFC 6902 JSON Patch (`application/json-patch+json`) over RFC 6901 JSON pointers.
 *
 * Operations apply in order to a private copy of the document, so the input is never
 * mutated and a failing patch leaves nothing half-applied. Every failure is a
 * {@link PatchError} naming the operation's index (0-based, as in the patch array), its
 * op and path: `operation 2 (replace /spec/cpu): path does not exist`.
 */
import { clone, deepEqual, hasOwn, isObject, setOwn } from './json.js';

/** One JSON Patch operation, as the client sends it. */
export type JsonPatchOperation =
  | { op: 'add'; path: string; value: unknown }
  | { op: 'remove'; path: string }
  | { op: 'replace'; path: string; value: unknown }
  | { op: 'move'; from: string; path: string }
  | { op: 'copy'; from: string; path: string }
  | { op: 'test'; path: string; value: unknown };

/** Kubernetes' limit on operations in one JSON patch (`maxJSONPatchOperations`). */
export const DEFAULT_MAX_OPERATIONS = 10_000;

export interface JsonPatchOptions {
  /** Reject patches with more operations than this (default {@link DEFAULT_MAX_OPERATIONS}). */
  maxOperations?: number;
}

/** A patch that is malformed or does not apply; the apiserver answers it with a 422 (or 400). */
export class PatchError extends Error {
  constructor(
    /** What went wrong, without the operation context. */
    readonly reason: string,
    /** 0-based index of the failing operation, when the failure is inside one. */
    readonly index?: number,
    readonly op?: string,
    readonly path?: string,
  ) {
    super(index === undefined ? reason : `${describeOperation(index, op, path)}: ${reason}`);
    this.name = 'PatchError';
  }
}

function describeOperation(index: number, op?: string, path?: string): string {
  if (op === undefined) return `operation ${index}`;
  return path === undefined ? `operation ${index} (${op})` : `operation ${index} (${op} ${path})`;
}

/** Parses a JSON pointer into its unescaped reference tokens (`~1` → `/`, `~0` → `~`). */
export function parsePointer(pointer: string): string[] {
  if (pointer === '') return [];
  if (!pointer.startsWith('/')) throw new Error(`invalid JSON pointer ${JSON.stringify(pointer)}: must be empty or start with "/"`);
  if (/~(?![01])/.test(pointer)) throw new Error(`invalid JSON pointer ${JSON.stringify(pointer)}: "~" must be followed by 0 or 1`);
  return pointer
    .slice(1)
    .split('/')
    .map((t) => t.replace(/~1/g, '/').replace(/~0/g, '~'));
}

/** Builds a JSON pointer from reference tokens, escaping `~` and `/`. */
export function formatPointer(tokens: readonly string[]): string {
  return tokens.map((t) => `/${t.replace(/~/g, '~0').replace(/\//g, '~1')}`).join('');
}

/** Applies `patch` (the parsed request body) to `document` and returns the patched copy. */
export function applyJsonPatch(document: unknown, patch: unknown, options: JsonPatchOptions = {}): unknown {
  if (!Array.isArray(patch)) throw new PatchError('a JSON patch must be an array of operations');
  const max = options.maxOperations ?? DEFAULT_MAX_OPERATIONS;
  if (patch.length > max) throw new PatchError(`the patch has ${patch.length} operations, more than the limit of ${max}`);
  let doc = clone(document);
  patch.forEach((operation: unknown, index) => {
    doc = applyOperation(doc, operation, index);
  });
  return doc;
}

/** Failure inside one operation; rethrown by applyOperation with the operation's context. */
class OpFailure extends Error {}

function applyOperation(doc: unknown, operation: unknown, index: number): unknown {
  if (!isObject(operation)) throw new PatchError('an operation must be a JSON object', index);
  const { op, path } = operation;
  if (typeof op !== 'string') throw new PatchError('missing "op"', index);
  if (typeof path !== 'string') throw new PatchError('missing "path"', index, op);
  const fail = (reason: string) => new PatchError(reason, index, op, path);
  try {
    const tokens = pointer(path, 'path');
    const value = () => {
      if (!hasOwn(operation, 'value')) throw new OpFailure('missing "value"');
      return clone(operation.value);
    };
    const from = () => {
      if (typeof operation.from !== 'string') throw new OpFailure('missing "from"');
      return pointer(operation.from, 'from');
    };
    switch (op) {
      case 'add':
        return add(doc, tokens, value());
      case 'remove':
        return remove(doc, tokens);
      case 'replace':
        return replace(doc, tokens, value());
      case 'move': {
        const source = from();
        const moved = get(doc, source, 'from');
        if (source.length < tokens.length && source.every((t, i) => t === tokens[i])) {
          throw new OpFailure('cannot move a value into one of its own children');
        }
        if (source.length === tokens.length && source.every((t, i) => t === tokens[i])) return doc;
        return add(remove(doc, source, 'from'), tokens, moved);
      }
      case 'copy':
        return add(doc, tokens, clone(get(doc, from(), 'from')));
      case 'test': {
        const expected = value();
        const actual = get(doc, tokens);
        if (!deepEqual(actual, expected)) throw new OpFailure(`test failed: found ${brief(actual)}, expected ${brief(expected)}`);
        return doc;
      }
      default:
        throw fail(`unknown operation ${JSON.stringify(op)} (expected add, remove, replace, move, copy or test)`);
    }
  } catch (err) {
    if (err instanceof OpFailure) throw fail(err.message);
    throw err;
  }
}

function pointer(text: string, what: 'path' | 'from'): string[] {
  try {
    return parsePointer(text);
  } catch (err) {
    throw new OpFailure(what === 'from' ? `"from": ${(err as Error).message}` : (err as Error).message);
  }
}

/** Short JSON rendering of a value for messages. */
function brief(value: unknown): string {
  const text = value === undefined ? 'nothing' : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function where(what: 'path' | 'from', tokens: readonly string[]): string {
  return what === 'path' ? 'path' : `from ${formatPointer(tokens)}`;
}

/** Parses an array index token for an existing element (or, with `allowEnd`, one past the end). */
function arrayIndex(arr: unknown[], token: string, allowEnd: boolean): number {
  if (token === '-') {
    if (allowEnd) return arr.length;
    throw new OpFailure('"-" (past the end of the array) does not name an existing element');
  }
  if (!/^(0|[1-9][0-9]*)$/.test(token)) throw new OpFailure(`invalid array index ${JSON.stringify(token)}`);
  const index = Number(token);
  const limit = allowEnd ? arr.length : arr.length - 1;
  if (index > limit) throw new OpFailure(`array index ${index} is out of bounds (length ${arr.length})`);
  return index;
}

/** The value at `tokens`, or an OpFailure naming what is missing. */
function get(doc: unknown, tokens: readonly string[], what: 'path' | 'from' = 'path'): unknown {
  let current = doc;
  for (const token of tokens) {
    if (Array.isArray(current)) {
      current = current[arrayIndex(current, token, false)];
    } else if (isObject(current) && hasOwn(current, token)) {
      current = current[token];
    } else {
      throw new OpFailure(`${where(what, tokens)} does not exist`);
    }
  }
  return current;
}

/** The container holding the last token of `tokens` (which must be non-empty). */
function parent(doc: unknown, tokens: readonly string[], what: 'path' | 'from'): unknown[] | Record<string, unknown> {
  const container = get(doc, tokens.slice(0, -1), what);
  if (Array.isArray(container) || isObject(container)) return container;
  throw new OpFailure(`parent ${formatPointer(tokens.slice(0, -1))} is not an object or array`);
}

function add(doc: unknown, tokens: readonly string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  let container: unknown[] | Record<string, unknown>;
  try {
    container = parent(doc, tokens, 'path');
  } catch (err) {
    if (err instanceof OpFailure && err.message.endsWith('does not exist')) {
      throw new OpFailure(`parent ${formatPointer(tokens.slice(0, -1))} does not exist`);
    }
    throw err;
  }
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(container)) container.splice(arrayIndex(container, last, true), 0, value);
  else setOwn(container, last, value);
  return doc;
}

function remove(doc: unknown, tokens: readonly string[], what: 'path' | 'from' = 'path'): unknown {
  if (tokens.length === 0) throw new OpFailure('cannot remove the whole document');
  const container = parent(doc, tokens, what);
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(container)) {
    container.splice(arrayIndex(container, last, false), 1);
  } else {
    if (!hasOwn(container, last)) throw new OpFailure(`${where(what, tokens)} does not exist`);
    delete container[last];
  }
  return doc;
}

function replace(doc: unknown, tokens: readonly string[], value: unknown): unknown {
  if (tokens.length === 0) return value;
  get(doc, tokens);
  const container = parent(doc, tokens, 'path');
  const last = tokens[tokens.length - 1]!;
  if (Array.isArray(container)) container[arrayIndex(container, last, false)] = value;
  else setOwn(container, last, value);
  return doc;
}
