/**
 * Kubernetes field management (`metadata.managedFields`, `fieldsType: FieldsV1`) for
 * non-apply writes, and the pieces server-side apply shares.
 *
 * What is tracked (as Kubernetes' fieldmanager does, for a resource with a status subresource):
 * - main resource: every field except `apiVersion`, `kind` and `status`; of `metadata`, only
 *   `labels`, `annotations`, `finalizers` and `ownerReferences` (name, namespace, uid,
 *   resourceVersion, generation, creationTimestamp, deletion fields and managedFields are the
 *   server's, never owned by anyone);
 * - `status` subresource: only `status`.
 * `metadata` itself is never a member of a set (it always exists), so it never shows `.`.
 *
 * A manager is identified by name, operation and subresource, and for `Update` also the
 * apiVersion, exactly as Kubernetes keys its entries; entries are sorted as Kubernetes sorts
 * them (Apply before Update, then by time, manager, apiVersion, subresource).
 */
import { isoSeconds } from '../../lib/apimachinery/time.js';
import type { KubeObject, ManagedFieldsEntry } from '../../api-types/meta.js';
import { FieldSet } from './field-set.js';
import { coversMembers, isCanonicalFieldsV1, sharesMember, withoutMembers } from './fields-v1.js';
import { clone, hasOwn, isObject, setOwn, type JsonObject } from './json.js';
import { withObjectMeta, type StructuralSchema } from './schema.js';
import { compareValues, fieldSetOfValue, fieldsV1OfEveryPath, type Comparison } from './typed.js';

/** A subresource with its own tracking rules. */
export type Subresource = 'status';

/** The metadata fields that field management tracks. */
export const TRACKED_METADATA: readonly string[] = ['labels', 'annotations', 'finalizers', 'ownerReferences'];

/** Top-level fields the main resource never tracks. */
export const UNTRACKED_TOP_LEVEL: readonly string[] = ['apiVersion', 'kind', 'status'];

const METADATA = ['f:metadata'];

/**
 * The part of `obj` that field management sees for a write to the main resource or to
 * `subresource`: for the main resource the object without apiVersion, kind, status and
 * untracked metadata (`metadata` omitted when nothing tracked is set); for `status`, `{status}`.
 * A deep copy: the caller may change it.
 */
export function trackedView(obj: KubeObject | JsonObject | undefined, subresource?: Subresource): JsonObject {
  return clone(projectedView(obj, subresource));
}

/**
 * {@link trackedView} sharing its values with `obj` (only the top level and `metadata` are
 * new objects): for walks that only read, such as {@link compareViews}.
 */
function projectedView(obj: KubeObject | JsonObject | undefined, subresource?: Subresource): JsonObject {
  if (!obj) return {};
  if (subresource === 'status') return hasOwn(obj, 'status') ? { status: obj.status } : {};
  const view: JsonObject = {};
  for (const key of Object.keys(obj)) {
    if (UNTRACKED_TOP_LEVEL.includes(key)) continue;
    if (key === 'metadata') {
      const metadata = isObject(obj.metadata) ? obj.metadata : {};
      const tracked: JsonObject = {};
      for (const field of TRACKED_METADATA) if (hasOwn(metadata, field)) tracked[field] = metadata[field];
      if (Object.keys(tracked).length > 0) view.metadata = tracked;
    } else {
      setOwn(view, key, obj[key]);
    }
  }
  return view;
}

const rootSchemas = new WeakMap<StructuralSchema, StructuralSchema>();
const SCHEMALESS_ROOT = withObjectMeta(undefined);

/** {@link withObjectMeta}, computed once per schema (schemas are never changed once served). */
function rootSchemaOf(schema: StructuralSchema | undefined): StructuralSchema {
  if (!schema) return SCHEMALESS_ROOT;
  let root = rootSchemas.get(schema);
  if (!root) rootSchemas.set(schema, (root = withObjectMeta(schema)));
  return root;
}

/**
 * The fields `obj` sets, as Kubernetes would record them for an applier of `obj`: leaf
 * paths, list-map items keyed by their keys (`k:{"name":"root"}`, owned as `.` and field by
 * field), set items by value, atomic lists and maps as one leaf. Only tracked fields count.
 */
export function fieldSetOf(obj: KubeObject | JsonObject, schema?: StructuralSchema, subresource?: Subresource): FieldSet {
  return fieldSetOfView(trackedView(obj, subresource), schema);
}

/** {@link fieldSetOf} for an already projected view; `strict` refuses unkeyable lists. */
export function fieldSetOfView(view: JsonObject, schema: StructuralSchema | undefined, strict = false): FieldSet {
  return fieldSetOfValue(view, rootSchemaOf(schema), strict).withoutMember(METADATA);
}

/** {@link compareValues} for two projected views. */
export function compareViews(before: JsonObject, after: JsonObject, schema: StructuralSchema | undefined): Comparison {
  const c = compareValues(before, after, rootSchemaOf(schema));
  return { added: c.added.withoutMember(METADATA), modified: c.modified.withoutMember(METADATA), removed: c.removed.withoutMember(METADATA) };
}

/** One manager's entry, decoded. */
export interface ManagerFields {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  subresource?: string;
  fields: FieldSet;
}

/** The identity Kubernetes keys managers by: name, operation, subresource, and apiVersion for Update. */
export function managerKey(m: Pick<ManagerFields, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  return JSON.stringify([m.manager, m.operation, m.operation === 'Update' ? m.apiVersion : '', m.subresource ?? '']);
}

/**
 * How Kubernetes names a manager in conflict messages: `"kubectl"` for an applier,
 * `"kubectl-edit" using quantix.io/v1alpha1` for an updater, with
 * ` with subresource "status"` after the name when there is one.
 */
export function describeManager(m: Pick<ManagerFields, 'manager' | 'operation' | 'apiVersion' | 'subresource'>): string {
  let text = JSON.stringify(m.manager);
  if (m.subresource) text += ` with subresource ${JSON.stringify(m.subresource)}`;
  if (m.operation === 'Update') text += ` using ${m.apiVersion}`;
  return text;
}

/**
 * Decodes `metadata.managedFields`. Entries that are not FieldsV1 or are malformed are
 * dropped (Kubernetes resets what it cannot decode); entries with the same identity are merged.
 */
export function decodeManagedFields(entries: unknown): ManagerFields[] {
  const byKey = new Map<string, ManagerFields>();
  for (const entry of Array.isArray(entries) ? entries : []) {
    if (!isObject(entry) || typeof entry.manager !== 'string') continue;
    if (entry.operation !== 'Apply' && entry.operation !== 'Update') continue;
    if (entry.fieldsType !== undefined && entry.fieldsType !== 'FieldsV1') continue;
    let fields: FieldSet;
    try {
      fields = FieldSet.fromFieldsV1(entry.fieldsV1 ?? {});
    } catch {
      continue;
    }
    const decoded: ManagerFields = {
      manager: entry.manager,
      operation: entry.operation,
      apiVersion: typeof entry.apiVersion === 'string' ? entry.apiVersion : '',
      ...(typeof entry.time === 'string' ? { time: entry.time } : {}),
      ...(typeof entry.subresource === 'string' && entry.subresource ? { subresource: entry.subresource } : {}),
      fields,
    };
    const key = managerKey(decoded);
    const existing = byKey.get(key);
    if (existing) existing.fields = existing.fields.union(fields);
    else byKey.set(key, decoded);
  }
  return [...byKey.values()];
}

/** Encodes managers as `metadata.managedFields`, dropping empty sets, in Kubernetes' order. */
export function encodeManagedFields(managers: readonly ManagerFields[]): ManagedFieldsEntry[] {
  return sortManagers(managers.filter((m) => !m.fields.isEmpty())).map((m) => encodedEntry(m, m.fields.toFieldsV1()));
}

type ManagerIdentity = Pick<ManagerFields, 'manager' | 'operation' | 'apiVersion' | 'time' | 'subresource'>;

/**
 * `managers` in Kubernetes' order of managedFields entries: Apply before Update, then time
 * (whole seconds), manager, apiVersion, subresource; a stable sort. Each time is parsed once.
 */
function sortManagers<M extends ManagerIdentity>(managers: readonly M[]): M[] {
  return managers
    .map((m) => ({ m, seconds: secondsOf(m.time) }))
    .sort(
      (p, q) =>
        compareStrings(p.m.operation, q.m.operation) ||
        p.seconds - q.seconds ||
        compareStrings(p.m.manager, q.m.manager) ||
        compareStrings(p.m.apiVersion, q.m.apiVersion) ||
        compareStrings(p.m.subresource ?? '', q.m.subresource ?? ''),
    )
    .map(({ m }) => m);
}

function secondsOf(time: string | undefined): number {
  return time ? Math.floor(Date.parse(time) / 1000) || 0 : 0;
}

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One entry as stored, with its keys in the order Kubernetes writes them. */
function encodedEntry(m: ManagerIdentity, fieldsV1: JsonObject): ManagedFieldsEntry {
  const entry: ManagedFieldsEntry = { manager: m.manager, operation: m.operation, apiVersion: m.apiVersion };
  if (m.time) entry.time = m.time;
  entry.fieldsType = 'FieldsV1';
  entry.fieldsV1 = fieldsV1;
  if (m.subresource) entry.subresource = m.subresource;
  return entry;
}

/**
 * A copy of `obj` with `metadata.managedFields` set to `entries`, or without the field when
 * `entries` is empty (so an object that never had managedFields compares equal after a no-op).
 */
export function setManagedFields<T extends KubeObject>(obj: T, entries: ManagedFieldsEntry[]): T {
  const metadata = { ...obj.metadata };
  if (entries.length > 0) metadata.managedFields = entries;
  else delete metadata.managedFields;
  return { ...obj, metadata };
}

export interface RecordUpdateOptions {
  /** The kind's structural schema; without it every list is atomic. */
  schema?: StructuralSchema;
  /** The time to record (default: now). */
  now?: Date;
}

/**
 * The managedFields after a non-apply write (create, update, merge/JSON patch) by `manager`
 * that turns `oldObj` (undefined on create) into `newObj`, as Kubernetes records an
 * `Update` operation:
 * - fields whose value changed or that appeared (containers included) move to the
 *   manager's Update entry and are taken from every other manager (an update never conflicts);
 * - fields that disappeared are dropped from every manager;
 * - entries left empty are dropped;
 * - the manager's entry gets `time` only when it took some field, so a no-op write returns
 *   the old managedFields unchanged (as given, not re-encoded).
 * Returns the entries (empty when none: store them with {@link setManagedFields}, or use
 * {@link withManagedFields}, which does both).
 * The previous managedFields are read from `oldObj`; the caller decides what to do with
 * managedFields a client sent in `newObj` (Kubernetes uses them as the new base when they differ).
 *
 * This runs on every write, so it avoids the general algorithm (`recordUpdateGeneral` in
 * managed-fields.reference.test-support.ts, which the tests hold it equal to) where it can: a create encodes the new object's fields
 * in one walk, and an update works on the stored entries as they are encoded (sharing what
 * it does not change with `oldObj`), decoding at most the writer's own entry.
 */
export function recordUpdate(
  oldObj: KubeObject | undefined,
  newObj: KubeObject,
  manager: string,
  subresource?: Subresource,
  options: RecordUpdateOptions = {},
): ManagedFieldsEntry[] {
  const self = updaterOf(manager, String(newObj.apiVersion ?? oldObj?.apiVersion ?? ''), subresource);
  if (!oldObj) return recordCreate(newObj, self, subresource, options);
  const comparison = compareViews(projectedView(oldObj, subresource), projectedView(newObj, subresource), options.schema);
  const change = { taken: comparison.added.union(comparison.modified), removed: comparison.removed };
  const previous = oldObj.metadata?.managedFields ?? [];
  if (change.taken.isEmpty() && change.removed.isEmpty()) return clone(previous);
  const keys = canonicalManagerKeys(previous);
  if (!keys) return recordChange(decodeManagedFields(previous), change, self, options.now);
  return recordChangeEncoded(previous as ManagedFieldsEntry[], keys, change, self, options.now);
}

/**
 * `next` as stored after a non-apply write (create when `old` is undefined, update, merge or
 * JSON patch, a /status write) by `manager`: with the managedFields {@link recordUpdate}
 * computes. Every non-apply write path (REST handler, node gateway) records through this.
 */
export function withManagedFields<T extends KubeObject>(
  old: KubeObject | undefined,
  next: T,
  manager: string,
  options: RecordUpdateOptions & { subresource?: Subresource } = {},
): T {
  return setManagedFields(next, recordUpdate(old, next, manager, options.subresource, options));
}

/** The identity of the entry a non-apply write records. */
type Updater = Pick<ManagerFields, 'manager' | 'operation' | 'apiVersion' | 'subresource'>;

function updaterOf(manager: string, apiVersion: string, subresource: Subresource | undefined): Updater {
  return { manager, operation: 'Update', apiVersion, ...(subresource ? { subresource } : {}) };
}

/** What a write changed: fields it set or changed (`taken`) and fields it removed. */
interface Change {
  taken: FieldSet;
  removed: FieldSet;
}

/**
 * A create: the single entry of the writer, owning every field of the new object (what
 * comparing it with nothing reports as added), encoded straight from the object.
 */
function recordCreate(newObj: KubeObject, self: Updater, subresource: Subresource | undefined, options: RecordUpdateOptions): ManagedFieldsEntry[] {
  const fieldsV1 = fieldsV1OfEveryPath(projectedView(newObj, subresource), rootSchemaOf(options.schema), METADATA);
  if (Object.keys(fieldsV1).length === 0) return [];
  return [encodedEntry({ ...self, time: isoSeconds(options.now ?? new Date()) }, fieldsV1)];
}

/** Applies `change` to decoded managers: taken fields move to `self`, removed ones leave everyone. */
function recordChange(managers: ManagerFields[], change: Change, self: Updater, now: Date | undefined): ManagedFieldsEntry[] {
  const { taken, removed } = change;
  for (const m of managers) m.fields = m.fields.difference(taken).difference(removed);
  if (!taken.isEmpty()) {
    const key = managerKey(self);
    const existing = managers.find((m) => managerKey(m) === key);
    const time = isoSeconds(now ?? new Date());
    if (existing) Object.assign(existing, { fields: existing.fields.union(taken), time });
    else managers.push({ ...self, time, fields: taken });
  }
  return encodeManagedFields(managers);
}

/**
 * {@link recordChange} on entries already in the form {@link encodeManagedFields} writes
 * (`keys` are their manager keys), without decoding them: the fields the write touched are
 * cut out of each entry's FieldsV1, and the writer's own entry keeps its FieldsV1 when it
 * already owns everything it took (only `time` moves); otherwise that one entry is decoded.
 * The result shares the FieldsV1 objects (or parts of them) the write did not touch with
 * `previous`: nothing changes FieldsV1 objects in place, and copying them is most of the cost.
 */
function recordChangeEncoded(
  previous: ManagedFieldsEntry[],
  keys: readonly string[],
  change: Change,
  self: Updater,
  now: Date | undefined,
): ManagedFieldsEntry[] {
  const selfKey = change.taken.isEmpty() ? undefined : managerKey(self);
  const time = selfKey === undefined ? undefined : isoSeconds(now ?? new Date());
  const touched = change.taken.union(change.removed);
  const entries: ManagedFieldsEntry[] = [];
  for (let i = 0; i < previous.length; i++) {
    const next = keys[i] === selfKey ? withTakenFields(previous[i]!, change, time!) : withoutFields(previous[i]!, touched);
    if (next) entries.push(next);
  }
  if (selfKey !== undefined && !keys.includes(selfKey)) entries.push(encodedEntry({ ...self, time }, change.taken.toFieldsV1()));
  return sortManagers(entries);
}

/** The writer's entry after it took `change.taken` (and lost what was removed). */
function withTakenFields(entry: ManagedFieldsEntry, change: Change, time: string): ManagedFieldsEntry {
  const fieldsV1 = entry.fieldsV1 as JsonObject;
  if (coversMembers(fieldsV1, change.taken) && !sharesMember(fieldsV1, change.removed)) return encodedEntry({ ...entry, time }, fieldsV1);
  const fields = FieldSet.fromFieldsV1(fieldsV1).difference(change.taken).difference(change.removed).union(change.taken);
  return encodedEntry({ ...entry, time }, fields.toFieldsV1());
}

/** Another entry without the fields the write took or removed; undefined when nothing is left. */
function withoutFields(entry: ManagedFieldsEntry, touched: FieldSet): ManagedFieldsEntry | undefined {
  const fieldsV1 = entry.fieldsV1 as JsonObject;
  if (!sharesMember(fieldsV1, touched)) return encodedEntry(entry, fieldsV1);
  const rest = withoutMembers(fieldsV1, touched);
  return rest && encodedEntry(entry, rest);
}

/**
 * The manager key of each entry when decoding and re-encoding `entries` would give them
 * back unchanged, else undefined: valid FieldsV1 entries, one per manager identity, each
 * with exactly the keys {@link encodedEntry} writes, in its order, and canonical non-empty
 * fields. What this code stores always is.
 */
function canonicalManagerKeys(entries: unknown): string[] | undefined {
  if (!Array.isArray(entries)) return undefined;
  const keys: string[] = [];
  for (const entry of entries) {
    if (!isCanonicalEntry(entry)) return undefined;
    keys.push(managerKey(entry));
  }
  return new Set(keys).size === keys.length ? keys : undefined; // two entries of one manager merge when decoded
}

function isCanonicalEntry(entry: unknown): entry is ManagedFieldsEntry {
  if (!isObject(entry) || !hasEncodedKeys(Object.keys(entry))) return false;
  const { manager, operation, apiVersion, time, fieldsType, fieldsV1, subresource } = entry;
  return (
    typeof manager === 'string' &&
    (operation === 'Apply' || operation === 'Update') &&
    typeof apiVersion === 'string' &&
    (time === undefined || (typeof time === 'string' && time !== '')) &&
    fieldsType === 'FieldsV1' &&
    isCanonicalFieldsV1(fieldsV1) &&
    (subresource === undefined || (typeof subresource === 'string' && subresource !== ''))
  );
}

const ENCODED_KEYS = ['manager', 'operation', 'apiVersion', 'time', 'fieldsType', 'fieldsV1', 'subresource'];
const OPTIONAL_KEYS = ['time', 'subresource'];

/** Whether `keys` are those {@link encodedEntry} writes, in its order. */
function hasEncodedKeys(keys: readonly string[]): boolean {
  let i = 0;
  for (const expected of ENCODED_KEYS) {
    if (keys[i] === expected) i++;
    else if (!OPTIONAL_KEYS.includes(expected)) return false;
  }
  return i === keys.length;
}
