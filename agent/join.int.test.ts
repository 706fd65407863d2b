/**
 * `quantix-agent join` on real sockets and real processes: the CA pin is checked against
 * the real apiserver's handshake before anything is sent, and every way the first contact
 * fails has its code (a closed port, a listener that never answers, plain HTTP answering
 * HTML, a self-signed certificate, a wrong pin). Then the agent as a process of its own
 * joins with a single-use token, and the refusals (a spent token, a taken hostname) end
 * it with the code's exit status and message.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, existsSync, statSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { startTestControlPlane, type TestControlPlane } from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';
import { keepProcessOutput, recordTestSecrets } from '../hack/testenv/test-logs.js';
import { caCertHash } from '../lib/pki/ca-cert-hash.js';
import { fetchPinnedCa, type JoinError } from './join.js';
import { exitCodeFor } from '../lib/host-join/codes.js';

const repoRoot = path.resolve(import.meta.dirname, '..');
const WRONG_PIN = `sha256:${'0'.repeat(64)}`;

let cp: TestControlPlane;
let workDir: string;
let pin: string;
const servers: (Server | HttpServer)[] = [];
const sockets: Socket[] = [];
const children: ChildProcess[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane();
  workDir = mkdtempSync(path.join(tmpdir(), 'quantix-join-'));
  pin = caCertHash(cp.env.caCertPem);
});

afterAll(async () => {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((resolve) => child.once('exit', resolve));
      process.kill(-child.pid!, 'SIGKILL');
      await gone;
    }
  }
  for (const s of sockets) s.destroy();
  for (const s of servers) await new Promise((resolve) => s.close(resolve));
  await cp?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

async function listen<S extends Server | HttpServer>(server: S): Promise<number> {
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as JoinError | undefined;
  return err?.code ?? 'no error';
}

describe('the CA pin, on real sockets', () => {
  it('returns the CA the real apiserver presents when it matches the pin', async () => {
    const ca = await fetchPinnedCa(cp.env.apiserver.url, pin);
    expect(caCertHash(ca)).toBe(pin);
    expect(ca.replace(/\s+/g, '')).toBe(cp.env.caCertPem.replace(/\s+/g, ''));
  });

  it('refuses the real apiserver under a wrong pin: CA_MISMATCH, naming the CA it saw', async () => {
    const err = (await fetchPinnedCa(cp.env.apiserver.url, WRONG_PIN).catch((e: unknown) => e)) as JoinError;
    expect(err.code).toBe('CA_MISMATCH');
    expect(err.message).toContain('quantix-ca');
    expect(err.message).toContain(pin);
  });

  it('says HOST_CONNECTION_FAILED for a closed port', async () => {
    const port = await listen(createNetServer());
    await new Promise((resolve) => servers.pop()!.close(resolve)); // now nothing listens there
    expect(await codeOf(fetchPinnedCa(`https://127.0.0.1:${port}`, pin))).toBe('HOST_CONNECTION_FAILED');
  });

  it('says CONNECTION_TIMEOUT for a listener that never answers', async () => {
    const port = await listen(createNetServer((socket) => sockets.push(socket)));
    expect(await codeOf(fetchPinnedCa(`https://127.0.0.1:${port}`, pin, 500))).toBe('CONNECTION_TIMEOUT');
  });

  it('says TLS_ERROR for plain HTTP answering HTML', async () => {
    const port = await listen(createHttpServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>')));
    expect(await codeOf(fetchPinnedCa(`https://127.0.0.1:${port}`, pin))).toBe('TLS_ERROR');
  });

  it('says CA_MISMATCH for a self-signed certificate', async () => {
    const dir = mkdtempSync(path.join(workDir, 'self-signed-'));
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:prime256v1',
        '-nodes',
        '-keyout',
        'key.pem',
        '-out',
        'cert.pem',
        '-days',
        '1',
        '-subj',
        '/CN=impostor',
      ],
      { cwd: dir, stdio: 'ignore' },
    );
    const server = createTlsServer({ key: readFileSync(path.join(dir, 'key.pem')), cert: readFileSync(path.join(dir, 'cert.pem')) }, (s) => s.end());
    const port = await listen(server as unknown as Server);
    expect(await codeOf(fetchPinnedCa(`https://127.0.0.1:${port}`, pin))).toBe('CA_MISMATCH');
  });
});

/** `quantix-agent join` as a process group of its own, on the sim driver. */
function join(
  hostname: string,
  stateDir: string,
  token: string,
  caHash: string,
  extraArgs: string[] = [],
): { child: ChildProcess; output: () => string; exited: Promise<number> } {
  let output = '';
  const child = spawn(
    path.join(repoRoot, 'node_modules/.bin/tsx'),
    [
      'agent/main.ts',
      'join',
      `--server=${cp.env.apiserver.url}`,
      `--gateway=${cp.gatewayAddress}`,
      `--token=${token}`,
      `--ca-cert-hash=${caHash}`,
      `--state-dir=${stateDir}`,
      '--driver=sim',
      `--hostname=${hostname}`,
      '--address=127.0.0.1',
      '--startup-jitter=0',
      ...extraArgs,
    ],
    { cwd: repoRoot, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, QUANTIX_LOG_FORMAT: 'json' } },
  );
  children.push(child);
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  // 'close', not 'exit': it fires once stdout and stderr are drained, so the output read after it is whole.
  const exited = new Promise<number>((resolve) =>
    child.once('close', (code) => {
      keepProcessOutput(`join-${hostname}`, output);
      resolve(code ?? -1);
    }),
  );
  return { child, output: () => output, exited };
}

async function newToken(singleUse: boolean): Promise<string> {
  const { token } = await cp.host.bootstrapTokens.create({ ttlSeconds: 600, singleUse }, 'test');
  recordTestSecrets(token);
  return token;
}

async function nodeNames(): Promise<string[]> {
  const def = [...cp.env.apiserver.context.served.keys()].find((d) => d.plural === 'nodes')!;
  return (await cp.env.apiserver.context.stores.get(def).list({})).items.map((n) => n.metadata.name!);
}

describe('quantix-agent join, as a process', () => {
  it('joins with the pin and a single-use token: keeps the CA and a node certificate, and its Node is registered', async () => {
    const stateDir = mkdtempSync(path.join(workDir, 'state-ok-'));
    const token = await newToken(true);
    const agent = join('join-ok', stateDir, token, pin);
    await eventually(async () => (await nodeNames()).includes('join-ok'), { timeoutMs: 60_000, message: 'the joined Node to exist' });
    expect(readFileSync(path.join(stateDir, 'ca.crt'), 'utf8').replace(/\s+/g, '')).toBe(cp.env.caCertPem.replace(/\s+/g, ''));
    await eventually(() => existsSync(path.join(stateDir, 'node.crt')), { message: 'the node certificate to be kept' });
    expect(statSync(path.join(stateDir, 'node.key')).mode & 0o777).toBe(0o600);
    expect(new X509Certificate(readFileSync(path.join(stateDir, 'node.crt'))).subject).toBe('O=quantix:nodes\nCN=quantix:node:join-ok');
    expect(agent.output()).not.toContain(token.split('.')[1]); // the secret is never logged
    process.kill(-agent.child.pid!, 'SIGKILL');
    await agent.exited;

    // The same single-use token on another machine: spent.
    const other = join('join-other', mkdtempSync(path.join(workDir, 'state-other-')), token, pin);
    expect(await other.exited).toBe(exitCodeFor('TOKEN_ALREADY_USED'));
    expect(other.output()).toContain('TOKEN_ALREADY_USED');
    expect(await nodeNames()).not.toContain('join-other');
  }, 120_000);

  it('exits 0 once joined with --exit-after-join, leaving what the service needs in the state dir', async () => {
    const stateDir = mkdtempSync(path.join(workDir, 'state-exit-'));
    const agent = join('join-exit', stateDir, await newToken(true), pin, ['--exit-after-join']);
    expect(await agent.exited).toBe(0);
    expect(agent.output()).toContain('joined; exiting');
    expect(await nodeNames()).toContain('join-exit');
    expect(existsSync(path.join(stateDir, 'ca.crt'))).toBe(true);
    expect(existsSync(path.join(stateDir, 'node.crt'))).toBe(true);
  }, 60_000);

  it('ends with TOKEN_REVOKED for a deleted token and TOKEN_EXPIRED for an expired one, their messages saying what to do', async () => {
    const revoked = await cp.host.bootstrapTokens.create({ ttlSeconds: 600 }, 'test');
    await cp.host.bootstrapTokens.revoke(revoked.record.id);
    const first = join('join-revoked', mkdtempSync(path.join(workDir, 'state-revoked-')), revoked.token, pin);
    expect(await first.exited).toBe(exitCodeFor('TOKEN_REVOKED'));
    expect(first.output()).toContain('TOKEN_REVOKED');
    expect(first.output()).toContain('qxctl token create');

    const expired = await cp.host.bootstrapTokens.create({ ttlSeconds: 1 }, 'test');
    await eventually(async () => 'refusal' in (await cp.host.bootstrapTokens.check(expired.token)), { message: 'the 1 s token to expire' });
    const second = join('join-expired', mkdtempSync(path.join(workDir, 'state-expired-')), expired.token, pin);
    expect(await second.exited).toBe(exitCodeFor('TOKEN_EXPIRED'));
    expect(second.output()).toContain('TOKEN_EXPIRED');
    expect(await nodeNames()).not.toContain('join-revoked');
    expect(await nodeNames()).not.toContain('join-expired');
  }, 60_000);

  it('sends nothing under a wrong pin: exits with CA_MISMATCH and no Node appears', async () => {
    const agent = join('join-wrong-ca', mkdtempSync(path.join(workDir, 'state-ca-')), await newToken(false), WRONG_PIN);
    expect(await agent.exited).toBe(exitCodeFor('CA_MISMATCH'));
    expect(agent.output()).toContain('CA_MISMATCH');
    expect(await nodeNames()).not.toContain('join-wrong-ca');
  }, 60_000);

  it('refuses a second machine claiming a taken hostname: HOSTNAME_TAKEN', async () => {
    const token = await newToken(false);
    const first = join('join-taken', mkdtempSync(path.join(workDir, 'state-first-')), token, pin);
    await eventually(async () => (await nodeNames()).includes('join-taken'), { timeoutMs: 60_000, message: 'the first machine to join' });
    const second = join('join-taken', mkdtempSync(path.join(workDir, 'state-second-')), token, pin);
    expect(await second.exited).toBe(exitCodeFor('HOSTNAME_TAKEN'));
    expect(second.output()).toContain('HOSTNAME_TAKEN');
    expect(second.output()).toContain('belongs to another machine');
    process.kill(-first.child.pid!, 'SIGKILL');
    await first.exited;
  }, 120_000);
});
