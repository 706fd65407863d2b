/**
 * Typed image import errors. `reason` is a stable code the agent turns into the Image's
 * per-node status; `message` names the source (a URL printed without credentials, see
 * `redactUrl`) or the path, and the HTTP status when there is one.
 */

export const ImageImportErrorReasons = [
  /** The server could not be reached or the connection broke (DNS, refused, reset, timeout, TLS). The .part is kept. */
  'Unreachable',
  /** The server answered with an HTTP error status (details.httpStatus). */
  'HTTPError',
  /** The source's SHA-256 is not the one declared. The .part is deleted. */
  'ChecksumMismatch',
  /** Not a qcow2 or raw disk image: another format, an HTML or text body, a size that is not whole sectors. */
  'NotADiskImage',
  /** The detected format is not the declared one. */
  'FormatMismatch',
  /** A qcow2 image with a backing file or an external data file (either could name any file on the host). */
  'BackingFileRefused',
  /** The file system lacks room (details.neededBytes, details.availableBytes), or a write failed with ENOSPC. */
  'NoSpace',
  /** The source is larger than the import's `maxBytes`. */
  'TooLarge',
  /** The caller's AbortSignal fired. The .part is kept. */
  'Aborted',
  /** qemu-img convert failed. */
  'ConvertFailed',
  /** A `filePath` source does not exist or is not a regular file. */
  'SourceNotFound',
  /** A file already exists under the final name and is not the result of this import: it is never replaced. */
  'AlreadyExists',
  /** The request itself is invalid: a URL that is not http(s), a bad destName or sha256, a workDir on another file system. */
  'InvalidRequest',
  /** A local file system operation failed (permissions, read-only file system, I/O error). */
  'IOError',
] as const;

export type ImageImportErrorReason = (typeof ImageImportErrorReasons)[number];

export interface ImageImportErrorDetails {
  /** The source URL as printed (scheme://host[:port]/path, never userinfo or query). */
  url?: string;
  /** The file concerned (the source file, the destination directory). */
  path?: string;
  httpStatus?: number;
  neededBytes?: number;
  availableBytes?: number;
  /** The error code underneath (ECONNREFUSED, UND_ERR_BODY_TIMEOUT, CERT_HAS_EXPIRED, ENOSPC…). */
  code?: string;
}

/** Reasons that may succeed when retried later without any change of input. HTTPError depends on the status. */
const RETRYABLE = new Set<ImageImportErrorReason>(['Unreachable', 'NoSpace', 'Aborted', 'SourceNotFound', 'IOError']);

/** HTTP statuses worth retrying: timeouts, rate limits and server-side failures. */
export function retryableHttpStatus(status: number): boolean {
  return status === 408 || status === 425 || status === 429 || status >= 500;
}

export class ImageImportError extends Error {
  readonly reason: ImageImportErrorReason;
  readonly details: ImageImportErrorDetails;
  /** True when retrying later may succeed without any change of input. */
  readonly retryable: boolean;

  constructor(reason: ImageImportErrorReason, message: string, details: ImageImportErrorDetails = {}) {
    super(message);
    this.name = 'ImageImportError';
    this.reason = reason;
    this.details = details;
    this.retryable = reason === 'HTTPError' ? retryableHttpStatus(details.httpStatus ?? 0) : RETRYABLE.has(reason);
  }

  toJSON(): { reason: ImageImportErrorReason; message: string; retryable: boolean; details: ImageImportErrorDetails } {
    return { reason: this.reason, message: this.message, retryable: this.retryable, details: this.details };
  }
}

export function isImageImportError(err: unknown, reason?: ImageImportErrorReason): err is ImageImportError {
  return err instanceof ImageImportError && (reason === undefined || err.reason === reason);
}
