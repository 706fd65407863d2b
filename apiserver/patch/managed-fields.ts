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
import type { KubeObject, ManagedFieldsEntry } from '../../api-types/meta.js';
import { FieldSet } from './field-set.js';
import { clone, hasOwn, isObject, setOwn, type JsonObject } from './json.js';
import { withObjectMeta, type StructuralSchema } from './schema.js';
import { compareValues, fieldSetOfValue, type Comparison } from './typed.js';

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
 */
export function trackedView(obj: KubeObject | JsonObject | undefined, subresource?: Subresource): JsonObject {
  if (!obj) return {};
  if (subresource === 'status') return hasOwn(obj, 'status') ? { status: clone(obj.status) } : {};
  const view: JsonObject = {};
  for (const key of Object.keys(obj)) {
    if (UNTRACKED_TOP_LEVEL.includes(key)) continue;
    if (key === 'metadata') {
      const metadata = isObject(obj.metadata) ? obj.metadata : {};
      const tracked: JsonObject = {};
      for (const field of TRACKED_METADATA) if (hasOwn(metadata, field)) tracked[field] = clone(metadata[field]);
      if (Object.keys(tracked).length > 0) view.metadata = tracked;
    } else {
      setOwn(view, key, clone(obj[key]));
    }
  }
  return view;
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
  return fieldSetOfValue(view, withObjectMeta(schema), strict).withoutMember(METADATA);
}

/** {@link compareValues} for two projected views. */
export function compareViews(before: JsonObject, after: JsonObject, schema: StructuralSchema | undefined): Comparison {
  const c = compareValues(before, after, withObjectMeta(schema));
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
  const seconds = (t?: string) => (t ? Math.floor(Date.parse(t) / 1000) || 0 : 0);
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return managers
    .filter((m) => !m.fields.isEmpty())
    .sort((p, q) =>
      cmp(p.operation, q.operation) || seconds(p.time) - seconds(q.time) || cmp(p.manager, q.manager) ||
      cmp(p.apiVersion, q.apiVersion) || cmp(p.subresource ?? '', q.subresource ?? ''))
    .map((m) => ({
      manager: m.manager,
      operation: m.operation,
      apiVersion: m.apiVersion,
      ...(m.time ? { time: m.time } : {}),
      fieldsType: 'FieldsV1' as const,
      fieldsV1: m.fields.toFieldsV1(),
      ...(m.subresource ? { subresource: m.subresource } : {}),
    }));
}

/**
 * A copy of `obj` with `metadata.managedFields` set to `entries`, or without the field when
 * `entries` is empty (so an object that never had managedFields compares equal after a no-op).
 */
export function withManagedFields<T extends KubeObject>(obj: T, entries: ManagedFieldsEntry[]): T {
  const metadata = { ...obj.metadata };
  if (entries.length > 0) metadata.managedFields = entries;
  else delete metadata.managedFields;
  return { ...obj, metadata };
}

/** RFC 3339 with second precision, as metav1.Time serializes. */
export function formatTime(date: Date): string {
  return date.toISOString().replace(/\.\d+Z$/, 'Z');
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
 * Returns the entries (empty when none: store them with {@link withManagedFields}).
 * The previous managedFields are read from `oldObj`; the caller decides what to do with
 * managedFields a client sent in `newObj` (Kubernetes uses them as the new base when they differ).
 */
export function recordUpdate(
  oldObj: KubeObject | undefined,
  newObj: KubeObject,
  manager: string,
  subresource?: Subresource,
  options: RecordUpdateOptions = {},
): ManagedFieldsEntry[] {
  const apiVersion = String(newObj.apiVersion ?? oldObj?.apiVersion ?? '');
  const comparison = compareViews(trackedView(oldObj, subresource), trackedView(newObj, subresource), options.schema);
  const taken = comparison.added.union(comparison.modified);
  const previous = oldObj?.metadata?.managedFields;
  if (taken.isEmpty() && comparison.removed.isEmpty()) return clone(previous ?? []);
  const managers = decodeManagedFields(previous);
  for (const m of managers) m.fields = m.fields.difference(taken).difference(comparison.removed);
  if (!taken.isEmpty()) {
    const self = { manager, operation: 'Update' as const, apiVersion, ...(subresource ? { subresource } : {}) };
    const key = managerKey(self);
    const existing = managers.find((m) => managerKey(m) === key);
    const time = formatTime(options.now ?? new Date());
    if (existing) Object.assign(existing, { fields: existing.fields.union(taken), time });
    else managers.push({ ...self, time, fields: taken });
  }
  return encodeManagedFields(managers);
}
