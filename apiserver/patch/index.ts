/** Patch formats and field management for the apiserver's write path. Pure functions, no I/O. */
export { applyMergePatch } from './merge-patch.js';
export { applyJsonPatch, formatPointer, parsePointer, PatchError, DEFAULT_MAX_OPERATIONS } from './json-patch.js';
export type { JsonPatchOperation, JsonPatchOptions } from './json-patch.js';
export { FieldSet, formatPath, formatElement } from './field-set.js';
export type { FieldPath, PathElement } from './field-set.js';
export { OBJECT_META_SCHEMA } from './schema.js';
export type { StructuralSchema } from './schema.js';
export {
  decodeManagedFields,
  describeManager,
  encodeManagedFields,
  fieldSetOf,
  managerKey,
  recordUpdate,
  TRACKED_METADATA,
  trackedView,
  UNTRACKED_TOP_LEVEL,
  setManagedFields,
  withManagedFields,
} from './managed-fields.js';
export type { ManagerFields, RecordUpdateOptions, Subresource } from './managed-fields.js';
export { apply, ApplyConflictError, ApplyError, BEFORE_FIRST_APPLY } from './server-side-apply.js';
export type { ApplyConflict, ApplyRequest, ApplyResult } from './server-side-apply.js';
export { deepEqual } from './json.js';
