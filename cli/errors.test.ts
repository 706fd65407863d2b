import type { Status } from '../api-types/meta.js';
import {
  ApiStatusError,
  CliError,
  ConnectionError,
  errorFromResponse,
  ExitCode,
  exitCodeForStatus,
  exitCodeOf,
  formatError,
  MultiError,
  TimeoutError,
  UsageError,
} from './errors.js';

const status = (code: number, reason?: string, message = 'msg', causes?: Status['details']): Status => ({
  kind: 'Status',
  apiVersion: 'v1',
  metadata: {},
  status: 'Failure',
  code,
  reason,
  message,
  ...(causes ? { details: causes } : {}),
});

describe('exit codes', () => {
  it.each([
    [404, 'NotFound', ExitCode.NotFound],
    [409, 'AlreadyExists', ExitCode.Conflict],
    [409, 'Conflict', ExitCode.Conflict],
    [422, 'Invalid', ExitCode.Invalid],
    [400, 'BadRequest', ExitCode.Invalid],
    [415, 'UnsupportedMediaType', ExitCode.Invalid],
    [401, 'Unauthorized', ExitCode.Unauthorized],
    [403, 'Forbidden', ExitCode.Unauthorized],
    [504, 'Timeout', ExitCode.Timeout],
    [503, 'ServiceUnavailable', ExitCode.Unavailable],
    [500, 'InternalError', ExitCode.Generic],
    [405, 'MethodNotAllowed', ExitCode.Generic],
    // reason missing: the HTTP code decides
    [404, undefined, ExitCode.NotFound],
    [409, undefined, ExitCode.Conflict],
    [422, undefined, ExitCode.Invalid],
    [403, undefined, ExitCode.Unauthorized],
    [502, undefined, ExitCode.Generic],
  ])('%d %s → %d', (code, reason, exit) => {
    expect(exitCodeForStatus({ code, reason })).toBe(exit);
  });

  it('are distinct for the documented failure classes', () => {
    const codes = [
      ExitCode.Generic,
      ExitCode.Usage,
      ExitCode.NotFound,
      ExitCode.Conflict,
      ExitCode.Invalid,
      ExitCode.Unauthorized,
      ExitCode.Timeout,
      ExitCode.Unavailable,
    ];
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).not.toContain(0);
  });

  it('maps every error class', () => {
    expect(exitCodeOf(new UsageError('x'))).toBe(2);
    expect(exitCodeOf(new TimeoutError('x'))).toBe(7);
    expect(exitCodeOf(new ConnectionError('x'))).toBe(8);
    expect(exitCodeOf(new ApiStatusError(status(404, 'NotFound')))).toBe(3);
    expect(exitCodeOf(new Error('boom'))).toBe(1);
    expect(exitCodeOf(new MultiError([new ApiStatusError(status(404, 'NotFound')), new Error('x')]))).toBe(3);
  });
});

describe('errorFromResponse', () => {
  it('keeps the server Status', () => {
    const err = errorFromResponse(404, JSON.stringify(status(404, 'NotFound', 'virtualmachines.quantix.io "web" not found')));
    expect(err.reason).toBe('NotFound');
    expect(err.message).toBe('virtualmachines.quantix.io "web" not found');
    expect(err.exitCode).toBe(ExitCode.NotFound);
  });

  it('makes a Status from a bare code and text', () => {
    const err = errorFromResponse(502, 'Bad Gateway\n');
    expect(err.reason).toBe('InternalError');
    expect(err.message).toBe('Bad Gateway');
    const empty = errorFromResponse(403, '');
    expect(empty.reason).toBe('Forbidden');
    expect(empty.message).toMatch(/403 Forbidden/);
    expect(empty.exitCode).toBe(ExitCode.Unauthorized);
  });
});

describe('formatError', () => {
  it('prints server errors the way kubectl does', () => {
    expect(formatError(new ApiStatusError(status(404, 'NotFound', 'virtualmachines.quantix.io "web" not found')))).toBe(
      'Error from server (NotFound): virtualmachines.quantix.io "web" not found',
    );
  });

  it('lists several causes one per line', () => {
    const err = new ApiStatusError(
      status(422, 'Invalid', 'VirtualMachine "web" is invalid: spec.memory: Required value, spec.cpu: must be at least 1', {
        causes: [
          { field: 'spec.memory', message: 'Required value' },
          { field: 'spec.cpu', message: 'must be at least 1' },
        ],
      }),
    );
    expect(formatError(err).split('\n')).toEqual([
      'Error from server (Invalid): VirtualMachine "web" is invalid: spec.memory: Required value, spec.cpu: must be at least 1',
      '  * spec.memory: Required value',
      '  * spec.cpu: must be at least 1',
    ]);
  });

  it('does not repeat a single cause the message already holds', () => {
    const err = new ApiStatusError(
      status(422, 'Invalid', 'VirtualMachine "web" is invalid: spec.memory: Required value', { causes: [{ field: 'spec.memory', message: 'Required value' }] }),
    );
    expect(formatError(err).split('\n')).toHaveLength(1);
  });

  it('points usage errors at --help and never prints stacks unless debugging', () => {
    expect(formatError(new UsageError('unknown flag: --x', 'qxctl get'))).toBe("error: unknown flag: --x\nSee 'qxctl get --help' for usage.");
    expect(formatError(new CliError('nope'))).toBe('error: nope');
    const bug = new TypeError('x is undefined');
    expect(formatError(bug)).toBe('error: x is undefined');
    expect(formatError(bug, { debug: true })).toContain('TypeError: x is undefined\n    at');
  });

  it('prints every error of a MultiError', () => {
    const err = new MultiError([new ApiStatusError(status(404, 'NotFound', 'a not found')), new ApiStatusError(status(404, 'NotFound', 'b not found'))]);
    expect(formatError(err)).toBe('Error from server (NotFound): a not found\nError from server (NotFound): b not found');
  });
});
