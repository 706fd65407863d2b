/**
 * qxctl's errors and exit codes. Every failure a user can cause ends as one line (or a
 * few) on stderr and a distinct exit code; never a stack trace. Server failures keep the
 * Kubernetes Status reason and message, printed the way kubectl prints them:
 *
 *   Error from server (NotFound): virtualmachines.quantix.io "web" not found
 */
import type { Status, StatusCause } from '../api-types/meta.js';

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
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** An error with an exit code and a message meant for the user (printed without a stack). */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = ExitCode.Generic,
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

/** The server answered with a failure `Status`. */
export class ApiStatusError extends CliError {
  constructor(readonly status: Status) {
    super(status.message || status.reason || `the server answered ${status.code}`, exitCodeForStatus(status));
    this.name = 'ApiStatusError';
  }

  get reason(): string {
    return this.status.reason ?? reasonForCode(this.status.code);
  }

  get code(): number {
    return this.status.code;
  }

  get causes(): StatusCause[] {
    return this.status.details?.causes ?? [];
  }
}

/** The server could not be reached. */
export class ConnectionError extends CliError {
  constructor(message: string) {
    super(message, ExitCode.Unavailable);
    this.name = 'ConnectionError';
  }
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

/**
 * Builds the error for a non-2xx response: the body's Status when it is one, else a
 * Status made from the code and the body text.
 */
export function errorFromResponse(code: number, bodyText: string): ApiStatusError {
  let status: Status | undefined;
  try {
    const parsed = JSON.parse(bodyText) as Partial<Status>;
    if (parsed && parsed.kind === 'Status') status = { ...(parsed as Status), code: parsed.code ?? code };
  } catch {
    // not JSON
  }
  if (!status) {
    const text = bodyText.trim();
    status = {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      code,
      reason: reasonForCode(code),
      message: text ? text.slice(0, 2000) : `the server answered ${code} ${reasonForCode(code)}`,
    };
  }
  return new ApiStatusError(status);
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
  if (err instanceof ApiStatusError) {
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
export function exitCodeOf(err: unknown): ExitCode {
  return err instanceof CliError ? err.exitCode : ExitCode.Generic;
}
