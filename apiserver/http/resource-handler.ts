/**
 * Serves one resource request (get, list, watch, create, update, patch, delete,
 * deletecollection; the main resource and /status) after authentication.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { KubeObject } from '../../api-types/meta.js';
import { authorize, describeRefusal, type Decision, type RequestAttributes } from '../auth/authorizer.js';
import type { UserInfo } from '../auth/identity.js';
import { withManagedFields } from '../patch/managed-fields.js';
import { applyMergePatchSharing } from '../patch/merge-patch.js';
import { applyJsonPatch, PatchError } from '../patch/json-patch.js';
import { ApplyConflictError, ApplyError, apply as serverSideApply } from '../patch/server-side-apply.js';
import type { StructuralSchema } from '../patch/schema.js';
import { refOf, type ServedResource } from '../registry/served-resource.js';
import { admission } from '../registry/admission.js';
import { parseFieldValidation, prepareForCreate, prepareForUpdate, type WriteContext } from '../registry/strategy.js';
import { InvalidRequestError, NotFoundError } from '../storage/errors.js';
import { createdMetadata, parseResourceVersion, updatedMetadata } from '../storage/etcd-store.js';
import type { ListOptions } from '../storage/interface.js';
import { bodyTypeOf, negotiateResponse, parseBody, PATCH_TYPES, type Accepted } from './negotiation.js';
import type { ResourceRequest } from './request-info.js';
import { renderList, renderObject, sendJson } from './respond.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { toApiError } from './status.js';
import { correlationIdError, requestIdHeader, requestRecordOf } from './access-log.js';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import { serveWatch } from './watch-stream.js';
import { noteCreatedName } from '../audit/auditor.js';
import type { WatchLimiter } from './watch-limit.js';
import type { ApiserverMetrics } from './metrics.js';

export interface ResourceCall {
  req: IncomingMessage;
  res: ServerResponse;
  user: UserInfo;
  request: ResourceRequest;
  query: URLSearchParams;
  sr: ServedResource;
  /** Reads the request body (size-limited). */
  readBody: () => Promise<string>;
  metrics?: ApiserverMetrics;
  /** Open watches per user (a cap; none without it). */
  watches?: WatchLimiter;
}

const STATUS_SUBRESOURCE = 'status';

function fieldManagerOf(call: ResourceCall): string {
  const explicit = call.query.get('fieldManager');
  if (explicit) {
    if (explicit.length > 128) throw errors.badRequest('fieldManager: must be at most 128 characters');
    return explicit;
  }
  const agent = String(call.req.headers['user-agent'] ?? 'unknown');
  return agent.split('/')[0]!.slice(0, 128) || 'unknown';
}

function isDryRun(query: URLSearchParams): boolean {
  const values = query.getAll('dryRun');
  for (const value of values) if (value !== 'All') throw errors.badRequest(`dryRun: unsupported value "${value}": only "All" is supported`);
  return values.length > 0;
}

function checkObjectAccess(call: ResourceCall, decision: Decision, obj: KubeObject, attrs: RequestAttributes): void {
  if (decision.allowed && decision.objectFilter && !decision.objectFilter(obj)) {
    throw errors.forbidden(
      describeRefusal(call.user, attrs, `only ${decision.filterDescription ?? 'its own objects'} are accessible`),
      refOf(call.sr.def, attrs.name),
    );
  }
}

function parseLimit(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const limit = Number(value);
  if (!Number.isInteger(limit) || limit < 0) throw errors.badRequest(`limit: invalid value "${value}": must be a non-negative integer`);
  return limit === 0 ? undefined : limit;
}

function parseTimeoutSeconds(value: string | null): number | undefined {
  if (value === null || value === '') return undefined;
  const seconds = Number(value);
  if (!Number.isFinite(seconds) || seconds < 0) throw errors.badRequest(`timeoutSeconds: invalid value "${value}"`);
  return seconds;
}

export async function handleResource(call: ResourceCall): Promise<void> {
  const { request, sr, user, query } = call;
  if (request.subresource && request.subresource !== STATUS_SUBRESOURCE) {
    throw errors.pathNotFound(call.req.url ?? '');
  }
  if (request.subresource === STATUS_SUBRESOURCE && !sr.def.hasStatus) throw errors.pathNotFound(call.req.url ?? '');
  if (!sr.def.namespaced && request.namespace !== undefined) throw errors.pathNotFound(call.req.url ?? '');
  if (sr.def.namespaced && request.namespace === undefined && request.name !== undefined) {
    throw errors.pathNotFound(call.req.url ?? '');
  }

  const attrs: RequestAttributes = {
    verb: request.verb,
    apiGroup: sr.def.group,
    resource: sr.def.plural,
    subresource: request.subresource,
    namespace: request.namespace,
    name: request.name,
  };
  const decision = authorize(user, attrs);
  if (!decision.allowed) throw errors.forbidden(describeRefusal(user, attrs, decision.reason), refOf(sr.def, request.name));

  const accepted = negotiateResponse(call.req.headers.accept);
  switch (request.verb) {
    case 'get':
      return handleGet(call, decision, attrs, accepted);
    case 'list':
      return handleList(call, decision, accepted);
    case 'watch':
      return handleWatch(call, decision, accepted);
    case 'create':
      if (request.subresource) throw errors.methodNotAllowed('POST', `${sr.def.plural}/${request.subresource}`);
      return handleCreate(call, accepted);
    case 'update':
      return handleUpdate(call, decision, attrs, accepted);
    case 'patch':
      return handlePatch(call, decision, attrs, accepted);
    case 'delete':
      if (request.subresource) throw errors.methodNotAllowed('DELETE', `${sr.def.plural}/${request.subresource}`);
      return handleDelete(call, decision, attrs, accepted);
    case 'deletecollection':
      return handleDeleteCollection(call, accepted);
  }
  void query;
}

async function handleGet(call: ResourceCall, decision: Decision, attrs: RequestAttributes, accepted: Accepted) {
  const { sr, request } = call;
  const obj = await sr.store.get(request.namespace, request.name!);
  checkObjectAccess(call, decision, obj, attrs);
  const view = decision.allowed ? decision.view : undefined;
  sendJson(call.res, 200, renderObject(sr, view ? view(obj) : obj, accepted), accepted.yaml);
}

function listOptions(call: ResourceCall): ListOptions {
  const { query, request } = call;
  return {
    namespace: call.sr.def.namespaced ? request.namespace : undefined,
    labelSelector: query.get('labelSelector') ?? undefined,
    fieldSelector: query.get('fieldSelector') ?? undefined,
    limit: parseLimit(query.get('limit')),
    continue: query.get('continue') ?? undefined,
    resourceVersion: query.get('resourceVersion') ?? undefined,
  };
}

async function handleList(call: ResourceCall, decision: Decision, accepted: Accepted) {
  const { sr } = call;
  const result = await sr.store.list(listOptions(call));
  const filter = decision.allowed ? decision.objectFilter : undefined;
  const view = decision.allowed ? decision.view : undefined;
  const filtered = filter ? result.items.filter(filter) : result.items;
  const items = view ? filtered.map(view) : filtered;
  const meta: { resourceVersion?: string; continue?: string; remainingItemCount?: number } = { resourceVersion: result.resourceVersion };
  if (result.continue) meta.continue = result.continue;
  if (result.remainingItemCount !== undefined && !filter) meta.remainingItemCount = result.remainingItemCount;
  sendJson(call.res, 200, renderList(sr, items, meta, accepted), accepted.yaml);
}

function handleWatch(call: ResourceCall, decision: Decision, accepted: Accepted) {
  const { sr, query } = call;
  const options = listOptions(call);
  // Checked before the stream starts: a bad version is a 400 Status, not an ERROR event on a 200.
  parseResourceVersion(options.resourceVersion);
  const release = call.watches?.acquire(call.user);
  const resource = sr.def.plural;
  serveWatch({
    sr,
    req: call.req,
    res: call.res,
    accepted,
    timeoutSeconds: parseTimeoutSeconds(query.get('timeoutSeconds')),
    objectFilter: decision.allowed ? decision.objectFilter : undefined,
    objectView: decision.allowed ? decision.view : undefined,
    watch: {
      namespace: options.namespace,
      labelSelector: options.labelSelector,
      fieldSelector: options.fieldSelector,
      resourceVersion: options.resourceVersion,
      allowBookmarks: query.get('allowWatchBookmarks') === 'true',
      sendInitialEvents: query.get('sendInitialEvents') === 'true' ? true : undefined,
    },
    onOpen: () => call.metrics?.watchers.inc({ resource }),
    onClose: () => {
      release?.();
      call.metrics?.watchers.dec({ resource });
    },
  });
}

async function readObjectBody(call: ResourceCall): Promise<unknown> {
  const type = bodyTypeOf(call.req.headers['content-type']);
  if (type !== 'json' && type !== 'yaml') {
    throw errors.unsupportedMediaType(String(call.req.headers['content-type'] ?? ''), ['application/json', 'application/yaml']);
  }
  const text = await call.readBody();
  if (!text.trim()) throw errors.badRequest('the request body is empty');
  return parseBody(text, type);
}

/** The subresource field management tracks apart ('status'), or the main resource. */
const statusOrMain = (subresource: string | undefined): 'status' | undefined => (subresource === STATUS_SUBRESOURCE ? 'status' : undefined);

/**
 * The correlation id a write records on the object (the strategy sets the annotation): the
 * request's X-Request-Id, or the id the apiserver gave a request without one. A header that
 * cannot be an id is refused, not replaced, so the client's chain is not silently broken.
 */
function correlationIdOf(call: ResourceCall): string {
  const sent = requestIdHeader(call.req);
  const problem = sent === undefined ? undefined : correlationIdError(sent);
  if (problem) throw errors.badRequest(problem);
  return requestRecordOf(call.res).requestId;
}

function writeContext(call: ResourceCall): WriteContext {
  return {
    fieldValidation: parseFieldValidation(call.query.get('fieldValidation')),
    warnings: [],
    subresource: call.request.subresource,
    correlationId: correlationIdOf(call),
  };
}

async function handleCreate(call: ResourceCall, accepted: Accepted) {
  const { sr, request } = call;
  const ctx = writeContext(call);
  const manager = fieldManagerOf(call);
  const dryRun = isDryRun(call.query);
  const body = await readObjectBody(call);
  let obj = prepareForCreate(sr, body, request.namespace, ctx);
  obj = withManagedFields(undefined, obj, manager, { schema: sr.def.schema as StructuralSchema });
  const created = dryRun ? dryRunCreated(obj) : await sr.store.create(obj);
  noteCreatedName(call.req, created.metadata.name);
  sendJson(call.res, 201, renderObject(sr, created, accepted), accepted.yaml, ctx.warnings);
}

/** What a create would store, without storing it (server-owned metadata as the store sets it). */
function dryRunCreated(obj: KubeObject): KubeObject {
  return { ...obj, metadata: createdMetadata(obj.metadata, new Date()) };
}

/** What an update of `current` by `tryUpdate` would store, without storing it. */
function dryRunUpdated(current: KubeObject, tryUpdate: (current: KubeObject) => KubeObject): KubeObject {
  const next = tryUpdate(current);
  return { ...next, metadata: { ...updatedMetadata(next, current), resourceVersion: current.metadata.resourceVersion } };
}

async function handleUpdate(call: ResourceCall, decision: Decision, attrs: RequestAttributes, accepted: Accepted) {
  const { sr, request } = call;
  const ctx = writeContext(call);
  const manager = fieldManagerOf(call);
  const dryRun = isDryRun(call.query);
  const body = await readObjectBody(call);
  const incomingVersion = (body as KubeObject | null)?.metadata?.resourceVersion;
  // Starts from the watch cache's copy (no etcd read); the store re-reads when it is stale.
  const tryUpdate = (old: KubeObject): KubeObject => {
    checkObjectAccess(call, decision, old, attrs);
    if (incomingVersion && incomingVersion !== old.metadata.resourceVersion) {
      throw errors.modified(refOf(sr.def, request.name));
    }
    ctx.warnings.length = 0;
    let next = prepareForUpdate(sr, old, body, ctx);
    checkObjectAccess(call, decision, next, attrs);
    next = withManagedFields(old, next, manager, { subresource: statusOrMain(request.subresource), schema: sr.def.schema as StructuralSchema });
    next.metadata.resourceVersion = old.metadata.resourceVersion;
    return next;
  };
  const updated = dryRun
    ? dryRunUpdated(await sr.store.get(request.namespace, request.name!), tryUpdate)
    : await sr.store.guaranteedUpdate(request.namespace, request.name!, tryUpdate);
  sendJson(call.res, 200, renderObject(sr, updated, accepted), accepted.yaml, ctx.warnings);
}

/** Applies a patch document of the given type to `current` (undefined for apply-create). */
function patchObject(call: ResourceCall, type: ReturnType<typeof bodyTypeOf>, patch: unknown, current: KubeObject | undefined, manager: string): KubeObject {
  const { sr, request } = call;
  try {
    switch (type) {
      case 'merge-patch':
        if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) {
          throw errors.badRequest('a merge patch must be a JSON object');
        }
        // Sharing is safe: prepareForUpdate builds a new object from the result, and `current`
        // (the store's private copy) is not written to.
        return applyMergePatchSharing(current, patch) as KubeObject;
      case 'json-patch':
        if (!Array.isArray(patch)) throw errors.badRequest('a JSON patch must be an array of operations');
        return applyJsonPatch(current, patch) as KubeObject;
      case 'apply-patch': {
        const force = call.query.get('force') === 'true';
        const applied = patch as KubeObject;
        if (applied === null || typeof applied !== 'object' || Array.isArray(applied)) {
          throw errors.badRequest('an apply patch must be an object');
        }
        if (applied.metadata?.name !== undefined && applied.metadata.name !== request.name) {
          throw errors.badRequest(`the name of the object (${applied.metadata.name}) does not match the name on the URL (${request.name})`);
        }
        return serverSideApply({
          live: current,
          applied: { ...applied, metadata: { ...(applied.metadata ?? {}), name: request.name } },
          manager,
          force,
          subresource: request.subresource === 'status' ? 'status' : undefined,
          schema: sr.def.schema as StructuralSchema,
        }).object;
      }
      default:
        throw errors.unsupportedMediaType(String(call.req.headers['content-type'] ?? ''), PATCH_TYPES);
    }
  } catch (err) {
    if (err instanceof PatchError) throw new ApiError(422, 'Invalid', `the patch could not be applied: ${err.message}`);
    if (err instanceof ApplyError) throw errors.badRequest(`the apply configuration is invalid: ${err.message}`);
    if (err instanceof ApplyConflictError) {
      throw new ApiError(409, 'Conflict', err.message, {
        name: request.name,
        group: sr.def.group,
        kind: sr.def.plural,
        causes: err.conflicts.map((conflict) => ({ reason: 'FieldManagerConflict', message: conflict.message, field: conflict.field })),
      });
    }
    throw err;
  }
}

async function handlePatch(call: ResourceCall, decision: Decision, attrs: RequestAttributes, accepted: Accepted) {
  const { sr, request } = call;
  const type = bodyTypeOf(call.req.headers['content-type']);
  if (type === 'strategic-merge-patch' || type === 'json' || type === 'yaml' || type === 'unknown') {
    throw errors.unsupportedMediaType(String(call.req.headers['content-type'] ?? ''), PATCH_TYPES);
  }
  const ctx = writeContext(call);
  const manager = type === 'apply-patch' ? call.query.get('fieldManager') : fieldManagerOf(call);
  if (!manager) throw errors.badRequest('PATCH with application/apply-patch+yaml requires the fieldManager parameter');
  const dryRun = isDryRun(call.query);
  const text = await call.readBody();
  if (!text.trim()) throw errors.badRequest('the patch body is empty');
  const patch = parseBody(text, type);

  const tryUpdate = (live: KubeObject): KubeObject => {
    checkObjectAccess(call, decision, live, attrs);
    const patched = patchObject(call, type, patch, live, manager);
    const requestedVersion = patched.metadata?.resourceVersion;
    if (requestedVersion && requestedVersion !== live.metadata.resourceVersion) {
      throw errors.modified(refOf(sr.def, request.name));
    }
    ctx.warnings.length = 0;
    let next = prepareForUpdate(sr, live, patched, ctx);
    checkObjectAccess(call, decision, next, attrs);
    next =
      type === 'apply-patch'
        ? { ...next, metadata: { ...next.metadata, managedFields: patched.metadata.managedFields } }
        : withManagedFields(live, next, manager, { subresource: statusOrMain(request.subresource), schema: sr.def.schema as StructuralSchema });
    next.metadata.resourceVersion = live.metadata.resourceVersion;
    return next;
  };
  let result: KubeObject;
  try {
    // Starts from the watch cache's copy (no etcd read); the store re-reads when it is stale.
    result = dryRun
      ? dryRunUpdated(await sr.store.get(request.namespace, request.name!), tryUpdate)
      : await sr.store.guaranteedUpdate(request.namespace, request.name!, tryUpdate);
  } catch (err) {
    if (!(err instanceof NotFoundError) || type !== 'apply-patch' || request.subresource) throw err;
    // Server-side apply creates the object when it does not exist.
    ctx.warnings.length = 0; // from a tryUpdate on a cached copy that etcd no longer had
    const applied = patchObject(call, type, patch, undefined, manager);
    let obj = prepareForCreate(sr, applied, request.namespace, ctx);
    obj = { ...obj, metadata: { ...obj.metadata, managedFields: applied.metadata.managedFields } };
    const created = dryRun ? dryRunCreated(obj) : await sr.store.create(obj);
    sendJson(call.res, 201, renderObject(sr, created, accepted), accepted.yaml, ctx.warnings);
    return;
  }
  sendJson(call.res, 200, renderObject(sr, result, accepted), accepted.yaml, ctx.warnings);
}

interface DeleteOptionsBody {
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: string[];
}

async function readDeleteOptions(call: ResourceCall): Promise<DeleteOptionsBody> {
  const text = await call.readBody();
  if (!text.trim()) return {};
  const body = parseBody(text, bodyTypeOf(call.req.headers['content-type']) === 'yaml' ? 'yaml' : 'json');
  if (body === null || typeof body !== 'object') throw errors.badRequest('DeleteOptions must be an object');
  return body as DeleteOptionsBody;
}

async function handleDelete(call: ResourceCall, decision: Decision, attrs: RequestAttributes, accepted: Accepted) {
  const { sr, request } = call;
  const options = await readDeleteOptions(call);
  const correlationId = correlationIdOf(call);
  const dryRun = isDryRun(call.query) || (options.dryRun ?? []).includes('All');
  const current = await sr.store.get(request.namespace, request.name!);
  checkObjectAccess(call, decision, current, attrs);
  const refusal = admission.deleteRefusal(sr.def, current, sr.lister);
  if (refusal) throw refusal;
  if (dryRun) {
    sendJson(call.res, 200, renderObject(sr, current, accepted), accepted.yaml);
    return;
  }
  // A delete that finalizers hold back is a write the controllers act on: it carries the id.
  const result = await sr.store.delete(request.namespace, request.name!, {
    preconditions: options.preconditions,
    annotations: { [CORRELATION_ID_ANNOTATION]: correlationId },
  });
  sendJson(call.res, result.deleted ? 200 : 202, renderObject(sr, result.object, accepted), accepted.yaml);
}

async function handleDeleteCollection(call: ResourceCall, accepted: Accepted) {
  const { sr } = call;
  const annotations = { [CORRELATION_ID_ANNOTATION]: correlationIdOf(call) };
  const options = listOptions(call);
  const { items, resourceVersion } = await sr.store.list({ ...options, limit: undefined, continue: undefined });
  const results: KubeObject[] = [];
  for (const item of items) {
    const refusal = admission.deleteRefusal(sr.def, item, sr.lister);
    if (refusal) throw refusal;
  }
  for (const item of items) {
    try {
      results.push((await sr.store.delete(item.metadata.namespace, item.metadata.name!, { annotations })).object);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }
  sendJson(call.res, 200, renderList(sr, results, { resourceVersion }, accepted), accepted.yaml);
}

/** Maps anything thrown while serving to an ApiError for this resource. */
export function resourceError(err: unknown, sr: ServedResource | undefined): ApiError {
  if (err instanceof InvalidRequestError) return errors.badRequest(err.message);
  return toApiError(err, sr ? { group: sr.def.group, resource: sr.def.plural, kind: sr.def.kind } : undefined);
}
