/**
 * API failures as Kubernetes `Status` objects, the one error type on both sides of the
 * wire: the apiserver throws `ApiError` (through the `errors` constructors) and sends its
 * Status; clients (controllers, qxctl, the UI) decode a failed response back into an
 * `ApiError` with the same code, reason, message and details. Browser-safe.
 */
import type { Status, StatusCause, StatusDetails } from '../../api-types/meta.js';

/** A failed API call: the server's Status, or a client-side failure in the same shape (code 0). */
export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server could not be reached or its answer was unusable. */
    readonly code: number,
    /** Kubernetes reason (NotFound, Conflict, Invalid, …), or a client-side one (NetworkError). */
    readonly reason: string,
    message: string,
    readonly details?: StatusDetails,
    /** The X-Request-Id the call was sent with, to find it in the apiserver log. */
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get causes(): readonly StatusCause[] {
    return this.details?.causes ?? [];
  }

  get isUnauthorized(): boolean {
    return this.code === 401;
  }

  get isForbidden(): boolean {
    return this.code === 403;
  }

  /** 410: the resourceVersion is too old to watch or list from; relist. */
  get isExpired(): boolean {
    return this.code === 410;
  }

  /** One sentence for a banner or toast: what happened and, for auth errors, what to do. */
  describe(): string {
    if (this.code === 401) return `Your token was not accepted (401 Unauthorized): ${this.message}. Sign in again with a valid token.`;
    if (this.code === 403) return `Not allowed (403 Forbidden): ${this.message}`;
    if (this.code === 0) return `Cannot reach the API server: ${this.message}`;
    return `${this.reason || 'Error'} (${this.code}): ${this.message}`;
  }

  toStatus(): Status {
    return statusObject(this.code, this.reason, this.message, this.details);
  }
}

/** A call that never got an answer (connection refused, DNS, CORS…), as an ApiError with code 0. */
export function networkError(err: unknown, requestId?: string): ApiError {
  return new ApiError(0, 'NetworkError', err instanceof Error ? err.message : String(err), undefined, requestId);
}

/** Any thrown value as an ApiError (so a catch block can always describe() it). */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, 'Error', err instanceof Error ? err.message : String(err));
}

export const isNotFound = (err: unknown): boolean => err instanceof ApiError && err.code === 404;
export const isConflict = (err: unknown): boolean => err instanceof ApiError && err.code === 409;
export const isAlreadyExists = (err: unknown): boolean => err instanceof ApiError && err.code === 409 && err.reason === 'AlreadyExists';
/** 410 Gone/Expired, as an ApiError or as a transport's HTTP error carrying `statusCode` (client-node's watch). */
export const isGone = (err: unknown): boolean =>
  (err instanceof ApiError && err.code === 410) || (typeof err === 'object' && err !== null && (err as { statusCode?: number }).statusCode === 410);

export function statusObject(code: number, reason: string, message: string, details?: StatusDetails): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code };
  if (details) status.details = details;
  return status;
}

export function successStatus(details?: StatusDetails): Status {
  const status: Status = { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 };
  if (details) status.details = details;
  return status;
}

export function isStatus(body: unknown): body is Status {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'Status';
}

/** The reason a bare HTTP code stands for, when a body carries no Status. */
export function reasonForCode(code: number): string {
  switch (code) {
    case 400:
      return 'BadRequest';
    case 401:
      return 'Unauthorized';
    case 403:
      return 'Forbidden';
    case 404:
      return 'NotFound';
    case 405:
      return 'MethodNotAllowed';
    case 406:
      return 'NotAcceptable';
    case 409:
      return 'Conflict';
    case 410:
      return 'Expired';
    case 413:
      return 'RequestEntityTooLarge';
    case 415:
      return 'UnsupportedMediaType';
    case 422:
      return 'Invalid';
    case 429:
      return 'TooManyRequests';
    case 503:
      return 'ServiceUnavailable';
    case 504:
      return 'Timeout';
    default:
      return code >= 500 ? 'InternalError' : 'Unknown';
  }
}

/**
 * The Status of a non-2xx response: its body when that is a Status (code filled in from the
 * response when missing), else one made from the code and the body text (a proxy's page, say).
 */
export function statusFromResponse(code: number, bodyText: string): Status {
  try {
    const parsed: unknown = JSON.parse(bodyText);
    if (isStatus(parsed)) return { ...parsed, code: parsed.code ?? code };
  } catch {
    // not JSON: described by the code and the text below
  }
  const text = bodyText.trim();
  return statusObject(code, reasonForCode(code), text ? text.slice(0, 2000) : `the server answered ${code} ${reasonForCode(code)}`);
}

/**
 * The constructor arguments of the ApiError for a Status, for subclasses that add a
 * client's own view (qxctl's exit code): a missing reason comes from the code.
 */
export function errorArgsOf(status: Status, requestId?: string): ConstructorParameters<typeof ApiError> {
  const reason = status.reason || reasonForCode(status.code);
  return [status.code, reason, status.message || status.reason || `the server answered ${status.code}`, status.details, requestId];
}

/** The ApiError for a Status (from a response body or a watch ERROR event). */
export function errorFromStatus(status: Status, requestId?: string): ApiError {
  return new ApiError(...errorArgsOf(status, requestId));
}

/** The ApiError for a failed HTTP response, whatever its body. */
export function errorFromResponse(code: number, bodyText: string, requestId?: string): ApiError {
  return errorFromStatus(statusFromResponse(code, bodyText), requestId);
}

/** What a Status error is about: the object by resource (plural) and group, and its kind. */
export interface StatusSubject {
  group: string;
  resource: string;
  kind: string;
  name?: string;
}

const qualified = (ref: StatusSubject) => (ref.group ? `${ref.resource}.${ref.group}` : ref.resource);

/** The apiserver's errors, worded as Kubernetes words them. */
export const errors = {
  badRequest: (message: string, causes?: StatusCause[]) => new ApiError(400, 'BadRequest', message, causes ? { causes } : undefined),
  unauthorized: (message = 'Unauthorized') => new ApiError(401, 'Unauthorized', message),
  tooManyRequests: (message: string, retryAfterSeconds: number) => new ApiError(429, 'TooManyRequests', message, { retryAfterSeconds }),
  forbidden: (message: string, ref?: StatusSubject) =>
    new ApiError(403, 'Forbidden', message, ref ? { name: ref.name, group: ref.group, kind: ref.resource } : undefined),
  notFound: (ref: StatusSubject) =>
    new ApiError(404, 'NotFound', `${qualified(ref)} "${ref.name ?? ''}" not found`, {
      name: ref.name,
      group: ref.group,
      kind: ref.resource,
    }),
  pathNotFound: (path: string) => new ApiError(404, 'NotFound', `the server could not find the requested resource (${path})`),
  alreadyExists: (ref: StatusSubject) =>
    new ApiError(409, 'AlreadyExists', `${qualified(ref)} "${ref.name ?? ''}" already exists`, {
      name: ref.name,
      group: ref.group,
      kind: ref.resource,
    }),
  conflict: (ref: StatusSubject, why: string) =>
    new ApiError(409, 'Conflict', `Operation cannot be fulfilled on ${qualified(ref)} "${ref.name ?? ''}": ${why}`, {
      name: ref.name,
      group: ref.group,
      kind: ref.resource,
    }),
  /** The 409 for a write against a resourceVersion that is no longer current. */
  modified: (ref: StatusSubject) => errors.conflict(ref, 'the object has been modified; please apply your changes to the latest version and try again'),
  invalid: (ref: StatusSubject, causes: StatusCause[]) => {
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
    new ApiError(
      415,
      'UnsupportedMediaType',
      `the body of the request was in an unknown format - accepted media types include: ${accepted.join(', ')} (got ${contentType || 'none'})`,
    ),
  tooLarge: (limitBytes: number) => new ApiError(413, 'RequestEntityTooLarge', `the request body is too large: the limit is ${limitBytes} bytes`),
  internal: (message: string) => new ApiError(500, 'InternalError', `Internal error occurred: ${message}`),
  unavailable: (message: string) => new ApiError(503, 'ServiceUnavailable', message),
};
