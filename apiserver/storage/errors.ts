/**
 * Typed storage errors. The API server maps each to a Kubernetes Status reason:
 * NotFound 404, AlreadyExists 409, Conflict 409, Expired 410 (Gone), Invalid 400 (BadRequest),
 * InsufficientStorage 507.
 */
export class StorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends StorageError {
  constructor(
    readonly key: string,
    readonly objectName: string,
  ) {
    super(`not found: ${key}`);
  }
}

export class AlreadyExistsError extends StorageError {
  constructor(
    readonly key: string,
    readonly objectName: string,
  ) {
    super(`already exists: ${key}`);
  }
}

export class ConflictError extends StorageError {
  constructor(
    readonly key: string,
    readonly objectName: string,
    readonly expectedResourceVersion: string,
    readonly actualResourceVersion: string,
    /** Overrides the default message (e.g. a failed uid precondition). */
    message?: string,
  ) {
    super(
      message ??
        `the object has been modified; please apply your changes to the latest version and try again ` +
          `(${key}: resourceVersion ${expectedResourceVersion} is stale, current is ${actualResourceVersion})`,
    );
  }
}

/** A watch or list from a revision that etcd compacted or the cache window no longer holds. */
export class ExpiredError extends StorageError {
  constructor(
    readonly requestedResourceVersion: string,
    readonly oldestAvailable: string,
  ) {
    super(`too old resource version: ${requestedResourceVersion} (${oldestAvailable})`);
  }
}

/**
 * A read asked for resourceVersion N but etcd is not there yet. Kubernetes answers
 * 504 Timeout with cause ResourceVersionTooLarge and retryAfterSeconds 1.
 */
export class TooLargeResourceVersionError extends StorageError {
  constructor(
    readonly requestedResourceVersion: string,
    readonly currentResourceVersion: string,
  ) {
    super(`Too large resource version: ${requestedResourceVersion}, current: ${currentResourceVersion}`);
  }
}

/**
 * A watcher that could not keep up (its bounded buffer overflowed) was ended. The client
 * should watch again from the last resourceVersion it received (Kubernetes closes such
 * watches the same way); the API server just ends the stream.
 */
export class SlowWatcherError extends StorageError {
  constructor(readonly bufferedEvents: number) {
    super(`watcher ended: it fell ${bufferedEvents} events behind`);
  }
}

/** Bad selector, bad continue token, bad resourceVersion... */
export class InvalidRequestError extends StorageError {
  constructor(
    message: string,
    readonly field?: string,
  ) {
    super(message);
  }
}

/** etcd's answer to a write while its NOSPACE alarm is raised (gRPC RESOURCE_EXHAUSTED, "etcdserver: mvcc: database space exceeded"). */
export const isEtcdNoSpace = (err: unknown): boolean => /database space exceeded/i.test(String((err as Error)?.message));

/**
 * etcd refused a write: its backend reached its space quota (`--quota-backend-bytes`) and
 * raised the NOSPACE alarm, after which it refuses every write until an operator reclaims
 * space and disarms the alarm. The API server answers 507 InsufficientStorage, saying so.
 */
export class InsufficientStorageError extends StorageError {
  constructor(readonly key: string) {
    super(`etcd refused the write of ${key}: database space exceeded (NOSPACE alarm)`);
  }
}
