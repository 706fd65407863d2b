/**
 * The Event lines the Auditor writes, over a plain node:http server on 127.0.0.1 (the real
 * request and response objects; the apiserver's own wiring is covered by audit.int.test.ts).
 */
import { randomUUID } from 'node:crypto';
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errors } from '../../lib/apimachinery/status-error.js';
import { sendError, sendJson } from '../http/respond.js';
import { parseResourcePath } from '../http/request-info.js';
import { readBodyBytes } from '../server.js';
import { type AuditEvent, Auditor, noteCreatedName } from './auditor.js';
import { parseAuditPolicy } from './policy.js';

const admin = { name: 'admin', uid: 'admin-uid', groups: ['quantix:admins'] };
const USER_DATA = '#cloud-config\nchpasswd: {list: "root:hunter2-in-user-data"}';

const POLICY = parseAuditPolicy(`
apiVersion: audit.k8s.io/v1
kind: Policy
rules:
  - level: None
    nonResourceURLs: ["/quiet"]
  - level: RequestResponse
    resources: [{group: quantix.io, resources: [hostjoins]}]
  - level: Request
    resources: [{group: quantix.io, resources: [images]}]
    omitStages: [RequestReceived]
  - level: Metadata
`);

let server: Server;
let base: string;
const lines: string[] = [];
const auditor = new Auditor(POLICY, { write: (line) => void lines.push(line), close: async () => undefined });

async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://localhost');
  const parsed = url.pathname.startsWith('/api') ? (parseResourcePath(req.method ?? 'GET', url.pathname, url.searchParams) ?? null) : null;
  auditor.track(req, res, { auditID: randomUUID(), correlationId: String(req.headers['x-request-id'] ?? 'none') }, parsed);
  if (req.headers.authorization !== 'Bearer good') return sendError(res, errors.unauthorized());
  auditor.authenticated(req, admin);
  if (url.searchParams.get('panic')) {
    auditor.panic(req, new TypeError('boom'));
    return sendError(res, errors.internal('boom'));
  }
  if (parsed?.verb === 'watch') {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.write('{"type":"ADDED"}\n');
    return; // the client ends it
  }
  const body = await readBodyBytes(req);
  if (parsed?.verb === 'create') {
    const obj = JSON.parse(body.toString()) as { metadata: { name: string } };
    noteCreatedName(req, obj.metadata.name);
    return sendJson(res, 201, obj);
  }
  if (parsed?.name === 'missing')
    return sendError(res, errors.notFound({ group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine', name: 'missing' }));
  sendJson(res, 200, { kind: 'HostJoin', spec: { hostToken: 'host-token-secret', url: 'https://h:9443' } });
}

beforeAll(async () => {
  server = createServer((req, res) => void handle(req, res));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  lines.length = 0;
});

function call(method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${base}${path}`,
      { method, headers: { Authorization: 'Bearer good', 'Content-Type': 'application/json', 'User-Agent': 'qxctl/test', ...headers } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

/** The Events written so far, once `count` are there (a response's 'close' comes just after the client has it). */
async function events(count: number): Promise<AuditEvent[]> {
  for (let i = 0; i < 200 && lines.length < count; i++) await new Promise((resolve) => setImmediate(resolve));
  return lines.map((line) => JSON.parse(line) as AuditEvent);
}

const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

describe('Auditor', () => {
  it('writes RequestReceived and ResponseComplete at Metadata, in the audit.k8s.io/v1 Event shape', async () => {
    expect(await call('POST', VMS, { metadata: { name: 'web' }, spec: { cloudInit: { userData: USER_DATA } } }, { 'X-Request-Id': 'cid-1' })).toBe(201);
    const [received, complete] = await events(2);
    expect(lines).toHaveLength(2);
    expect(received).toEqual({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      auditID: expect.stringMatching(/^[0-9a-f-]{36}$/),
      stage: 'RequestReceived',
      requestURI: VMS,
      verb: 'create',
      user: { username: 'admin', uid: 'admin-uid', groups: ['quantix:admins'] },
      sourceIPs: ['127.0.0.1'],
      userAgent: 'qxctl/test',
      objectRef: { resource: 'virtualmachines', namespace: 'default', apiGroup: 'quantix.io', apiVersion: 'v1alpha1' },
      requestReceivedTimestamp: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
      stageTimestamp: received!.requestReceivedTimestamp,
      annotations: { 'quantix.io/correlation-id': 'cid-1' },
    });
    expect(complete).toMatchObject({
      stage: 'ResponseComplete',
      auditID: received!.auditID,
      objectRef: { name: 'web' }, // from the created object
      responseStatus: { metadata: {}, code: 201 },
      requestReceivedTimestamp: received!.requestReceivedTimestamp,
    });
    expect(Date.parse(complete!.stageTimestamp)).toBeGreaterThanOrEqual(Date.parse(received!.requestReceivedTimestamp));
    expect(complete).not.toHaveProperty('requestObject');
    expect(lines.join('\n')).not.toContain('hunter2');
  });

  it('gives every request its own auditID; requests of one action share the correlation id', async () => {
    await call('GET', `${VMS}/a`, undefined, { 'X-Request-Id': 'one-action' });
    await call('GET', `${VMS}/b`, undefined, { 'X-Request-Id': 'one-action' });
    const all = await events(4);
    expect(new Set(all.map((e) => e.auditID)).size).toBe(2);
    expect(new Set(all.map((e) => e.annotations?.['quantix.io/correlation-id']))).toEqual(new Set(['one-action']));
  });

  it('records a failure with its Status', async () => {
    expect(await call('GET', `${VMS}/missing`)).toBe(404);
    const [, complete] = await events(2);
    expect(complete!.responseStatus).toMatchObject({ metadata: {}, status: 'Failure', reason: 'NotFound', code: 404 });
    expect(complete!.responseStatus!.message).toContain('missing');
  });

  it('records an unauthenticated request without a user', async () => {
    expect(await call('GET', VMS, undefined, { Authorization: 'Bearer wrong' })).toBe(401);
    const all = await events(2);
    expect(all.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete']);
    expect(all[1]).toMatchObject({ user: {}, responseStatus: { code: 401, reason: 'Unauthorized' } });
  });

  it('writes nothing at level None', async () => {
    expect(await call('GET', '/quiet')).toBe(200);
    await call('GET', '/other'); // a request after it, so the first has surely completed
    const all = await events(2);
    expect(all.map((e) => e.requestURI)).toEqual(['/other', '/other']);
  });

  it('records request and response bodies at RequestResponse, secrets redacted', async () => {
    expect(await call('PUT', '/apis/quantix.io/v1alpha1/hostjoins/h1', { spec: { hostToken: 'host-token-secret', url: 'https://h:9443' } })).toBe(200);
    const [received, complete] = await events(2);
    expect(received).not.toHaveProperty('requestObject');
    expect(complete).toMatchObject({
      level: 'RequestResponse',
      requestObject: { spec: { hostToken: '(redacted)' } },
      responseObject: { kind: 'HostJoin', spec: { hostToken: '(redacted)' } },
    });
    expect(lines.join('\n')).not.toContain('host-token-secret');
  });

  it('records the request body at Request, omitting the stages the rule omits', async () => {
    expect(
      await call(
        'PATCH',
        '/apis/quantix.io/v1alpha1/images/i1',
        { spec: { source: { url: 'https://u:p@x.example/i.qcow2?sig=abc' } } },
        { 'Content-Type': 'application/merge-patch+json' },
      ),
    ).toBe(200);
    const all = await events(1);
    expect(all.map((e) => e.stage)).toEqual(['ResponseComplete']);
    expect(all[0]).toMatchObject({ level: 'Request', verb: 'patch', requestObject: { spec: { source: { url: 'https://x.example/i.qcow2' } } } });
    expect(all[0]).not.toHaveProperty('responseObject');
  });

  it('writes ResponseStarted for a watch when its headers go out, ResponseComplete when it closes', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = request(`${base}${VMS}?watch=true`, { headers: { Authorization: 'Bearer good' } }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', reject);
      req.end();
    });
    const all = await events(3);
    expect(all.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseStarted', 'ResponseComplete']);
    expect(all[1]).toMatchObject({ verb: 'watch', responseStatus: { code: 200 } });
  });

  it('writes Panic in place of ResponseComplete when serving threw', async () => {
    expect(await call('GET', `${VMS}/x?panic=1`)).toBe(500);
    const all = await events(2);
    await call('GET', '/other');
    expect(all.map((e) => e.stage)).toEqual(['RequestReceived', 'Panic']);
    expect(all[1]!.responseStatus).toMatchObject({ code: 500, reason: 'InternalError', message: "APIServer panic'd: boom" });
    expect((await events(4)).filter((e) => e.auditID === all[0]!.auditID)).toHaveLength(2);
  });

  it('audits a node-gateway call as a non-resource post, at Metadata at most', () => {
    const audit = auditor.gatewayCall({
      path: '/quantix.gateway.v1.NodeGateway/RegisterNode',
      sourceIPs: ['127.0.0.1'],
      correlationId: 'c',
      longRunning: false,
    });
    audit.authenticated({ name: 'system:bootstrap:abcdef', uid: '', groups: ['quantix:bootstrappers'] });
    audit.complete({ code: 200 });
    const all = lines.map((line) => JSON.parse(line) as AuditEvent);
    expect(all.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete']);
    expect(all[1]).toMatchObject({
      level: 'Metadata',
      verb: 'post',
      requestURI: '/quantix.gateway.v1.NodeGateway/RegisterNode',
      user: { username: 'system:bootstrap:abcdef' },
      responseStatus: { code: 200 },
      annotations: { 'quantix.io/correlation-id': 'c' },
    });
    expect(all[0]!.auditID).toBe(all[1]!.auditID);
  });
});
