/**
 * Typed storage errors. The API server maps each to a Kubernetes Status reason:
 * NotFound 404, AlreadyExists 409, Conflict 409, Expired 410 (Gone), Invalid 400 (BadRequest).
 */
export class StorageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = new.target.name;
  }
}

export class NotFoundError extends StorageError {
  constructor(readonly key: string, readonly objectName: string) {
    super(`not found: ${key}`);
  }
}

export class AlreadyExistsError extends StorageError {
  constructor(readonly key: string, readonly objectName: string) {
    super(`already exists: ${key}`);
  }
}

export class ConflictError extends StorageError {
  constructor(
    readonly key: string,
    readonly objectName: string,
    readonly expectedResourceVersion: string,
    readonly actualResourceVersion: string,
  ) {
    super(
      `the object has been modified; please apply your changes to the latest version and try again ` +
        `(${key}: resourceVersion ${expectedResourceVersion} is stale, current is ${actualResourceVersion})`,
    );
  }
}

/** A watch or list from a revision that etcd compacted or the cache window no longer holds. */
export class ExpiredError extends StorageError {
  constructor(readonly requestedResourceVersion: string, readonly oldestAvailable: string) {
    super(`too old resource version: ${requestedResourceVersion} (${oldestAvailable})`);
  }
}

/** Bad selector, bad continue token, bad resourceVersion... */
export class InvalidRequestError extends StorageError {
  constructor(message: string, readonly field?: string) {
    super(message);
  }
}
