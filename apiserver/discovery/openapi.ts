/**
 * /openapi/v3: one document per group-version, built from the api-types schemas.
 * kubectl uses it for `explain` and to learn that our PATCH supports `fieldValidation`
 * (server-side validation) but not strategic merge (so `kubectl apply` sends merge patches).
 */
import { createHash } from 'node:crypto';
import { openAPIDocument, openAPIName } from '../../api-types/openapi.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { groupVersionPath } from '../../api-types/group-version.js';

type Json = Record<string, unknown>;

const STATUS = 'io.k8s.apimachinery.pkg.apis.meta.v1.Status';
const PATCH = 'io.k8s.apimachinery.pkg.apis.meta.v1.Patch';
const DELETE_OPTIONS = 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions';

/** Request/response shapes the paths refer to, beyond what api-types provides. */
const OPERATION_SCHEMAS: Record<string, Json> = {
  [STATUS]: {
    type: 'object',
    description: 'The result of an operation that failed (or of some that succeeded).',
    properties: {
      kind: { type: 'string' },
      apiVersion: { type: 'string' },
      status: { type: 'string', description: 'Success or Failure.' },
      message: { type: 'string' },
      reason: { type: 'string' },
      code: { type: 'integer' },
      details: { type: 'object' },
    },
    'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Status' }],
  },
  [PATCH]: { type: 'object', description: 'A patch document: JSON patch, JSON merge patch or an apply configuration.' },
  [DELETE_OPTIONS]: {
    type: 'object',
    properties: { preconditions: { type: 'object' }, dryRun: { type: 'array', items: { type: 'string' } }, propagationPolicy: { type: 'string' } },
  },
};

function schemaName(def: ResourceDefinition, suffix = ''): string {
  return openAPIName(def, def.kind + suffix);
}

const ref = (name: string): Json => ({ $ref: `#/components/schemas/${name}` });

function queryParam(name: string, description: string, type = 'string'): Json {
  return { name, in: 'query', description, schema: { type }, uniqueItems: true };
}

const WRITE_PARAMS = [
  queryParam('dryRun', 'When present ("All"), the request is validated but nothing is persisted.'),
  queryParam('fieldManager', 'Name of the actor making the change (for managedFields).'),
  queryParam('fieldValidation', 'Strict: unknown or duplicate fields are an error. Warn (default): they produce warnings. Ignore: they are dropped silently.'),
];
const LIST_PARAMS = [
  queryParam('labelSelector', 'Restrict the list by labels.'),
  queryParam('fieldSelector', 'Restrict the list by fields (metadata.name, metadata.namespace and per-kind fields).'),
  queryParam('limit', 'Maximum number of items to return.', 'integer'),
  queryParam('continue', 'Token of the next page.'),
  queryParam('resourceVersion', 'Read at (or after) this resource version.'),
  queryParam('watch', 'Stream changes instead of listing.', 'boolean'),
  queryParam('allowWatchBookmarks', 'Send BOOKMARK events during a watch.', 'boolean'),
  queryParam('timeoutSeconds', 'End the watch after this many seconds.', 'integer'),
];

function jsonContent(schema: Json): Json {
  return { 'application/json': { schema }, 'application/yaml': { schema } };
}

function operation(def: ResourceDefinition, action: string, operationId: string, extra: Json = {}): Json {
  const gvk = { group: def.group, version: def.version, kind: def.kind };
  return {
    operationId,
    tags: [def.group ? `${def.group.split('.')[0]}_${def.version}` : `core_${def.version}`],
    responses: { '200': { description: 'OK', content: jsonContent(ref(schemaName(def))) }, '401': { description: 'Unauthorized' } },
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    ...extra,
  };
}

function pathsFor(def: ResourceDefinition, base: string): Record<string, Json> {
  const kind = def.kind;
  const nsParam = {
    name: 'namespace',
    in: 'path',
    required: true,
    description: 'object name and auth scope, such as for teams and projects',
    schema: { type: 'string' },
  };
  const nameParam = { name: 'name', in: 'path', required: true, description: `name of the ${kind}`, schema: { type: 'string' } };
  const collection = def.namespaced ? `${base}/namespaces/{namespace}/${def.plural}` : `${base}/${def.plural}`;
  const item = `${collection}/{name}`;
  const scopeParams = def.namespaced ? [nsParam] : [];
  const body = (schema: Json) => ({ requestBody: { content: jsonContent(schema), required: true } });
  const patchBody = {
    requestBody: {
      required: true,
      content: {
        'application/json-patch+json': { schema: ref(PATCH) },
        'application/merge-patch+json': { schema: ref(PATCH) },
        'application/apply-patch+yaml': { schema: ref(PATCH) },
      },
    },
  };
  const paths: Record<string, Json> = {
    [collection]: {
      parameters: scopeParams,
      get: operation(def, 'list', `list${kind}`, {
        parameters: LIST_PARAMS,
        responses: { '200': { description: 'OK', content: jsonContent(ref(schemaName(def, 'List'))) } },
      }),
      post: operation(def, 'post', `create${kind}`, { parameters: WRITE_PARAMS, ...body(ref(schemaName(def))) }),
      delete: operation(def, 'deletecollection', `deleteCollection${kind}`, { parameters: LIST_PARAMS }),
    },
    [item]: {
      parameters: [...scopeParams, nameParam],
      get: operation(def, 'get', `read${kind}`),
      put: operation(def, 'put', `replace${kind}`, { parameters: WRITE_PARAMS, ...body(ref(schemaName(def))) }),
      patch: operation(def, 'patch', `patch${kind}`, {
        parameters: [...WRITE_PARAMS, queryParam('force', 'Force an apply, taking ownership of conflicting fields.', 'boolean')],
        ...patchBody,
      }),
      delete: operation(def, 'delete', `delete${kind}`, { ...body(ref(DELETE_OPTIONS)), parameters: [queryParam('dryRun', 'Validate only.')] }),
    },
  };
  if (def.hasStatus) {
    paths[`${item}/status`] = {
      parameters: [...scopeParams, nameParam],
      get: operation(def, 'get', `read${kind}Status`),
      put: operation(def, 'put', `replace${kind}Status`, { parameters: WRITE_PARAMS, ...body(ref(schemaName(def))) }),
      patch: operation(def, 'patch', `patch${kind}Status`, { parameters: [...WRITE_PARAMS, queryParam('force', 'Force an apply.', 'boolean')], ...patchBody }),
    };
  }
  if (def.namespaced) {
    paths[`${base}/${def.plural}`] = { get: operation(def, 'list', `list${kind}ForAllNamespaces`, { parameters: LIST_PARAMS }) };
  }
  return paths;
}

export class OpenApi {
  readonly #documents = new Map<string, Json>();
  readonly #hashes = new Map<string, string>();

  constructor(defs: ResourceDefinition[]) {
    const byGroupVersion = new Map<string, ResourceDefinition[]>();
    for (const def of defs) {
      const key = groupVersionPath(def).slice(1); // the /openapi/v3 index names it without the leading slash
      byGroupVersion.set(key, [...(byGroupVersion.get(key) ?? []), def]);
    }
    for (const [key, group] of byGroupVersion) {
      const base = openAPIDocument(group[0]!.group, group[0]!.version);
      let paths: Record<string, Json> = {};
      for (const def of group) paths = { ...paths, ...pathsFor(def, `/${key}`) };
      const doc = { ...base, paths, components: { schemas: { ...base.components.schemas, ...OPERATION_SCHEMAS } } };
      this.#documents.set(key, doc);
      this.#hashes.set(key, createHash('sha512').update(JSON.stringify(doc)).digest('hex').slice(0, 32).toUpperCase());
    }
  }

  /** `/openapi/v3` */
  index(): Json {
    const paths: Record<string, Json> = {};
    for (const key of this.#documents.keys()) paths[key] = { serverRelativeURL: `/openapi/v3/${key}?hash=${this.#hashes.get(key)}` };
    return { paths };
  }

  /** `/openapi/v3/apis/quantix.io/v1alpha1` */
  document(key: string): Json | undefined {
    return this.#documents.get(key);
  }
}
