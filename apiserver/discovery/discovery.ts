/**
 * API discovery, in both forms kubectl 1.32 understands: the aggregated
 * `apidiscovery.k8s.io/v2` APIGroupDiscoveryList (one request for everything) and the
 * older APIVersions / APIGroupList / APIResourceList documents.
 */
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { apiVersionOf } from '../../api-types/group-version.js';

export const AGGREGATED_DISCOVERY_CONTENT_TYPE = 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList';

const READ_WRITE_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];
const STATUS_VERBS = ['get', 'patch', 'update'];
const CREATE_ONLY_VERBS = ['create'];

/** A resource that is only ever created and never stored (the self reviews), cluster-scoped. */
export interface CreateOnlyResource {
  group: string;
  version: string;
  plural: string;
  singular: string;
  kind: string;
}

export function wantsAggregatedDiscovery(accept: string | undefined): boolean {
  if (!accept) return false;
  for (const part of accept.split(',')) {
    const params = part.split(';').map((piece) => piece.trim());
    if (params[0] !== 'application/json') continue;
    const has = (key: string, value: string) => params.includes(`${key}=${value}`);
    if (has('g', 'apidiscovery.k8s.io') && has('v', 'v2') && has('as', 'APIGroupDiscoveryList')) return true;
    // Anything else the client prefers first (e.g. plain JSON) wins.
    if (!params.some((param) => param.startsWith('as='))) return false;
  }
  return false;
}

interface GroupVersion {
  group: string;
  version: string;
  resources: ResourceDefinition[];
}

function groupVersions(defs: ResourceDefinition[]): GroupVersion[] {
  const byKey = new Map<string, GroupVersion>();
  for (const def of defs) {
    const key = `${def.group}/${def.version}`;
    let gv = byKey.get(key);
    if (!gv) byKey.set(key, (gv = { group: def.group, version: def.version, resources: [] }));
    gv.resources.push(def);
  }
  return [...byKey.values()];
}

export class Discovery {
  readonly #defs: ResourceDefinition[];
  readonly #createOnly: readonly CreateOnlyResource[];
  constructor(defs: ResourceDefinition[], createOnly: readonly CreateOnlyResource[] = []) {
    this.#defs = defs;
    this.#createOnly = createOnly;
  }

  /** `/api` */
  coreVersions() {
    return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '' }] };
  }

  /** `/apis` */
  groupList() {
    return { kind: 'APIGroupList', apiVersion: 'v1', groups: this.#namedGroups().map((group) => this.group(group)!) };
  }

  /** `/apis/{group}` */
  group(name: string) {
    const versions = [...new Set([...groupVersions(this.#defs), ...this.#createOnly].filter((gv) => gv.group === name).map((gv) => gv.version))];
    if (!versions.length) return undefined;
    const entries = versions.map((version) => ({ groupVersion: apiVersionOf({ group: name, version }), version }));
    return { kind: 'APIGroup', apiVersion: 'v1', name, versions: entries, preferredVersion: entries[0] };
  }

  /** `/api/v1` and `/apis/{group}/{version}` */
  resourceList(group: string, version: string) {
    const gv = groupVersions(this.#defs).find((candidate) => candidate.group === group && candidate.version === version);
    const createOnly = this.#createOnly.filter((r) => r.group === group && r.version === version);
    if (!gv && !createOnly.length) return undefined;
    const resources: object[] = createOnly.map((r) => ({
      name: r.plural,
      singularName: r.singular,
      namespaced: false,
      kind: r.kind,
      verbs: CREATE_ONLY_VERBS,
    }));
    for (const def of gv?.resources ?? []) {
      resources.push({
        name: def.plural,
        singularName: def.singular,
        namespaced: def.namespaced,
        kind: def.kind,
        verbs: READ_WRITE_VERBS,
        ...(def.shortNames.length ? { shortNames: def.shortNames } : {}),
        ...(def.categories.length ? { categories: def.categories } : {}),
      });
      if (def.hasStatus) {
        resources.push({ name: `${def.plural}/status`, singularName: '', namespaced: def.namespaced, kind: def.kind, verbs: STATUS_VERBS });
      }
    }
    return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: apiVersionOf({ group, version }), resources };
  }

  /** Aggregated discovery for `/api` (core) or `/apis` (named groups). */
  aggregated(core: boolean) {
    const versions = groupVersions(this.#defs).filter((gv) => (core ? gv.group === '' : gv.group !== ''));
    const groups = new Map<string, GroupVersion[]>();
    for (const gv of versions) groups.set(gv.group, [...(groups.get(gv.group) ?? []), gv]);
    const createOnlyItems = core
      ? []
      : this.#createOnly.map((r) => ({
          metadata: { name: r.group },
          versions: [
            {
              version: r.version,
              freshness: 'Current',
              resources: [
                {
                  resource: r.plural,
                  responseKind: { group: r.group, version: r.version, kind: r.kind },
                  scope: 'Cluster',
                  singularResource: r.singular,
                  verbs: CREATE_ONLY_VERBS,
                },
              ],
            },
          ],
        }));
    return {
      kind: 'APIGroupDiscoveryList',
      apiVersion: 'apidiscovery.k8s.io/v2',
      metadata: {},
      items: [
        ...[...groups.entries()].map(([group, gvs]) => ({
          metadata: group ? { name: group } : {},
          versions: gvs.map((gv) => ({
            version: gv.version,
            freshness: 'Current',
            resources: gv.resources.map((def) => {
              const responseKind = { group: def.group, version: def.version, kind: def.kind };
              return {
                resource: def.plural,
                responseKind,
                scope: def.namespaced ? 'Namespaced' : 'Cluster',
                singularResource: def.singular,
                verbs: READ_WRITE_VERBS,
                ...(def.shortNames.length ? { shortNames: def.shortNames } : {}),
                ...(def.categories.length ? { categories: def.categories } : {}),
                ...(def.hasStatus ? { subresources: [{ subresource: 'status', responseKind, verbs: STATUS_VERBS }] } : {}),
              };
            }),
          })),
        })),
        ...createOnlyItems,
      ],
    };
  }

  #namedGroups(): string[] {
    return [...new Set([...this.#defs.map((def) => def.group), ...this.#createOnly.map((r) => r.group)].filter(Boolean))];
  }
}
