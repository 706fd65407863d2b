/**
 * qxctl's errors and exit codes. Every failure a user can cause ends as one line (or a
 * few) on stderr and a distinct exit code; never a stack trace. Server failures keep the
 * Kubernetes Status reason and message, printed the way kubectl prints them:
 *
 *   Error from server (NotFound): virtualmachines.quantix.io "web" not found
 */
import type { Status } from '../api-types/meta.js';
import { ApiError, errorArgsOf, statusFromResponse } from '../lib/apimachinery/status-error.js';
import { exitCodeFor, guidanceFor, type HostJoinErrorCode } from '../lib/host-join/codes.js';

/** Exit codes (documented in cli/README.md). */
export const ExitCode = {
  OK: 0,
  /** Anything else: server errors (5xx), unexpected failures. */
  Generic: 1,
  /** Bad command line, unknown resource type, unreadable or unparsable manifest. */
  Usage: 2,
  /** The object (or path) does not exist. */
  NotFound: 3,
  /** Conflict (stale resourceVersion, field-manager conflict) or AlreadyExists. */
  Conflict: 4,
  /** The server rejected the object or request as invalid (422 Invalid, 400 BadRequest). */
  Invalid: 5,
  /** Unauthorized (401) or Forbidden (403). */
  Unauthorized: 6,
  /** A wait did not converge in time, or the server timed out (504). */
  Timeout: 7,
  /** The server cannot be reached (connection refused, TLS, DNS) or is unavailable (503). */
  Unavailable: 8,
  /** `node check` found something (orphan volumes or domains): the check itself succeeded. */
  Findings: 9,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error with an exit code and a message meant for the user (printed without a stack). */
export class CliError extends Error {
  constructor(
    message: string,
    /** An ExitCode, or a host-join code's own (20–33, lib/host-join/codes.ts). */
    readonly exitCode: number = ExitCode.Generic,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

/** A bad command line: the message is followed by a hint to `--help`. */
export class UsageError extends CliError {
  constructor(
    message: string,
    /** The command whose help to point at, e.g. `qxctl get`. */
    readonly command?: string,
  ) {
    super(message, ExitCode.Usage);
    this.name = 'UsageError';
  }
}

/** A wait that did not converge; the message says what and why. */
export class TimeoutError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Timeout);
    this.name = 'TimeoutError';
  }
}

/**
 * A failure `Status` from the server: the shared ApiError, with qxctl's exit code. Any
 * ApiError (a watch's ERROR event, say) is handled the same way by exitCodeOf and formatError.
 */
export class ApiStatusError extends ApiError {
  constructor(status: Status) {
    super(...errorArgsOf(status));
    this.name = 'ApiStatusError';
  }

  get exitCode(): ExitCode {
    return exitCodeForStatus(this);
  }
}

/**
 * A failed "Add host" (`qxctl node add`): the host-join code, what happened and what to do,
 * with the code's own exit code (lib/host-join/codes.ts: 20 HOST_CONNECTION_FAILED … 33
 * HOSTNAME_TAKEN), so scripts can tell the failures apart.
 */
export class HostJoinFailedError extends CliError {
  constructor(
    readonly code: HostJoinErrorCode,
    readonly detail: string,
  ) {
    super(`${code}: ${detail}\nguidance: ${guidanceFor(code)}`, exitCodeFor(code));
    this.name = 'HostJoinFailedError';
  }
}

/** The server could not be reached. */
export class ConnectionError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Unavailable);
    this.name = 'ConnectionError';
  }
}

/** Maps a Status (reason first, HTTP code as fallback) to an exit code. */
export function exitCodeForStatus(status: Pick<Status, 'reason' | 'code'>): ExitCode {
  switch (status.reason) {
    case 'NotFound':
      return ExitCode.NotFound;
    case 'AlreadyExists':
    case 'Conflict':
      return ExitCode.Conflict;
    case 'Invalid':
    case 'BadRequest':
    case 'UnsupportedMediaType':
    case 'NotAcceptable':
    case 'RequestEntityTooLarge':
      return ExitCode.Invalid;
    case 'Unauthorized':
    case 'Forbidden':
      return ExitCode.Unauthorized;
    case 'Timeout':
      return ExitCode.Timeout;
    case 'ServiceUnavailable':
      return ExitCode.Unavailable;
    default:
      break;
  }
  switch (status.code) {
    case 404:
      return ExitCode.NotFound;
    case 409:
      return ExitCode.Conflict;
    case 400:
    case 422:
      return ExitCode.Invalid;
    case 401:
    case 403:
      return ExitCode.Unauthorized;
    case 504:
      return ExitCode.Timeout;
    case 503:
      return ExitCode.Unavailable;
    default:
      return ExitCode.Generic;
  }
}

/** The error for a non-2xx response: the body's Status when it is one, else one made from the code and text. */
export function errorFromResponse(code: number, bodyText: string): ApiStatusError {
  return new ApiStatusError(statusFromResponse(code, bodyText));
}

/** Several errors (e.g. `get vm a b c` with two missing): all printed, exit code of the first. */
export class MultiError extends CliError {
  constructor(readonly errors: unknown[]) {
    super(errors.map((e) => (e instanceof Error ? e.message : String(e))).join('\n'), exitCodeOf(errors[0]));
    this.name = 'MultiError';
  }
}

/** The text printed for an error (without the trailing newline). */
export function formatError(err: unknown, opts: { debug?: boolean } = {}): string {
  if (err instanceof MultiError) return err.errors.map((e) => formatError(e, opts)).join('\n');
  if (err instanceof ApiError) {
    const lines = [`Error from server (${err.reason}): ${err.message}`];
    // Invalid's message already lists its causes in one line; show them one per line when
    // there are several, so a long list stays readable.
    const causes = err.causes.filter((c) => c.message || c.field);
    if (causes.length > 1 || (causes.length === 1 && !err.message.includes(causes[0]!.message ?? ''))) {
      for (const cause of causes) lines.push(`  * ${cause.field ? `${cause.field}: ` : ''}${cause.message ?? cause.reason ?? ''}`);
    }
    return lines.join('\n');
  }
  if (err instanceof UsageError) {
    const hint = `See '${err.command ?? 'qxctl'} --help' for usage.`;
    return `error: ${err.message}\n${hint}`;
  }
  if (err instanceof CliError) return `error: ${err.message}`;
  if (err instanceof Error) {
    return opts.debug && err.stack ? `error: ${err.stack}` : `error: ${err.message}`;
  }
  return `error: ${String(err)}`;
}

/** The exit code for anything thrown. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CliError) return err.exitCode;
  return err instanceof ApiError ? exitCodeForStatus(err) : ExitCode.Generic;
}
