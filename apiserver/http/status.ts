/**
 * API errors as Kubernetes `Status` objects. Every failure the apiserver returns goes
 * through `ApiError`, so clients (kubectl, qxctl, the UI) always get reason + message +
 * details, and the same reasons are reused by the node gateway's gRPC errors.
 */
import type { Status, StatusCause, StatusDetails } from '../../api-types/meta.js';
import { AlreadyExistsError, ConflictError, ExpiredError, InvalidRequestError, NotFoundError, TooLargeResourceVersionError } from '../storage/errors.js';

/** Kubernetes StatusReason values used by Quantix. */
export type StatusReason =
  | 'BadRequest'
  | 'Unauthorized'
  | 'Forbidden'
  | 'NotFound'
  | 'AlreadyExists'
  | 'Conflict'
  | 'Gone'
  | 'Expired'
  | 'Invalid'
  | 'MethodNotAllowed'
  | 'NotAcceptable'
  | 'RequestEntityTooLarge'
  | 'UnsupportedMediaType'
  | 'TooManyRequests'
  | 'InternalError'
  | 'ServiceUnavailable'
  | 'Timeout';

export class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: StatusReason,
    message: string,
    readonly details?: StatusDetails,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  toStatus(): Status {
    return statusObject(this.code, this.reason, this.message, this.details);
  }
}

export function statusObject(code: number, reason: StatusReason, message: string, details?: StatusDetails): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) status.details = details;
  return status;
}

export function successStatus(details?: StatusDetails): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) status.details = details;
  return status;
}

export interface ResourceRef {
  group: string;
  resource: string;
  kind: string;
  name?: string;
}

const qualified = (ref: ResourceRef) => (ref.group ? `${ref.resource}.${ref.group}` : ref.resource);

export const errors = {
  badRequest: (message: string, causes?: StatusCause[]) =>
    new ApiError(400, 'BadRequest', message, causes ? { causes } : undefined),
  unauthorized: (message = 'Unauthorized') => new ApiError(401, 'Unauthorized', message),
  forbidden: (message: string, ref?: ResourceRef) =>
    new ApiError(403, 'Forbidden', message, ref ? { name: ref.name, group: ref.group, kind: ref.resource } : undefined),
  notFound: (ref: ResourceRef) =>
    new ApiError(404, 'NotFound', `${qualified(ref)} "${ref.name ?? ''}" not found`, {
      name: ref.name,
      group: ref.group,
      kind: ref.resource,
    }),
  pathNotFound: (path: string) => new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`),
  alreadyExists: (ref: ResourceRef) =>
    new ApiError(409, 'AlreadyExists', `${qualified(ref)} "${ref.name ?? ''}" already exists`, {
      name: ref.name,
      group: ref.group,
      kind: ref.resource,
    }),
  conflict: (ref: ResourceRef, why: string) =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${ref.name ?? ''}": ${why}`, {
      name: ref.name,
      group: ref.group,
      kind: ref.resource,
    }),
  /** The 409 for a write against a resourceVersion that is no longer current. */
  modified: (ref: ResourceRef) => errors.conflict(ref, 'the object has been modified; please apply your changes to the latest version and try again'),
  invalid: (ref: ResourceRef, causes: StatusCause[]) => {
    const summary = causes.map((cause) => `${cause.field ? cause.field + ': ' : ''}${cause.message}`).join(', ');
    return new ApiError(422, 'Invalid', `${ref.kind} "${ref.name ?? ''}" is invalid: ${summary}`, {
      name: ref.name,
      group: ref.group,
      kind: ref.kind,
      causes,
    });
  },
  expired: (message: string) => new ApiError(410, 'Expired', message),
  gone: (message: string) => new ApiError(410, 'Gone', message),
  methodNotAllowed: (method: string, what: string) =>
    new ApiError(405, 'MethodNotAllowed', `the server does not allow this method on the requested resource (${method} ${what})`),
  notAcceptable: (message: string) => new ApiError(406, 'NotAcceptable', message),
  unsupportedMediaType: (contentType: string, accepted: string[]) =>
    new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')} (got ${contentType || 'none'})`),
  tooLarge: (limitBytes: number) =>
    new ApiError(413, 'RequestEntityTooLarge', `the request body is too large: the limit is ${limitBytes} bytes`),
  internal: (message: string) => new ApiError(500, 'InternalError', `Internal error occurred: ${message}`),
  unavailable: (message: string) => new ApiError(503, 'ServiceUnavailable', message),
};

/** Maps storage-layer errors (and anything unexpected) to an ApiError. */
export function toApiError(err: unknown, ref?: ResourceRef): ApiError {
  if (err instanceof ApiError) return err;
  const target = (name: string) => ({ group: ref?.group ?? '', resource: ref?.resource ?? '', kind: ref?.kind ?? '', name });
  if (err instanceof NotFoundError) return errors.notFound(target(err.objectName));
  if (err instanceof AlreadyExistsError) return errors.alreadyExists(target(err.objectName));
  if (err instanceof ConflictError) return errors.modified(target(err.objectName));
  if (err instanceof ExpiredError) return errors.expired(err.message);
  if (err instanceof TooLargeResourceVersionError) {
    return new ApiError(504, 'Timeout', err.message, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
  }
  if (err instanceof InvalidRequestError) return errors.badRequest(err.message, err.field ? [{ field: err.field, message: err.message }] : undefined);
  const message = err instanceof Error ? err.message : String(err);
  if (/UNAVAILABLE|ECONNREFUSED|deadline|GRPC/i.test(message)) return errors.unavailable(`storage unavailable: ${message}`);
  return errors.internal(message);
}
