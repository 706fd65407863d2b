/**
 * The registry of every resource Quantix serves, derived from the definitions in
 * `schema/`. The apiserver (routes, discovery, tables, field selectors), the storage
 * layer and the codegen all start here.
 */
import { apiVersionOf } from './group-version.js';
import type { KubeObject } from './meta.js';
import { eventDefinition } from './schema/event.js';
import { hostJoinDefinition } from './schema/hostjoin.js';
import { imageDefinition } from './schema/image.js';
import { leaseDefinition } from './schema/lease.js';
import { networkDefinition } from './schema/network.js';
import { nodeDefinition } from './schema/node.js';
import { storagePoolDefinition } from './schema/storagepool.js';
import { virtualMachineRestoreDefinition, virtualMachineSnapshotDefinition } from './schema/snapshot.js';
import type { ResourceDefinition } from './schema/types.js';
import { virtualMachineDefinition } from './schema/virtualmachine.js';

export {
  eventDefinition,
  hostJoinDefinition,
  imageDefinition,
  leaseDefinition,
  networkDefinition,
  nodeDefinition,
  storagePoolDefinition,
  virtualMachineDefinition,
  virtualMachineRestoreDefinition,
  virtualMachineSnapshotDefinition,
};

/** Every resource, in a stable order (codegen output follows it). */
export const RESOURCES: readonly ResourceDefinition[] = [
  virtualMachineDefinition as unknown as ResourceDefinition,
  virtualMachineSnapshotDefinition as unknown as ResourceDefinition,
  virtualMachineRestoreDefinition as unknown as ResourceDefinition,
  storagePoolDefinition as unknown as ResourceDefinition,
  imageDefinition as unknown as ResourceDefinition,
  networkDefinition as unknown as ResourceDefinition,
  nodeDefinition as unknown as ResourceDefinition,
  hostJoinDefinition as unknown as ResourceDefinition,
  eventDefinition as unknown as ResourceDefinition,
  leaseDefinition as unknown as ResourceDefinition,
];

const byGroupPlural = new Map(RESOURCES.map((d) => [`${d.group}/${d.plural}`, d]));
const byKind = new Map(RESOURCES.map((d) => [d.kind, d]));
const byShortName = new Map(RESOURCES.flatMap((d) => d.shortNames.map((s) => [s, d] as const)));

/** The resource served at /apis/<group>/<version>/<plural> ('' group for core /api/v1). */
export function resourceFor(group: string, plural: string): ResourceDefinition | undefined {
  return byGroupPlural.get(`${group}/${plural}`);
}

/** Kinds are unique across Quantix's groups. */
export function resourceForKind(kind: string): ResourceDefinition | undefined {
  return byKind.get(kind);
}

/** Also accepts an apiVersion to disambiguate (`quantix.io/v1alpha1`, `v1`). */
export function resourceForGVK(apiVersion: string, kind: string): ResourceDefinition | undefined {
  const d = byKind.get(kind);
  return d && apiVersionOf(d) === apiVersion ? d : undefined;
}

export function resourceForShortName(shortName: string): ResourceDefinition | undefined {
  return byShortName.get(shortName.toLowerCase());
}

/**
 * What a CLI argument names: a plural, singular, short name or kind (any case),
 * optionally qualified by group (`vm`, `virtualmachines.quantix.io`, `VirtualMachine`).
 */
export function findResource(name: string): ResourceDefinition | undefined {
  const lower = name.toLowerCase();
  const dot = lower.indexOf('.');
  const [res, group] = dot >= 0 ? [lower.slice(0, dot), lower.slice(dot + 1)] : [lower, undefined];
  return RESOURCES.find(
    (d) => (group === undefined || d.group === group) && (d.plural === res || d.singular === res || d.kind.toLowerCase() === res || d.shortNames.includes(res)),
  );
}

/** Field-selector getters in the shape the storage layer takes (`StorageResource.selectableFields`). */
export function fieldGetters(def: ResourceDefinition): Record<string, (obj: KubeObject) => string> {
  return Object.fromEntries(def.selectableFields.map((f) => [f.path, f.get]));
}

/** Group → versions → resources, for discovery documents. */
export function groupVersions(): { group: string; version: string; resources: ResourceDefinition[] }[] {
  const out = new Map<string, { group: string; version: string; resources: ResourceDefinition[] }>();
  for (const d of RESOURCES) {
    const key = apiVersionOf(d);
    if (!out.has(key)) out.set(key, { group: d.group, version: d.version, resources: [] });
    out.get(key)!.resources.push(d);
  }
  return [...out.values()];
}
