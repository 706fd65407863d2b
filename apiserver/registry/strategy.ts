/**
 * The per-kind write strategy, as Kubernetes' registry strategies do it:
 * - a request's values for server-owned metadata (uid, resourceVersion, generation,
 *   creationTimestamp, deletion fields; SERVER_OWNED_METADATA) are dropped before validation:
 *   the storage layer sets them (storage/etcd-store.ts), this strategy never does;
 * - create: status dropped (main resource), defaults applied, then the kind's server-set
 *   fields (prepareWrite: the VM cleanup finalizer once spec.nodeName is set);
 * - update of the main resource keeps the stored status; an update of /status keeps
 *   everything but status;
 * - unknown fields handled per `fieldValidation` (Strict → 400, Warn → warnings, Ignore);
 * - validation reports every problem and never changes the object; an update is also checked
 *   against the stored object (validateUpdate: spec.nodeName immutable once set) and, for
 *   StoragePools, against the VMs in the watch cache (a node whose VMs use the pool stays
 *   assigned; see admission.ts);
 * - a write of the main resource records the request's correlation id in the annotation
 *   quantix.io/correlation-id (api-types/correlation.ts), unless it changes nothing else (a
 *   no-op stays a no-op); /status writes leave it as it is.
 */
import { isDeepStrictEqual } from 'node:util';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import type { KubeObject } from '../../api-types/meta.js';
import { admission } from './admission.js';
import type { ServedResource } from './served-resource.js';
import { refOf } from './served-resource.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { withoutServerOwnedMetadata } from '../storage/etcd-store.js';

export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export function parseFieldValidation(value: string | null): FieldValidation {
  if (value === null || value === '') return 'Warn';
  if (value === 'Strict' || value === 'Warn' || value === 'Ignore') return value;
  throw errors.badRequest(`fieldValidation: invalid value "${value}": must be one of Strict, Warn, Ignore`);
}

export interface WriteContext {
  fieldValidation: FieldValidation;
  /** Warnings collected for `Warning: 299` headers. */
  warnings: string[];
  subresource?: string;
  /** The request's correlation id, recorded on the object by a main-resource write. */
  correlationId?: string;
}

/** `obj` with its correlation-id annotation set to `id` (removed when undefined); a new object. */
function withCorrelationId(obj: KubeObject, id: string | undefined): KubeObject {
  const { [CORRELATION_ID_ANNOTATION]: _previous, ...others } = obj.metadata.annotations ?? {};
  const annotations = id === undefined ? others : { ...others, [CORRELATION_ID_ANNOTATION]: id };
  const { annotations: _old, ...metadata } = obj.metadata;
  return { ...obj, metadata: Object.keys(annotations).length === 0 ? metadata : { ...metadata, annotations } };
}

/** What a client means by an object: everything but status, server-owned metadata and the correlation id. */
function intentOf(obj: KubeObject): unknown {
  const { status: _status, metadata, ...rest } = withCorrelationId(obj, undefined);
  const {
    resourceVersion: _rv,
    managedFields: _mf,
    uid: _uid,
    generation: _g,
    creationTimestamp: _c,
    deletionTimestamp: _d,
    deletionGracePeriodSeconds: _dg,
    ...meta
  } = metadata;
  return { ...rest, metadata: { ...meta, annotations: meta.annotations ?? {}, labels: meta.labels ?? {}, finalizers: meta.finalizers ?? [] } };
}

/** Sets the annotation on a main-resource update, or keeps the stored one when nothing else changes. */
function recordCorrelationId(obj: KubeObject, old: KubeObject, id: string | undefined): KubeObject {
  if (id === undefined) return obj;
  const kept = old.metadata.annotations?.[CORRELATION_ID_ANNOTATION];
  return withCorrelationId(obj, isDeepStrictEqual(intentOf(obj), intentOf(old)) ? kept : id);
}

/** Checks the envelope (object, apiVersion, kind) of a request body. */
export function checkEnvelope(sr: ServedResource, body: unknown): KubeObject {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) {
    throw errors.badRequest(`the request body must be a ${sr.def.kind} object`);
  }
  const obj = body as KubeObject;
  if (obj.apiVersion !== undefined && obj.apiVersion !== sr.apiVersion) {
    throw errors.badRequest(`the API version in the data (${String(obj.apiVersion)}) does not match the expected API version (${sr.apiVersion})`);
  }
  if (obj.kind !== undefined && obj.kind !== sr.def.kind) {
    throw errors.badRequest(`the kind in the data (${String(obj.kind)}) does not match the expected kind (${sr.def.kind})`);
  }
  if (obj.metadata !== undefined && (obj.metadata === null || typeof obj.metadata !== 'object')) {
    throw errors.badRequest('metadata: must be an object');
  }
  return { ...obj, apiVersion: sr.apiVersion, kind: sr.def.kind, metadata: { ...(obj.metadata ?? {}) } };
}

/** Strict → 400 naming each unknown field; Warn → one warning each; always pruned before storing. */
function handleUnknownFields(sr: ServedResource, obj: KubeObject, ctx: WriteContext): KubeObject {
  const unknown = admission.unknownFields(sr.def, obj);
  if (unknown.length === 0) return obj;
  if (ctx.fieldValidation === 'Strict') {
    const list = unknown.map((field) => `unknown field "${field}"`).join(', ');
    throw new ApiError(
      400,
      'BadRequest',
      `${sr.def.kind} in version "${sr.def.version}" cannot be handled as a ${sr.def.kind}: strict decoding error: ${list}`,
      {
        kind: sr.def.kind,
        group: sr.def.group,
        name: obj.metadata.name,
        causes: unknown.map((field) => ({ reason: 'FieldValueInvalid', message: `unknown field "${field}"`, field })),
      },
    );
  }
  if (ctx.fieldValidation === 'Warn') for (const field of unknown) ctx.warnings.push(`unknown field "${field}"`);
  return admission.prune(sr.def, obj);
}

function validateOrThrow(sr: ServedResource, obj: KubeObject, old: KubeObject | undefined, ctx: WriteContext): void {
  const problems = admission.validate(sr.def, obj, { subresource: ctx.subresource, old, lister: sr.lister });
  if (problems.length) {
    throw errors.invalid(
      refOf(sr.def, obj.metadata.name),
      problems.map((problem) => admission.toCause(problem)),
    );
  }
}

const GENERATE_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

export function generateNameSuffix(): string {
  let suffix = '';
  for (let i = 0; i < 5; i++) suffix += GENERATE_ALPHABET[Math.floor(Math.random() * GENERATE_ALPHABET.length)];
  return suffix;
}

/** Prepares a POSTed object for storage (returns a new object; the input is not changed). */
export function prepareForCreate(sr: ServedResource, body: unknown, namespace: string | undefined, ctx: WriteContext): KubeObject {
  let obj = checkEnvelope(sr, body);
  const meta = withoutServerOwnedMetadata(obj.metadata);
  obj.metadata = meta;
  delete meta.managedFields;
  if (sr.def.namespaced) {
    if (meta.namespace && namespace && meta.namespace !== namespace) {
      throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
    }
    meta.namespace = namespace ?? meta.namespace;
    if (!meta.namespace) throw errors.badRequest('a namespace is required for namespaced resources');
  } else {
    delete meta.namespace;
  }
  if (!meta.name) {
    if (!meta.generateName) {
      throw errors.invalid(refOf(sr.def), [
        { reason: 'FieldValueRequired', field: 'metadata.name', message: 'Required value: name or generateName is required' },
      ]);
    }
    meta.name = `${meta.generateName}${generateNameSuffix()}`;
  }
  if (sr.def.hasStatus) delete obj.status;
  obj = handleUnknownFields(sr, obj, ctx);
  obj = admission.defaults(sr.def, obj);
  obj = admission.prepareWrite(sr.def, obj, undefined);
  if (ctx.correlationId !== undefined) obj = withCorrelationId(obj, ctx.correlationId);
  validateOrThrow(sr, obj, undefined, ctx);
  return obj;
}

/**
 * Prepares an update of `old` to `incoming` (both full objects). For the main resource the
 * stored status wins; for /status only status is taken from `incoming`.
 */
export function prepareForUpdate(sr: ServedResource, old: KubeObject, incoming: unknown, ctx: WriteContext): KubeObject {
  let obj = checkEnvelope(sr, incoming);
  const meta = obj.metadata;
  if (meta.name !== undefined && meta.name !== old.metadata.name) {
    throw errors.badRequest(`the name of the object (${meta.name}) does not match the name on the URL (${old.metadata.name})`);
  }
  if (sr.def.namespaced && meta.namespace !== undefined && meta.namespace !== old.metadata.namespace) {
    throw errors.badRequest('the namespace of the provided object does not match the namespace sent on the request');
  }
  if (meta.uid !== undefined && meta.uid !== old.metadata.uid) {
    throw errors.conflict(refOf(sr.def, old.metadata.name), `Precondition failed: UID in precondition: ${meta.uid}, UID in object meta: ${old.metadata.uid}`);
  }
  if (ctx.subresource === 'status') {
    // Only status changes through /status.
    obj = { ...structuredClone(old), status: obj.status, metadata: { ...old.metadata, resourceVersion: meta.resourceVersion ?? old.metadata.resourceVersion } };
  } else {
    // The name and namespace are the URL's; a resourceVersion is checked by the caller.
    obj.metadata = { ...withoutServerOwnedMetadata(meta), name: old.metadata.name };
    if (sr.def.namespaced) obj.metadata.namespace = old.metadata.namespace;
    else delete obj.metadata.namespace;
    if (sr.def.hasStatus) {
      if (old.status === undefined) delete obj.status;
      else obj.status = old.status;
    }
    if (old.metadata.deletionTimestamp) {
      const before = new Set(old.metadata.finalizers ?? []);
      const added = (obj.metadata.finalizers ?? []).filter((finalizer) => !before.has(finalizer));
      if (added.length) {
        throw errors.invalid(refOf(sr.def, old.metadata.name), [
          {
            reason: 'FieldValueForbidden',
            field: 'metadata.finalizers',
            message: `Forbidden: no new finalizers can be added if the object is being deleted, found new finalizers ${JSON.stringify(added)}`,
          },
        ]);
      }
    }
  }
  delete obj.metadata.managedFields;
  obj = handleUnknownFields(sr, obj, ctx);
  obj = admission.defaults(sr.def, obj);
  if (ctx.subresource !== 'status') {
    obj = admission.prepareWrite(sr.def, obj, old);
    obj = recordCorrelationId(obj, old, ctx.correlationId);
  }
  validateOrThrow(sr, obj, old, ctx);
  return obj;
}
