/**
 * The "Add host" flow end to end: the real qxctl against the real apiserver and gateway (real
 * etcd), the real hostjoin controller (the controller-manager's code, in this process, over
 * HTTPS), and real `quantix-agent` processes without credentials serving the registration API
 * on 127.0.0.x (sim driver: this is about the flow, not libvirt). For each outcome: qxctl's
 * exit code and message, and the HostJoin in the API (phase, errorCode, the host token gone).
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { ensureRegistrationCertificate } from '../agent/registration/serving-cert.js';
import { HostTokenStore } from '../agent/registration/host-token.js';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { HostJoin, Node } from '../api-types/generated/types.js';
import { run } from '../hack/testenv/apiserver.js';
import { startTestControlPlane, type TestControlPlane } from '../hack/testenv/agent.js';
import { adminClient } from '../hack/testenv/controllers.js';
import { eventually } from '../hack/testenv/eventually.js';
import { keepProcessOutput, recordTestSecrets } from '../hack/testenv/test-logs.js';
import { startControllerManager } from '../controllers/setup.js';
import type { HttpApiClient } from '../controllers/runtime/client.js';
import { HostJoins, Nodes } from '../controllers/runtime/resources.js';
import { exitCodeFor, guidanceFor, type HostJoinErrorCode } from '../lib/host-join/codes.js';
import { createLogger, type Logger } from '../lib/logging/logger.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const QXCTL = join(ROOT, 'bin', 'qxctl');
const TSX = join(ROOT, 'node_modules/.bin/tsx');

interface HostAgent {
  child: ChildProcess;
  stateDir: string;
  url: string;
  token: string;
  fingerprint: string;
  tokenExpires: string;
  output(): string;
}

let cp: TestControlPlane;
let manager: Awaited<ReturnType<typeof startControllerManager>>;
let api: HttpApiClient;
let workDir: string;
const children: ChildProcess[] = [];
/** What the controller-manager logged (the phase lines among it): checked for secrets. */
let logged = '';

/** A logger that keeps every line it passes on (children included). */
function recording(inner: Logger, fields: Record<string, unknown> = {}): Logger {
  const keep =
    (level: 'error' | 'warn' | 'info' | 'debug') =>
    (message: string, more?: Record<string, unknown>): void => {
      logged += `${JSON.stringify({ level, message, ...fields, ...more })}\n`;
      inner[level](message, more);
    };
  return {
    error: keep('error'),
    warn: keep('warn'),
    info: keep('info'),
    debug: keep('debug'),
    child: (more) => recording(inner.child(more), { ...fields, ...more }),
    isDebugEnabled: () => inner.isDebugEnabled(),
  };
}

beforeAll(async () => {
  cp = await startTestControlPlane();
  workDir = mkdtempSync(join(tmpdir(), 'quantix-node-add-'));
  manager = await startControllerManager({
    kubeconfig: cp.env.kubeconfig,
    enabled: ['hostjoin'],
    hostjoin: { server: cp.env.apiserver.url, probeTimeoutMs: 5_000 },
    logger: recording(createLogger('controller-manager')),
  });
  api = await adminClient(cp.env.kubeconfig);
}, 120_000);

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    // 'close': its output is drained (and kept for the secrets check) before the suite ends.
    const gone = new Promise((resolve) => child.once('close', resolve));
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      // already gone
    }
    await gone;
  }
  api?.close();
  await manager?.manager.stop();
  manager?.client.close();
  await cp?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

const qx = (args: string[]) => run(QXCTL, args, { env: { KUBECONFIG: cp.env.kubeconfig, HOME: workDir }, timeoutMs: 100_000 });

/**
 * quantix-agent on 127.0.0.`octet` without credentials: it serves the registration API; the
 * URL, host token and fingerprint are read from the one log line that shows them.
 */
async function startHostAgent(hostname: string, octet: number, o: { extraArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): Promise<HostAgent> {
  let output = '';
  const stateDir = mkdtempSync(join(workDir, `state-${hostname}-`));
  const child = spawn(
    TSX,
    [
      'agent/main.ts',
      `--server=${cp.env.apiserver.url}`,
      `--gateway=${cp.gatewayAddress}`,
      `--state-dir=${stateDir}`,
      '--driver=sim',
      `--hostname=${hostname}`,
      '--address=127.0.0.1',
      '--startup-jitter=0',
      '--heartbeat-interval=1s',
      `--registration-listen=127.0.0.${octet}:0`,
      ...(o.extraArgs ?? []),
    ],
    { cwd: ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...o.env, QUANTIX_LOG_FORMAT: 'json' } },
  );
  children.push(child);
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  child.once('close', () => keepProcessOutput(`node-add-${hostname}`, output));
  const serving = await eventually(
    () => {
      for (const line of output.split('\n')) {
        if (!line.includes('registration API serving')) continue;
        return JSON.parse(line) as { listen: string; tokenPrefix: string; fingerprint: string; tokenExpires: string };
      }
      return false;
    },
    { timeoutMs: 60_000, message: `${hostname} to serve the registration API` },
  );
  // The log names the token's first characters only; the whole token is in the state dir, as `quantix-agent token` reads it.
  const token = new HostTokenStore(stateDir).current()!.token;
  recordTestSecrets(token);
  expect(token.startsWith(serving.tokenPrefix.replace('…', ''))).toBe(true);
  expect(output).not.toContain(token);
  return {
    child,
    stateDir,
    url: `https://${serving.listen}`,
    token,
    fingerprint: serving.fingerprint,
    tokenExpires: serving.tokenExpires,
    output: () => output,
  };
}

async function closedPort(host: string): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

async function hostJoinFrom(stdout: string): Promise<HostJoin> {
  const name = /hostjoin\/(\S+) created/.exec(stdout)?.[1];
  expect(name).toBeDefined();
  // The host token leaves spec once the flow ended, whichever way.
  return eventually(
    async () => {
      const hj = await api.get<HostJoin>(HostJoins, undefined, name!);
      return hj.spec.hostToken === undefined && hj;
    },
    { message: `hostjoin/${name} to drop its host token` },
  );
}

/** qxctl node add failed with `code`: exit code, message and guidance; the HostJoin says the same. */
async function expectFailure(args: string[], code: HostJoinErrorCode, phase: string): Promise<{ stdout: string; stderr: string; hj: HostJoin }> {
  const result = await qx(['node', 'add', ...args]);
  expect({ code: result.code, stderr: result.stderr }).toEqual({ code: exitCodeFor(code), stderr: expect.stringContaining(`error: ${code}: `) });
  expect(result.stderr).toContain(`guidance: ${guidanceFor(code)}`);
  const hj = await hostJoinFrom(result.stdout);
  expect(hj.status).toMatchObject({ phase: 'Failed', errorCode: code, guidance: guidanceFor(code) });
  expect(hj.status?.conditions?.find((c) => c.type === phase)).toMatchObject({ status: 'False', reason: code });
  return { ...result, hj };
}

describe('qxctl node add', () => {
  let host: HostAgent;

  beforeAll(async () => {
    host = await startHostAgent('flow-ok', 11);
  }, 90_000);

  it('refuses a closed port: HOST_CONNECTION_FAILED', async () => {
    const port = await closedPort('127.0.0.12');
    await expectFailure([`https://127.0.0.12:${port}`, '--token', 'whatever', '--fingerprint', host.fingerprint], 'HOST_CONNECTION_FAILED', 'Ping');
  });

  it('refuses a listener that never answers: CONNECTION_TIMEOUT', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.16', resolve));
    try {
      const port = (silent.address() as { port: number }).port;
      await expectFailure([`https://127.0.0.16:${port}`, '--token', 'whatever', '--fingerprint', host.fingerprint], 'CONNECTION_TIMEOUT', 'Ping');
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('refuses a web server answering HTML where the registration API was expected: INVALID_RESPONSE', async () => {
    const dir = mkdtempSync(join(workDir, 'html-'));
    const cert = ensureRegistrationCertificate(dir, 'html-host', ['127.0.0.17']);
    const html = createHttpsServer({ cert: cert.certPem, key: cert.keyPem }, (_req, res) =>
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html><body>router login</body></html>'),
    );
    await new Promise<void>((resolve) => html.listen(0, '127.0.0.17', resolve));
    try {
      const port = (html.address() as { port: number }).port;
      await expectFailure([`https://127.0.0.17:${port}`, '--token', 'whatever', '--fingerprint', cert.fingerprint], 'INVALID_RESPONSE', 'Ping');
    } finally {
      await new Promise((resolve) => html.close(resolve));
    }
  });

  it('without --fingerprint shows the one the host presented and asks to confirm it: TLS_ERROR, nothing secret sent', async () => {
    const { stdout, hj } = await expectFailure([host.url, '--token', host.token], 'TLS_ERROR', 'Ping');
    expect(stdout).toContain(`The host presented the certificate fingerprint ${host.fingerprint}.`);
    expect(stdout).toContain(`--fingerprint ${host.fingerprint}`);
    expect(hj.status?.presentedFingerprint).toBe(host.fingerprint);
    expect(host.output()).not.toContain('GET /v1/token');
  });

  it('refuses a host presenting another certificate than the one confirmed: TLS_ERROR', async () => {
    const wrong = `sha256:${'AB:'.repeat(31)}AB`;
    const { stderr } = await expectFailure([host.url, '--token', host.token, '--fingerprint', wrong], 'TLS_ERROR', 'Ping');
    expect(stderr).toContain(host.fingerprint);
  });

  it('refuses a wrong host token: TOKEN_INVALID', async () => {
    const { stdout } = await expectFailure(
      [host.url, '--token', 'aaaaa-bbbbb-ccccc-ddddd-eeeee', '--fingerprint', host.fingerprint],
      'TOKEN_INVALID',
      'ValidateToken',
    );
    expect(stdout).toContain('Ping          ✓');
  });

  it('joins the host: every phase printed, Succeeded with the Node registered, the bootstrap token spent', async () => {
    // What `quantix-agent token` prints on the host is what the admin passes.
    const printed = execFileSync(TSX, ['agent/main.ts', 'token', `--state-dir=${host.stateDir}`, '--hostname=flow-ok'], { cwd: ROOT }).toString();
    expect(printed).toContain(`token:       ${host.token}`);
    expect(printed).toContain(`fingerprint: ${host.fingerprint}`);

    const result = await qx(['node', 'add', host.url, '--token', host.token, '--fingerprint', host.fingerprint]);
    expect({ code: result.code, stderr: result.stderr }).toEqual({ code: 0, stderr: '' });
    for (const phase of ['Ping', 'ValidateToken', 'Discover', 'Complete']) expect(result.stdout).toMatch(new RegExp(`^${phase} +✓ `, 'm'));
    expect(result.stdout).toContain(`${host.url} joined as node/flow-ok`);
    expect(result.stdout).not.toContain(host.token);

    const hj = await hostJoinFrom(result.stdout);
    expect(hj.status).toMatchObject({ phase: 'Succeeded', nodeName: 'flow-ok', hostname: 'flow-ok', presentedFingerprint: host.fingerprint });
    expect(hj.status?.hardware?.cpu?.count).toBeGreaterThan(0);
    expect(hj.status?.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['Ping', 'True'],
      ['ValidateToken', 'True'],
      ['Discover', 'True'],
      ['Complete', 'True'],
    ]);
    const node = await eventually(() => api.get<Node>(Nodes, undefined, 'flow-ok'), { timeoutMs: 30_000, message: 'the Node to be registered' });
    expect(node.metadata.name).toBe('flow-ok');
    // The bootstrap token it joined with: single-use, described by the host, spent.
    const tokens = await cp.host.bootstrapTokens.list();
    expect(tokens.filter((t) => t.description === `Add host ${host.url}`)).toEqual([expect.objectContaining({ singleUse: true, usedBy: 'flow-ok' })]);
    expect(host.output()).not.toMatch(/[a-z0-9]{6}\.[a-z0-9]{16}/); // the bootstrap token never in the host's log
    // The controller logged every phase with what came back, and no token.
    for (const line of ['Ping: answered', 'ValidateToken: answered', 'Discover: answered', 'Complete: bootstrap token created', 'Complete: answered']) {
      expect(logged).toContain(line);
    }
    expect(logged).not.toContain(host.token);
    expect(logged).not.toMatch(/[a-z0-9]{6}\.[a-z0-9]{16}/);
  }, 120_000);

  it('refuses a second machine claiming the joined hostname at Complete: HOSTNAME_TAKEN, and deletes the unused bootstrap token', async () => {
    const other = await startHostAgent('flow-ok', 15);
    const { hj } = await expectFailure([other.url, '--token', other.token, '--fingerprint', other.fingerprint], 'HOSTNAME_TAKEN', 'Complete');
    expect(hj.status?.conditions?.map((c) => [c.type, c.status])).toEqual([
      ['Ping', 'True'],
      ['ValidateToken', 'True'],
      ['Discover', 'True'],
      ['Complete', 'False'],
    ]);
    // list() leaves deleted tokens out: none handed to this host is left usable.
    expect((await cp.host.bootstrapTokens.list()).filter((t) => t.description === `Add host ${other.url}`)).toEqual([]);
  }, 120_000);
});

describe('qxctl node add against hosts that cannot be added', () => {
  it('refuses an expired host token: TOKEN_EXPIRED', async () => {
    const host = await startHostAgent('flow-expired', 13, { extraArgs: ['--host-token-ttl=1s'] });
    await eventually(() => Date.now() > Date.parse(host.tokenExpires), { timeoutMs: 5_000, message: 'the host token to expire' });
    await expectFailure([host.url, '--token', host.token, '--fingerprint', host.fingerprint], 'TOKEN_EXPIRED', 'ValidateToken');
  }, 120_000);

  it('refuses an agent older than the version-skew policy allows: HOST_FIRMWARE_OUTDATED', async () => {
    const host = await startHostAgent('flow-old', 14, { env: { QUANTIX_AGENT_REPORTED_VERSION: '0.0.9' } });
    const { stderr, hj } = await expectFailure([host.url, '--token', host.token, '--fingerprint', host.fingerprint], 'HOST_FIRMWARE_OUTDATED', 'Ping');
    expect(stderr).toContain('0.0.9');
    expect(hj.status?.conditions?.map((c) => c.type)).toEqual(['Ping']);
  }, 120_000);
});
