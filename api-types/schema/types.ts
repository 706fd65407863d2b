/**
 * The vocabulary of resource definitions: a structural JSON Schema (the OpenAPI v3
 * subset a Kubernetes CRD accepts), printer columns and selectable fields.
 * Every resource in `api-types/schema/*.ts` is one `ResourceDefinition`; the TS types,
 * CRDs, OpenAPI documents, validation and defaulting are all derived from it.
 */
import type { KubeObject } from '../meta.js';

export type SchemaType = 'object' | 'array' | 'string' | 'integer' | 'number' | 'boolean';

/** Structural schema (apiextensions.k8s.io/v1 JSONSchemaProps, the subset we use). */
export interface JSONSchema {
  type?: SchemaType;
  description?: string;
  properties?: Record<string, JSONSchema>;
  required?: string[];
  items?: JSONSchema;
  enum?: (string | number | boolean)[];
  default?: unknown;
  minimum?: number;
  maximum?: number;
  pattern?: string;
  format?: string;
  additionalProperties?: JSONSchema;
  nullable?: boolean;
  'x-kubernetes-list-type'?: 'atomic' | 'set' | 'map';
  'x-kubernetes-list-map-keys'?: string[];
  'x-kubernetes-map-type'?: 'atomic' | 'granular';
  'x-kubernetes-preserve-unknown-fields'?: boolean;
}

/** Keys allowed in a JSONSchema (what the CRD emitter and the tests check against). */
export const SCHEMA_KEYS: ReadonlySet<string> = new Set([
  'type',
  'description',
  'properties',
  'required',
  'items',
  'enum',
  'default',
  'minimum',
  'maximum',
  'pattern',
  'format',
  'additionalProperties',
  'nullable',
  'x-kubernetes-list-type',
  'x-kubernetes-list-map-keys',
  'x-kubernetes-map-type',
  'x-kubernetes-preserve-unknown-fields',
]);

/** What the TS emitter knows about a named schema node. */
export interface TypeInfo {
  /** The exported TS type name, e.g. `VirtualMachineDisk`. */
  name: string;
  /** For string enums: one doc line per value (who owns the transition, what it means). */
  enumDescriptions?: Record<string, string>;
  /** Declared elsewhere (hand-written); the emitter imports it instead of emitting it. */
  importFrom?: string;
}

const typeInfos = new WeakMap<JSONSchema, TypeInfo>();

/**
 * Gives a schema node an exported TS type name. The name lives beside the schema (keyed by
 * object identity), so the schema stays a plain CRD-valid structure and a shared fragment
 * (e.g. `Condition`) is emitted once however many kinds use it.
 */
export function named<S extends JSONSchema>(name: string, schema: S, extra: Omit<TypeInfo, 'name'> = {}): S {
  typeInfos.set(schema, { name, ...extra });
  return schema;
}

export function typeInfoOf(schema: JSONSchema): TypeInfo | undefined {
  return typeInfos.get(schema);
}

/** A table cell as served in a `meta.k8s.io/v1` Table. */
export type TableCell = string | number | boolean | null;

export interface PrinterColumn<T extends KubeObject = KubeObject> {
  /** Column header (kubectl upper-cases it). */
  name: string;
  /** OpenAPI type of the column: integer, number, string, boolean or date. */
  type: 'integer' | 'number' | 'string' | 'boolean' | 'date';
  format?: string;
  description: string;
  /** 0: always shown; 1: only with `-o wide`. */
  priority: 0 | 1;
  /** JSONPath for the CRD's additionalPrinterColumns (relative to the object, e.g. `.spec.cpu`). */
  jsonPath: string;
  /** What the Quantix apiserver puts in the Table cell (nicer than the raw jsonPath value). */
  cell(obj: T, now: Date): TableCell;
}

export interface SelectableField {
  /** Field selector path, e.g. `spec.nodeName`. */
  path: string;
  /** The value a field selector compares against ('' when absent; booleans as 'true'/'false'). */
  get(obj: KubeObject): string;
}

/** One problem found in an object (a Kubernetes StatusCause in the making). */
export interface FieldError {
  /** Kubernetes-style path: `spec.disks[1].size`, `status.hosts[node-1].health`. */
  field: string;
  type: FieldErrorType;
  /** Readable text; for FieldValueInvalid the bare reason (`must be a quantity like 2Gi`). */
  message: string;
  /** The offending value, when there is one. */
  value?: unknown;
}

/** Kubernetes `metav1.CauseType` values used for field errors. */
export type FieldErrorType =
  | 'FieldValueRequired'
  | 'FieldValueInvalid'
  | 'FieldValueNotSupported'
  | 'FieldValueDuplicate'
  | 'FieldValueTypeInvalid'
  | 'FieldValueForbidden'
  | 'FieldValueTooLong'
  | 'FieldValueNotFound';

export interface ResourceDefinition<T extends KubeObject = KubeObject> {
  /** '' for the core group. */
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  listKind: string;
  shortNames: string[];
  categories: string[];
  namespaced: boolean;
  /** Whether the resource has a /status subresource (status is written only through it). */
  hasStatus: boolean;
  /** Whether a CRD is generated into manifests/crds (false for built-in kinds: Event, Lease). */
  crd: boolean;
  /** metadata.name rule. */
  nameRule: 'dns1123Subdomain' | 'dns1123Label';
  /** Whole-object structural schema (apiVersion, kind, metadata, spec, status …). */
  schema: JSONSchema;
  printerColumns: PrinterColumn<T>[];
  selectableFields: SelectableField[];
  /** Checks beyond the schema on everything but status (typed loosely: input may be wrong). */
  validateSpec?(obj: T): FieldError[];
  /** Checks beyond the schema on status. */
  validateStatus?(obj: T): FieldError[];
  /**
   * Checks of an update of the main resource against the stored object (immutable fields),
   * as Kubernetes' ValidateUpdate does. Typed loosely: input may be wrong.
   */
  validateUpdate?(obj: T, old: T): FieldError[];
  /**
   * What the apiserver sets on every create (`old` undefined) and update of the main
   * resource, after defaults and before validation, as Kubernetes' PrepareForCreate /
   * PrepareForUpdate do (e.g. a finalizer). Returns `obj` or a new object; never mutates.
   */
  prepareWrite?(obj: T, old: T | undefined): T;
}
