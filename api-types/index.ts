/** api-types: the Quantix resource types, their registry, validation, defaulting and quantities. */
export * from './generated/types.js';
export type * from './meta.js';
export type { FieldError, FieldErrorType, JSONSchema, PrinterColumn, ResourceDefinition, SelectableField, TableCell } from './schema/types.js';
export {
  fieldGetters,
  findResource,
  groupVersions,
  RESOURCES,
  resourceFor,
  resourceForGVK,
  resourceForKind,
  resourceForShortName,
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
} from './registry.js';
export { findUnknownFields, pruneUnknownFields, unknownFieldMessage, validate, validateSpec, validateStatus, type ValidateOptions } from './validation.js';
export { applyDefaults, defaulted } from './defaults.js';
export { errorBody, fieldError, formatFieldError, invalidStatus, toStatusCause } from './field-errors.js';
export { formatBytes, formatBytesHuman, humanQuantity, parseBytes, parseQuantity, QuantityError, tryParseBytes } from './quantity.js';
export { crdFor } from './crd.js';
export { openAPIDocument, openAPIName, openAPISchemaFor } from './openapi.js';
