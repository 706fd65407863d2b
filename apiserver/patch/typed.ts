/**
 * Walks over values under a structural schema: the field set a value defines, and the
 * comparison of two values. These follow sigs.k8s.io/structured-merge-diff (the library
 * behind Kubernetes' managedFields), so ownership looks the same as on a real cluster.
 */
import { FieldSet, formatPath, type FieldPath } from './field-set.js';
import { deepEqual, isObject } from './json.js';
import { fieldSchema, InvalidListError, shapeOf, type Shape, type StructuralSchema } from './schema.js';

/** Each child of a map or keyed list, with its path element, value, schema and whether it is a named field. */
function* childrenOf(shape: Shape, schema: StructuralSchema | undefined, value: unknown) {
  if (shape.kind === 'map' && isObject(value)) {
    for (const key of Object.keys(value)) {
      const field = fieldSchema(schema, key);
      yield { element: `f:${key}`, value: value[key], schema: field.schema, declared: field.declared, isItem: false };
    }
  } else if (shape.kind === 'list') {
    for (const item of shape.items) yield { element: item.element, value: item.value, schema: schema?.items, declared: false, isItem: true };
  }
}

function shapeAt(schema: StructuralSchema | undefined, value: unknown, strict: boolean, path: FieldPath): Shape {
  try {
    return shapeOf(schema, value, strict);
  } catch (err) {
    if (err instanceof InvalidListError) throw new InvalidListError(`${formatPath(path) || '<root>'}: ${err.reason}`);
    throw err;
  }
}

/**
 * The set of fields `value` sets: every scalar, atomic list and atomic map; every list-map
 * and set item (so an item is owned as a whole, `.`, as well as field by field); every key
 * of a map that is not a named property (labels, `additionalProperties` maps, unknown
 * fields); and empty objects and nulls. Named object fields holding a non-empty object are
 * not members themselves, only their contents. `strict` makes unkeyable lists an error.
 */
export function fieldSetOfValue(value: unknown, schema: StructuralSchema | undefined, strict = false): FieldSet {
  const paths: FieldPath[] = [];
  const visit = (v: unknown, s: StructuralSchema | undefined, path: FieldPath) => {
    const shape = shapeAt(s, v, strict, path);
    if (shape.kind === 'leaf') {
      if (path.length > 0) paths.push(path);
      return;
    }
    for (const child of childrenOf(shape, s, v)) {
      const childPath = [...path, child.element];
      visit(child.value, child.schema, childPath);
      const emptyMap = isObject(child.value) && Object.keys(child.value).length === 0;
      if (child.isItem || !child.declared || child.value === null || emptyMap) paths.push(childPath);
    }
  };
  visit(value, schema, []);
  return FieldSet.of(paths);
}

/** What changed between two values, as field sets. */
export interface Comparison {
  /** Paths present only in the new value (containers included, so a new object is owned as `.`). */
  added: FieldSet;
  /** Leaves present in both whose value differs. */
  modified: FieldSet;
  /** Paths present only in the old value. */
  removed: FieldSet;
}

/**
 * Compares `before` and `after` under `schema`: leaves that changed value are modified;
 * every path (leaf or container) that appeared is added, every one that vanished removed.
 * A container that changed shape (an object that became a string) is modified, its old
 * contents removed and its new contents added.
 */
export function compareValues(before: unknown, after: unknown, schema: StructuralSchema | undefined): Comparison {
  const added: FieldPath[] = [];
  const modified: FieldPath[] = [];
  const removed: FieldPath[] = [];

  const all = (v: unknown, s: StructuralSchema | undefined, path: FieldPath, into: FieldPath[]) => {
    if (path.length > 0) into.push(path);
    const shape = shapeOf(s, v, false);
    for (const child of childrenOf(shape, s, v)) all(child.value, child.schema, [...path, child.element], into);
  };

  const visit = (a: unknown, b: unknown, s: StructuralSchema | undefined, path: FieldPath) => {
    const sa = shapeOf(s, a, false);
    const sb = shapeOf(s, b, false);
    if (sa.kind === 'leaf' && sb.kind === 'leaf') {
      if (!deepEqual(a, b) && path.length > 0) modified.push(path);
      return;
    }
    // An unchanged subtree has no added, modified or removed fields: skip building its
    // children (most of an update leaves most of the object as it was).
    if (sa.kind === sb.kind && deepEqual(a, b)) return;
    if (sa.kind !== sb.kind) {
      if (path.length > 0) modified.push(path);
      for (const child of childrenOf(sa, s, a)) all(child.value, child.schema, [...path, child.element], removed);
      for (const child of childrenOf(sb, s, b)) all(child.value, child.schema, [...path, child.element], added);
      return;
    }
    const before = new Map([...childrenOf(sa, s, a)].map((c) => [c.element, c]));
    const after = new Map([...childrenOf(sb, s, b)].map((c) => [c.element, c]));
    for (const [element, child] of before) {
      const other = after.get(element);
      if (other) visit(child.value, other.value, child.schema, [...path, element]);
      else all(child.value, child.schema, [...path, element], removed);
    }
    for (const [element, child] of after) {
      if (!before.has(element)) all(child.value, child.schema, [...path, element], added);
    }
  };

  visit(before, after, schema, []);
  return { added: FieldSet.of(added), modified: FieldSet.of(modified), removed: FieldSet.of(removed) };
}
