/**
 * Label and field selectors with Kubernetes syntax and semantics
 * (k8s.io/apimachinery/pkg/labels and pkg/fields).
 *
 * Parsing is separate from matching so the API server can validate query parameters
 * up front: every parse function throws InvalidRequestError with a message that names
 * the offending part, and `field` set to 'labelSelector' or 'fieldSelector'.
 *
 * Label selectors: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x,y)`, `a` (exists),
 * `!a` (does not exist), comma-separated (AND). `!=` and `notin` match objects that lack
 * the label, as in Kubernetes.
 *
 * Field selectors: `field=value`, `field==value`, `field!=value`, comma-separated (AND);
 * `\,`, `\=`, `\!` and `\\` escape those characters in values. Only `metadata.name`,
 * `metadata.namespace` and the resource's `selectableFields` are accepted.
 */
import type { KubeObject } from '../../api-types/meta.js';
import { InvalidRequestError } from './errors.js';
import type { StorageResource } from './interface.js';

export type LabelOperator = '=' | '!=' | 'in' | 'notin' | 'exists' | '!';

export interface LabelRequirement {
  key: string;
  operator: LabelOperator;
  /** One value for = and !=, one or more for in / notin, none for exists / !. */
  values: string[];
}

export type FieldOperator = '=' | '!=';

export interface FieldRequirement {
  field: string;
  operator: FieldOperator;
  value: string;
}

const NAME_RE = /^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)$/;
const DNS_SUBDOMAIN_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

function labelError(selector: string, detail: string): InvalidRequestError {
  return new InvalidRequestError(`invalid label selector "${selector}": ${detail}`, 'labelSelector');
}

function validateLabelKey(selector: string, key: string): void {
  const slash = key.indexOf('/');
  const prefix = slash >= 0 ? key.slice(0, slash) : undefined;
  const name = slash >= 0 ? key.slice(slash + 1) : key;
  if (prefix !== undefined && (prefix.length === 0 || prefix.length > 253 || !DNS_SUBDOMAIN_RE.test(prefix))) {
    throw labelError(selector, `key "${key}": prefix must be a DNS subdomain (lowercase, at most 253 characters)`);
  }
  if (name.length === 0 || name.length > 63 || !NAME_RE.test(name)) {
    throw labelError(selector, `key "${key}": name must be at most 63 characters of [A-Za-z0-9-_.], starting and ending with an alphanumeric`);
  }
}

function validateLabelValue(selector: string, key: string, value: string): void {
  if (value.length === 0) return;
  if (value.length > 63 || !NAME_RE.test(value)) {
    throw labelError(
      selector,
      `value "${value}" for key "${key}": must be empty or at most 63 characters of [A-Za-z0-9-_.], ` + `starting and ending with an alphanumeric`,
    );
  }
}

type Token =
  | { kind: 'id'; text: string; pos: number }
  | { kind: 'op'; text: '=' | '==' | '!=' | '!' | '(' | ')' | ','; pos: number }
  | { kind: 'end'; pos: number };

const SPECIAL = new Set(['!', '=', ',', '(', ')', ' ', '\t', '\n', '\r', '<', '>']);

function tokenize(selector: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < selector.length) {
    const c = selector[i]!;
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '=') {
      if (selector[i + 1] === '=') {
        tokens.push({ kind: 'op', text: '==', pos: i });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: '=', pos: i });
        i++;
      }
      continue;
    }
    if (c === '!') {
      if (selector[i + 1] === '=') {
        tokens.push({ kind: 'op', text: '!=', pos: i });
        i += 2;
      } else {
        tokens.push({ kind: 'op', text: '!', pos: i });
        i++;
      }
      continue;
    }
    if (c === '(' || c === ')' || c === ',') {
      tokens.push({ kind: 'op', text: c, pos: i });
      i++;
      continue;
    }
    if (c === '<' || c === '>') {
      throw labelError(selector, `unsupported operator "${c}" at position ${i} (supported: =, ==, !=, in, notin, exists, !key)`);
    }
    const start = i;
    while (i < selector.length && !SPECIAL.has(selector[i]!)) i++;
    tokens.push({ kind: 'id', text: selector.slice(start, i), pos: start });
  }
  tokens.push({ kind: 'end', pos: selector.length });
  return tokens;
}

/**
 * Parses a label selector. '' (or undefined) selects everything and yields [].
 * Throws InvalidRequestError naming the problem.
 */
export function parseLabelSelector(selector: string | undefined): LabelRequirement[] {
  if (selector === undefined || selector.trim() === '') return [];
  const tokens = tokenize(selector);
  let p = 0;
  const peek = (): Token => tokens[p]!;
  const next = (): Token => tokens[p++]!;
  const describe = (t: Token): string => (t.kind === 'end' ? 'end of selector' : `"${t.text}" at position ${t.pos}`);
  const reqs: LabelRequirement[] = [];

  for (;;) {
    let t = next();
    if (t.kind === 'op' && t.text === '!') {
      const k = next();
      if (k.kind !== 'id') throw labelError(selector, `expected a label key after "!", found ${describe(k)}`);
      validateLabelKey(selector, k.text);
      reqs.push({ key: k.text, operator: '!', values: [] });
    } else if (t.kind === 'id') {
      const key = t.text;
      validateLabelKey(selector, key);
      const op = peek();
      if (op.kind === 'end' || (op.kind === 'op' && op.text === ',')) {
        reqs.push({ key, operator: 'exists', values: [] });
      } else if (op.kind === 'op' && (op.text === '=' || op.text === '==' || op.text === '!=')) {
        next();
        const v = peek();
        let value = '';
        if (v.kind === 'id') {
          value = v.text;
          next();
        } else if (!(v.kind === 'end' || (v.kind === 'op' && v.text === ','))) {
          throw labelError(selector, `expected a value after "${op.text}", found ${describe(v)}`);
        }
        validateLabelValue(selector, key, value);
        reqs.push({ key, operator: op.text === '!=' ? '!=' : '=', values: [value] });
      } else if (op.kind === 'id' && (op.text === 'in' || op.text === 'notin')) {
        next();
        const open = next();
        if (!(open.kind === 'op' && open.text === '(')) {
          throw labelError(selector, `expected "(" after "${op.text}", found ${describe(open)}`);
        }
        const values: string[] = [];
        let expectValue = true;
        for (;;) {
          const v = next();
          if (v.kind === 'op' && v.text === ')') {
            if (expectValue && values.length > 0) values.push('');
            break;
          }
          if (v.kind === 'op' && v.text === ',') {
            if (expectValue) values.push('');
            expectValue = true;
            continue;
          }
          if (v.kind === 'id' && expectValue) {
            validateLabelValue(selector, key, v.text);
            values.push(v.text);
            expectValue = false;
            continue;
          }
          throw labelError(selector, `expected a value, "," or ")" in the set for "${key}", found ${describe(v)}`);
        }
        if (values.length === 0) {
          throw labelError(selector, `the set of values for "${key} ${op.text}" must not be empty`);
        }
        reqs.push({ key, operator: op.text, values });
      } else {
        throw labelError(selector, `expected an operator (=, ==, !=, in, notin) after "${key}", found ${describe(op)}`);
      }
    } else {
      throw labelError(selector, `expected a label key or "!", found ${describe(t)}`);
    }
    t = next();
    if (t.kind === 'end') break;
    if (!(t.kind === 'op' && t.text === ',')) throw labelError(selector, `expected "," or end of selector, found ${describe(t)}`);
    if (peek().kind === 'end') throw labelError(selector, 'trailing ","');
  }
  return reqs;
}

/** True when `labels` satisfies every requirement (an empty selector matches everything). */
export function matchLabels(reqs: readonly LabelRequirement[], labels: Readonly<Record<string, string>> | undefined): boolean {
  for (const r of reqs) {
    const has = labels !== undefined && Object.hasOwn(labels, r.key);
    const value = has ? labels![r.key] : undefined;
    switch (r.operator) {
      case 'exists':
        if (!has) return false;
        break;
      case '!':
        if (has) return false;
        break;
      case '=':
        if (!has || value !== r.values[0]) return false;
        break;
      case '!=':
        if (has && value === r.values[0]) return false;
        break;
      case 'in':
        if (!has || !r.values.includes(value!)) return false;
        break;
      case 'notin':
        if (has && r.values.includes(value!)) return false;
        break;
    }
  }
  return true;
}

function fieldError(selector: string, detail: string): InvalidRequestError {
  return new InvalidRequestError(`invalid field selector "${selector}": ${detail}`, 'fieldSelector');
}

/** The field names a resource accepts in field selectors. */
export function selectableFieldNames(resource: Pick<StorageResource, 'selectableFields'>): string[] {
  return ['metadata.name', 'metadata.namespace', ...Object.keys(resource.selectableFields ?? {})];
}

/**
 * Parses a field selector. '' (or undefined) yields []. `allowedFields` lists the
 * accepted field names (see selectableFieldNames); an unknown field throws
 * InvalidRequestError naming it.
 */
export function parseFieldSelector(selector: string | undefined, allowedFields: readonly string[]): FieldRequirement[] {
  if (selector === undefined || selector.trim() === '') return [];
  const reqs: FieldRequirement[] = [];
  // Split on unescaped commas, keeping escapes for the value parser.
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < selector.length; i++) {
    const c = selector[i]!;
    if (c === '\\' && i + 1 < selector.length) {
      cur += c + selector[i + 1];
      i++;
    } else if (c === ',') {
      terms.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  terms.push(cur);
  for (const term of terms) {
    if (term.trim() === '') throw fieldError(selector, 'empty requirement');
    // Find the first unescaped operator.
    let opAt = -1;
    let op: FieldOperator = '=';
    let opLen = 0;
    for (let i = 0; i < term.length; i++) {
      const c = term[i]!;
      if (c === '\\') {
        i++;
        continue;
      }
      if (c === '!' && term[i + 1] === '=') {
        opAt = i;
        op = '!=';
        opLen = 2;
        break;
      }
      if (c === '=') {
        opAt = i;
        op = '=';
        opLen = term[i + 1] === '=' ? 2 : 1;
        break;
      }
    }
    if (opAt < 0) throw fieldError(selector, `"${term}" has no operator (supported: =, ==, !=)`);
    const field = term.slice(0, opAt).trim();
    const rawValue = term.slice(opAt + opLen);
    if (field === '') throw fieldError(selector, `"${term}" has no field name`);
    if (!allowedFields.includes(field)) {
      throw new InvalidRequestError(`field label not supported: "${field}" (supported: ${allowedFields.join(', ')})`, 'fieldSelector');
    }
    let value = '';
    for (let i = 0; i < rawValue.length; i++) {
      const c = rawValue[i]!;
      if (c === '\\') {
        const n = rawValue[i + 1];
        if (n === undefined || !'\\,=!'.includes(n)) {
          throw fieldError(selector, `invalid escape sequence in value of "${field}"`);
        }
        value += n;
        i++;
      } else if (c === '=' || c === '!') {
        throw fieldError(selector, `unescaped "${c}" in value of "${field}"`);
      } else {
        value += c;
      }
    }
    reqs.push({ field, operator: op, value });
  }
  return reqs;
}

/** True when every requirement holds; `fieldValue` returns the value of a field of the object. */
export function matchFields(reqs: readonly FieldRequirement[], fieldValue: (field: string) => string): boolean {
  for (const r of reqs) {
    const v = fieldValue(r.field);
    if (r.operator === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}

/**
 * A compiled label + field selector for one resource, plus what a store can use to
 * narrow a scan: an exact namespace or name required by the field selector.
 */
/** See ObjectSelector.indexTerm. */
export interface SelectorIndexTerm {
  dimension: string;
  value: string;
}

/** The value of an index dimension (`label:KEY` or `field:PATH`) on `obj`; undefined when the label is absent. */
export function indexDimensionValue(resource: Pick<StorageResource, 'selectableFields'>, dimension: string, obj: KubeObject): string | undefined {
  if (dimension.startsWith('label:')) return obj.metadata.labels?.[dimension.slice(6)];
  const field = dimension.slice(6);
  if (field === 'metadata.name') return obj.metadata.name ?? '';
  return resource.selectableFields?.[field]?.(obj);
}

export class ObjectSelector {
  readonly labels: readonly LabelRequirement[];
  readonly fields: readonly FieldRequirement[];
  /** True when the selector matches every object. */
  readonly empty: boolean;
  /** Set when the field selector pins metadata.namespace to one value. */
  readonly namespace: string | undefined;
  /** Set when the field selector pins metadata.name to one value. */
  readonly name: string | undefined;
  readonly #getters: Record<string, (obj: KubeObject) => string>;

  constructor(resource: Pick<StorageResource, 'selectableFields'>, labelSelector?: string, fieldSelector?: string) {
    this.labels = parseLabelSelector(labelSelector);
    this.fields = parseFieldSelector(fieldSelector, selectableFieldNames(resource));
    this.empty = this.labels.length === 0 && this.fields.length === 0;
    this.namespace = this.fields.find((f) => f.field === 'metadata.namespace' && f.operator === '=')?.value;
    this.name = this.fields.find((f) => f.field === 'metadata.name' && f.operator === '=')?.value;
    this.#getters = {
      'metadata.name': (o) => o.metadata.name ?? '',
      'metadata.namespace': (o) => o.metadata.namespace ?? '',
      ...resource.selectableFields,
    };
  }

  /**
   * One equality every matching object satisfies — `label:KEY` or `field:PATH` with its
   * value — so a watch cache can index watchers by it instead of testing every watcher
   * against every event. Undefined when the selector has none (metadata.namespace is
   * left out: watchers are already filtered by namespace).
   */
  get indexTerm(): SelectorIndexTerm | undefined {
    for (const r of this.labels) {
      if (r.operator === '=' || (r.operator === 'in' && r.values.length === 1)) return { dimension: `label:${r.key}`, value: r.values[0]! };
    }
    for (const f of this.fields) {
      if (f.operator === '=' && f.field !== 'metadata.namespace') return { dimension: `field:${f.field}`, value: f.value };
    }
    return undefined;
  }

  matches(obj: KubeObject): boolean {
    if (this.empty) return true;
    if (!matchLabels(this.labels, obj.metadata.labels)) return false;
    if (this.fields.length === 0) return true;
    return matchFields(this.fields, (f) => this.#getters[f]!(obj));
  }
}
