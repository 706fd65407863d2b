/**
 * Bootstrap tokens through the real apiserver (REST, as qxctl calls it) and the real node
 * gateway (RegisterNode, as an agent calls it) on real etcd: every way a token is refused
 * carries its code (TOKEN_INVALID, TOKEN_EXPIRED, TOKEN_REVOKED, TOKEN_ALREADY_USED), and
 * only admins manage tokens.
 */
import { Agent, request } from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayClient } from '../../agent/gateway-client.js';
import type { GatewayError } from '../../api-types/proto/errors.js';
import { startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { caCertHash } from '../../lib/pki/ca-cert-hash.js';
import { hostJoinCodeOf } from '../../lib/host-join/codes.js';
import { BOOTSTRAP_TOKEN_FORMAT, BOOTSTRAP_TOKENS_PREFIX } from './bootstrap-tokens.js';
import type { BootstrapTokenObject } from './bootstrap-token-routes.js';

const TOKENS = '/apis/quantix.io/v1alpha1/bootstraptokens';

/** What the token routes answer: a token, a list of them, or a Status. */
type Answer = BootstrapTokenObject & { items: BootstrapTokenObject[]; message: string; details: { causes: { field: string }[] } };

let cp: TestControlPlane;
let https: Agent;
const clients: GatewayClient[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane();
  https = new Agent({ keepAlive: false, ca: cp.env.caCertPem });
});

afterAll(async () => {
  for (const c of clients) c.close();
  https?.destroy();
  await cp?.stop();
});

function call(method: string, path: string, token: string, body?: unknown): Promise<{ status: number; body: Answer }> {
  const url = new URL(cp.env.apiserver.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: url.hostname, port: url.port, path, method, agent: https, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
      },
    );
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

async function createToken(spec: Record<string, unknown>): Promise<{ id: string; token: string; body: Answer }> {
  const res = await call('POST', TOKENS, cp.env.tokens.admin, { spec });
  expect(res.status).toBe(201);
  return { id: res.body.metadata.name, token: res.body.status.token!, body: res.body };
}

function gateway(): GatewayClient {
  const c = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost' });
  clients.push(c);
  return c;
}

/** Registers `hostname` with `token`; resolves with the refusal's code, or 'registered'. */
async function registerWith(token: string, hostname: string, machineId = `machine-${hostname}`): Promise<string> {
  try {
    await gateway().registerNode({ hostname, machineId }, token);
    return 'registered';
  } catch (err) {
    const e = err as GatewayError;
    expect(e.reason).toBe('Unauthorized');
    // The code as every host-join client reads it (qxctl, the Add-host controller, the agent).
    return hostJoinCodeOf(e.status) ?? e.message;
  }
}

describe('bootstrap tokens on the API', () => {
  it('creates a token in the kubeadm format, answered once with the CA pin; lists and gets it without its secret', async () => {
    const { id, token, body } = await createToken({ ttlSeconds: 600, description: 'rack 4', singleUse: true });
    expect(token).toMatch(BOOTSTRAP_TOKEN_FORMAT);
    expect(token.startsWith(`${id}.`)).toBe(true);
    expect(body.status.caCertHash).toBe(caCertHash(cp.env.caCertPem));
    expect(body.spec).toMatchObject({ description: 'rack 4', singleUse: true });
    const expiresIn = Date.parse(body.spec.expiration) - Date.now();
    expect(expiresIn).toBeGreaterThan(590_000);
    expect(expiresIn).toBeLessThanOrEqual(600_000);

    const list = await call('GET', TOKENS, cp.env.tokens.admin);
    expect(list.status).toBe(200);
    const listed = list.body.items.find((t: BootstrapTokenObject) => t.metadata.name === id);
    expect(listed!.spec.description).toBe('rack 4');
    expect(JSON.stringify(list.body)).not.toContain(token.split('.')[1]);
    const one = await call('GET', `${TOKENS}/${id}`, cp.env.tokens.admin);
    expect(one.status).toBe(200);
    expect(one.body.status.token).toBeUndefined();

    // etcd holds a hash, never the secret.
    const stored = await cp.env.apiserver.context.etcd.get(`${BOOTSTRAP_TOKENS_PREFIX}${id}`).string();
    expect(stored).toContain('secretSha256');
    expect(stored).not.toContain(token.split('.')[1]);
  });

  it('refuses bad specs with the field named, and leaves nothing behind', async () => {
    const before = (await call('GET', TOKENS, cp.env.tokens.admin)).body.items.length;
    const res = await call('POST', TOKENS, cp.env.tokens.admin, { spec: { ttlSeconds: 0, singleUse: 'yes' } });
    expect(res.status).toBe(422);
    expect(res.body.details.causes.map((c: { field: string }) => c.field).sort()).toEqual(['spec.singleUse', 'spec.ttlSeconds']);
    expect((await call('GET', TOKENS, cp.env.tokens.admin)).body.items.length).toBe(before);
  });

  it('lets only admins manage tokens: a viewer and a bootstrap token get 403, and no token is made', async () => {
    const viewer = await call('POST', TOKENS, cp.env.tokens.viewer, { spec: {} });
    expect(viewer.status).toBe(403);
    expect(viewer.body.message).toContain('User "viewer" cannot create resource "bootstraptokens"');
    expect((await call('GET', TOKENS, cp.env.tokens.viewer)).status).toBe(403);
    const { token } = await createToken({ ttlSeconds: 600 });
    expect((await call('GET', TOKENS, token)).status).toBe(403);
    // A join token reads nothing else either.
    expect((await call('GET', '/apis/quantix.io/v1alpha1/nodes', token)).status).toBe(403);
  });

  it('answers an unknown token id with 404 on get and delete', async () => {
    expect((await call('GET', `${TOKENS}/zzzzzz`, cp.env.tokens.admin)).status).toBe(404);
    expect((await call('DELETE', `${TOKENS}/zzzzzz`, cp.env.tokens.admin)).status).toBe(404);
  });

  it('has no static node-join token any more in tokens.csv', () => {
    const text = readFileSync(join(cp.env.dataDir, 'tokens.csv'), 'utf8');
    expect(text).not.toContain('node-join');
    expect(text).not.toContain('quantix:bootstrappers');
  });
});

describe('joining with a bootstrap token (RegisterNode)', () => {
  it('registers a host with a valid token', async () => {
    const { token } = await createToken({ ttlSeconds: 600 });
    expect(await registerWith(token, 'bt-valid')).toBe('registered');
    expect(await registerWith(token, 'bt-valid-2')).toBe('registered'); // reusable
  });

  it('refuses an unknown token and a wrong secret with TOKEN_INVALID, and a malformed one too', async () => {
    const { id } = await createToken({ ttlSeconds: 600 });
    expect(await registerWith('abcdef.0123456789abcdef', 'bt-unknown')).toBe('TOKEN_INVALID');
    expect(await registerWith(`${id}.0123456789abcdef`, 'bt-wrong-secret')).toBe('TOKEN_INVALID');
    await expect(gateway().registerNode({ hostname: 'bt-malformed', machineId: 'm' }, 'not-a-token')).rejects.toMatchObject({ reason: 'Unauthorized' });
  });

  it('refuses a token with a 1 s TTL once it has expired: TOKEN_EXPIRED', async () => {
    const { token } = await createToken({ ttlSeconds: 1 });
    // Probe with a call the token never may make (a node's heartbeat): Forbidden while it is
    // valid, Unauthorized with the code once it has expired; then register with it.
    const probe = gateway();
    probe.setToken(token);
    await eventually(
      async () =>
        ((await probe.heartbeat({ stateHash: '' }).catch((e: GatewayError) => e)) as GatewayError).status?.details?.causes?.[0]?.reason === 'TOKEN_EXPIRED',
      { timeoutMs: 10_000, intervalMs: 200, message: 'the 1 s token to be refused as expired' },
    );
    expect(await registerWith(token, 'bt-expired')).toBe('TOKEN_EXPIRED');
    expect((await cp.env.apiserver.context.stores.get(nodeDef()).list({})).items.map((n) => n.metadata.name)).not.toContain('bt-expired');
  });

  it('refuses a deleted token at once: TOKEN_REVOKED', async () => {
    const { id, token } = await createToken({ ttlSeconds: 600 });
    const del = await call('DELETE', `${TOKENS}/${id}`, cp.env.tokens.admin);
    expect(del.status).toBe(200);
    expect(await registerWith(token, 'bt-revoked')).toBe('TOKEN_REVOKED');
    expect((await call('GET', TOKENS, cp.env.tokens.admin)).body.items.map((t: BootstrapTokenObject) => t.metadata.name)).not.toContain(id);
  });

  it('lets a single-use token join one host: then it is spent, for another host and for the same one', async () => {
    const { id, token } = await createToken({ ttlSeconds: 600, singleUse: true });
    expect(await registerWith(token, 'bt-single')).toBe('registered');
    expect(await registerWith(token, 'bt-single')).toBe('TOKEN_ALREADY_USED');
    expect(await registerWith(token, 'bt-single-other')).toBe('TOKEN_ALREADY_USED');
    const listed = (await call('GET', `${TOKENS}/${id}`, cp.env.tokens.admin)).body;
    expect(listed.status.usedBy).toBe('bt-single');
  });

  it('lets one of two hosts racing with one single-use token join', async () => {
    const { token } = await createToken({ ttlSeconds: 600, singleUse: true });
    const results = await Promise.all(['bt-race-a', 'bt-race-b', 'bt-race-c'].map((h) => registerWith(token, h)));
    expect(results.filter((r) => r === 'registered')).toHaveLength(1);
    expect(results.filter((r) => r === 'TOKEN_ALREADY_USED')).toHaveLength(2);
  });

  it('says why in the gateway trailers for any call, not only RegisterNode (refused before the message is read)', async () => {
    const { id, token } = await createToken({ ttlSeconds: 600 });
    await call('DELETE', `${TOKENS}/${id}`, cp.env.tokens.admin);
    const c = gateway();
    c.setToken(token);
    const err = (await c.heartbeat({ stateHash: '' }).catch((e: unknown) => e)) as GatewayError;
    expect(err.reason).toBe('Unauthorized');
    expect(err.status?.details?.causes?.[0]?.reason).toBe('TOKEN_REVOKED');
    expect(hostJoinCodeOf(err.status)).toBe('TOKEN_REVOKED');
  });
});

function nodeDef() {
  return [...cp.env.apiserver.context.served.keys()].find((d) => d.plural === 'nodes')!;
}
