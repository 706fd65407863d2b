import { DelegatedAuthorizer, decisionOf, type ReviewAnswer } from './delegated-auth.js';

describe('decisionOf (the apiserver answer to a SelfSubjectAccessReview)', () => {
  it('allowed', () => {
    expect(decisionOf({ status: 201, body: { status: { allowed: true, reason: 'viewers may read it' } } })).toEqual({ allowed: true });
  });
  it('known but not allowed → 403 with the apiserver reason', () => {
    expect(decisionOf({ status: 201, body: { status: { allowed: false, reason: 'no role grants get on /metrics' } } })).toEqual({
      allowed: false,
      code: 403,
      reason: 'Forbidden',
      message: 'forbidden to get path "/metrics": no role grants get on /metrics',
    });
  });
  it('an unknown token → 401', () => {
    expect(decisionOf({ status: 401, body: undefined })).toMatchObject({ allowed: false, code: 401, reason: 'Unauthorized' });
  });
  it('anything else → 503 (no answer is not a yes)', () => {
    expect(decisionOf({ status: 500, body: undefined })).toMatchObject({ allowed: false, code: 503, reason: 'ServiceUnavailable' });
    expect(decisionOf({ status: 201, body: 'not json' })).toMatchObject({ allowed: false, code: 403 });
  });
});

describe('DelegatedAuthorizer', () => {
  function make(answers: Record<string, ReviewAnswer | Error>) {
    let now = 0;
    const seen: { token: string; review: object }[] = [];
    const auth = new DelegatedAuthorizer({
      server: 'https://127.0.0.1:1',
      caPem: '',
      cacheTtlMs: 10_000,
      now: () => now,
      transport: async (token, review) => {
        seen.push({ token, review });
        const a = answers[token];
        if (!a || a instanceof Error) throw a ?? new Error('connection refused');
        return a;
      },
    });
    return { auth, seen, advance: (ms: number) => (now += ms) };
  }
  const allowed: ReviewAnswer = { status: 201, body: { status: { allowed: true } } };

  it('without a token refuses at once, asking nobody', async () => {
    const { auth, seen } = make({});
    expect(await auth.authorize('')).toMatchObject({ allowed: false, code: 401 });
    expect(seen).toHaveLength(0);
  });

  it('asks the apiserver with the caller token about get /metrics', async () => {
    const { auth, seen } = make({ viewer: allowed });
    expect(await auth.authorize('viewer')).toEqual({ allowed: true });
    expect(seen).toEqual([
      {
        token: 'viewer',
        review: { apiVersion: 'authorization.k8s.io/v1', kind: 'SelfSubjectAccessReview', spec: { nonResourceAttributes: { verb: 'get', path: '/metrics' } } },
      },
    ]);
  });

  it('remembers an answer for the cache period, per token; concurrent scrapes share one review', async () => {
    const { auth, seen, advance } = make({ viewer: allowed, stranger: { status: 401, body: undefined } });
    await Promise.all([auth.authorize('viewer'), auth.authorize('viewer'), auth.authorize('viewer')]);
    expect(await auth.authorize('stranger')).toMatchObject({ code: 401 });
    expect(await auth.authorize('stranger')).toMatchObject({ code: 401 });
    expect(auth.reviews).toBe(2);
    advance(10_000);
    await auth.authorize('viewer');
    expect(auth.reviews).toBe(3);
    expect(seen.map((s) => s.token)).toEqual(['viewer', 'stranger', 'viewer']);
  });

  it('an apiserver that cannot be reached → 503, and the next request asks again', async () => {
    const { auth } = make({ viewer: new Error('ECONNREFUSED') });
    expect(await auth.authorize('viewer')).toMatchObject({ allowed: false, code: 503, reason: 'ServiceUnavailable' });
    await auth.authorize('viewer');
    expect(auth.reviews).toBe(2);
  });
});
