/**
 * Validation of Quantix objects: the structural schema (ajv, every error), list uniqueness
 * (x-kubernetes-list-type set/map), metadata rules and each kind's semantic checks.
 * Never mutates its input. Unknown fields are reported apart (findUnknownFields) because
 * the apiserver rejects, warns about or drops them depending on `fieldValidation`.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { child, fieldError, index, validateAnnotations, validateLabels, type FieldError } from './field-errors.js';
import type { KubeObject } from './meta.js';
import { isDNS1123Label, isDNS1123Subdomain } from './names.js';
import { apiVersionOf } from './group-version.js';
import { resourceForKind } from './registry.js';
import { PATTERN_MESSAGES } from './schema/common.js';
import { childSchema, fullSchema } from './schema/resolve.js';
import type { JSONSchema, ResourceDefinition } from './schema/types.js';

export type { FieldError };

/** RFC 3339 date-time (what metav1.Time / MicroTime serialize to). */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$/;

const FORMAT_MESSAGES: Record<string, string> = {
  'date-time': 'must be an RFC 3339 date-time like 2024-01-02T15:04:05Z',
};

const ajv = new Ajv({ allErrors: true, strict: true, verbose: true, useDefaults: false, coerceTypes: false });
for (const keyword of ['x-kubernetes-list-type', 'x-kubernetes-list-map-keys', 'x-kubernetes-map-type', 'x-kubernetes-preserve-unknown-fields']) {
  ajv.addKeyword({ keyword, schemaType: ['string', 'array', 'boolean'] });
}
ajv.addFormat('date-time', { type: 'string', validate: (s: string) => DATE_TIME.test(s) && !Number.isNaN(Date.parse(s)) });

const compiled = new Map<ResourceDefinition, ValidateFunction>();

function compiledFor(def: ResourceDefinition): ValidateFunction {
  let fn = compiled.get(def);
  if (!fn) {
    fn = ajv.compile(fullSchema(def));
    compiled.set(def, fn);
  }
  return fn;
}

function definition(kind: string | ResourceDefinition): ResourceDefinition {
  if (typeof kind !== 'string') return kind;
  const def = resourceForKind(kind);
  if (!def) throw new Error(`unknown kind ${JSON.stringify(kind)}`);
  return def;
}

/** `/spec/disks/1/size` → `spec.disks[1].size`, map keys as `[key]`, following the schema. */
function fieldPath(schema: JSONSchema, pointer: string): string {
  if (pointer === '') return '';
  let path = '';
  let s: JSONSchema | undefined = schema;
  for (const raw of pointer.slice(1).split('/')) {
    const seg = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (s?.type === 'array' && /^\d+$/.test(seg)) {
      path = index(path, seg);
      s = s.items;
      continue;
    }
    const c = childSchema(s, seg);
    path = c.isMapKey ? index(path, seg) : child(path, seg);
    s = c.schema;
  }
  return path;
}

function fromAjv(schema: JSONSchema, e: ErrorObject): FieldError {
  const field = fieldPath(schema, e.instancePath);
  const value = e.data;
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'required':
      return fieldError.required(child(field, String(p.missingProperty)));
    case 'type':
      return fieldError.typeInvalid(field, value, `must be of type ${String(p.type)}`);
    case 'enum':
      return fieldError.notSupported(field, value, p.allowedValues as unknown[]);
    case 'minimum':
    case 'maximum':
      return fieldError.invalid(field, value, `must be ${e.keyword === 'minimum' ? 'greater' : 'less'} than or equal to ${String(p.limit)}`);
    case 'pattern':
      return fieldError.invalid(field, value, PATTERN_MESSAGES[String(p.pattern)] ?? `must match the regular expression '${String(p.pattern)}'`);
    case 'format':
      return fieldError.invalid(field, value, FORMAT_MESSAGES[String(p.format)] ?? `must be in format ${String(p.format)}`);
    default:
      return fieldError.invalid(field, value, e.message ?? `fails the ${e.keyword} rule`);
  }
}

function schemaErrors(def: ResourceDefinition, obj: unknown): FieldError[] {
  const fn = compiledFor(def);
  if (fn(obj)) return [];
  const schema = fullSchema(def);
  const errs = (fn.errors ?? []).map((e) => fromAjv(schema, e));
  // A value of the wrong type gets one error, not also "unsupported value" or "must match …".
  const typeInvalid = new Set(errs.filter((e) => e.type === 'FieldValueTypeInvalid').map((e) => e.field));
  return errs.filter((e) => e.type === 'FieldValueTypeInvalid' || e.type === 'FieldValueRequired' || !typeInvalid.has(e.field));
}

/** Duplicates in x-kubernetes-list-type set / map lists, anywhere in the object. */
function listErrors(s: JSONSchema | undefined, data: unknown, path: string, out: FieldError[]): void {
  if (!s || data === null || typeof data !== 'object') return;
  if (Array.isArray(data)) {
    if (s.type !== 'array') return;
    const listType = s['x-kubernetes-list-type'];
    const keys = s['x-kubernetes-list-map-keys'] ?? [];
    const seen = new Set<string>();
    data.forEach((item, i) => {
      if (listType === 'set' && (typeof item !== 'object' || item === null)) {
        const k = JSON.stringify(item);
        if (seen.has(k)) out.push(fieldError.duplicate(index(path, i), item));
        seen.add(k);
      } else if (listType === 'map' && item && typeof item === 'object' && !Array.isArray(item)) {
        const values = keys.map((k) => (item as Record<string, unknown>)[k]);
        if (values.some((v) => v === undefined)) return; // reported as required
        const k = JSON.stringify(values);
        if (seen.has(k)) {
          out.push(
            keys.length === 1
              ? fieldError.duplicate(child(index(path, i), keys[0]!), values[0])
              : fieldError.duplicate(index(path, i), Object.fromEntries(keys.map((key, j) => [key, values[j]]))),
          );
        }
        seen.add(k);
      }
      listErrors(s.items, item, index(path, i), out);
    });
    return;
  }
  if (s['x-kubernetes-preserve-unknown-fields']) return;
  for (const [k, v] of Object.entries(data)) {
    const c = childSchema(s, k);
    listErrors(c.schema, v, c.isMapKey ? index(path, k) : child(path, k), out);
  }
}

function metadataErrors(def: ResourceDefinition, obj: Record<string, unknown>): FieldError[] {
  const errs: FieldError[] = [];
  const apiVersion = apiVersionOf(def);
  if (obj.apiVersion !== undefined && obj.apiVersion !== apiVersion) {
    errs.push(fieldError.invalid('apiVersion', obj.apiVersion, `must be ${apiVersion}`));
  }
  if (obj.kind !== undefined && obj.kind !== def.kind) errs.push(fieldError.invalid('kind', obj.kind, `must be ${def.kind}`));
  const meta = obj.metadata;
  if (meta === undefined || meta === null) return [...errs, fieldError.required('metadata')];
  if (typeof meta !== 'object' || Array.isArray(meta)) return errs; // type error from the schema
  const m = meta as Record<string, unknown>;
  if (m.name === undefined || m.name === '') {
    if (!m.generateName) errs.push(fieldError.required('metadata.name', 'Required value: name or generateName is required'));
  } else if (typeof m.name === 'string') {
    const check = def.nameRule === 'dns1123Label' ? isDNS1123Label : isDNS1123Subdomain;
    for (const msg of check(m.name)) errs.push(fieldError.invalid('metadata.name', m.name, msg));
  }
  if (typeof m.namespace === 'string' && m.namespace !== '') {
    if (!def.namespaced) errs.push(fieldError.forbidden('metadata.namespace', 'not allowed on this type'));
    else for (const msg of isDNS1123Label(m.namespace)) errs.push(fieldError.invalid('metadata.namespace', m.namespace, msg));
  }
  errs.push(...validateLabels(m.labels, 'metadata.labels'));
  errs.push(...validateAnnotations(m.annotations, 'metadata.annotations'));
  return errs;
}

function isStatusPath(field: string): boolean {
  return field === 'status' || field.startsWith('status.') || field.startsWith('status[');
}

export interface ValidateOptions {
  /**
   * 'include' (default): the whole object. 'ignore': everything but status (what a write to
   * the main resource is checked on, since it never changes status). 'only': status alone
   * (a write to the /status subresource).
   */
  status?: 'include' | 'ignore' | 'only';
}

/**
 * Every problem with `obj` as a `kind` (a kind name or its definition): schema types,
 * required fields, enums, patterns and ranges, duplicate list entries, metadata rules and
 * the kind's semantic checks (quantities in range, dir/nfs blocks matching type, …).
 * Unknown fields are not errors here; see findUnknownFields. Returns [] when valid.
 */
export function validate(kind: string | ResourceDefinition, obj: unknown, opts: ValidateOptions = {}): FieldError[] {
  const def = definition(kind);
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
    return [fieldError.typeInvalid('', obj, 'must be of type object')];
  }
  const o = obj as Record<string, unknown>;
  const mode = opts.status ?? 'include';
  const errs: FieldError[] = [...metadataErrors(def, o), ...schemaErrors(def, o)];
  listErrors(fullSchema(def), o, '', errs);
  if (mode !== 'only' && def.validateSpec) errs.push(...def.validateSpec(o as KubeObject));
  if (mode !== 'ignore' && def.validateStatus && o.status !== null && typeof o.status === 'object') {
    errs.push(...def.validateStatus(o as KubeObject));
  }
  if (mode === 'include') return errs;
  return errs.filter((e) => isStatusPath(e.field) === (mode === 'only'));
}

/** validate(kind, obj): the whole object. (The name the apiserver's admission uses.) */
export function validateObject(kind: string | ResourceDefinition, obj: unknown): FieldError[] {
  return validate(kind, obj);
}

/** Everything but status: what a create or an update of the main resource is checked on. */
export function validateSpec(kind: string | ResourceDefinition, obj: unknown): FieldError[] {
  return validate(kind, obj, { status: 'ignore' });
}

/** Status only: what a write to the /status subresource is checked on. */
export function validateStatus(kind: string | ResourceDefinition, obj: unknown): FieldError[] {
  return validate(kind, obj, { status: 'only' });
}

/** Alias of validateStatus (the name the apiserver's admission uses). */
export const validateStatusOf = validateStatus;

/** Where a walk is: object keys (with whether they are map keys) and list indexes. */
type Segment = number | { key: string; isMapKey: boolean };

function pathOf(segments: readonly Segment[]): string {
  let path = '';
  for (const s of segments) path = typeof s === 'number' ? index(path, s) : s.isMapKey ? index(path, s.key) : child(path, s.key);
  return path;
}

/** Lists unknown fields without copying anything (every write is checked; pruning is rare). */
function collectUnknown(s: JSONSchema | undefined, data: unknown, at: Segment[], found: string[]): void {
  if (!s || data === null || typeof data !== 'object') return;
  if (Array.isArray(data)) {
    if (s.type !== 'array') return;
    for (let i = 0; i < data.length; i++) {
      at.push(i);
      collectUnknown(s.items, data[i], at, found);
      at.pop();
    }
    return;
  }
  if (s.type !== 'object' && s.type !== undefined) return;
  if (s['x-kubernetes-preserve-unknown-fields']) return;
  for (const k of Object.keys(data)) {
    const c = childSchema(s, k);
    at.push({ key: k, isMapKey: c.isMapKey });
    if (!c.schema) found.push(pathOf(at));
    else collectUnknown(c.schema, (data as Record<string, unknown>)[k], at, found);
    at.pop();
  }
}

/** A copy of `data` without the fields the schema does not know. */
function pruned(s: JSONSchema | undefined, data: unknown): unknown {
  if (!s || data === null || typeof data !== 'object') return data;
  if (Array.isArray(data)) return s.type === 'array' ? data.map((item) => pruned(s.items, item)) : data;
  if (s.type !== 'object' && s.type !== undefined) return data;
  if (s['x-kubernetes-preserve-unknown-fields']) return data;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(data)) {
    const c = childSchema(s, k);
    if (c.schema) out[k] = pruned(c.schema, v);
  }
  return out;
}

/**
 * Paths of fields the schema does not know (`spec.cpus`, `spec.disks[0].sizee`,
 * `metadata.foo`), in document order. The apiserver rejects them under
 * fieldValidation=Strict (`unknown field "spec.cpus"`), warns under Warn, drops them under Ignore.
 */
export function findUnknownFields(kind: string | ResourceDefinition, obj: unknown): string[] {
  const found: string[] = [];
  collectUnknown(fullSchema(definition(kind)), obj, [], found);
  return found;
}

/** A copy of `obj` without the fields findUnknownFields reports. */
export function pruneUnknownFields<T>(kind: string | ResourceDefinition, obj: T): T {
  return pruned(fullSchema(definition(kind)), structuredClone(obj)) as T;
}

/** The message Kubernetes uses for an unknown field (in a Strict error or a Warn warning). */
export function unknownFieldMessage(path: string): string {
  return `unknown field ${JSON.stringify(path)}`;
}
