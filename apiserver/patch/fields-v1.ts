/**
 * Questions answered on encoded `fieldsV1` objects directly, without decoding them into a
 * {@link FieldSet}: a write usually touches a few fields, so most managers' entries can be
 * checked against what changed and kept as they are.
 *
 * They assume {@link isCanonicalFieldsV1}: the exact form `FieldSet.toFieldsV1` produces,
 * where every node is an object, a node is a member when it is `{}` or holds `.`, and
 * decoding then re-encoding gives the same JSON text.
 */
import { compareElements, isPathElement, type FieldSet } from './field-set.js';
import { hasOwn, isObject, type JsonObject } from './json.js';

/**
 * Whether `fields` is exactly what `FieldSet.fromFieldsV1(fields).toFieldsV1()` returns:
 * a non-empty object whose keys at every level are `.` (first, `{}`, only beside other
 * keys) followed by `f:`/`k:`/`v:`/`i:` elements in FieldsV1 order, each mapping to such a node.
 */
export function isCanonicalFieldsV1(fields: unknown): fields is JsonObject {
  return isObject(fields) && Object.keys(fields).length > 0 && isCanonicalNode(fields);
}

function isCanonicalNode(node: JsonObject): boolean {
  const keys = Object.keys(node);
  let previous: string | undefined;
  for (let index = 0; index < keys.length; index++) {
    const key = keys[index]!;
    const value = node[key];
    if (!isObject(value)) return false;
    if (key === '.') {
      // `.` carries nothing and only marks a member that also has children.
      if (index !== 0 || keys.length === 1 || Object.keys(value).length > 0) return false;
      continue;
    }
    if (!isPathElement(key)) return false;
    if (previous !== undefined && compareElements(previous, key) >= 0) return false;
    previous = key;
    if (!isCanonicalNode(value)) return false;
  }
  return true;
}

/** Whether the encoded node is itself a member: a leaf `{}` or a node holding `.`. */
function isMemberNode(node: JsonObject): boolean {
  return hasOwn(node, '.') || Object.keys(node).length === 0;
}

/** The encoded child of `node` below `element`, if any. */
function childNode(node: JsonObject, element: string): JsonObject | undefined {
  return hasOwn(node, element) ? (node[element] as JsonObject) : undefined;
}

/** Whether some path is a member of both the canonical `fields` and `set` (the root aside). */
export function sharesMember(fields: JsonObject, set: FieldSet): boolean {
  for (const [element, child] of set.childEntries()) {
    const node = childNode(fields, element);
    if (!node) continue;
    if (child.isMember && isMemberNode(node)) return true;
    if (child.hasChildren && sharesMember(node, child)) return true;
  }
  return false;
}

/** Whether every member of `set` (the root aside) is a member of the canonical `fields`. */
export function coversMembers(fields: JsonObject, set: FieldSet): boolean {
  for (const [element, child] of set.childEntries()) {
    const node = childNode(fields, element);
    if (!node) return false; // a FieldSet child always holds some member
    if (child.isMember && !isMemberNode(node)) return false;
    if (child.hasChildren && !coversMembers(node, child)) return false;
  }
  return true;
}

/**
 * The canonical `fields` without the members of `set`, still canonical (what decoding,
 * taking the difference and re-encoding gives); undefined when nothing is left.
 * What `set` does not reach is shared with `fields` (FieldsV1 objects are never changed in place).
 */
export function withoutMembers(fields: JsonObject, set: FieldSet): JsonObject | undefined {
  const member = isMemberNode(fields) && !set.isMember;
  const node: JsonObject = member ? { '.': {} } : {};
  let hasChildren = false;
  for (const key of Object.keys(fields)) {
    if (key === '.') continue;
    const below = set.child(key);
    const rest = below ? withoutMembers(fields[key] as JsonObject, below) : fields[key];
    if (rest === undefined) continue;
    node[key] = rest;
    hasChildren = true;
  }
  if (hasChildren) return node;
  return member ? {} : undefined;
}
