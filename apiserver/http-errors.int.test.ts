/**
 * The apiserver's HTTP edge on a real etcd: malformed requests get Status objects (and
 * never take the process down), request ids are echoed, and the write paths that start
 * from the watch cache's copy still answer 404 / 409 like Kubernetes.
 */
import { Agent, request } from 'node:https';
import { startTestApiserver, type TestApiserver } from '../hack/testenv/apiserver.js';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { kind?: string; reason?: string; message?: string; code?: number; metadata?: { resourceVersion?: string; annotations?: Record<string, string> } };
}

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

describe('apiserver HTTP edge', () => {
  let env: TestApiserver;
  let agent: Agent;

  const send = (method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent,
          headers: { Authorization: `Bearer ${env.tokens.admin}`, 'Content-Type': 'application/json', ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            let parsed: Reply['body'] = {};
            try {
              parsed = JSON.parse(text) as Reply['body'];
            } catch {
              parsed = { message: text };
            }
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: parsed });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  const vm = (name: string) =>
    JSON.stringify({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name },
      spec: { cpu: 1, memory: '256Mi', disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }] },
    });

  beforeAll(async () => {
    env = await startTestApiserver();
    agent = new Agent({ keepAlive: true, ca: env.caCertPem });
  });
  afterAll(async () => {
    agent?.destroy();
    await env?.stop();
  });

  it('answers a path with broken percent-encoding with a 400 Status and keeps serving', async () => {
    for (const path of ['/api/%', '/apis/quantix.io/v1alpha1/namespaces/%E0%A4%A/virtualmachines']) {
      const reply = await send('GET', path);
      expect(reply.status).toBe(400);
      expect(reply.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    }
    expect((await send('GET', VMS)).status).toBe(200);
  });

  it('echoes X-Request-Id on resource and non-resource paths, and makes one up otherwise', async () => {
    const onResource = await send('GET', VMS, undefined, { 'X-Request-Id': 'req-resource-1' });
    expect(onResource.headers['x-request-id']).toBe('req-resource-1');
    // Audit-Id is the request's own (its audit Event's auditID); X-Request-Id is the action's, shared by its requests.
    expect(String(onResource.headers['audit-id'])).toMatch(/^[0-9a-f-]{36}$/);
    const again = await send('GET', VMS, undefined, { 'X-Request-Id': 'req-resource-1' });
    expect(again.headers['audit-id']).not.toBe(onResource.headers['audit-id']);
    const onDiscovery = await send('GET', '/apis', undefined, { 'X-Request-Id': 'req-discovery-1' });
    expect(onDiscovery.headers['x-request-id']).toBe('req-discovery-1');
    const generated = await send('GET', '/healthz');
    expect(String(generated.headers['x-request-id'])).toMatch(/^[0-9a-f-]{36}$/);
  });

  it('refuses an unauthenticated resource request with 401 before looking at the resource', async () => {
    const reply = await send('GET', '/apis/quantix.io/v1alpha1/nosuchthings', undefined, { Authorization: 'Bearer wrong' });
    expect(reply.status).toBe(401);
    expect(reply.body).toMatchObject({ kind: 'Status', reason: 'Unauthorized' });
    expect((await send('GET', '/apis/quantix.io/v1alpha1/nosuchthings')).status).toBe(404);
  });

  it('says where malformed JSON is, refuses oversized bodies with 413, and writes nothing', async () => {
    const malformed = await send('POST', VMS, '{"apiVersion": "quantix.io/v1alpha1", "kind": ');
    expect(malformed.status).toBe(400);
    expect(malformed.body.message).toMatch(/position|line|column/i);
    const huge = await send('POST', VMS, JSON.stringify({ padding: 'x'.repeat(4 * 1024 * 1024) }));
    expect(huge.status).toBe(413);
    expect(huge.body).toMatchObject({ kind: 'Status', code: 413 });
    const list = await send('GET', VMS);
    expect((list.body as { items?: unknown[] }).items).toEqual([]);
  });

  it('a stored write with an unknown field named in another script gets its 201 and a UTF-8 Warning, not a 500', async () => {
    const body = JSON.parse(vm('warned')) as { spec: Record<string, unknown> };
    // A field name in another script, and one with a control character.
    Object.assign(body.spec, { 字段: 1, 'bad\u007fname': 2 });
    const created = await send('POST', VMS, JSON.stringify(body));
    expect(created.status).toBe(201);
    const warnings = ([] as string[]).concat(created.headers.warning ?? []).join(', ');
    // Node reads header bytes as Latin-1: decode them as the UTF-8 they are, as kubectl does.
    const text = Buffer.from(warnings, 'latin1').toString('utf8');
    expect(text).toMatch(/^299 - "/);
    expect(text).toContain('spec.字段');
    expect(text).toContain('bad\\u007fname');
    const stored = await send('GET', `${VMS}/warned`);
    expect(stored.status).toBe(200);
  });

  it('answers a watch with an unparseable resourceVersion with a 400 Status before any stream starts', async () => {
    const watch = await send('GET', `${VMS}?watch=true&resourceVersion=abc`);
    expect(watch.status).toBe(400);
    expect(watch.body).toMatchObject({ kind: 'Status', code: 400, reason: 'BadRequest' });
    expect(watch.body.message).toContain('invalid resourceVersion "abc"');
  });

  it('counts requests for resources it does not serve under resource="unknown", never under the name from the path', async () => {
    for (const name of ['made-up-a', 'made-up-b', 'made-up-c']) {
      expect((await send('GET', `/apis/quantix.io/v1alpha1/namespaces/default/${name}`)).status).toBe(404);
    }
    const metrics = await send('GET', '/metrics');
    expect(metrics.status).toBe(200);
    const text = metrics.body.message ?? '';
    expect(text).toMatch(/apiserver_request_total\{verb="list",resource="unknown",code="404"\} [3-9]/);
    expect(text).not.toContain('made-up');
  });

  it('times the etcd reads and writes the stores make, by operation and resource', async () => {
    // The earlier tests wrote VMs (txn) and got them (the watch cache serves gets; its start-up lists with range).
    const metrics = await send('GET', '/metrics');
    const text = metrics.body.message ?? '';
    expect(text).toMatch(/etcd_request_duration_seconds_count\{operation="txn",resource="virtualmachines"\} [1-9]/);
    expect(text).toMatch(/etcd_request_duration_seconds_count\{operation="range",resource="virtualmachines"\} [1-9]/);
    expect(text).toMatch(/etcd_request_duration_seconds_bucket\{le="10",operation="txn",resource="virtualmachines"\} [1-9]/);
  });

  it('answers a chunked body over the limit (no Content-Length) with a 413 Status, not a reset connection', async () => {
    const reply = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: VMS,
          agent,
          headers: { Authorization: `Bearer ${env.tokens.admin}`, 'Content-Type': 'application/json' },
        },
        (res) => {
          let body = '';
          res.setEncoding('utf8').on('data', (c: string) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      // 5 MiB in 64 KiB chunks: past the 3 MiB limit only once the upload is well under way.
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      for (let i = 0; i < 80; i++) req.write(chunk);
      req.end();
    });
    expect(reply.status).toBe(413);
    expect(JSON.parse(reply.body)).toMatchObject({ kind: 'Status', code: 413, reason: 'RequestEntityTooLarge' });
    // The server keeps serving.
    expect((await send('GET', VMS)).status).toBe(200);
  });

  it('answers PATCH and PUT of a missing object with 404, and a stale resourceVersion with 409', async () => {
    const patchMissing = await send('PATCH', `${VMS}/ghost`, '{"metadata":{"labels":{"a":"b"}}}', { 'Content-Type': 'application/merge-patch+json' });
    expect(patchMissing.status).toBe(404);
    expect(patchMissing.body).toMatchObject({ kind: 'Status', reason: 'NotFound' });
    const putMissing = await send('PUT', `${VMS}/ghost`, vm('ghost'));
    expect(putMissing.status).toBe(404);

    const created = await send('POST', VMS, vm('edge-a'));
    expect(created.status).toBe(201);
    const firstVersion = created.body.metadata!.resourceVersion!;
    const patched = await send('PATCH', `${VMS}/edge-a`, '{"metadata":{"annotations":{"step":"1"}}}', { 'Content-Type': 'application/merge-patch+json' });
    expect(patched.status).toBe(200);
    // With the correlation id of the write (the apiserver's own, as the request sent none).
    expect(patched.body.metadata!.annotations).toEqual({ step: '1', 'quantix.io/correlation-id': expect.stringMatching(/^[0-9a-f-]{36}$/) });

    const stale = JSON.parse(vm('edge-a')) as { metadata: Record<string, unknown> };
    stale.metadata.resourceVersion = firstVersion;
    const put = await send('PUT', `${VMS}/edge-a`, JSON.stringify(stale));
    expect(put.status).toBe(409);
    expect(put.body).toMatchObject({ kind: 'Status', reason: 'Conflict' });
    const stalePatch = await send('PATCH', `${VMS}/edge-a`, JSON.stringify({ metadata: { resourceVersion: firstVersion, labels: { x: 'y' } } }), {
      'Content-Type': 'application/merge-patch+json',
    });
    expect(stalePatch.status).toBe(409);
  });

  it('answers a strategic merge patch with 415 listing the accepted types', async () => {
    const reply = await send('PATCH', `${VMS}/edge-a`, '{}', { 'Content-Type': 'application/strategic-merge-patch+json' });
    expect(reply.status).toBe(415);
    expect(reply.body.message).toContain('application/merge-patch+json');
  });
});
