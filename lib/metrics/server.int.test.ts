/**
 * The /metrics endpoint of the controller-manager and the agent against a real apiserver (real
 * etcd): HTTPS with a certificate from the cluster CA, and a bearer token the apiserver accepts
 * for get /metrics — checked before anything is collected.
 */
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { connect } from 'node:net';
import { Counter, Registry } from 'prom-client';
import { ensureMetricsServingCertificate } from '../../apiserver/pki/certificates.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { DelegatedAuthorizer } from './delegated-auth.js';
import { startMetricsServer, type RunningMetricsServer } from './server.js';

let env: TestApiserver;
let server: RunningMetricsServer;
let authorizer: DelegatedAuthorizer;
let collected = 0;
const registry = new Registry();
new Counter({ name: 'quantix_test_things_total', help: 'things', registers: [registry] }).inc(3);

/** A user the apiserver knows but grants nothing outside the API (like a node). */
const NOBODY = 'nobody-token-0123456789';

beforeAll(async () => {
  env = await startTestApiserver({
    extraAuthenticators: [{ authenticate: async (t) => (t === NOBODY ? { name: 'nobody', uid: 'nobody', groups: ['system:authenticated'] } : undefined) }],
  });
  const files = ensureMetricsServingCertificate(env.dataDir);
  authorizer = new DelegatedAuthorizer({ server: env.apiserver.url, caPem: env.caCertPem, cacheTtlMs: 60_000 });
  server = await startMetricsServer({
    host: '127.0.0.1',
    port: 0,
    tls: { certPem: readFileSync(files.certFile, 'utf8'), keyPem: readFileSync(files.keyFile, 'utf8') },
    registry,
    authorizer,
    beforeCollect: async () => {
      collected++;
    },
  });
}, 60_000);

afterAll(async () => {
  await server?.stop();
  await env?.stop();
});

function get(path: string, token?: string, method = 'GET'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = https.request(
      `https://127.0.0.1:${server.port}${path}`,
      { method, ca: env.caCertPem, headers: token !== undefined ? { Authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

describe('metrics server', () => {
  it('serves an admin and a viewer the Prometheus text format over HTTPS verified by the cluster CA', async () => {
    for (const token of [env.tokens.admin, env.tokens.viewer]) {
      const res = await get('/metrics', token);
      expect(res.status).toBe(200);
      expect(String(res.headers['content-type'])).toContain('text/plain');
      expect(res.body).toContain('quantix_test_things_total 3');
    }
  });

  it('refuses a caller without a token with a 401 Status, before collecting anything', async () => {
    const before = collected;
    const reviews = authorizer.reviews;
    const res = await get('/metrics');
    expect(res.status).toBe(401);
    expect(res.headers['www-authenticate']).toContain('Bearer');
    expect(JSON.parse(res.body)).toMatchObject({ kind: 'Status', status: 'Failure', reason: 'Unauthorized', code: 401 });
    expect(collected).toBe(before);
    expect(authorizer.reviews).toBe(reviews); // not even the apiserver was asked
  });

  it('refuses a token the apiserver does not know (401) and a user without the right (403)', async () => {
    const before = collected;
    const unknown = await get('/metrics', 'not-a-real-token');
    expect(unknown.status).toBe(401);
    expect(JSON.parse(unknown.body)).toMatchObject({ reason: 'Unauthorized' });
    const nobody = await get('/metrics', NOBODY);
    expect(nobody.status).toBe(403);
    expect(JSON.parse(nobody.body)).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
    expect(JSON.parse(nobody.body).message).toContain('/metrics');
    expect(collected).toBe(before);
  });

  it('answers other paths and methods with a Status, and speaks no plain HTTP', async () => {
    expect((await get('/debug', env.tokens.admin)).status).toBe(404);
    const post = await get('/metrics', env.tokens.admin, 'POST');
    expect(post.status).toBe(405);
    expect(JSON.parse(post.body)).toMatchObject({ reason: 'MethodNotAllowed' });
    // A plain HTTP request gets no HTTP answer (the TLS server drops it).
    const answer = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n'));
      let data = '';
      socket.on('data', (c) => (data += c.toString('latin1')));
      socket.on('close', () => resolve(data));
      socket.on('error', () => resolve(data));
    });
    expect(answer).not.toContain('quantix_test_things_total');
    expect(answer).not.toMatch(/^HTTP\/1\.1 200/);
  });
});
