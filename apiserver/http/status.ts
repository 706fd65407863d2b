/**
 * Storage failures as API errors. The errors themselves (ApiError, the `errors`
 * constructors, Status objects) live in lib/apimachinery/status-error.ts, shared with the
 * clients; this maps what the storage layer throws onto them, so every failure the
 * apiserver returns is a Kubernetes Status and the node gateway's gRPC errors reuse the
 * same reasons.
 */
import { ApiError, errors, type StatusSubject } from '../../lib/apimachinery/status-error.js';
import {
  AlreadyExistsError,
  ConflictError,
  ExpiredError,
  InsufficientStorageError,
  InvalidRequestError,
  isEtcdNoSpace,
  NotFoundError,
  TooLargeResourceVersionError,
} from '../storage/errors.js';

/** What an administrator does when etcd's NOSPACE alarm refuses writes (also in /readyz). */
export const NOSPACE_REMEDY =
  'an administrator must reclaim space: compact etcd, defragment every member, then disarm the alarm ' +
  '(POST /admin/etcd/defragment?compact=true&disarm=true on the apiserver, or etcdctl compact <revision>, etcdctl defrag, etcdctl alarm disarm); ' +
  'if the live data itself fills the quota, raise etcd --quota-backend-bytes';

/**
 * 507 InsufficientStorage: etcd's space quota is exhausted and it refuses every write until an
 * administrator reclaims space. Not a 500: nothing is wrong with the request or the server.
 */
export function insufficientStorage(ref?: StatusSubject): ApiError {
  const what = ref?.resource ? `cannot write ${ref.group ? `${ref.resource}.${ref.group}` : ref.resource}${ref.name ? ` "${ref.name}"` : ''}: ` : '';
  return new ApiError(
    507,
    'InsufficientStorage',
    `${what}etcd's space quota is exhausted (etcd raised its NOSPACE alarm and refuses every write): ${NOSPACE_REMEDY}`,
    ref?.resource ? { name: ref.name, group: ref.group, kind: ref.resource } : undefined,
  );
}

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
  if (err instanceof InsufficientStorageError || isEtcdNoSpace(err)) return insufficientStorage(ref);
  if (err instanceof InvalidRequestError) return errors.badRequest(err.message, err.field ? [{ field: err.field, message: err.message }] : undefined);
  const message = err instanceof Error ? err.message : String(err);
  if (/UNAVAILABLE|ECONNREFUSED|deadline|GRPC/i.test(message)) return errors.unavailable(`storage unavailable: ${message}`);
  return errors.internal(message);
}
