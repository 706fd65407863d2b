/**
 * Node client certificates through the real gateway and apiserver on real etcd: a node
 * registers with a certificate request for its own key and gets a certificate signed by the
 * cluster CA; from then on it authenticates by mutual TLS, on the gateway and on REST. A
 * forged certificate, a revoked node and a deleted Node are refused; a node cannot get a
 * certificate for another name; the agent renews its certificate before it expires.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { Agent as HttpsAgent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayClient } from '../../agent/gateway-client.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';
import type { GatewayError } from '../../api-types/proto/errors.js';
import { startAgent, startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';
import { eventually } from '../../hack/testenv/eventually.js';

let cp: TestControlPlane;
let dir: string;
const clients: GatewayClient[] = [];
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane();
  dir = mkdtempSync(join(tmpdir(), 'quantix-node-certs-'));
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  for (const c of clients) c.close();
  await cp?.stop();
  rmSync(dir, { recursive: true, force: true });
});

function client(identity?: { keyPem: string; certPem: string }): GatewayClient {
  const c = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost' });
  if (identity) c.presentClientCertificate(identity.keyPem, identity.certPem);
  clients.push(c);
  return c;
}

/** A key and a certificate request made with the openssl CLI, as an agent makes them. */
function keyAndRequest(name: string, subject = `/O=quantix:nodes/CN=quantix:node:${name}`): { keyPem: string; csrPem: string; keyFile: string } {
  const keyFile = join(dir, `${name}-${Math.random().toString(36).slice(2)}.key`);
  execFileSync('openssl', ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', keyFile]);
  const csrPem = execFileSync('openssl', ['req', '-new', '-key', keyFile, '-subj', subject], { encoding: 'utf8' });
  return { keyPem: readFileSync(keyFile, 'utf8'), csrPem, keyFile };
}

async function registerWithCsr(name: string): Promise<{ keyPem: string; certPem: string; credential: string }> {
  const { keyPem, csrPem } = keyAndRequest(name);
  const res = await client().registerNode({ hostname: name, machineId: `machine-${name}`, csrPem }, cp.joinToken);
  return { keyPem, certPem: res.certificatePem, credential: res.credential };
}

async function refusalOf(promise: Promise<unknown>): Promise<string> {
  const err = (await promise.then(
    () => undefined,
    (e: unknown) => e,
  )) as GatewayError | undefined;
  return err?.reason ?? 'accepted';
}

/** GET a path on the REST API presenting a client certificate (and no bearer token). */
function restGet(path: string, identity: { keyPem: string; certPem: string }): Promise<number> {
  const url = new URL(cp.env.apiserver.url);
  const agent = new HttpsAgent({ ca: cp.env.caCertPem, key: identity.keyPem, cert: identity.certPem, keepAlive: false });
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, agent }, (res) => {
      res.resume();
      res.on('end', () => {
        agent.destroy();
        resolve(res.statusCode ?? 0);
      });
    });
    req.on('error', reject);
    req.end();
  });
}

const nodes = () => cp.env.apiserver.context.stores.get([...cp.env.apiserver.context.served.keys()].find((d) => d.plural === 'nodes')!);

describe('node certificates', () => {
  it('signs a request for the node itself: O=quantix:nodes, CN=quantix:node:NAME, by the cluster CA, for client auth; no bearer credential', async () => {
    const { certPem, credential } = await registerWithCsr('cert-a');
    expect(credential).toBe('');
    const cert = new X509Certificate(certPem);
    expect(cert.subject).toBe('O=quantix:nodes\nCN=quantix:node:cert-a');
    expect(cert.verify(new X509Certificate(cp.env.caCertPem).publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // clientAuth only
  });

  it('refuses a request naming another node, with the field named', async () => {
    const { csrPem } = keyAndRequest('cert-b', '/O=quantix:nodes/CN=quantix:node:someone-else');
    const err = (await client()
      .registerNode({ hostname: 'cert-b', machineId: 'machine-cert-b', csrPem }, cp.joinToken)
      .catch((e: unknown) => e)) as GatewayError;
    expect(err.reason).toBe('Invalid');
    expect(err.message).toContain('csrPem');
    expect(err.message).toContain('CN=quantix:node:cert-b');
  });

  it('authenticates the node by its certificate on the gateway and on REST; a forged certificate with the same name is not', async () => {
    const identity = await registerWithCsr('cert-c');
    expect(await refusalOf(client(identity).heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('accepted');
    expect(await restGet('/apis/quantix.io/v1alpha1/nodes/cert-c', identity)).toBe(200);
    expect(await restGet('/apis/quantix.io/v1alpha1/nodes/cert-a', identity)).toBe(403); // NodeRestriction: its own Node only

    const forgedKey = join(dir, 'forged.key');
    const forgedCert = join(dir, 'forged.crt');
    execFileSync('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      forgedKey,
      '-out',
      forgedCert,
      '-days',
      '1',
      '-subj',
      '/O=quantix:nodes/CN=quantix:node:cert-c',
    ]);
    const forged = { keyPem: readFileSync(forgedKey, 'utf8'), certPem: readFileSync(forgedCert, 'utf8') };
    expect(await refusalOf(client(forged).heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('Unauthorized');
    expect(await restGet('/apis/quantix.io/v1alpha1/nodes/cert-c', forged)).toBe(401);
  });

  it('revokes at once (admins only): the certificate no longer authenticates, nor recreates the Node; a bootstrap token lets the host join again', async () => {
    const identity = await registerWithCsr('cert-d');
    const node = client(identity);
    expect(await refusalOf(node.heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('accepted');
    const post = (token: string) => fetchStatus(`${cp.env.apiserver.url}/apis/quantix.io/v1alpha1/nodes/cert-d/revoke`, token, 'POST').then((r) => r.status);
    expect(await post(cp.env.tokens.viewer)).toBe(403);
    expect(await post(cp.env.tokens.admin)).toBe(200);
    expect(await refusalOf(node.heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('Unauthorized');
    expect(await restGet('/apis/quantix.io/v1alpha1/nodes/cert-d', identity)).toBe(401);
    const { csrPem } = keyAndRequest('cert-d');
    expect(await refusalOf(node.registerNode({ hostname: 'cert-d', machineId: 'machine-cert-d', csrPem }, ''))).toBe('Unauthorized');

    const again = await registerWithCsr('cert-d');
    expect(await refusalOf(client(again).heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('accepted');
    expect(await refusalOf(node.heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('Unauthorized'); // the revoked one stays revoked
  });

  it("stops authenticating a deleted Node's certificate", async () => {
    const identity = await registerWithCsr('cert-e');
    const node = client(identity);
    expect(await refusalOf(node.heartbeat({ stateHash: '', hypervisorReady: true }))).toBe('accepted');
    await nodes().delete(undefined, 'cert-e');
    await eventually(async () => (await refusalOf(node.heartbeat({ stateHash: '', hypervisorReady: true }))) === 'Unauthorized', {
      message: 'the certificate of the deleted Node to be refused',
    });
    const { csrPem } = keyAndRequest('cert-e');
    expect(await refusalOf(node.registerNode({ hostname: 'cert-e', machineId: 'machine-cert-e', csrPem }, ''))).toBe('Unauthorized');
    expect((await nodes().list({})).items.map((n) => n.metadata.name)).not.toContain('cert-e');
  });

  it('an agent keeps its key on the host (0600), runs on its certificate, and renews it before it expires', async () => {
    const stateDir = mkdtempSync(join(dir, 'agent-'));
    const a = await startAgent(cp, {
      driver: new SimDriver({ hostname: 'cert-agent' }),
      hostname: 'cert-agent',
      stateDir,
      // Renew at once after each issue, at most every second: several renewals in a test.
      certificateRenewAt: 0,
      certificateMinRenewalDelayMs: 1_000,
    });
    cleanups.push(() => a.stop());
    expect(statSync(join(stateDir, 'node.key')).mode & 0o777).toBe(0o600);
    const serial = () => new X509Certificate(readFileSync(join(stateDir, 'node.crt'))).serialNumber;
    const first = serial();
    const seen = new Set([first]);
    await eventually(
      () => {
        seen.add(serial());
        return seen.size >= 3;
      },
      { timeoutMs: 30_000, message: 'two renewals' },
    );
    expect(readFileSync(join(stateDir, 'credential'), 'utf8').trim()).toBe('');
    // Still heartbeating on the renewed certificate.
    // (Node status is written only on change: the gateway's session says when the last heartbeat came.)
    const renewedAt = Date.now();
    await eventually(async () => (cp.gateway.leases.lastHeartbeatMs('cert-agent') ?? 0) > renewedAt, { message: 'a heartbeat after the renewals' });
    expect(
      await restGet('/apis/quantix.io/v1alpha1/nodes/cert-agent', {
        keyPem: readFileSync(join(stateDir, 'node.key'), 'utf8'),
        certPem: readFileSync(join(stateDir, 'node.crt'), 'utf8'),
      }),
    ).toBe(200);
  }, 60_000);
});

function fetchStatus(url: string, token: string, method: string): Promise<{ status: number }> {
  const u = new URL(url);
  const agent = new HttpsAgent({ ca: cp.env.caCertPem, keepAlive: false });
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path: u.pathname, method, agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode ?? 0 }));
    });
    req.on('error', reject);
    req.end();
  });
}
