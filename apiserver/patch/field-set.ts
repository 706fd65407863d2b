/**
 * Sets of field paths, the currency of managedFields, encoded as Kubernetes' `FieldsV1`.
 *
 * A path is a list of path elements, each already in its FieldsV1 spelling:
 * - `f:<name>`  a field of an object (`f:spec`, `f:cpu`, a label key `f:app`)
 * - `k:<json>`  an item of a list-map, by its key fields (`k:{"name":"root"}`, keys sorted)
 * - `v:<json>`  an item of a set-list, by value (`v:"foo"`)
 * - `i:<n>`     an item by index (decoded for completeness; Quantix never produces it)
 *
 * The set is a tree: a node may be a *member* (the path itself is in the set) and may have
 * children. In FieldsV1 a member leaf is `{}` and a member with children carries `".": {}`.
 */
import { isObject, type JsonObject } from './json.js';

/** One path element in FieldsV1 spelling, e.g. `f:spec` or `k:{"name":"root"}`. */
export type PathElement = string;
/** A field path from the object root. */
export type FieldPath = readonly PathElement[];

/** The order of path elements in FieldsV1: fields, keys, values, indexes, each sorted as strings. */
export function compareElements(a: PathElement, b: PathElement): number {
  const aKind = a.charCodeAt(0);
  const bKind = b.charCodeAt(0);
  if (aKind !== bKind) {
    const byKind = kindRank(aKind) - kindRank(bKind);
    if (byKind !== 0) return byKind;
  }
  return a < b ? -1 : a > b ? 1 : 0;
}

const FIELD = 'f'.charCodeAt(0);
const KEY = 'k'.charCodeAt(0);
const VALUE = 'v'.charCodeAt(0);
const INDEX = 'i'.charCodeAt(0);

/** The rank of an element's kind, by the code of its first character: f, k, v, i, then anything else. */
function kindRank(code: number): number {
  switch (code) {
    case FIELD:
      return 0;
    case KEY:
      return 1;
    case VALUE:
      return 2;
    case INDEX:
      return 3;
    default:
      return 9;
  }
}

/** Whether `key` is spelled as a path element: `f:`, `k:`, `v:` or `i:` and the rest. */
export function isPathElement(key: string): boolean {
  const kind = key[0];
  return key[1] === ':' && (kind === 'f' || kind === 'k' || kind === 'v' || kind === 'i');
}

function isEmptyObject(value: JsonObject): boolean {
  for (const key in value) if (Object.hasOwn(value, key)) return false;
  return true;
}

/** A {@link FieldSet} node while {@link FieldSet.of} builds it. */
interface SetBuilder {
  member: boolean;
  children: Map<PathElement, SetBuilder>;
}

/** An immutable set of field paths. */
export class FieldSet {
  private constructor(
    /** Whether the path leading to this node is itself in the set. */
    private readonly member: boolean,
    private readonly children: ReadonlyMap<PathElement, FieldSet>,
  ) {}

  static readonly EMPTY = new FieldSet(false, new Map());

  /** A set holding exactly the given paths. */
  static of(paths: Iterable<FieldPath>): FieldSet {
    const root: SetBuilder = { member: false, children: new Map() };
    for (const path of paths) {
      if (path.length === 0) continue;
      let node = root;
      for (const element of path) {
        let next = node.children.get(element);
        if (!next) node.children.set(element, (next = { member: false, children: new Map() }));
        node = next;
      }
      node.member = true;
    }
    return root.children.size === 0 ? FieldSet.EMPTY : FieldSet.frozen(root);
  }

  private static frozen(builder: SetBuilder): FieldSet {
    const children = new Map<PathElement, FieldSet>();
    for (const [element, child] of builder.children) children.set(element, FieldSet.frozen(child));
    return new FieldSet(builder.member, children);
  }

  private static single(path: FieldPath): FieldSet {
    let node = new FieldSet(true, new Map());
    for (let i = path.length - 1; i >= 0; i--) node = new FieldSet(false, new Map([[path[i]!, node]]));
    return node;
  }

  /**
   * Decodes a `fieldsV1` object. Throws on anything that is not FieldsV1 (a non-object
   * node, or a key that is neither `.` nor a `f:`/`k:`/`v:`/`i:` element).
   */
  static fromFieldsV1(fields: unknown): FieldSet {
    if (!isObject(fields)) throw new Error('fieldsV1 must be an object');
    return FieldSet.decode(fields, false, []);
  }

  /** `at` is the path down to `node`, only formatted for an error (decoding is hot, errors are rare). */
  private static decode(node: JsonObject, member: boolean, at: PathElement[]): FieldSet {
    const children = new Map<PathElement, FieldSet>();
    let isMember = member;
    for (const key of Object.keys(node)) {
      const value = node[key];
      if (!isObject(value)) throw new Error(`fieldsV1${formatPath(at)}: ${JSON.stringify(key)} must map to an object`);
      if (key === '.') {
        isMember = true;
        continue;
      }
      if (!isPathElement(key)) throw new Error(`fieldsV1${formatPath(at)}: invalid path element ${JSON.stringify(key)}`);
      at.push(key);
      const child = FieldSet.decode(value, isEmptyObject(value), at);
      at.pop();
      if (!child.isEmpty()) children.set(key, child);
    }
    return new FieldSet(isMember, children);
  }

  /** The `fieldsV1` encoding: `.` first, then children sorted (fields, keys, values, indexes). */
  toFieldsV1(): JsonObject {
    const out: JsonObject = {};
    if (this.member && this.children.size > 0) out['.'] = {};
    for (const key of [...this.children.keys()].sort(compareElements)) {
      out[key] = this.children.get(key)!.toFieldsV1(); // keys are "f:…"/"k:…"/…, never "__proto__"
    }
    return out;
  }

  isEmpty(): boolean {
    return !this.member && this.children.size === 0;
  }

  /** Whether `path` itself is a member. */
  has(path: FieldPath): boolean {
    const node = this.at(path);
    return node?.member ?? false;
  }

  /** The subtree below `path` (its members are relative to `path`), if any. */
  at(path: FieldPath): FieldSet | undefined {
    let node: FieldSet | undefined = this;
    for (const element of path) {
      node = node.children.get(element);
      if (!node) return undefined;
    }
    return node;
  }

  /** Whether this node's own path is a member. */
  get isMember(): boolean {
    return this.member;
  }

  /** The child below one path element. */
  child(element: PathElement): FieldSet | undefined {
    return this.children.get(element);
  }

  /** Whether any path strictly below this node is a member. */
  get hasChildren(): boolean {
    return this.children.size > 0;
  }

  /** The children, each by its path element (unordered). */
  childEntries(): Iterable<[PathElement, FieldSet]> {
    return this.children;
  }

  union(other: FieldSet): FieldSet {
    if (other.isEmpty()) return this;
    if (this.isEmpty()) return other;
    const children = new Map(this.children);
    for (const [key, child] of other.children) {
      const mine = children.get(key);
      children.set(key, mine ? mine.union(child) : child);
    }
    return new FieldSet(this.member || other.member, children);
  }

  intersection(other: FieldSet): FieldSet {
    const children = new Map<PathElement, FieldSet>();
    for (const [key, child] of this.children) {
      const theirs = other.children.get(key);
      if (!theirs) continue;
      const both = child.intersection(theirs);
      if (!both.isEmpty()) children.set(key, both);
    }
    return new FieldSet(this.member && other.member, children);
  }

  difference(other: FieldSet): FieldSet {
    if (other.isEmpty() || this.isEmpty()) return this;
    const children = new Map<PathElement, FieldSet>();
    for (const [key, child] of this.children) {
      const theirs = other.children.get(key);
      const rest = theirs ? child.difference(theirs) : child;
      if (!rest.isEmpty()) children.set(key, rest);
    }
    return new FieldSet(this.member && !other.member, children);
  }

  /** This set without the membership of `path` itself (paths below it are kept). */
  withoutMember(path: FieldPath): FieldSet {
    if (!this.has(path)) return this; // the common case, and then nothing changes
    return this.difference(FieldSet.single(path));
  }

  /** Every member path, depth first in FieldsV1 order. */
  paths(): FieldPath[] {
    const out: FieldPath[] = [];
    const walk = (node: FieldSet, prefix: PathElement[]) => {
      if (node.member && prefix.length > 0) out.push(prefix);
      for (const key of [...node.children.keys()].sort(compareElements)) walk(node.children.get(key)!, [...prefix, key]);
    };
    walk(this, []);
    return out;
  }

  equals(other: FieldSet): boolean {
    return this.difference(other).isEmpty() && other.difference(this).isEmpty();
  }
}

/** A path element in the Kubernetes text form: `.cpu`, `[name="root"]`, `[="foo"]`, `[3]`. */
export function formatElement(element: PathElement): string {
  const body = element.slice(2);
  switch (element[0]) {
    case 'f':
      return `.${body}`;
    case 'k': {
      try {
        const key = JSON.parse(body) as JsonObject;
        return `[${Object.keys(key)
          .map((k) => `${k}=${JSON.stringify(key[k])}`)
          .join(',')}]`;
      } catch {
        return `[${body}]`;
      }
    }
    case 'v':
      return `[=${body}]`;
    case 'i':
      return `[${body}]`;
    default:
      return element;
  }
}

/** A field path in the Kubernetes text form, as in conflict messages: `.spec.disks[name="root"].size`. */
export function formatPath(path: FieldPath): string {
  return path.map(formatElement).join('');
}
