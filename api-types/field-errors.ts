/**
 * Field errors the way k8s.io/apimachinery/pkg/util/validation/field builds them, and
 * their rendering into Kubernetes `Status` causes and messages.
 */
import type { Status, StatusCause } from './meta.js';
import { isQualifiedName, isValidLabelValue } from './names.js';
import type { FieldError, FieldErrorType } from './schema/types.js';

export type { FieldError, FieldErrorType };

export const fieldError = {
  required: (field: string, message = 'Required value'): FieldError => ({ field, type: 'FieldValueRequired', message }),
  invalid: (field: string, value: unknown, message: string): FieldError => ({ field, type: 'FieldValueInvalid', message, value }),
  typeInvalid: (field: string, value: unknown, message: string): FieldError => ({ field, type: 'FieldValueTypeInvalid', message, value }),
  notSupported: (field: string, value: unknown, supported: readonly unknown[]): FieldError => ({
    field,
    type: 'FieldValueNotSupported',
    message: `Unsupported value: ${JSON.stringify(value)}: supported values: ${supported.map((v) => JSON.stringify(v)).join(', ')}`,
    value,
  }),
  duplicate: (field: string, value: unknown): FieldError => ({
    field,
    type: 'FieldValueDuplicate',
    message: `Duplicate value: ${JSON.stringify(value)}`,
    value,
  }),
  forbidden: (field: string, message: string): FieldError => ({ field, type: 'FieldValueForbidden', message: `Forbidden: ${message}` }),
  tooLong: (field: string, value: unknown, max: number): FieldError => ({
    field,
    type: 'FieldValueTooLong',
    message: `Too long: may not be more than ${max} bytes`,
    value,
  }),
};

/** `field.path` joined the Kubernetes way: `.name`, `[3]`, map keys as `[key]`. */
export function child(path: string, name: string): string {
  return path ? `${path}.${name}` : name;
}
export function index(path: string, i: number | string): string {
  return `${path}[${i}]`;
}

/**
 * The text Kubernetes puts after the field path (field.Error.ErrorBody): for invalid values
 * `Invalid value: "2GB": must be a quantity like 2Gi`; other types carry their full text.
 */
export function errorBody(e: FieldError): string {
  if (e.type === 'FieldValueInvalid' || e.type === 'FieldValueTypeInvalid') {
    return e.value === undefined ? `Invalid value: ${e.message}` : `Invalid value: ${renderValue(e.value)}: ${e.message}`;
  }
  return e.message;
}

function renderValue(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null) return String(v);
  const json = JSON.stringify(v);
  return json.length > 80 ? `${json.slice(0, 77)}...` : json;
}

/** `spec.memory: Invalid value: "2GB": must be a quantity like 2Gi`. */
export function formatFieldError(e: FieldError): string {
  return `${e.field}: ${errorBody(e)}`;
}

export function toStatusCause(e: FieldError): StatusCause {
  return { reason: e.type, message: errorBody(e), field: e.field };
}

/**
 * The 422 Invalid Status Kubernetes returns for field errors:
 * `VirtualMachine.quantix.io "web" is invalid: [spec.memory: …, spec.cpu: …]`.
 */
export function invalidStatus(gk: { group: string; kind: string }, name: string, errors: FieldError[]): Status {
  const qualified = gk.group ? `${gk.kind}.${gk.group}` : gk.kind;
  const lines = errors.map(formatFieldError);
  const joined = lines.length === 1 ? lines[0] : `[${lines.join(', ')}]`;
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: `${qualified} ${JSON.stringify(name)} is invalid: ${joined}`,
    reason: 'Invalid',
    details: { name, group: gk.group, kind: gk.kind, causes: errors.map(toStatusCause) },
    code: 422,
  };
}

/** Label keys and values (also used for nodeSelector). Skips silently what is not a map of strings (the schema reports that). */
export function validateLabels(labels: unknown, path: string): FieldError[] {
  if (!labels || typeof labels !== 'object' || Array.isArray(labels)) return [];
  const errs: FieldError[] = [];
  for (const [k, v] of Object.entries(labels as Record<string, unknown>)) {
    for (const m of isQualifiedName(k)) errs.push(fieldError.invalid(path, k, m));
    if (typeof v === 'string') for (const m of isValidLabelValue(v)) errs.push(fieldError.invalid(index(path, k), v, m));
  }
  return errs;
}

/** Annotation keys must be qualified names; the total size at most 256 KiB. */
export function validateAnnotations(annotations: unknown, path: string): FieldError[] {
  if (!annotations || typeof annotations !== 'object' || Array.isArray(annotations)) return [];
  const errs: FieldError[] = [];
  let size = 0;
  for (const [k, v] of Object.entries(annotations as Record<string, unknown>)) {
    for (const m of isQualifiedName(k.toLowerCase())) errs.push(fieldError.invalid(path, k, m));
    size += k.length + (typeof v === 'string' ? v.length : 0);
  }
  if (size > 256 * 1024) errs.push(fieldError.tooLong(path, '', 256 * 1024));
  return errs;
}
