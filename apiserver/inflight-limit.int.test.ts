/**
 * Requests in flight per user are capped (watches apart): past the cap a request gets 429
 * TooManyRequests with Retry-After, other users and the user's watches are not affected, and
 * a place comes back when a response is done. A real apiserver on real etcd, with the cap
 * set to 2; requests are held in flight by sending their body only in part.
 */
import type { ClientRequest } from 'node:http';
import { Agent, request } from 'node:https';
import { eventually } from '../hack/testenv/eventually.js';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

describe('requests in flight per user', () => {
  let env: TestApiserver;
  let agent: Agent;
  const open: ClientRequest[] = [];

  beforeAll(async () => {
    env = await startTestApiserver({ extra: { maxRequestsInflightPerUser: 2 } });
    agent = new Agent({ keepAlive: false, ca: env.caCertPem });
  });
  afterAll(async () => {
    for (const req of open) req.destroy();
    agent?.destroy();
    await env?.stop();
  });

  interface Answer {
    status: number;
    headers: Record<string, unknown>;
    body: Promise<string>;
  }

  /** Sends a request; `body` is written, and the request ended unless `hold`. Resolves with the answer once its head arrives. */
  const send = (token: string, method: string, path: string, body?: string, hold = false) => {
    const url = new URL(env.apiserver.url);
    let req!: ClientRequest;
    const answer = new Promise<Answer>((resolve, reject) => {
      req = request(
        {
          host: url.hostname,
          port: url.port,
          path,
          method,
          agent,
          headers: {
            Authorization: `Bearer ${token}`,
            'Content-Type': 'application/json',
            ...(body !== undefined ? { 'Content-Length': String(Buffer.byteLength(body) + (hold ? 1 : 0)) } : {}),
          },
        },
        (res) => {
          const text = new Promise<string>((done) => {
            let t = '';
            res.setEncoding('utf8').on('data', (c: string) => (t += c));
            res.on('end', () => done(t));
            res.on('error', () => done(t));
          });
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
        },
      );
      req.on('error', reject);
      if (body !== undefined) req.write(body);
      if (!hold) req.end();
      open.push(req);
    });
    return { req, answer };
  };

  const vm = (name: string) => JSON.stringify({ apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachine', metadata: { name }, spec: { memory: '64Mi' } });

  it('answers a third request of one user with 429 and Retry-After while two are in flight; others go on; an answer frees a place', async () => {
    // Two creates whose bodies lack their last byte: in flight until finished.
    const first = send(env.tokens.admin, 'POST', VMS, vm('held-1'), true);
    const second = send(env.tokens.admin, 'POST', VMS, vm('held-2'), true);

    const refused = await eventually(
      async () => {
        const a = await send(env.tokens.admin, 'GET', VMS).answer;
        return a.status === 429 ? a : false;
      },
      { message: 'the two held requests take both places' },
    );
    expect(refused.headers['retry-after']).toBe('1');
    expect(JSON.parse(await refused.body)).toMatchObject({
      kind: 'Status',
      code: 429,
      reason: 'TooManyRequests',
      message: 'too many requests in flight: user "admin" has 2, the limit is 2; retry once some have been answered',
      details: { retryAfterSeconds: 1 },
    });
    // Discovery (express routes) counts too.
    expect((await send(env.tokens.admin, 'GET', '/apis').answer).status).toBe(429);

    // Another user is served; the user's watch is not counted.
    expect((await send(env.tokens.viewer, 'GET', VMS).answer).status).toBe(200);
    const watch = await send(env.tokens.admin, 'GET', `${VMS}?watch=true`).answer;
    expect(watch.status).toBe(200);

    // Finishing one body answers it, which frees its place.
    first.req.end(' ');
    expect((await first.answer).status).toBe(201);
    await eventually(async () => (await send(env.tokens.admin, 'GET', VMS).answer).status === 200, { message: 'a place frees once a request is answered' });
    second.req.end(' ');
    expect((await second.answer).status).toBe(201);
  });
});
