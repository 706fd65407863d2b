/**
 * The apiserver's view of api-types: defaulting, validation, unknown-field detection and
 * pruning for one resource definition. A thin seam so the strategy stays readable.
 */
import type { KubeObject, StatusCause } from '../../api-types/meta.js';
import type { FieldError, ResourceDefinition } from '../../api-types/schema/types.js';
import { toStatusCause } from '../../api-types/field-errors.js';
import { applyDefaults } from '../../api-types/defaults.js';
import { findUnknownFields, pruneUnknownFields, validateObject, validateStatusOf } from '../../api-types/validation.js';

export const admission = {
  defaults(def: ResourceDefinition, obj: KubeObject): KubeObject {
    return applyDefaults(def.kind, obj) as KubeObject;
  },
  validate(def: ResourceDefinition, obj: KubeObject, opts: { subresource?: string; old?: KubeObject }): FieldError[] {
    return opts.subresource === 'status' ? validateStatusOf(def.kind, obj) : validateObject(def.kind, obj);
  },
  unknownFields(def: ResourceDefinition, obj: KubeObject): string[] {
    return findUnknownFields(def.kind, obj);
  },
  prune(def: ResourceDefinition, obj: KubeObject): KubeObject {
    return pruneUnknownFields(def.kind, obj) as KubeObject;
  },
  toCause(problem: FieldError): StatusCause {
    return toStatusCause(problem);
  },
};
