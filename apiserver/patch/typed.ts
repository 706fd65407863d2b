/**
 * Walks over values under a structural schema: the field set a value defines, and the
 * comparison of two values. These follow sigs.k8s.io/structured-merge-diff (the library
 * behind Kubernetes' managedFields), so ownership looks the same as on a real cluster.
 */
import { compareElements, FieldSet, formatPath, type FieldPath, type PathElement } from './field-set.js';
import { deepEqual, isObject, type JsonObject } from './json.js';
import { fieldSchema, InvalidListError, shapeOf, type Shape, type StructuralSchema } from './schema.js';

/** A child of a map or keyed list: its path element, value, schema and whether it is a named field. */
interface Child {
  element: PathElement;
  value: unknown;
  schema: StructuralSchema | undefined;
  declared: boolean;
  isItem: boolean;
}

/** Each child of a map or keyed list (an array: these walks are hot, generators are not cheap). */
function childrenOf(shape: Shape, schema: StructuralSchema | undefined, value: unknown): Child[] {
  const children: Child[] = [];
  if (shape.kind === 'map' && isObject(value)) {
    for (const key of Object.keys(value)) {
      const field = fieldSchema(schema, key);
      children.push({ element: `f:${key}`, value: value[key], schema: field.schema, declared: field.declared, isItem: false });
    }
  } else if (shape.kind === 'list') {
    for (const item of shape.items) children.push({ element: item.element, value: item.value, schema: schema?.items, declared: false, isItem: true });
  }
  return children;
}

function byElementOf(children: Child[]): Map<PathElement, Child> {
  const byElement = new Map<PathElement, Child>();
  for (const child of children) byElement.set(child.element, child);
  return byElement;
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
  const changes: Changes = { added: [], modified: [], removed: [] };
  compareInto(changes, before, after, schema, []);
  return { added: FieldSet.of(changes.added), modified: FieldSet.of(changes.modified), removed: FieldSet.of(changes.removed) };
}

/** The paths {@link compareValues} collects (module-level walks: this is hot, closures are not free). */
interface Changes {
  added: FieldPath[];
  modified: FieldPath[];
  removed: FieldPath[];
}

function compareInto(changes: Changes, a: unknown, b: unknown, s: StructuralSchema | undefined, path: FieldPath): void {
  // An unchanged value has no added, modified or removed fields: skip shaping it (keying
  // a list-map's items is not free) and building its children (most of an update leaves
  // most of the object as it was).
  if (deepEqual(a, b)) return;
  const sa = shapeOf(s, a, false);
  const sb = shapeOf(s, b, false);
  if (sa.kind === 'leaf' && sb.kind === 'leaf') {
    if (path.length > 0) changes.modified.push(path);
    return;
  }
  if (sa.kind !== sb.kind) {
    if (path.length > 0) changes.modified.push(path);
    for (const child of childrenOf(sa, s, a)) everyPathInto(changes.removed, child.value, child.schema, [...path, child.element]);
    for (const child of childrenOf(sb, s, b)) everyPathInto(changes.added, child.value, child.schema, [...path, child.element]);
    return;
  }
  const before = byElementOf(childrenOf(sa, s, a));
  const after = byElementOf(childrenOf(sb, s, b));
  for (const [element, child] of before) {
    const other = after.get(element);
    if (other) compareInto(changes, child.value, other.value, child.schema, [...path, element]);
    else everyPathInto(changes.removed, child.value, child.schema, [...path, element]);
  }
  for (const [element, child] of after) {
    if (!before.has(element)) everyPathInto(changes.added, child.value, child.schema, [...path, element]);
  }
}

/** `path` and every path below it in `v`, containers included. */
function everyPathInto(into: FieldPath[], v: unknown, s: StructuralSchema | undefined, path: FieldPath): void {
  if (path.length > 0) into.push(path);
  for (const child of childrenOf(shapeOf(s, v, false), s, v)) everyPathInto(into, child.value, child.schema, [...path, child.element]);
}

/**
 * The FieldsV1 of every path below `value`: what {@link compareValues} reports as added
 * when `value` appears where there was nothing, encoded as `FieldSet.toFieldsV1` would,
 * but in one walk without paths or a FieldSet (a create records exactly this).
 * The root is never a member; the root children named in `containersOnly` are not either.
 */
export function fieldsV1OfEveryPath(value: unknown, schema: StructuralSchema | undefined, containersOnly: readonly PathElement[] = []): JsonObject {
  const fields: JsonObject = {};
  for (const child of sortedChildren(value, schema)) {
    const node = everyPathNode(child.value, child.schema, !containersOnly.includes(child.element));
    if (node) fields[child.element] = node;
  }
  return fields;
}

/** One node of {@link fieldsV1OfEveryPath}: a member owns `.` when it has children; a bare container with none is absent. */
function everyPathNode(value: unknown, schema: StructuralSchema | undefined, member: boolean): JsonObject | undefined {
  const children = sortedChildren(value, schema);
  if (children.length === 0) return member ? {} : undefined;
  const node: JsonObject = member ? { '.': {} } : {};
  for (const child of children) node[child.element] = everyPathNode(child.value, child.schema, true);
  return node;
}

function sortedChildren(value: unknown, schema: StructuralSchema | undefined): Child[] {
  return childrenOf(shapeOf(schema, value, false), schema, value).sort(byElement);
}

function byElement(a: Child, b: Child): number {
  return compareElements(a.element, b.element);
}
