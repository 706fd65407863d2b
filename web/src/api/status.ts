/**
 * Failures from the API as values the UI can show: every error the apiserver sends is a
 * Kubernetes `Status`; network failures and non-Status bodies are turned into the same shape
 * so pages have one thing to render.
 */
import type { Status, StatusCause } from '../../../api-types/meta.js';

export class ApiError extends Error {
  constructor(
    /** HTTP status, or 0 when the server could not be reached. */
    readonly code: number,
    /** Kubernetes reason (NotFound, Invalid, Forbidden, …), or NetworkError. */
    readonly reason: string,
    message: string,
    readonly causes: readonly StatusCause[] = [],
    /** The X-Request-Id the call was sent with, to find it in the apiserver log. */
    readonly requestId?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  get isUnauthorized(): boolean {
    return this.code === 401;
  }

  get isForbidden(): boolean {
    return this.code === 403;
  }

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
}

function isStatus(body: unknown): body is Status {
  return typeof body === 'object' && body !== null && (body as { kind?: unknown }).kind === 'Status';
}

/** The ApiError for a Status object (from a response body or a watch ERROR event). */
export function errorFromStatus(status: Status, requestId?: string): ApiError {
  return new ApiError(status.code, status.reason ?? '', status.message ?? `request failed with ${status.code}`, status.details?.causes ?? [], requestId);
}

/** The ApiError for a failed HTTP response, whatever its body. */
export async function errorFromResponse(res: Response, requestId?: string): Promise<ApiError> {
  const text = await res.text().catch(() => '');
  try {
    const body: unknown = JSON.parse(text);
    if (isStatus(body)) return errorFromStatus(body, requestId);
  } catch {
    // Not JSON (a proxy's HTML page, say): fall through to the raw text.
  }
  return new ApiError(res.status, res.statusText, text.slice(0, 300) || res.statusText, [], requestId);
}

export function networkError(err: unknown, requestId?: string): ApiError {
  return new ApiError(0, 'NetworkError', err instanceof Error ? err.message : String(err), [], requestId);
}

/** Any thrown value as an ApiError (so catch blocks can always call describe()). */
export function asApiError(err: unknown): ApiError {
  if (err instanceof ApiError) return err;
  return new ApiError(0, 'Error', err instanceof Error ? err.message : String(err));
}
