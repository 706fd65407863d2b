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

const ELEMENT_ORDER: Record<string, number> = { f: 0, k: 1, v: 2, i: 3 };

function compareElements(a: PathElement, b: PathElement): number {
  const byKind = (ELEMENT_ORDER[a[0]!] ?? 9) - (ELEMENT_ORDER[b[0]!] ?? 9);
  if (byKind !== 0) return byKind;
  return a < b ? -1 : a > b ? 1 : 0;
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
    type Builder = { member: boolean; children: Map<PathElement, Builder> };
    const root: Builder = { member: false, children: new Map() };
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
    const freeze = (b: Builder): FieldSet =>
      new FieldSet(b.member, new Map([...b.children].map(([key, child]) => [key, freeze(child)])));
    return freeze(root);
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
    return FieldSet.decode(fields, false, '');
  }

  private static decode(node: JsonObject, member: boolean, at: string): FieldSet {
    const children = new Map<PathElement, FieldSet>();
    let isMember = member;
    for (const [key, value] of Object.entries(node)) {
      if (!isObject(value)) throw new Error(`fieldsV1${at}: ${JSON.stringify(key)} must map to an object`);
      if (key === '.') {
        isMember = true;
        continue;
      }
      if (!/^[fkvi]:/.test(key)) throw new Error(`fieldsV1${at}: invalid path element ${JSON.stringify(key)}`);
      const child = FieldSet.decode(value, Object.keys(value).length === 0, `${at}${formatElement(key)}`);
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
    return node !== undefined && node.member;
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
    if (other.isEmpty()) return this;
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
        return `[${Object.keys(key).map((k) => `${k}=${JSON.stringify(key[k])}`).join(',')}]`;
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
