/**
 * Server-side apply (`application/apply-patch+yaml`) with Kubernetes' structured-merge
 * semantics. The caller parses the YAML body and hands over the applied configuration.
 *
 * Algorithm (as sigs.k8s.io/structured-merge-diff's Updater.Apply):
 * 1. merge the config into the live object: objects key by key, list-maps item by key,
 *    sets item by value, everything else (scalars, atomic lists/maps, null) replaced by the config;
 * 2. the manager's Apply entry becomes exactly the config's field set;
 * 3. prune: fields the manager's previous Apply owned and the new one does not are removed
 *    unless some manager still owns them (a named object field counts as owned while anything
 *    below it is; a list item or map key only if the item/key itself is owned);
 * 4. compare live with the result: a field another manager owns that the result changes or
 *    adds is a conflict, unless `force` (then it leaves that manager); fields the result
 *    removed leave every manager; empty entries are dropped.
 * The main resource ignores `status` in the config; the `status` subresource applies only
 * `status`. Applying an unchanged config returns an object deep-equal to `live`.
 */
import { isoSeconds } from '../../lib/apimachinery/time.js';
import type { KubeObject } from '../../api-types/meta.js';
import { type FieldSet, formatPath } from './field-set.js';
import { clone, deepEqual, getOwn, hasOwn, isObject, setOwn, type JsonObject } from './json.js';
import {
  compareViews,
  decodeManagedFields,
  describeManager,
  encodeManagedFields,
  fieldSetOfView,
  managerKey,
  TRACKED_METADATA,
  trackedView,
  UNTRACKED_TOP_LEVEL,
  setManagedFields,
  type ManagerFields,
  type Subresource,
} from './managed-fields.js';
import { fieldSchema, InvalidListError, shapeOf, withObjectMeta, type ListItem, type StructuralSchema } from './schema.js';

/** The manager Kubernetes credits with the fields of an object that had no managedFields before its first apply. */
export const BEFORE_FIRST_APPLY = 'before-first-apply';

export interface ApplyRequest {
  /** The stored object, or undefined to create it. */
  live: KubeObject | undefined;
  /** The applied configuration (the parsed YAML body). */
  applied: unknown;
  /** The `fieldManager` query parameter (required for apply). */
  manager: string;
  /** `force=true`: take conflicting fields from their managers instead of failing. */
  force?: boolean;
  /** `status` for `PATCH …/status`. */
  subresource?: Subresource;
  /** The kind's structural schema (root of the object). Without it every list is atomic. */
  schema?: StructuralSchema;
  /** The time recorded in the manager's entry (default: now). */
  now?: Date;
}

export interface ApplyResult {
  /** The object to store, with `metadata.managedFields` set. */
  object: KubeObject;
  /** False when `object` deep-equals `live`: the server can skip the write. */
  changed: boolean;
  /** True when `live` was undefined. */
  created: boolean;
}

/** One field another manager owns that the apply would change. */
export interface ApplyConflict {
  /** The other manager's name. */
  manager: string;
  /** The field, in Kubernetes' path form: `.spec.cpu`, `.spec.disks[name="root"].size`. */
  field: string;
  /** The cause message Kubernetes puts in the Status: `conflict with "kubectl-edit" using quantix.io/v1alpha1`. */
  message: string;
}

/** The apply would change fields other managers own; the apiserver answers 409 Conflict. */
export class ApplyConflictError extends Error {
  constructor(readonly conflicts: ApplyConflict[]) {
    super(conflictMessage(conflicts));
    this.name = 'ApplyConflictError';
  }
}

/** The apply request itself is invalid (no manager, not an object, a list item without its key…): a 400/422. */
export class ApplyError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ApplyError';
  }
}

function conflictMessage(conflicts: ApplyConflict[]): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: ${conflicts[0]!.message}: ${conflicts[0]!.field}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) byManager.set(c.message, [...(byManager.get(c.message) ?? []), c.field]);
  const lines = [...byManager.keys()].sort().flatMap((m) => [`${m.replace(/^conflict/, 'conflicts')}:`, ...byManager.get(m)!.map((f) => `- ${f}`)]);
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

/** Applies `applied` for `manager` to `live` (or creates it); throws {@link ApplyConflictError} or {@link ApplyError}. */
export function apply(request: ApplyRequest): ApplyResult {
  const { live, applied, manager, force = false, subresource, schema } = request;
  if (typeof manager !== 'string' || manager === '') throw new ApplyError('fieldManager is required for apply requests');
  if (!isObject(applied)) throw new ApplyError('the applied configuration must be an object');
  if (applied.metadata !== undefined && !isObject(applied.metadata)) throw new ApplyError('metadata must be an object');
  if (isObject(applied.metadata) && applied.metadata.managedFields !== undefined) throw new ApplyError('metadata.managedFields must be nil');
  if (!live && subresource) throw new ApplyError(`cannot apply to the ${subresource} of an object that does not exist`);

  const rootSchema = withObjectMeta(schema);
  const apiVersion = String(applied.apiVersion ?? live?.apiVersion ?? '');
  const liveView = trackedView(live, subresource);
  const configView = trackedView(applied as KubeObject, subresource);
  let configFields: FieldSet;
  try {
    configFields = fieldSetOfView(configView, schema, true);
  } catch (err) {
    if (err instanceof InvalidListError) throw new ApplyError(err.message);
    throw err;
  }

  const managers = decodeManagedFields(live?.metadata?.managedFields);
  if (live && managers.length === 0) {
    const existing = fieldSetOfView(liveView, schema);
    const liveVersion = String(live.apiVersion ?? apiVersion);
    if (!existing.isEmpty()) managers.push({ manager: BEFORE_FIRST_APPLY, operation: 'Update', apiVersion: liveVersion, fields: existing });
  }
  const self: ManagerFields = { manager, operation: 'Apply', apiVersion, ...(subresource ? { subresource } : {}), fields: configFields };
  const selfKey = managerKey(self);
  const previous = managers.find((m) => managerKey(m) === selfKey);
  const others = managers.filter((m) => m !== previous);

  const merged = mergeValue(liveView, configView, rootSchema) as JsonObject;
  const owned = others.reduce((set, m) => set.union(m.fields), configFields);
  const result = previous ? (pruneValue(merged, previous.fields, owned, rootSchema) as JsonObject) : merged;

  const comparison = compareViews(liveView, result, schema);
  const changedFields = comparison.added.union(comparison.modified);
  const conflicts: ApplyConflict[] = [];
  for (const m of others) {
    const taken = m.fields.intersection(changedFields);
    for (const path of taken.paths()) conflicts.push({ manager: m.manager, field: formatPath(path), message: `conflict with ${describeManager(m)}` });
    m.fields = m.fields.difference(taken).difference(comparison.removed);
  }
  if (conflicts.length > 0 && !force) {
    const order = (a: ApplyConflict, b: ApplyConflict) => (a.message === b.message ? (a.field < b.field ? -1 : 1) : a.message < b.message ? -1 : 1);
    throw new ApplyConflictError(conflicts.sort(order));
  }

  const viewChanged = !live || !deepEqual(liveView, result);
  const time = viewChanged || !previous?.time ? isoSeconds(request.now ?? new Date()) : previous.time;
  const managedFields = encodeManagedFields([...others, { ...self, time }]);

  const base = live ?? creationBase(applied);
  const object = setManagedFields(subresource === 'status' ? withStatus(base, result) : withMainView(base, result), managedFields);
  return { object, changed: !live || !deepEqual(live, object), created: !live };
}

/** The untracked parts of a new object: the config without status and managedFields. */
function creationBase(applied: JsonObject): KubeObject {
  const base = clone(applied);
  delete base.status;
  const metadata = isObject(base.metadata) ? base.metadata : {};
  delete metadata.managedFields;
  return { ...base, metadata } as KubeObject;
}

/** `base` with its status replaced by the view's. */
function withStatus(base: KubeObject, view: JsonObject): KubeObject {
  const out = clone(base);
  if (hasOwn(view, 'status')) out.status = view.status;
  else delete out.status;
  return out;
}

/** `base`'s untracked fields (apiVersion, kind, status, system metadata) with the view's tracked fields. */
function withMainView(base: KubeObject, view: JsonObject): KubeObject {
  const out: JsonObject = {};
  const viewMeta = isObject(view.metadata) ? view.metadata : {};
  for (const key of Object.keys(base)) {
    if (key === 'metadata') out.metadata = withTrackedMetadata(base.metadata, viewMeta);
    else if (UNTRACKED_TOP_LEVEL.includes(key)) setOwn(out, key, clone(base[key]));
    else if (hasOwn(view, key)) setOwn(out, key, view[key]);
  }
  for (const key of Object.keys(view)) if (key !== 'metadata' && !hasOwn(out, key)) setOwn(out, key, view[key]);
  if (!hasOwn(out, 'metadata')) out.metadata = withTrackedMetadata({}, viewMeta);
  if (hasOwn(out, 'status')) {
    const status = out.status;
    delete out.status;
    out.status = status;
  }
  return out as KubeObject;
}

function withTrackedMetadata(base: object, tracked: JsonObject): JsonObject {
  const out: JsonObject = {};
  const source = base as JsonObject;
  for (const key of Object.keys(source)) {
    if (!TRACKED_METADATA.includes(key)) out[key] = clone(source[key]);
    else if (hasOwn(tracked, key)) out[key] = tracked[key];
  }
  for (const key of Object.keys(tracked)) if (!hasOwn(out, key)) out[key] = tracked[key];
  return out;
}

/** Merges `config` into `live` (neither is mutated; the result shares nothing with them). */
function mergeValue(live: unknown, config: unknown, schema: StructuralSchema | undefined): unknown {
  if (live === undefined) return clone(config);
  const configShape = shapeOf(schema, config, false);
  const liveShape = shapeOf(schema, live, false);
  if (configShape.kind === 'map' && liveShape.kind === 'map' && isObject(live) && isObject(config)) {
    const out: JsonObject = {};
    for (const key of Object.keys(live)) {
      const value = hasOwn(config, key) ? mergeValue(live[key], config[key], fieldSchema(schema, key).schema) : clone(live[key]);
      setOwn(out, key, value);
    }
    for (const key of Object.keys(config)) if (!hasOwn(live, key)) setOwn(out, key, clone(config[key]));
    return out;
  }
  if (configShape.kind === 'list' && liveShape.kind === 'list') return mergeItems(liveShape.items, configShape.items, schema?.items);
  return clone(config);
}

/**
 * Merges keyed items. Items the config names come in the config's order (merged with the
 * live item of the same key); live items the config does not name keep their place. Each live
 * item the config also names is a slot: it receives the next such item in config order,
 * preceded by the config-only items that come before that one in the config.
 */
function mergeItems(live: ListItem[], config: ListItem[], itemSchema: StructuralSchema | undefined): unknown[] {
  const liveByKey = new Map(live.map((item) => [item.element, item.value]));
  const configIndex = new Map(config.map((item, index) => [item.element, index]));
  const shared = config.filter((item) => liveByKey.has(item.element));
  const out: unknown[] = [];
  let next = 0; // next config item not yet emitted
  let slot = 0; // next shared item to place
  const emitUntil = (end: number) => {
    for (; next < end; next++) if (!liveByKey.has(config[next]!.element)) out.push(clone(config[next]!.value));
  };
  for (const item of live) {
    if (!configIndex.has(item.element)) {
      out.push(clone(item.value));
      continue;
    }
    const target = shared[slot++]!;
    const index = configIndex.get(target.element)!;
    emitUntil(index);
    out.push(mergeValue(liveByKey.get(target.element), target.value, itemSchema));
    next = index + 1;
  }
  emitUntil(config.length);
  return out;
}

/**
 * Removes from `value` the fields in `last` (the manager's previous Apply set) that nobody
 * in `owned` owns any more. A named field counts as a member of `last`/`owned` when anything
 * below it is (Kubernetes' EnsureNamedFieldsAreMembers); list items and map keys only when they
 * are members themselves.
 */
function pruneValue(value: unknown, last: FieldSet, owned: FieldSet | undefined, schema: StructuralSchema | undefined): unknown {
  const shape = shapeOf(schema, value, false);
  const keep = (element: string, child: unknown, childSchema: StructuralSchema | undefined, declared: boolean): { keep: boolean; value: unknown } => {
    const lastChild = last.child(element);
    if (!lastChild) return { keep: true, value: child };
    const ownedChild = owned?.child(element);
    const wasOwned = lastChild.isMember || (declared && lastChild.hasChildren);
    const isOwned = !!ownedChild && (ownedChild.isMember || (declared && ownedChild.hasChildren));
    if (wasOwned && !isOwned) return { keep: false, value: undefined };
    return { keep: true, value: lastChild.hasChildren ? pruneValue(child, lastChild, ownedChild, childSchema) : child };
  };
  if (shape.kind === 'map' && isObject(value)) {
    const out: JsonObject = {};
    for (const key of Object.keys(value)) {
      const field = fieldSchema(schema, key);
      const r = keep(`f:${key}`, getOwn(value, key), field.schema, field.declared);
      if (r.keep) setOwn(out, key, r.value);
    }
    return out;
  }
  if (shape.kind === 'list') {
    return shape.items.flatMap((item) => {
      const r = keep(item.element, item.value, schema?.items, false);
      return r.keep ? [r.value] : [];
    });
  }
  return value;
}
