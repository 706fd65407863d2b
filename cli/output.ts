/** Object output: -o yaml|json|name (managedFields hidden, as kubectl hides them). */
import { stringify } from 'yaml';
import type { KubeObject } from '../api-types/meta.js';
import { resourceForGVK, resourceForKind } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { qualifiedKind } from './client.js';

export function withoutManagedFields<T extends KubeObject>(obj: T): T {
  if (!obj.metadata?.managedFields) return obj;
  const { managedFields: _drop, ...metadata } = obj.metadata;
  return { ...obj, metadata };
}

export function toYaml(value: unknown): string {
  return stringify(value, { lineWidth: 0, aliasDuplicateObjects: false }).trimEnd();
}

export function toJson(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

/** One object or a kubectl-style `List` of several. */
export function renderObjects(objects: KubeObject[], format: 'yaml' | 'json', asList: boolean, showManagedFields = false): string {
  const items = showManagedFields ? objects : objects.map(withoutManagedFields);
  const value = asList ? { apiVersion: 'v1', kind: 'List', metadata: { resourceVersion: '' }, items } : items[0];
  return format === 'yaml' ? toYaml(value) : toJson(value);
}

/** `virtualmachine.quantix.io/web` */
export function objectName(obj: KubeObject, def?: Pick<ResourceDefinition, 'kind' | 'group'>): string {
  const d = def ?? (obj.apiVersion && obj.kind ? resourceForGVK(obj.apiVersion, obj.kind) : undefined) ?? (obj.kind ? resourceForKind(obj.kind) : undefined);
  const kind = d ? qualifiedKind(d) : String(obj.kind ?? 'object').toLowerCase();
  return `${kind}/${obj.metadata?.name ?? ''}`;
}

/** A condition list in one line: `Ready=False (AgentNotConnected: message)`. */
export function conditionSummary(conditions: readonly { type: string; status: string; reason?: string; message?: string }[] | undefined): string[] {
  return (conditions ?? []).map((c) => `${c.type}=${c.status}${c.reason || c.message ? ` (${[c.reason, c.message].filter(Boolean).join(': ')})` : ''}`);
}
