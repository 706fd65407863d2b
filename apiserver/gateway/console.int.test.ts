/**
 * Consoles end to end on sim: a WebSocket client (the `ws` package) against the real
 * apiserver + gateway (in process) on real etcd, an in-process agent on the sim driver
 * (whose serial console echoes and whose VNC sends the RFB greeting). Refusals before the
 * upgrade, the session's end codes, and nothing left behind on agent and gateway.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';
import { RFB_GREETING } from '../../agent/hypervisor/sim/consoles.js';
import { eventually } from '../../hack/testenv/eventually.js';
import {
  startAgent,
  startApiserverReplica,
  startFinalizerStandIn,
  startTestControlPlane,
  type ApiserverReplica,
  type TestAgent,
  type TestControlPlane,
} from '../../hack/testenv/agent.js';
import { storagePoolDefinition } from '../../api-types/registry.js';
import type { StoragePool } from '../../api-types/generated/types.js';
import { FORWARDED_HEADER } from './forward.js';
import { BEARER_SUBPROTOCOL_PREFIX, CONSOLE_SUBPROTOCOL, MAX_CONSOLES_PER_USER } from './console-route.js';
import { TunnelLocator } from './tunnel-locator.js';
import { createLogger } from '../../lib/logging/logger.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;

let cp: TestControlPlane;
let finalizers: { stop(): void };
const cleanups: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  cp = await startTestControlPlane();
  finalizers = startFinalizerStandIn(cp);
});

afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  finalizers.stop();
  await cp.stop();
});

const store = () => cp.env.apiserver.context.stores.get(VM);
const getVm = async (name: string) => (await store().get('default', name)) as VirtualMachine;

async function simAgent(hostname: string, gateway?: string): Promise<TestAgent & { sim: SimDriver }> {
  const sim = new SimDriver({ hostname });
  const a = await startAgent(cp, { driver: sim, hostname, addresses: ['127.0.0.1'], ...(gateway ? { gateway } : {}) });
  cleanups.push(() => a.stop());
  return { ...a, sim };
}

async function runningVm(name: string, node: string, spec: Partial<VirtualMachine['spec']> = {}): Promise<VirtualMachine> {
  await store().create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: { memory: '64Mi', nodeName: node, ...spec },
  });
  return eventually(async () => {
    const vm = await getVm(name);
    return vm.status?.phase === 'Running' && vm;
  });
}

const consolePath = (name: string, sub: 'console' | 'vnc' = 'console', query = '') =>
  `/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/${name}/${sub}${query}`;

interface Opened {
  ws: WebSocket;
  received: () => string;
  closed: Promise<{ code: number; reason: string }>;
}

type Attempt = { opened: Opened } | { refused: { status: number; body: Record<string, unknown> } };

/** Opens a console WebSocket; resolves with the open session, or the HTTP refusal (status and Status body). */
function attempt(
  path: string,
  opts: {
    token?: string;
    viaSubprotocol?: boolean;
    protocols?: string[];
    cert?: { cert: string; key: string };
    baseUrl?: string;
    headers?: Record<string, string>;
  } = {},
): Promise<Attempt> {
  const token = opts.token ?? cp.env.tokens.admin;
  const protocols = [...(opts.protocols ?? [CONSOLE_SUBPROTOCOL])];
  const headers: Record<string, string> = { ...opts.headers };
  if (!opts.cert) {
    if (opts.viaSubprotocol) protocols.push(BEARER_SUBPROTOCOL_PREFIX + Buffer.from(token).toString('base64url'));
    else headers.authorization = `Bearer ${token}`;
  }
  const url = (opts.baseUrl ?? cp.env.apiserver.url).replace(/^https/, 'wss') + path;
  const ws = new WebSocket(url, protocols, { ca: cp.env.caCertPem, headers, ...(opts.cert ?? {}) });
  let data = '';
  ws.on('message', (d: Buffer) => {
    data += d.toString('utf8');
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  return new Promise((resolve, reject) => {
    ws.on('open', () => resolve({ opened: { ws, received: () => data, closed } }));
    ws.on('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ refused: { status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, unknown> } }));
    });
    ws.on('error', reject);
  });
}

async function open(path: string, opts: Parameters<typeof attempt>[1] = {}): Promise<Opened> {
  const result = await attempt(path, opts);
  if ('refused' in result) throw new Error(`refused ${result.refused.status}: ${JSON.stringify(result.refused.body)}`);
  return result.opened;
}

async function refusal(path: string, opts: Parameters<typeof attempt>[1] = {}) {
  const result = await attempt(path, opts);
  if ('opened' in result) {
    result.opened.ws.close();
    throw new Error('the console opened; a refusal was expected');
  }
  return result.refused;
}

const gatewaySessions = () => cp.host.tunnels.consoleSessionCount();

describe('console subresources over WebSocket (sim)', () => {
  let a: TestAgent & { sim: SimDriver };

  beforeAll(async () => {
    a = await simAgent('con-a');
  });

  it('serial: what the client types comes back through apiserver, gateway and agent; closing frees the session everywhere', async () => {
    await runningVm('con-echo', 'con-a');
    const s = await open(consolePath('con-echo'));
    expect(s.ws.protocol).toBe(CONSOLE_SUBPROTOCOL);
    s.ws.send(Buffer.from('echo hello\r'));
    await eventually(() => expect(s.received()).toBe('echo hello\r'));
    expect(a.agent.consoles.count).toBe(1);
    expect(gatewaySessions()).toBe(1);
    // An open session holds no in-flight place of its user (only its opening did).
    expect(cp.env.apiserver.context.inflight.inFlightFor('admin')).toBe(0);
    const metrics = await fetchMetrics();
    expect(metrics).toMatch(/^quantix_console_sessions\{kind="serial"\} 1$/m);
    // Text frames are ignored.
    s.ws.send('ignored');
    s.ws.send(Buffer.from('!'));
    await eventually(() => expect(s.received()).toBe('echo hello\r!'));
    s.ws.close(1000);
    expect((await s.closed).code).toBe(1000);
    await eventually(() => expect([a.agent.consoles.count, gatewaySessions(), a.sim.openConsoleCount]).toEqual([0, 0, 0]));
    expect(await fetchMetrics()).toMatch(/^quantix_console_sessions\{kind="serial"\} 0$/m);
  });

  it('the bearer token may come as the k8s subprotocol (browsers), which is never echoed', async () => {
    await runningVm('con-proto', 'con-a');
    const s = await open(consolePath('con-proto'), { viaSubprotocol: true });
    expect(s.ws.protocol).toBe(CONSOLE_SUBPROTOCOL);
    s.ws.send(Buffer.from('x'));
    await eventually(() => expect(s.received()).toBe('x'));
    s.ws.close();
    await s.closed;
  });

  it('vnc: the RFB greeting arrives through the tunnel', async () => {
    await runningVm('con-vnc', 'con-a');
    const s = await open(consolePath('con-vnc', 'vnc'));
    await eventually(() => expect(s.received()).toBe(RFB_GREETING));
    s.ws.send(Buffer.from(RFB_GREETING));
    await eventually(() => expect(s.received()).toBe(RFB_GREETING + RFB_GREETING));
    s.ws.close();
    await eventually(() => expect(a.agent.consoles.count).toBe(0));
  });

  it('a viewer gets 403 with a Status naming the user and what was refused, before any upgrade', async () => {
    await runningVm('con-viewer', 'con-a');
    for (const sub of ['console', 'vnc'] as const) {
      const r = await refusal(consolePath('con-viewer', sub), { token: cp.env.tokens.viewer });
      expect(r.status).toBe(403);
      expect(r.body).toMatchObject({ kind: 'Status', reason: 'Forbidden', code: 403 });
      expect(r.body.message).toBe(
        `virtualmachines "con-viewer" is forbidden: User "viewer" cannot get resource "virtualmachines/${sub}" in API group "quantix.io" in the namespace "default": only admins may open consoles: typing on a console acts on the guest like a write`,
      );
    }
    expect(a.agent.consoles.count).toBe(0);
  });

  it('a node credential gets 403, even for a VM bound to its node', async () => {
    await runningVm('con-node', 'con-a');
    const cert = { cert: readFileSync(join(a.stateDir, 'node.crt'), 'utf8'), key: readFileSync(join(a.stateDir, 'node.key'), 'utf8') };
    const r = await refusal(consolePath('con-node'), { cert });
    expect(r.status).toBe(403);
    expect(r.body.message).toMatch(/User "quantix:node:con-a" cannot get resource "virtualmachines\/console".*node credentials may not open consoles/);
  });

  it('bad requests never upgrade: no token (401), unknown VM (404), no subprotocol (400), bad force (400)', async () => {
    const noToken = await refusal(consolePath('con-x'), { token: 'not-a-token' });
    expect(noToken).toMatchObject({ status: 401, body: { reason: 'Unauthorized' } });
    const unknown = await refusal(consolePath('no-such-vm'));
    expect(unknown).toMatchObject({ status: 404, body: { reason: 'NotFound', details: { name: 'no-such-vm', kind: 'virtualmachines' } } });
    await runningVm('con-bad', 'con-a');
    const noProtocol = await refusal(consolePath('con-bad'), { protocols: ['other.protocol'] });
    expect(noProtocol).toMatchObject({ status: 400, body: { reason: 'BadRequest' } });
    expect(noProtocol.body.message).toContain(CONSOLE_SUBPROTOCOL);
    const badForce = await refusal(consolePath('con-bad', 'console', '?force=yes'));
    expect(badForce).toMatchObject({ status: 400, body: { reason: 'BadRequest', details: { causes: [{ field: 'force' }] } } });
    const otherPath = await refusal('/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/con-bad/shell');
    expect(otherPath).toMatchObject({ status: 404, body: { kind: 'Status', reason: 'NotFound' } });
  });

  it('without the upgrade (plain GET) it is 400, naming WebSocket', async () => {
    await runningVm('con-plain', 'con-a');
    const r = await getRaw(`${cp.env.apiserver.url}${consolePath('con-plain')}`);
    expect(r.status).toBe(400);
    expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', reason: 'BadRequest' });
    expect(JSON.parse(r.body).message).toContain('served over WebSocket only');
  });

  it('a malformed handshake after the session was opened (bad Sec-WebSocket-Key) leaves nothing open', async () => {
    await runningVm('con-badkey', 'con-a');
    const { default: https } = await import('node:https');
    const status = await new Promise<number>((resolve, reject) => {
      const req = https.request(`${cp.env.apiserver.url}${consolePath('con-badkey', 'vnc')}`, {
        ca: cp.env.caCertPem,
        headers: {
          authorization: `Bearer ${cp.env.tokens.admin}`,
          connection: 'Upgrade',
          upgrade: 'websocket',
          'sec-websocket-version': '13',
          'sec-websocket-key': 'not-a-key',
          'sec-websocket-protocol': CONSOLE_SUBPROTOCOL,
        },
      });
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('upgrade', () => reject(new Error('upgraded with a malformed key')));
      req.on('error', reject);
      req.end();
    });
    expect(status).toBe(400);
    await eventually(() => expect([a.agent.consoles.count, gatewaySessions(), a.sim.openConsoleCount]).toEqual([0, 0, 0]));
  });

  it('a VM bound to no node gets 409 with cause VMNotRunning', async () => {
    await store().create({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'con-unbound', namespace: 'default' },
      spec: { memory: '64Mi' },
    });
    const r = await refusal(consolePath('con-unbound', 'vnc'));
    expect(r).toMatchObject({ status: 409, body: { reason: 'Conflict', details: { causes: [{ reason: 'VMNotRunning' }] } } });
    expect(r.body.message).toContain('not bound to a node');
  });

  it('the gateway refuses a ConsoleSession stream for a session it did not ask the node to open', async () => {
    const stream = a.agent.client.consoleSession();
    stream.write({ sessionId: 'made-up' } as never);
    const err = await new Promise<Error & { code?: number }>((resolve) => stream.on('error', resolve));
    expect(err.code).toBe(7); // PERMISSION_DENIED
    expect(err.message).toContain('node con-a was not asked to open console session "made-up"');
  });

  it('a stopped VM gets 409 with cause VMNotRunning', async () => {
    await store().create({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'VirtualMachine',
      metadata: { name: 'con-stopped', namespace: 'default' },
      spec: { memory: '64Mi', nodeName: 'con-a', runStrategy: 'Halted' },
    });
    await eventually(async () => (await getVm('con-stopped')).status?.phase === 'Stopped');
    const r = await refusal(consolePath('con-stopped'));
    expect(r).toMatchObject({ status: 409, body: { reason: 'Conflict', details: { causes: [{ reason: 'VMNotRunning' }] } } });
    expect(r.body.message).toContain('VM default/con-stopped is not running (phase Stopped)');
  });

  it('one serial session at a time: 409 ConsoleTaken, then force takes it and the first closes 4000 ConsoleTaken', async () => {
    await runningVm('con-taken', 'con-a');
    const first = await open(consolePath('con-taken'));
    const taken = await refusal(consolePath('con-taken'));
    expect(taken).toMatchObject({ status: 409, body: { reason: 'Conflict', details: { causes: [{ reason: 'ConsoleTaken' }] } } });
    expect(taken.body.message).toMatch(/--force/);
    const second = await open(consolePath('con-taken', 'console', '?force=true'));
    const end = await first.closed;
    expect(end.code).toBe(4000);
    expect(end.reason).toMatch(/^ConsoleTaken: /);
    second.ws.send(Buffer.from('mine'));
    await eventually(() => expect(second.received()).toBe('mine'));
    second.ws.close();
    await eventually(() => expect([a.agent.consoles.count, gatewaySessions()]).toEqual([0, 0]));
  });

  it('the VM stopping closes the session with 4000 VMStopped', async () => {
    const vm = await runningVm('con-stop', 'con-a');
    const s = await open(consolePath('con-stop'));
    a.sim.guestPowerOff(vm.metadata.uid!);
    const end = await s.closed;
    expect(end.code).toBe(4000);
    expect(end.reason).toMatch(/^VMStopped: /);
    await eventually(() => expect([a.agent.consoles.count, gatewaySessions()]).toEqual([0, 0]));
  });

  it('the agent restarting closes the session with 4000 AgentDisconnected', async () => {
    const b = await simAgent('con-b');
    await runningVm('con-restart', 'con-b');
    const s = await open(consolePath('con-restart'));
    await b.agent.stop();
    const end = await s.closed;
    expect(end.code).toBe(4000);
    expect(end.reason).toMatch(/^AgentDisconnected: the agent on node con-b/);
    expect(b.agent.consoles.count).toBe(0);
    await eventually(() => expect(gatewaySessions()).toBe(0));
    // The VM kept running on the host; once the agent is back, a console opens again.
    const again = await startAgent(cp, { driver: b.sim, hostname: 'con-b', addresses: ['127.0.0.1'], stateDir: b.stateDir });
    cleanups.push(() => again.stop());
    const s2 = await eventually(() => open(consolePath('con-restart')));
    s2.ws.send(Buffer.from('back'));
    await eventually(() => expect(s2.received()).toBe('back'));
    s2.ws.close();
  });

  it(`one user may hold ${MAX_CONSOLES_PER_USER} consoles on a replica; the next gets 429 before the upgrade`, async () => {
    await runningVm('con-many', 'con-a');
    const sessions: Opened[] = [];
    for (let i = 0; i < MAX_CONSOLES_PER_USER; i++) sessions.push(await open(consolePath('con-many', 'vnc')));
    const r = await refusal(consolePath('con-many', 'vnc'));
    expect(r).toMatchObject({ status: 429, body: { reason: 'TooManyRequests', details: { retryAfterSeconds: 5 } } });
    expect(r.body.message).toBe(`user "admin" has ${MAX_CONSOLES_PER_USER} consoles open on this apiserver, the limit is ${MAX_CONSOLES_PER_USER}`);
    for (const s of sessions) s.ws.close();
    await eventually(() => expect([a.agent.consoles.count, gatewaySessions()]).toEqual([0, 0]));
    const again = await open(consolePath('con-many', 'vnc'));
    again.ws.close();
    await again.closed;
  });

  it('the client vanishing (socket destroyed) frees the session on the agent', async () => {
    await runningVm('con-vanish', 'con-a');
    const s = await open(consolePath('con-vanish'));
    await eventually(() => expect(a.agent.consoles.count).toBe(1));
    s.ws.terminate();
    await eventually(() => expect([a.agent.consoles.count, gatewaySessions(), a.sim.openConsoleCount]).toEqual([0, 0, 0]));
  });
});

async function fetchMetrics(): Promise<string> {
  return (await getRaw(`${cp.env.apiserver.url}/metrics`)).body;
}

/** GET with the admin token; status and body. */
async function getRaw(url: string): Promise<{ status: number; body: string }> {
  const { default: https } = await import('node:https');
  return new Promise((resolve, reject) => {
    https
      .get(url, { ca: cp.env.caCertPem, headers: { authorization: `Bearer ${cp.env.tokens.admin}` } }, (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString();
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      })
      .on('error', reject);
  });
}

describe('any apiserver replica serves any node', () => {
  let replica: ApiserverReplica;
  let a: TestAgent & { sim: SimDriver };

  beforeAll(async () => {
    replica = await startApiserverReplica(cp);
    cleanups.push(() => replica.stop());
    a = await simAgent('rep-a'); // connected to the first replica's gateway
  });

  it('a console through the replica the agent is NOT connected to', async () => {
    await runningVm('rep-echo', 'rep-a');
    const s = await eventually(() => open(consolePath('rep-echo'), { baseUrl: replica.url }));
    expect(s.ws.protocol).toBe(CONSOLE_SUBPROTOCOL);
    s.ws.send(Buffer.from('via the other replica\r'));
    await eventually(() => expect(s.received()).toBe('via the other replica\r'));
    // The session runs on the replica holding the tunnel; the other one only carries bytes.
    expect(cp.host.tunnels.consoleSessionCount()).toBe(1);
    expect(replica.host.tunnels.consoleSessionCount()).toBe(0);
    // The end code comes through the forwarding replica unchanged.
    a.sim.guestPowerOff((await getVm('rep-echo')).metadata.uid!);
    const end = await s.closed;
    expect(end.code).toBe(4000);
    expect(end.reason).toMatch(/^VMStopped: /);
    await eventually(() => expect([a.agent.consoles.count, cp.host.tunnels.consoleSessionCount()]).toEqual([0, 0]));
  });

  it('refusals come from the forwarding replica or the holding one alike: 403 viewer, 409 ConsoleTaken', async () => {
    await runningVm('rep-taken', 'rep-a');
    const viewer = await refusal(consolePath('rep-taken'), { baseUrl: replica.url, token: cp.env.tokens.viewer });
    expect(viewer).toMatchObject({ status: 403, body: { reason: 'Forbidden' } });
    const first = await eventually(() => open(consolePath('rep-taken'), { baseUrl: replica.url }));
    const taken = await refusal(consolePath('rep-taken'), { baseUrl: replica.url });
    expect(taken).toMatchObject({ status: 409, body: { details: { causes: [{ reason: 'ConsoleTaken' }] } } });
    first.ws.close();
    await first.closed;
  });

  it('a forwarded request is never forwarded again (loop guard): 503', async () => {
    await runningVm('rep-loop', 'rep-a');
    const r = await refusal(consolePath('rep-loop'), { baseUrl: replica.url, headers: { [FORWARDED_HEADER]: 'test' } });
    expect(r).toMatchObject({ status: 503, body: { reason: 'ServiceUnavailable', message: 'the agent on node rep-a is not connected to this apiserver' } });
  });

  it('the other way round: an agent on the second replica, its console through the first', async () => {
    const b = await simAgent('rep-b', replica.gatewayAddress);
    await runningVm('rep-other', 'rep-b');
    const s = await eventually(() => open(consolePath('rep-other')));
    s.ws.send(Buffer.from('x'));
    await eventually(() => expect(s.received()).toBe('x'));
    expect(replica.host.tunnels.consoleSessionCount()).toBe(1);
    s.ws.close();
    await eventually(() => expect([b.agent.consoles.count, replica.host.tunnels.consoleSessionCount()]).toEqual([0, 0]));
  });

  it('the pool file browser through the replica the agent is NOT connected to', async () => {
    const pools = cp.env.apiserver.context.stores.get(storagePoolDefinition as unknown as ResourceDefinition);
    await pools.create({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'rep-pool' },
      spec: { type: 'dir', dir: { path: '/var/lib/qx/rep-pool' }, assignedNodes: ['rep-a'] },
    });
    await eventually(async () => ((await pools.get(undefined, 'rep-pool')) as StoragePool).status?.hosts?.['rep-a']?.health === 'HEALTHY');
    a.sim.addPoolFile('rep-pool', 'iso/debian.iso', { type: 'file', sizeBytes: 4096 });
    const r = await getRaw(`${replica.url}/apis/quantix.io/v1alpha1/storagepools/rep-pool/files?node=rep-a&path=iso`);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({
      kind: 'StoragePoolFileList',
      pool: 'rep-pool',
      node: 'rep-a',
      items: [{ name: 'debian.iso', sizeBytes: 4096 }],
    });
    const escaped = await getRaw(`${replica.url}/apis/quantix.io/v1alpha1/storagepools/rep-pool/files?node=rep-a&path=../..`);
    expect(escaped.status).toBe(400);
    expect(JSON.parse(escaped.body)).toMatchObject({ kind: 'Status', details: { causes: [{ reason: 'PathEscape' }] } });
  });

  it('tunnel records: only the replica that wrote one removes it; a stopped replica takes its records along', async () => {
    const etcd = cp.env.apiserver.context.etcd;
    const log = createLogger('test');
    const first = new TunnelLocator(etcd, 'https://127.0.0.1:1', log);
    const second = new TunnelLocator(etcd, 'https://127.0.0.1:2', log);
    const third = new TunnelLocator(etcd, 'https://127.0.0.1:3', log);
    try {
      await first.recordLocal('moving-node');
      expect(await third.peerFor('moving-node')).toBe('https://127.0.0.1:1');
      expect(await first.peerFor('moving-node')).toBeUndefined(); // its own: not a peer
      // The agent moves to the second replica; the first notices its tunnel ended only later.
      await second.recordLocal('moving-node');
      await first.forgetLocal('moving-node');
      expect(await third.peerFor('moving-node')).toBe('https://127.0.0.1:2');
      await second.stop();
      expect(await third.peerFor('moving-node')).toBeUndefined();
    } finally {
      await Promise.all([first.stop(), second.stop(), third.stop()]);
    }
  });

  it('once the agent has left the other replica, the request is 503: not connected to any apiserver', async () => {
    const c = await simAgent('rep-c', replica.gatewayAddress);
    await runningVm('rep-gone', 'rep-c');
    await eventually(async () => {
      const s = await open(consolePath('rep-gone'));
      s.ws.close();
      await s.closed;
    });
    await c.agent.stop();
    await eventually(async () => {
      const r = await refusal(consolePath('rep-gone'));
      expect(r).toMatchObject({ status: 503, body: { reason: 'ServiceUnavailable', message: 'the agent on node rep-c is not connected to any apiserver' } });
    });
  });
});
