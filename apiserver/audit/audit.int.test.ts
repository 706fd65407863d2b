/**
 * The audit log of a real apiserver and node gateway on a real etcd, with an agent (sim
 * driver) joining through the gateway: stages and levels per request, the node calls, secrets
 * never written (at RequestResponse too), rotation bounded on disk, and a bad policy refusing
 * the start of the real `quantix-apiserver`.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { logFilesOf, RotatingFile } from '../../lib/logging/files.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { startSimAgents, startTestControlPlane, type SimFleet, type TestControlPlane } from '../../hack/testenv/agent.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { type AuditEvent, Auditor } from './auditor.js';
import { createAuditor } from './index.js';
import { parseAuditPolicy } from './policy.js';

const SHIPPED_POLICY = readFileSync('manifests/audit/policy.yaml', 'utf8');
const USER_DATA_SECRET = `cloud-init-secret-${Date.now()}`;
const HOST_TOKEN_SECRET = `host-token-secret-${Date.now()}`;
const URL_SECRET = `sig${Date.now()}`;
const VMS = '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines';

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

function sender(base: () => string, ca: string) {
  const agent = new Agent({ keepAlive: true, ca });
  const send = (method: string, path: string, token: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL(base());
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method,
          path,
          agent,
          headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'User-Agent': 'audit-test/1', ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString() }));
        },
      );
      req.on('error', reject);
      req.end(body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
    });
  return { send, close: () => agent.destroy() };
}

function readEvents(dir: string): AuditEvent[] {
  return logFilesOf(dir, 'audit')
    .flatMap((file) => readFileSync(file, 'utf8').split('\n'))
    .filter(Boolean)
    .map((line) => JSON.parse(line) as AuditEvent);
}

function vm(name: string, userData = USER_DATA_SECRET) {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name },
    spec: { cpu: 1, memory: '256Mi', disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }], cloudInit: { userData, hostname: name } },
  };
}

describe('audit log with the shipped policy (Metadata), node gateway included', () => {
  let cp: TestControlPlane;
  let fleet: SimFleet | undefined;
  let dir: string;
  let http: ReturnType<typeof sender>;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'quantix-audit-'));
    writeFileSync(join(dir, 'policy.yaml'), SHIPPED_POLICY);
    const audit = createAuditor({ policyFile: join(dir, 'policy.yaml'), logPath: join(dir, 'audit.log') });
    cp = await startTestControlPlane({ extra: { audit } });
    http = sender(() => cp.env.apiserver.url, cp.env.caCertPem);
  });
  afterAll(async () => {
    http?.close();
    await fleet?.stop();
    const audit = cp?.env.apiserver.context.audit;
    await cp?.stop();
    await audit?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records a create at Metadata as one ResponseComplete (the policy omits RequestReceived), with the ids and the object', async () => {
    const reply = await http.send('POST', VMS, cp.env.tokens.admin, vm('web'), { 'X-Request-Id': 'click-42' });
    expect(reply.status).toBe(201);
    const auditId = String(reply.headers['audit-id']);
    expect(auditId).toMatch(/^[0-9a-f-]{36}$/);
    expect(reply.headers['x-request-id']).toBe('click-42');
    const mine = await eventually(() => {
      const found = readEvents(dir).filter((e) => e.auditID === auditId);
      return found.length === 1 && found;
    });
    expect(mine.map((e) => e.stage)).toEqual(['ResponseComplete']);
    expect(mine[0]).toMatchObject({
      kind: 'Event',
      apiVersion: 'audit.k8s.io/v1',
      level: 'Metadata',
      requestURI: VMS,
      verb: 'create',
      user: { username: 'admin', groups: expect.arrayContaining(['quantix:admins']) },
      sourceIPs: ['127.0.0.1'],
      userAgent: 'audit-test/1',
      objectRef: { resource: 'virtualmachines', namespace: 'default', name: 'web', apiGroup: 'quantix.io', apiVersion: 'v1alpha1' },
      responseStatus: { code: 201 },
      annotations: { 'quantix.io/correlation-id': 'click-42' },
    });
    expect(mine[0]).not.toHaveProperty('requestObject');
    expect(mine[0]).not.toHaveProperty('responseObject');
  });

  it('records a refusal with its Status, and a request without a valid token without a user', async () => {
    const forbidden = await http.send('DELETE', `${VMS}/web`, cp.env.tokens.viewer);
    expect(forbidden.status).toBe(403);
    const unauthorized = await http.send('GET', VMS, 'not-a-token');
    expect(unauthorized.status).toBe(401);
    const [refused, anonymous] = await eventually(() => {
      const events = readEvents(dir);
      const a = events.find((e) => e.auditID === forbidden.headers['audit-id'] && e.stage === 'ResponseComplete');
      const b = events.find((e) => e.auditID === unauthorized.headers['audit-id'] && e.stage === 'ResponseComplete');
      return a && b ? [a, b] : false;
    });
    expect(refused).toMatchObject({ verb: 'delete', user: { username: 'viewer' }, responseStatus: { code: 403, reason: 'Forbidden', status: 'Failure' } });
    expect(anonymous).toMatchObject({ verb: 'list', user: {}, responseStatus: { code: 401, reason: 'Unauthorized' } });
  });

  it('records a watch as ResponseStarted when it begins and ResponseComplete when it ends', async () => {
    const url = new URL(cp.env.apiserver.url);
    const auditId = await new Promise<string>((resolve, reject) => {
      const req = request(
        { host: url.hostname, port: url.port, path: `${VMS}?watch=true`, ca: cp.env.caCertPem, headers: { Authorization: `Bearer ${cp.env.tokens.admin}` } },
        (res) => {
          res.once('data', () => {
            req.destroy();
            resolve(String(res.headers['audit-id']));
          });
        },
      );
      req.on('error', reject);
      req.end();
    });
    const stages = await eventually(() => {
      const found = readEvents(dir).filter((e) => e.auditID === auditId);
      return found.length === 2 && found.map((e) => `${e.stage} ${e.verb} ${e.responseStatus?.code ?? '-'}`);
    });
    expect(stages).toEqual(['ResponseStarted watch 200', 'ResponseComplete watch 200']);
  });

  it('records a console upgrade that is refused with its code and subresource', async () => {
    expect((await http.send('POST', VMS, cp.env.tokens.admin, vm('console-vm'))).status).toBe(201);
    const url = new URL(cp.env.apiserver.url);
    const code = await new Promise<number>((resolve, reject) => {
      const req = request({
        host: url.hostname,
        port: url.port,
        path: `${VMS}/console-vm/console`,
        ca: cp.env.caCertPem,
        headers: {
          Authorization: `Bearer ${cp.env.tokens.admin}`,
          Connection: 'Upgrade',
          Upgrade: 'websocket',
          'Sec-WebSocket-Version': '13',
          'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
          'Sec-WebSocket-Protocol': 'plain.quantix.io',
          'X-Request-Id': 'console-click',
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('upgraded: the VM is not running')));
      req.on('error', reject);
      req.end();
    });
    expect(code).toBe(409); // the VM is not running
    const event = await eventually(() => readEvents(dir).find((e) => e.annotations?.['quantix.io/correlation-id'] === 'console-click') ?? false);
    expect(event).toMatchObject({
      stage: 'ResponseComplete',
      verb: 'get',
      user: { username: 'admin' },
      objectRef: { resource: 'virtualmachines', namespace: 'default', name: 'console-vm', subresource: 'console' },
      responseStatus: { code: 409 },
    });
  });

  it('leaves out what the shipped policy calls noise: probes, metrics', async () => {
    const probe = await http.send('GET', '/readyz', cp.env.tokens.admin);
    const metrics = await http.send('GET', '/metrics', cp.env.tokens.admin);
    const marker = await http.send('GET', '/version', cp.env.tokens.admin); // None too
    const after = await http.send('GET', VMS, cp.env.tokens.admin);
    expect([probe.status, metrics.status, marker.status, after.status]).toEqual([200, 200, 200, 200]);
    await eventually(() => readEvents(dir).some((e) => e.auditID === after.headers['audit-id'] && e.stage === 'ResponseComplete'));
    const ids = new Set(readEvents(dir).map((e) => e.auditID));
    for (const reply of [probe, metrics, marker]) expect(ids.has(String(reply.headers['audit-id']))).toBe(false);
  });

  it("audits a node's registration (with its bootstrap user) and streams, not its heartbeats", async () => {
    fleet = await startSimAgents(cp, 1, { hostnames: ['audit-node'] });
    const events = await eventually(() => {
      const all = readEvents(dir);
      const registered = all.some((e) => e.requestURI.endsWith('/RegisterNode') && e.stage === 'ResponseComplete');
      const streaming = all.some((e) => e.requestURI.endsWith('/WatchDesiredState') && e.stage === 'ResponseStarted');
      return registered && streaming && all;
    });
    const registration = events.filter((e) => e.requestURI === '/quantix.gateway.v1.NodeGateway/RegisterNode');
    expect(registration.map((e) => e.stage)).toEqual(['ResponseComplete']);
    expect(registration[0]).toMatchObject({
      level: 'Metadata',
      verb: 'post',
      user: { username: expect.stringMatching(/^system:bootstrap:/), groups: expect.arrayContaining(['quantix:bootstrappers']) },
      sourceIPs: ['127.0.0.1'],
      responseStatus: { code: 200 },
    });
    expect(registration[0]).not.toHaveProperty('requestObject');
    const stream = events.filter((e) => e.requestURI === '/quantix.gateway.v1.NodeGateway/WatchDesiredState');
    expect(stream[0]).toMatchObject({ stage: 'ResponseStarted', user: { username: 'quantix:node:audit-node' } });
    // Heartbeats (every second in the test agent), as the gateway's session records them: two of them seen, none written.
    const heartbeatTime = () => cp.gateway.leases.lastHeartbeatMs('audit-node');
    const first = await eventually(() => heartbeatTime());
    await eventually(() => heartbeatTime() !== first, { timeoutMs: 20_000 });
    expect(readEvents(dir).some((e) => e.requestURI.endsWith('/Heartbeat'))).toBe(false);
    // No credential of the join or of the node in the file.
    const text = logFilesOf(dir, 'audit')
      .map((f) => readFileSync(f, 'utf8'))
      .join('');
    expect(text).not.toContain(cp.joinToken);
    expect(text).not.toContain(cp.joinToken.split('.')[1]!);
    expect(text).not.toContain(cp.env.tokens.admin);
    expect(text).not.toContain(USER_DATA_SECRET);
    expect(text).not.toContain('BEGIN');
  });
});

describe('audit log at RequestResponse: secrets never written', () => {
  let env: TestApiserver;
  let dir: string;
  let http: ReturnType<typeof sender>;
  let auditor: Auditor;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'quantix-audit-rr-'));
    const policy = parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n');
    auditor = new Auditor(policy, new RotatingFile(join(dir, 'audit.log'), { maxBytes: 10 * 1024 * 1024, maxFiles: 1 }));
    const { createNodeGatewayHost } = await import('../gateway/index.js');
    const host = createNodeGatewayHost();
    env = await startTestApiserver({
      extraAuthenticators: [host.authenticator, host.bootstrapTokens],
      extra: { audit: auditor, extraRoutes: host.extraRoutes, routedResources: host.routedResources },
    });
    http = sender(() => env.apiserver.url, env.caCertPem);
  });
  afterAll(async () => {
    http?.close();
    await auditor?.close();
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('records bodies, with cloud-init data, host and bootstrap tokens, signed URL parts and bearer tokens left out', async () => {
    const admin = env.tokens.admin;
    expect((await http.send('POST', VMS, admin, vm('secret-vm'))).status).toBe(201);
    const jsonPatch = [{ op: 'replace', path: '/spec/cloudInit/userData', value: `${USER_DATA_SECRET}-patched` }];
    expect((await http.send('PATCH', `${VMS}/secret-vm`, admin, jsonPatch, { 'Content-Type': 'application/json-patch+json' })).status).toBe(200);
    const merge = { spec: { cloudInit: { networkData: `version: 2 # ${USER_DATA_SECRET}-network` } } };
    expect((await http.send('PATCH', `${VMS}/secret-vm`, admin, merge, { 'Content-Type': 'application/merge-patch+json' })).status).toBe(200);
    const apply = `apiVersion: quantix.io/v1alpha1\nkind: VirtualMachine\nmetadata: {name: applied}\nspec: {memory: 256Mi, cloudInit: {userData: "${USER_DATA_SECRET}-applied"}}\n`;
    expect((await http.send('PATCH', `${VMS}/applied?fieldManager=test`, admin, apply, { 'Content-Type': 'application/apply-patch+yaml' })).status).toBe(201);
    expect((await http.send('GET', VMS, admin)).status).toBe(200);
    const hostJoin = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'HostJoin',
      metadata: { name: 'h1' },
      spec: { url: 'https://192.0.2.7:9443', hostToken: HOST_TOKEN_SECRET },
    };
    expect((await http.send('POST', '/apis/quantix.io/v1alpha1/hostjoins', admin, hostJoin)).status).toBe(201);
    const image = {
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'Image',
      metadata: { name: 'signed' },
      spec: { source: { url: `https://user:pw@images.example/debian.qcow2?X-Signature=${URL_SECRET}` } },
    };
    expect((await http.send('POST', '/apis/quantix.io/v1alpha1/images', admin, image)).status).toBe(201);
    const created = await http.send('POST', '/apis/quantix.io/v1alpha1/bootstraptokens', admin, { spec: { ttlSeconds: 600 } });
    expect(created.status).toBe(201);
    const bootstrapToken = (JSON.parse(created.text) as { status: { token: string } }).status.token;
    expect(bootstrapToken).toMatch(/^[a-z0-9]{6}\.[a-z0-9]{16}$/);

    const events = await eventually(() => {
      const all = readEvents(dir);
      return all.some((e) => e.objectRef?.resource === 'bootstraptokens' && e.stage === 'ResponseComplete') && all;
    });
    // The bodies are there (this is RequestResponse), only the secrets are not.
    const vmCreate = events.find((e) => e.verb === 'create' && e.objectRef?.name === 'secret-vm' && e.stage === 'ResponseComplete');
    expect(vmCreate).toMatchObject({ level: 'RequestResponse', requestObject: { spec: { cloudInit: { userData: '(redacted)', hostname: 'secret-vm' } } } });
    expect(vmCreate!.responseObject).toMatchObject({ metadata: { name: 'secret-vm' }, spec: { cloudInit: { userData: '(redacted)' } } });
    // This policy keeps every stage: RequestReceived first, without bodies (not read yet).
    const stages = events.filter((e) => e.auditID === vmCreate!.auditID);
    expect(stages.map((e) => e.stage)).toEqual(['RequestReceived', 'ResponseComplete']);
    expect(stages[0]).not.toHaveProperty('requestObject');
    expect(stages[0]).not.toHaveProperty('responseStatus');
    const tokenCreate = events.find((e) => e.objectRef?.resource === 'bootstraptokens' && e.stage === 'ResponseComplete');
    expect(tokenCreate!.responseObject).toMatchObject({ kind: 'BootstrapToken', status: { token: '(redacted)' } });
    const text = logFilesOf(dir, 'audit')
      .map((f) => readFileSync(f, 'utf8'))
      .join('');
    for (const secret of [USER_DATA_SECRET, HOST_TOKEN_SECRET, URL_SECRET, 'user:pw', bootstrapToken, bootstrapToken.split('.')[1]!, admin]) {
      expect(text).not.toContain(secret);
    }
  });
});

describe('audit log rotation', () => {
  let env: TestApiserver;
  let dir: string;
  let http: ReturnType<typeof sender>;
  let auditor: Auditor;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'quantix-audit-rot-'));
    writeFileSync(join(dir, 'policy.yaml'), 'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n');
    // As --audit-log-maxsize 1 --audit-log-maxbackup 2: 1 MB per file, two rotated files.
    auditor = createAuditor({ policyFile: join(dir, 'policy.yaml'), logPath: join(dir, 'audit.log'), maxSizeMB: 1, maxBackup: 2 });
    env = await startTestApiserver({ extra: { audit: auditor } });
    http = sender(() => env.apiserver.url, env.caCertPem);
  });
  afterAll(async () => {
    http?.close();
    await auditor?.close();
    await env?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('rotates at --audit-log-maxsize and keeps --audit-log-maxbackup files: disk use stays within the bound', async () => {
    const MB = 1024 * 1024;
    // Each create is recorded with its body twice (request and response), ~200 KB a request: ~5 MB in all.
    const padding = 'x'.repeat(100 * 1024);
    for (let i = 0; i < 25; i++) {
      const body = { ...vm(`big-${i}`, 'u'), metadata: { name: `big-${i}`, annotations: { padding } } };
      expect((await http.send('POST', VMS, env.tokens.admin, body)).status).toBe(201);
    }
    await eventually(() => readEvents(dir).filter((e) => e.stage === 'ResponseComplete' && e.objectRef?.name === 'big-24').length === 1);
    const files = logFilesOf(dir, 'audit');
    expect(files.map((f) => f.slice(dir.length + 1))).toEqual(['audit.log.2', 'audit.log.1', 'audit.log']);
    for (const file of files) expect(statSync(file).size).toBeLessThanOrEqual(MB);
    expect(files.reduce((sum, f) => sum + statSync(f).size, 0)).toBeLessThanOrEqual(3 * MB);
    // Every line in them is a whole Event.
    for (const event of readEvents(dir)) expect(event.kind).toBe('Event');
  });
});

describe('quantix-apiserver with a bad audit policy', () => {
  it('refuses to start, naming the rule and the field', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quantix-audit-bad-'));
    try {
      writeFileSync(
        join(dir, 'policy.yaml'),
        'apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: None\n    nonResourceURLs: ["/healthz"]\n  - level: Everything\n',
      );
      const child = spawn(
        'node_modules/.bin/tsx',
        [
          'apiserver/main.ts',
          '--data-dir',
          join(dir, 'data'),
          '--port',
          '0',
          '--audit-policy-file',
          join(dir, 'policy.yaml'),
          '--audit-log-path',
          join(dir, 'audit.log'),
        ],
        { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QUANTIX_LOG_FORMAT: 'json' } },
      );
      let output = '';
      child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect(code).toBe(1);
      expect(output).toContain('rules[1].level: Unsupported value: \\"Everything\\"');
      expect(output).toContain(join(dir, 'policy.yaml'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
