/**
 * The correlation id on the real apiserver over a real etcd: every write of a main resource
 * records the request's X-Request-Id (or the id the apiserver gave a request without one) in
 * the annotation quantix.io/correlation-id; /status writes and writes that change nothing
 * leave it; a delete that finalizers hold back records the deleting request's id; a malformed
 * X-Request-Id is refused on writes (400 Status naming the header).
 */
import { Agent, request } from 'node:https';
import { CORRELATION_ID_ANNOTATION } from '../api-types/correlation.js';
import { randomBytes } from 'node:crypto';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';
import { recordTestSecrets } from '../hack/testenv/test-logs.js';
import { setLogLevel, setLogSink } from '../lib/logging/logger.js';

interface Reply {
  status: number;
  requestId: string | undefined;
  body: {
    kind?: string;
    reason?: string;
    message?: string;
    metadata: { annotations?: Record<string, string>; deletionTimestamp?: string };
  };
}

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

const vm = (name: string, over: Record<string, unknown> = {}) => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name, ...over },
  spec: { memory: '256Mi', disks: [{ name: 'root', storagePool: 'fast', size: '1Gi' }] },
});

describe('correlation id on writes (integration)', () => {
  let env: TestApiserver;
  let agent: Agent;

  const send = (method: string, path: string, o: { body?: unknown; requestId?: string; contentType?: string } = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const headers: Record<string, string> = { Authorization: `Bearer ${env.tokens.admin}`, 'Content-Type': o.contentType ?? 'application/json' };
      if (o.requestId !== undefined) headers['X-Request-Id'] = o.requestId;
      const req = request({ host: url.hostname, port: url.port, method, path, agent, headers }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            requestId: res.headers['x-request-id'] as string | undefined,
            body: JSON.parse(Buffer.concat(chunks).toString()) as Reply['body'],
          }),
        );
      });
      req.on('error', reject);
      req.end(o.body === undefined ? undefined : JSON.stringify(o.body));
    });
  const mergePatch = (path: string, body: unknown, requestId?: string) => send('PATCH', path, { body, requestId, contentType: 'application/merge-patch+json' });
  const idOf = (reply: Reply) => reply.body.metadata.annotations?.[CORRELATION_ID_ANNOTATION];

  // Cloud-init user data is a secret: stored, never logged (test-summary also greps the run's log files for it).
  const password = `pw-${randomBytes(12).toString('hex')}`;
  const userData = `#cloud-config\nchpasswd:\n  users:\n    - {name: debian, password: ${password}, type: text}\n`;
  const lines: string[] = [];

  beforeAll(async () => {
    recordTestSecrets(userData);
    setLogSink((line) => lines.push(line));
    setLogLevel('debug');
    env = await startTestApiserver();
    agent = new Agent({ keepAlive: true, ca: env.caCertPem });
  }, 60_000);
  afterAll(async () => {
    agent?.destroy();
    await env?.stop();
    setLogLevel('info');
  });

  it('a create records the X-Request-Id; a create without one records the id the apiserver answered with', async () => {
    const withUserData = vm('web');
    const created = await send('POST', VMS, { body: { ...withUserData, spec: { ...withUserData.spec, cloudInit: { userData } } }, requestId: 'cid-create-1' });
    expect(created.status).toBe(201);
    expect(idOf(created)).toBe('cid-create-1');
    expect(created.requestId).toBe('cid-create-1');
    expect(idOf(await send('GET', `${VMS}/web`))).toBe('cid-create-1');
    // The apiserver logged (at debug) every request, with its id; the user data is in none of its lines.
    expect(lines.some((l) => l.includes('"correlationId":"cid-create-1"'))).toBe(true);
    expect(lines.filter((l) => l.includes(password))).toEqual([]);

    const anonymous = await send('POST', VMS, { body: vm('anonymous') });
    expect(anonymous.status).toBe(201);
    expect(anonymous.requestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(idOf(anonymous)).toBe(anonymous.requestId);
  });

  it('a client-set annotation is replaced by the request id: the id says which request wrote', async () => {
    const created = await send('POST', VMS, {
      body: vm('forged', { annotations: { [CORRELATION_ID_ANNOTATION]: 'made-up', team: 'a' } }),
      requestId: 'cid-real',
    });
    expect(created.body.metadata.annotations).toEqual({ [CORRELATION_ID_ANNOTATION]: 'cid-real', team: 'a' });
  });

  it('a patch that changes intent records its id; /status writes and no-op writes leave it', async () => {
    const patched = await mergePatch(`${VMS}/web`, { spec: { cpu: 2 } }, 'cid-patch-2');
    expect(patched.status).toBe(200);
    expect(idOf(patched)).toBe('cid-patch-2');

    const status = await mergePatch(`${VMS}/web/status`, { status: { phase: 'Pending' } }, 'cid-status-3');
    expect(status.status).toBe(200);
    expect(idOf(status)).toBe('cid-patch-2');

    // The same spec again (kubectl apply of an unchanged manifest): nothing written, the id stays.
    const noop = await mergePatch(`${VMS}/web`, { spec: { cpu: 2 } }, 'cid-noop-4');
    expect(noop.status).toBe(200);
    expect(idOf(noop)).toBe('cid-patch-2');

    // An update (PUT) of the whole object with a label change records its id.
    const current = await send('GET', `${VMS}/web`);
    const put = await send('PUT', `${VMS}/web`, {
      body: { ...current.body, metadata: { ...current.body.metadata, labels: { tier: 'front' } } },
      requestId: 'cid-put-5',
    });
    expect(put.status).toBe(200);
    expect(idOf(put)).toBe('cid-put-5');
  });

  it('a delete held back by a finalizer records the deleting request id with deletionTimestamp', async () => {
    expect((await send('POST', VMS, { body: vm('held', { finalizers: ['example.com/hold'] }), requestId: 'cid-create-6' })).status).toBe(201);
    const deleting = await send('DELETE', `${VMS}/held`, { requestId: 'cid-delete-7' });
    expect(deleting.status).toBe(202);
    expect(deleting.body.metadata.deletionTimestamp).toBeDefined();
    expect(idOf(deleting)).toBe('cid-delete-7');
    // Releasing the finalizer is the controller's write: it carries the id it was sent with.
    const released = await mergePatch(`${VMS}/held`, { metadata: { finalizers: null } }, 'cid-delete-7');
    expect(released.status).toBe(200);
  });

  it.each([
    ['too long', 'x'.repeat(129)],
    ['with a space', 'two words'],
  ])('a malformed X-Request-Id (%s) is refused on a write, naming the header; a read answers with an id of its own', async (_case, requestId) => {
    const refused = await send('POST', VMS, { body: vm('refused'), requestId });
    expect(refused.status).toBe(400);
    expect(refused.body).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    expect(refused.body.message).toMatch(/^X-Request-Id: must be 1 to 128 visible ASCII characters/);
    expect((await send('GET', `${VMS}/refused`)).status).toBe(404);

    const read = await send('GET', `${VMS}/web`, { requestId });
    expect(read.status).toBe(200);
    expect(read.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });
});
