import { ApiError, errorFromResponse, errorFromStatus, errors, isGone, isNotFound, statusFromResponse } from './status-error.js';

describe('Status errors', () => {
  it('round-trip: what the apiserver sends, a client decodes to the same error', () => {
    const sent = errors.notFound({ group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine', name: 'web' });
    const got = errorFromResponse(404, JSON.stringify(sent.toStatus()), 'ui-x-1');
    expect(got).toBeInstanceOf(ApiError);
    expect([got.code, got.reason, got.message, got.requestId]).toEqual([404, 'NotFound', 'virtualmachines.quantix.io "web" not found', 'ui-x-1']);
    expect(got.details).toEqual(sent.details);
    expect(isNotFound(got)).toBe(true);
  });

  it('a body that is not a Status becomes one from the code and the text', () => {
    expect(statusFromResponse(502, 'Bad Gateway\n')).toMatchObject({ code: 502, reason: 'InternalError', message: 'Bad Gateway' });
    expect(errorFromResponse(403, '').message).toMatch(/403 Forbidden/);
  });

  it('fills a missing reason from the code, and keeps causes', () => {
    const err = errorFromStatus({
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      code: 422,
      message: 'bad',
      details: { causes: [{ field: 'spec.cpu', message: 'must be at least 1' }] },
    });
    expect(err.reason).toBe('Invalid');
    expect(err.causes).toEqual([{ field: 'spec.cpu', message: 'must be at least 1' }]);
  });

  it('410 is Gone for ApiErrors and for transports that only carry statusCode', () => {
    expect(isGone(errors.expired('too old'))).toBe(true);
    expect(isGone({ statusCode: 410 })).toBe(true);
    expect(isGone(errors.conflict({ group: '', resource: 'x', kind: 'X' }, 'why'))).toBe(false);
  });
});
