/**
 * POST /logs/ui on a real apiserver over a real etcd: 204 and the records in ui.log (JSON and
 * sendBeacon's text/plain), 400 naming the field, 401/403 before the body is read, 429 with
 * Retry-After past the bounds, and no secret in ui.log or audit.log (audited at
 * RequestResponse here, the most the audit can record).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { logFilesOf, RotatingFile } from '../../lib/logging/files.js';
import type { LogRecord } from '../../lib/logging/record.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { startTestApiserver, type TestApiserver } from '../../hack/testenv/apiserver.js';
import { generateToken, parseTokenFile, TokenFileAuthenticator } from '../auth/token-file.js';
import { Auditor } from '../audit/auditor.js';
import { parseAuditPolicy } from '../audit/policy.js';

const NODE_TOKEN = generateToken();
// One entry a second: the burst cannot refill between two requests of a test, however slow the machine.
const LIMITS = { maxBodyBytes: 64 * 1024, maxEntriesPerBatch: 50, entriesPerSecond: 1, burstEntries: 60, maxSessions: 100 };

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: { kind?: string; reason?: string; message?: string; code?: number; details?: { causes?: { field?: string }[] } };
}

const entry = (action: string, extra: Record<string, unknown> = {}) => ({
  time: new Date().toISOString(),
  level: 'info',
  category: 'vm',
  action,
  target: 'default/web',
  result: 'success',
  durationMs: 42,
  correlationId: `cid-${action}`,
  route: '/ui/vms/default/web',
  ...extra,
});

describe('POST /logs/ui', () => {
  let env: TestApiserver;
  let dir: string;
  let agent: Agent;
  let uiLog: RotatingFile;
  let auditor: Auditor;

  const send = (body: string, headers: Record<string, string> = {}, token?: string): Promise<Reply> =>
    new Promise((resolve, reject) => {
      const url = new URL(env.apiserver.url);
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          method: 'POST',
          path: '/logs/ui',
          agent,
          headers: { Authorization: `Bearer ${token ?? env.tokens.admin}`, 'Content-Type': 'application/json', ...headers },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString();
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text ? (JSON.parse(text) as Reply['body']) : {} });
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  const post = (sessionId: string, entries: unknown[], headers: Record<string, string> = {}, token?: string) =>
    send(JSON.stringify({ sessionId, entries }), headers, token);

  const records = (): LogRecord[] =>
    logFilesOf(dir, 'ui')
      .flatMap((file) => readFileSync(file, 'utf8').split('\n'))
      .filter(Boolean)
      .map((line) => JSON.parse(line) as LogRecord);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'quantix-ui-log-'));
    uiLog = new RotatingFile(join(dir, 'ui.log'), { maxBytes: 10 * 1024 * 1024, maxFiles: 2 });
    auditor = new Auditor(
      parseAuditPolicy('apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n  - level: RequestResponse\n    nonResourceURLs: ["/logs/ui"]\n'),
      new RotatingFile(join(dir, 'audit.log'), { maxBytes: 10 * 1024 * 1024, maxFiles: 1 }),
    );
    // A node identity from the token-file authenticator (node credentials carry the same group).
    const nodes = new TokenFileAuthenticator(parseTokenFile(`${NODE_TOKEN},quantix:node:n1,n1,"quantix:nodes"\n`));
    env = await startTestApiserver({ extraAuthenticators: [nodes], extra: { audit: auditor, uiLog: { file: uiLog, limits: LIMITS } } });
    agent = new Agent({ keepAlive: true, ca: env.caCertPem });
  });
  afterAll(async () => {
    agent?.destroy();
    await env?.stop();
    await uiLog?.close();
    await auditor?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers 204 and writes each entry to ui.log as a LogRecord of component ui', async () => {
    const reply = await post('session-a', [entry('stop', { level: 'info', result: 'start', durationMs: undefined }), entry('stop', { message: 'stopped' })]);
    expect(reply.status).toBe(204);
    const mine = await eventually(() => {
      const found = records().filter((r) => r.sessionId === 'session-a');
      return found.length === 2 && found;
    });
    expect(mine[0]).toMatchObject({
      component: 'ui',
      node: hostname(),
      message: 'vm stop default/web start',
      correlationId: 'cid-stop',
      user: 'admin',
      result: 'start',
    });
    expect(mine[1]).toMatchObject({
      level: 'info',
      component: 'ui',
      message: 'vm stop default/web success',
      user: 'admin',
      sessionId: 'session-a',
      category: 'vm',
      action: 'stop',
      target: 'default/web',
      result: 'success',
      durationMs: 42,
      route: '/ui/vms/default/web',
      detail: 'stopped',
    });
    expect(Object.keys(mine[1]!).slice(0, 6)).toEqual(['time', 'level', 'component', 'node', 'message', 'correlationId']);
  });

  it("accepts sendBeacon's text/plain and logs a viewer's actions", async () => {
    const reply = await post(
      'session-beacon',
      [entry('navigate', { category: 'nav', target: '/ui/logs' })],
      { 'Content-Type': 'text/plain;charset=UTF-8' },
      env.tokens.viewer,
    );
    expect(reply.status).toBe(204);
    await eventually(() => records().some((r) => r.sessionId === 'session-beacon' && r.user === 'viewer' && r.message === 'nav navigate /ui/logs success'));
  });

  it('refuses a bad body with a 400 naming the field, and writes nothing of that batch', async () => {
    const bad = await post('session-bad', [entry('one'), entry('two', { result: 'finished' })]);
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ kind: 'Status', reason: 'BadRequest', code: 400 });
    expect(bad.body.details?.causes?.[0]?.field).toBe('entries[1].result');
    expect(bad.body.message).toMatch(/^entries\[1\]\.result: Unsupported value: "finished"/);
    const noSession = await send(JSON.stringify({ entries: [] }));
    expect(noSession.status).toBe(400);
    expect(noSession.body.details?.causes?.[0]?.field).toBe('sessionId');
    const notJson = await send('{"sessionId": ');
    expect(notJson.status).toBe(400);
    expect(notJson.body.details?.causes?.[0]?.field).toBe('body');
    expect((await send('x', { 'Content-Type': 'application/xml' })).status).toBe(415);
    await post('session-bad-marker', [entry('marker')]);
    await eventually(() => records().some((r) => r.sessionId === 'session-bad-marker'));
    expect(records().some((r) => r.sessionId === 'session-bad')).toBe(false);
  });

  it('refuses node credentials (403) and unknown tokens (401)', async () => {
    const node = await post('session-node', [entry('x')], {}, NODE_TOKEN);
    expect(node.status).toBe(403);
    expect(node.body).toMatchObject({ reason: 'Forbidden' });
    expect(node.body.message).toContain('quantix:node:n1');
    expect((await post('session-anon', [entry('x')], {}, 'not-a-token')).status).toBe(401);
  });

  it('answers 429 with Retry-After past the batch, body and session-rate bounds', async () => {
    const tooMany = await post(
      'session-big',
      Array.from({ length: LIMITS.maxEntriesPerBatch + 1 }, (_, i) => entry(`a${i}`)),
    );
    expect(tooMany.status).toBe(429);
    expect(tooMany.body).toMatchObject({ reason: 'TooManyRequests' });
    expect(tooMany.body.message).toContain(`the limit is ${LIMITS.maxEntriesPerBatch}`);
    expect(Number(tooMany.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    const huge = await post(
      'session-huge',
      [entry('a', { message: 'm'.repeat(2000) })].concat(Array.from({ length: 40 }, () => entry('b', { message: 'm'.repeat(2000) }))),
    );
    expect(huge.status).toBe(429);
    expect(huge.body.message).toContain(`${LIMITS.maxBodyBytes} bytes`);
    // The session's burst (60) goes in two batches of 30; the next batch waits.
    const batch = Array.from({ length: 30 }, (_, i) => entry(`r${i}`));
    expect((await post('session-rate', batch)).status).toBe(204);
    expect((await post('session-rate', batch)).status).toBe(204);
    const limited = await post('session-rate', batch);
    expect(limited.status).toBe(429);
    expect(limited.body.message).toContain('session "session-rate"');
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(1);
    // Another session of the same user is not held back.
    expect((await post('session-other', batch.slice(0, 5))).status).toBe(204);
  });

  it('writes no token to ui.log or audit.log, even one an entry carries', async () => {
    const bootstrapLike = 'abcdef.0123456789abcdef';
    const reply = await post('session-secret', [
      entry('login', { message: `token was ${env.tokens.admin}`, target: `Bearer ${env.tokens.viewer}` }),
      entry('join', { message: `kubeadm join --token ${bootstrapLike}` }),
    ]);
    expect(reply.status).toBe(204);
    await eventually(() => records().filter((r) => r.sessionId === 'session-secret').length === 2);
    await eventually(() => readFileSync(join(dir, 'audit.log'), 'utf8').includes('session-secret'));
    const uiText = logFilesOf(dir, 'ui')
      .map((f) => readFileSync(f, 'utf8'))
      .join('');
    const auditText = readFileSync(join(dir, 'audit.log'), 'utf8');
    for (const text of [uiText, auditText]) {
      expect(text).not.toContain(env.tokens.admin);
      expect(text).not.toContain(env.tokens.viewer);
      expect(text).not.toContain(bootstrapLike);
      expect(text).not.toContain(NODE_TOKEN);
    }
    expect(uiText).toContain('token was (redacted)');
  });
});
