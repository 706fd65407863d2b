/**
 * Open watches per user are capped: past the cap a watch gets 429 TooManyRequests with
 * Retry-After, other users are not affected, and a place comes back when a stream ends.
 * A real apiserver on real etcd, with the cap set to 2.
 */
import type { ClientRequest } from 'node:http';
import { Agent, request } from 'node:https';
import { eventually } from '../hack/testenv/eventually.js';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

describe('watches per user', () => {
  let env: TestApiserver;
  let agent: Agent;
  const open: ClientRequest[] = [];

  beforeAll(async () => {
    env = await startTestApiserver({ extra: { maxWatchesPerUser: 2 } });
    agent = new Agent({ keepAlive: false, ca: env.caCertPem });
  });
  afterAll(async () => {
    for (const req of open) req.destroy();
    agent?.destroy();
    await env?.stop();
  });

  /** Starts a watch as `token`; resolves with its status and headers once they arrive (the stream stays open on 200). */
  const watch = (token: string) =>
    new Promise<{ status: number; headers: Record<string, unknown>; body: Promise<string>; req: ClientRequest }>((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const req = request({ host: url.hostname, port: url.port, path: `${VMS}?watch=true`, agent, headers: { Authorization: `Bearer ${token}` } }, (res) => {
        const body = new Promise<string>((done) => {
          let text = '';
          res.setEncoding('utf8').on('data', (c: string) => (text += c));
          res.on('end', () => done(text));
          res.on('error', () => done(text));
        });
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, req });
      });
      req.on('error', reject);
      req.end();
      open.push(req);
    });

  it('answers the third watch of one user with 429 and Retry-After; another user still watches; a closed stream frees its place', async () => {
    const first = await watch(env.tokens.viewer);
    const second = await watch(env.tokens.viewer);
    expect([first.status, second.status]).toEqual([200, 200]);

    const third = await watch(env.tokens.viewer);
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBe('1');
    expect(JSON.parse(await third.body)).toMatchObject({
      kind: 'Status',
      code: 429,
      reason: 'TooManyRequests',
      message: 'too many watches: user "viewer" has 2 open, the limit is 2; retry once one of them has ended',
      details: { retryAfterSeconds: 1 },
    });

    const admin = await watch(env.tokens.admin);
    expect(admin.status).toBe(200);

    first.req.destroy();
    await eventually(
      async () => {
        const again = await watch(env.tokens.viewer);
        if (again.status !== 200) return false;
        return true;
      },
      { message: 'a place frees once a stream has ended' },
    );
  });
});
