/**
 * Storage failures as API errors. The errors themselves (ApiError, the `errors`
 * constructors, Status objects) live in lib/apimachinery/status-error.ts, shared with the
 * clients; this maps what the storage layer throws onto them, so every failure the
 * apiserver returns is a Kubernetes Status and the node gateway's gRPC errors reuse the
 * same reasons.
 */
import { ApiError, errors, type StatusSubject } from '../../lib/apimachinery/status-error.js';
import { AlreadyExistsError, ConflictError, ExpiredError, InvalidRequestError, NotFoundError, TooLargeResourceVersionError } from '../storage/errors.js';

/** Maps storage-layer errors (and anything unexpected) to an ApiError. */
export function toApiError(err: unknown, ref?: StatusSubject): ApiError {
  if (err instanceof ApiError) return err;
  const target = (name: string) => ({ group: ref?.group ?? '', resource: ref?.resource ?? '', kind: ref?.kind ?? '', name });
  if (err instanceof NotFoundError) return errors.notFound(target(err.objectName));
  if (err instanceof AlreadyExistsError) return errors.alreadyExists(target(err.objectName));
  if (err instanceof ConflictError) return errors.modified(target(err.objectName));
  if (err instanceof ExpiredError) return errors.expired(err.message);
  if (err instanceof TooLargeResourceVersionError) {
    return new ApiError(504, 'Timeout', err.message, {
      causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }],
      retryAfterSeconds: 1,
    });
  }
  if (err instanceof InvalidRequestError) return errors.badRequest(err.message, err.field ? [{ field: err.field, message: err.message }] : undefined);
  const message = err instanceof Error ? err.message : String(err);
  if (/UNAVAILABLE|ECONNREFUSED|deadline|GRPC/i.test(message)) return errors.unavailable(`storage unavailable: ${message}`);
  return errors.internal(message);
}
