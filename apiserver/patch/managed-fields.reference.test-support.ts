/**
 * The general managedFields algorithm for a non-apply write, kept only as the reference the
 * production fast paths (`recordUpdate` in managed-fields.ts) are tested against: project
 * both objects, compare them, decode every manager, move taken fields to the writer and drop
 * removed ones from everyone, re-encode everything. Built from the module's public pieces
 * only, so it does not share the fast paths' shortcuts.
 */
import { isoSeconds } from '../../lib/apimachinery/time.js';
import type { KubeObject, ManagedFieldsEntry } from '../../api-types/meta.js';
import { clone } from './json.js';
import {
  compareViews,
  decodeManagedFields,
  encodeManagedFields,
  managerKey,
  trackedView,
  type ManagerFields,
  type RecordUpdateOptions,
  type Subresource,
} from './managed-fields.js';

export function recordUpdateGeneral(
  oldObj: KubeObject | undefined,
  newObj: KubeObject,
  manager: string,
  subresource?: Subresource,
  options: RecordUpdateOptions = {},
): ManagedFieldsEntry[] {
  const self: Pick<ManagerFields, 'manager' | 'operation' | 'apiVersion' | 'subresource'> = {
    manager,
    operation: 'Update',
    apiVersion: String(newObj.apiVersion ?? oldObj?.apiVersion ?? ''),
    ...(subresource ? { subresource } : {}),
  };
  const comparison = compareViews(trackedView(oldObj, subresource), trackedView(newObj, subresource), options.schema);
  const taken = comparison.added.union(comparison.modified);
  const removed = comparison.removed;
  const previous = oldObj?.metadata?.managedFields;
  if (taken.isEmpty() && removed.isEmpty()) return clone(previous ?? []);
  const managers = decodeManagedFields(previous);
  for (const m of managers) m.fields = m.fields.difference(taken).difference(removed);
  if (!taken.isEmpty()) {
    const key = managerKey(self);
    const existing = managers.find((m) => managerKey(m) === key);
    const time = isoSeconds(options.now ?? new Date());
    if (existing) Object.assign(existing, { fields: existing.fields.union(taken), time });
    else managers.push({ ...self, time, fields: taken });
  }
  return encodeManagedFields(managers);
}
