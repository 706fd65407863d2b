/**
 * An API group and version as Kubernetes spells them: the `apiVersion` of an object and the
 * REST path of a resource. Browser-safe (the UI imports it).
 */

/** The coordinates of a resource on the REST API. */
export interface RestResource {
  /** '' for the core group (`/api/v1`). */
  group: string;
  version: string;
  plural: string;
  namespaced: boolean;
}

/** `quantix.io/v1alpha1`, or `v1` for the core group. */
export function apiVersionOf(gv: { group: string; version: string }): string {
  return gv.group ? `${gv.group}/${gv.version}` : gv.version;
}

/** `/apis/<group>/<version>`, or `/api/<version>` for the core group. */
export function groupVersionPath(gv: { group: string; version: string }): string {
  return gv.group ? `/apis/${gv.group}/${gv.version}` : `/api/${gv.version}`;
}

/**
 * /apis/<group>/<version>[/namespaces/<ns>]/<plural>[/<name>[/<subresource>]] (core: /api/v1/…).
 * Without a namespace, a namespaced resource's path is its collection across all namespaces.
 */
export function resourcePath(r: RestResource, namespace?: string, name?: string, subresource?: string): string {
  let path = groupVersionPath(r);
  if (r.namespaced && namespace) path += `/namespaces/${encodeURIComponent(namespace)}`;
  path += `/${r.plural}`;
  if (name !== undefined) path += `/${encodeURIComponent(name)}`;
  if (subresource) path += `/${subresource}`;
  return path;
}
