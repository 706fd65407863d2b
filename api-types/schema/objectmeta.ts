/**
 * JSON Schemas of the hand-written metadata types in ../meta.ts, for validation (ajv sees
 * the full ObjectMeta, so `metadata.labels: 3` is a type error and `metadata.foo` an unknown
 * field) and for the OpenAPI documents. CRDs keep `metadata` as a plain `type: object`.
 */
import { int, str, stringMap, time } from './common.js';
import type { JSONSchema } from './types.js';

export const OWNER_REFERENCE_SCHEMA: JSONSchema = {
  type: 'object',
  description: 'Identifies an owning object.',
  required: ['apiVersion', 'kind', 'name', 'uid'],
  properties: {
    apiVersion: str('API version of the referent.'),
    kind: str('Kind of the referent.'),
    name: str('Name of the referent.'),
    uid: str('UID of the referent.'),
    controller: { type: 'boolean', description: 'If true, this reference points to the managing controller.' },
    blockOwnerDeletion: { type: 'boolean', description: 'If true, the owner cannot be deleted before this object.' },
  },
};

export const MANAGED_FIELDS_ENTRY_SCHEMA: JSONSchema = {
  type: 'object',
  description: 'Which manager owns which fields.',
  properties: {
    manager: str('Name of the workflow managing these fields.'),
    operation: { type: 'string', enum: ['Apply', 'Update'], description: 'Apply or Update.' },
    apiVersion: str('Version of the resource the fields are in.'),
    time: time('When the fields were last changed.'),
    fieldsType: { type: 'string', enum: ['FieldsV1'], description: 'Format of fieldsV1.' },
    fieldsV1: { type: 'object', description: 'The field set.', 'x-kubernetes-preserve-unknown-fields': true },
    subresource: str('Subresource the fields were written through.'),
  },
};

export const OBJECT_META_SCHEMA: JSONSchema = {
  type: 'object',
  description: "Standard object's metadata.",
  properties: {
    name: str('Unique name within a namespace (or the cluster for cluster-scoped resources).'),
    generateName: str('Prefix the server uses to generate a unique name when name is empty.'),
    namespace: str('Namespace of the object.'),
    uid: str('Unique id, set by the server.'),
    resourceVersion: str('Opaque version for optimistic concurrency, set by the server.'),
    generation: int('Sequence number of spec changes, set by the server.'),
    creationTimestamp: time('When the object was created, set by the server.'),
    deletionTimestamp: time('When deletion was requested, set by the server.'),
    deletionGracePeriodSeconds: int('Seconds allowed for graceful termination.'),
    labels: stringMap('Labels for selection.'),
    annotations: stringMap('Unstructured data.'),
    finalizers: { type: 'array', description: 'Must be empty before the object is deleted.', items: { type: 'string' }, 'x-kubernetes-list-type': 'set' },
    ownerReferences: { type: 'array', description: 'Objects this object depends on.', items: OWNER_REFERENCE_SCHEMA },
    managedFields: { type: 'array', description: 'Field ownership (server-side apply).', items: MANAGED_FIELDS_ENTRY_SCHEMA },
  },
};

export const LIST_META_SCHEMA: JSONSchema = {
  type: 'object',
  description: "Standard list's metadata.",
  properties: {
    resourceVersion: str('Revision the list is consistent at.'),
    continue: str('Token for the next page.'),
    remainingItemCount: int('Items left after this page (approximate).'),
  },
};
