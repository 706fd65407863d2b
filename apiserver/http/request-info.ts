/**
 * Parses an API path the way Kubernetes' RequestInfoFactory does:
 *   /apis/{group}/{version}[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
 *   /api/v1[/namespaces/{ns}]/{resource}[/{name}[/{subresource}]]
 */
import type { Verb } from '../auth/authorizer.js';

export interface ResourceRequest {
  group: string;
  version: string;
  namespace?: string;
  resource: string;
  name?: string;
  subresource?: string;
  verb: Verb;
}

function verbFor(method: string, hasName: boolean, watch: boolean): Verb | undefined {
  switch (method) {
    case 'GET':
    case 'HEAD':
      if (watch) return 'watch';
      return hasName ? 'get' : 'list';
    case 'POST':
      return 'create';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return hasName ? 'delete' : 'deletecollection';
    default:
      return undefined;
  }
}

/** Returns undefined when the path is not a resource path. */
export function parseResourcePath(method: string, pathname: string, query: URLSearchParams): ResourceRequest | undefined {
  const parts = pathname.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else {
    return undefined;
  }
  let namespace: string | undefined;
  // /namespaces/{ns}/{resource}... — but /namespaces and /namespaces/{name} alone address Namespace objects.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  const [resource, name, subresource, ...extra] = rest;
  if (!resource || extra.length) return undefined;
  let watch = query.get('watch') === 'true' || query.get('watch') === '1';
  // Legacy /watch/ prefix is not supported: kubectl uses ?watch=true.
  const verb = verbFor(method, name !== undefined, watch && name === undefined);
  if (!verb) return undefined;
  if (watch && name !== undefined) watch = false;
  return { group, version, namespace, resource, name, subresource, verb };
}
