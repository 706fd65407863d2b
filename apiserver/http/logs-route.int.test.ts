/**
 * GET /logs on real etcd, two real apiserver replicas and in-process agents (sim driver),
 * each with its own log directory: records from every host merged in time order, sources
 * that do not answer listed, follow, and the refusals.
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { CORRELATION_ID_ANNOTATION } from '../../api-types/correlation.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';
import { eventually } from '../../hack/testenv/eventually.js';
import {
  type ApiserverReplica,
  startAgent,
  startApiserverReplica,
  startTestControlPlane,
  type TestAgent,
  type TestControlPlane,
} from '../../hack/testenv/agent.js';
import type { LogRecord } from '../../lib/logging/record.js';
import type { LogList, LogSource } from './logs-route.js';

let cp: TestControlPlane;
let replica: ApiserverReplica;
let root: string;
const dirs = { cp: '', replica: '', agentA: '', agentB: '' };
const agents: TestAgent[] = [];
const T0 = Date.now() - 60_000;
const at = (s: number) => new Date(T0 + s * 1000).toISOString();
const line = (s: number, fields: Record<string, unknown>) => `${JSON.stringify({ time: at(s), level: 'info', message: `m${s}`, ...fields })}\n`;

function get(base: string, path: string, token: string | undefined, cert?: { cert: string; key: string }): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(`${base}${path}`, { ca: cp.env.caCertPem, headers: token ? { authorization: `Bearer ${token}` } : {}, ...cert }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => {
        body += c.toString();
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function logs(query: string, base = cp.env.apiserver.url): Promise<LogList> {
  const r = await get(base, `/logs?${query}`, cp.env.tokens.admin);
  expect(r.status).toBe(200);
  return JSON.parse(r.body) as LogList;
}

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

function qxctl(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(join(ROOT, 'bin/qxctl'), args, { env: { ...process.env, KUBECONFIG: cp.env.kubeconfig }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    child.on('error', reject);
    // 'close', not 'exit': the output streams drain after the exit.
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const sourceOf = (list: LogList, component: string, node: string): LogSource | undefined =>
  list.sources.find((s) => s.component === component && s.node === node);

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'qx-logs-int-'));
  for (const k of Object.keys(dirs) as (keyof typeof dirs)[]) {
    dirs[k] = join(root, k);
    mkdirSync(dirs[k]);
  }
  // The control-plane host: apiserver, controller-manager and audit files, and an agent.log
  // the apiserver must leave to the agent (make up shares one directory).
  writeFileSync(join(dirs.cp, 'apiserver.log.1'), line(1, { component: 'apiserver', node: 'cp-host' }));
  writeFileSync(join(dirs.cp, 'apiserver.log'), `${line(5, { component: 'apiserver', node: 'cp-host', correlationId: 'chain-1' })}not a record\n`);
  writeFileSync(join(dirs.cp, 'agent.log'), line(6, { component: 'agent', node: 'logs-a', message: 'shared-dir copy' }));
  const audit = {
    kind: 'Event',
    apiVersion: 'audit.k8s.io/v1',
    auditID: 'audit-1',
    stage: 'ResponseComplete',
    verb: 'update',
    requestURI: '/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/web',
    user: { username: 'admin' },
    objectRef: { resource: 'virtualmachines', namespace: 'default', name: 'web' },
    responseStatus: { code: 200 },
    requestReceivedTimestamp: at(2),
    stageTimestamp: at(2),
    annotations: { [CORRELATION_ID_ANNOTATION]: 'chain-1' },
  };
  writeFileSync(join(dirs.cp, 'audit.log'), `${JSON.stringify(audit)}\n`);
  writeFileSync(join(dirs.replica, 'controller-manager.log'), line(3, { component: 'controller-manager', node: 'cp2-host', correlationId: 'chain-1' }));
  writeFileSync(join(dirs.agentA, 'agent.log'), line(4, { component: 'agent', node: 'logs-a', correlationId: 'chain-1', procedure: 'DOMAIN_SHUTDOWN' }));
  writeFileSync(join(dirs.agentB, 'agent.log'), line(7, { component: 'agent', node: 'logs-b', level: 'warn' }));

  cp = await startTestControlPlane({ logs: { dir: dirs.cp, nodeName: 'cp-host', followPollMs: 100, sourceTimeoutMs: 5_000, maxFollowsPerUser: 2 } });
  replica = await startApiserverReplica(cp, { logs: { dir: dirs.replica, nodeName: 'cp2-host', followPollMs: 100, sourceTimeoutMs: 5_000 } });
  agents.push(await startAgent(cp, { driver: new SimDriver({ hostname: 'logs-a' }), hostname: 'logs-a', logDir: dirs.agentA }));
  agents.push(
    await startAgent(cp, { driver: new SimDriver({ hostname: 'logs-b' }), hostname: 'logs-b', logDir: dirs.agentB, gateway: replica.gatewayAddress }),
  );
  // Both replicas know each other and both tunnels are up.
  await eventually(async () => {
    const list = await logs('');
    return list.sources.every((s) => s.state === 'ok') && list.sources.some((s) => s.node === 'logs-b');
  });
}, 60_000);

afterAll(async () => {
  for (const a of agents) await a.stop();
  await replica?.stop().catch(() => undefined);
  await cp?.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('GET /logs', () => {
  it('merges the records of both replicas and both agents in time order, from either replica', async () => {
    for (const base of [cp.env.apiserver.url, replica.url]) {
      const list = await logs('', base);
      expect(list.kind).toBe('LogList');
      expect(list.items.map((r) => [r.message, r.component, r.node])).toEqual([
        ['m1', 'apiserver', 'cp-host'],
        ['update virtualmachines default/web → 200', 'audit', 'cp-host'],
        ['m3', 'controller-manager', 'cp2-host'],
        ['m4', 'agent', 'logs-a'],
        ['m5', 'apiserver', 'cp-host'],
        ['m7', 'agent', 'logs-b'],
      ]);
      expect(list.sources.every((s) => s.state === 'ok')).toBe(true);
      for (const [component, node] of [
        ['apiserver', 'cp-host'],
        ['audit', 'cp-host'],
        ['controller-manager', 'cp2-host'],
        ['agent', 'logs-a'],
        ['agent', 'logs-b'],
      ])
        expect(sourceOf(list, component!, node!)).toBeDefined();
      // The broken line of apiserver.log is counted, not a failure.
      expect(sourceOf(list, 'apiserver', 'cp-host')?.message).toMatch(/1 lines that are not log records/);
    }
  });

  it('filters: correlation id across hosts, level, component, node, limit', async () => {
    const chain = await logs('correlationId=chain-1');
    expect(chain.items.map((r: LogRecord) => r.component)).toEqual(['audit', 'controller-manager', 'agent', 'apiserver']);
    expect(chain.items[2]).toMatchObject({ procedure: 'DOMAIN_SHUTDOWN', correlationId: 'chain-1' });
    expect((await logs('level=warn')).items.map((r) => r.message)).toEqual(['m7']);
    expect((await logs('component=agent,controller-manager')).items.map((r) => r.message)).toEqual(['m3', 'm4', 'm7']);
    expect((await logs('node=logs-b')).items.map((r) => r.message)).toEqual(['m7']);
    expect((await logs('limit=2')).items.map((r) => r.message)).toEqual(['m5', 'm7']);
    expect((await logs('grep=SHUTDOWN')).items.map((r) => r.message)).toEqual(['m4']);
  });

  it('viewers may read; nodes get 403, no token 401, bad parameters 400 naming them', async () => {
    expect((await get(cp.env.apiserver.url, '/logs?limit=1', cp.env.tokens.viewer)).status).toBe(200);
    // A node authenticates with its client certificate.
    const dir = agents[0]!.stateDir;
    const node = await get(cp.env.apiserver.url, '/logs', undefined, {
      cert: readFileSync(join(dir, 'node.crt'), 'utf8'),
      key: readFileSync(join(dir, 'node.key'), 'utf8'),
    });
    expect(node.status).toBe(403);
    expect(JSON.parse(node.body)).toMatchObject({ kind: 'Status', reason: 'Forbidden' });
    expect((await get(cp.env.apiserver.url, '/logs', undefined)).status).toBe(401);
    for (const [query, field] of [
      ['level=loud', 'level'],
      ['limit=0', 'limit'],
      ['limit=10001', 'limit'],
      ['since=yesterday', 'since'],
      ['until=2026-13-99', 'until'],
      ['since=1m&until=1h', 'until'],
      ['follow=maybe', 'follow'],
      ['colour=red', 'colour'],
    ]) {
      const r = await get(cp.env.apiserver.url, `/logs?${query}`, cp.env.tokens.admin);
      expect([query, r.status]).toEqual([query, 400]);
      expect(JSON.parse(r.body)).toMatchObject({ kind: 'Status', reason: 'BadRequest', details: { causes: [{ field }] } });
    }
  });

  it('follow delivers the tail, then lines written after the request, from this host, an agent and the other replica', async () => {
    const received: { type: string; record?: LogRecord; source?: LogSource }[] = [];
    const req = httpsRequest(`${cp.env.apiserver.url}/logs?follow=true&grep=follow-`, {
      ca: cp.env.caCertPem,
      headers: { authorization: `Bearer ${cp.env.tokens.admin}` },
    });
    let contentType = '';
    req.on('response', (res) => {
      contentType = String(res.headers['content-type']);
      let rest = '';
      res.on('data', (c: Buffer) => {
        rest += c.toString();
        const lines = rest.split('\n');
        rest = lines.pop()!;
        for (const l of lines) if (l) received.push(JSON.parse(l));
      });
    });
    req.on('error', () => undefined);
    req.end();
    try {
      await eventually(() => received.some((l) => l.type === 'source'));
      expect(contentType).toBe('application/x-ndjson');
      expect(received.filter((l) => l.type === 'record')).toEqual([]);
      const now = () => new Date().toISOString();
      appendFileSync(join(dirs.cp, 'apiserver.log'), `${JSON.stringify({ time: now(), level: 'info', component: 'apiserver', message: 'follow-cp' })}\n`);
      appendFileSync(
        join(dirs.agentA, 'agent.log'),
        `${JSON.stringify({ time: now(), level: 'info', component: 'agent', node: 'logs-a', message: 'follow-agent' })}\n`,
      );
      appendFileSync(
        join(dirs.replica, 'controller-manager.log'),
        `${JSON.stringify({ time: now(), level: 'info', component: 'controller-manager', message: 'follow-peer' })}\n`,
      );
      await eventually(() =>
        expect(
          received
            .filter((l) => l.type === 'record')
            .map((l) => l.record!.message)
            .sort(),
        ).toEqual(['follow-agent', 'follow-cp', 'follow-peer']),
      );
    } finally {
      req.destroy();
    }
  });

  it('a user may follow at most maxFollowsPerUser streams: 429 with Retry-After beyond, a place again once one closes', async () => {
    const follow = () =>
      new Promise<{ status: number; headers: Record<string, unknown>; body: string; close(): void }>((resolve, reject) => {
        const req = httpsRequest(
          `${cp.env.apiserver.url}/logs?follow=true&limit=1`,
          { ca: cp.env.caCertPem, headers: { authorization: `Bearer ${cp.env.tokens.viewer}` } },
          (res) => {
            let body = '';
            res.on('data', (c: Buffer) => {
              body += c.toString();
              if (res.statusCode === 200) resolve({ status: 200, headers: res.headers, body, close: () => req.destroy() });
            });
            res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body, close: () => req.destroy() }));
          },
        );
        req.on('error', reject);
        req.end();
      });
    const first = await follow();
    const second = await follow();
    expect([first.status, second.status]).toEqual([200, 200]);
    const third = await follow();
    expect(third.status).toBe(429);
    expect(third.headers['retry-after']).toBeDefined();
    expect(JSON.parse(third.body)).toMatchObject({ kind: 'Status', reason: 'TooManyRequests' });
    first.close();
    const again = await eventually(async () => {
      const r = await follow();
      if (r.status !== 200) throw new Error(`status ${r.status}`);
      return r;
    });
    again.close();
    second.close();
  });

  it('qxctl logs as a process: -o csv prints the header and the rows; txt and json carry the same records', async () => {
    const csv = await qxctl(['logs', '--correlation-id', 'chain-1', '-o', 'csv']);
    expect(csv.code).toBe(0);
    const rows = csv.stdout.trimEnd().split('\n');
    expect(rows[0]).toBe('time,level,component,node,correlationId,message');
    expect(rows.slice(1)).toEqual([
      `${at(2)},info,audit,cp-host,chain-1,update virtualmachines default/web → 200`,
      `${at(3)},info,controller-manager,cp2-host,chain-1,m3`,
      `${at(4)},info,agent,logs-a,chain-1,m4`,
      `${at(5)},info,apiserver,cp-host,chain-1,m5`,
    ]);
    const txt = await qxctl(['logs', 'agent', '--level', 'info', '--grep', 'shutdown']);
    expect(txt.stdout.trimEnd()).toBe(`${at(4)} INFO  agent logs-a [chain-1] m4 procedure=DOMAIN_SHUTDOWN`);
    const json = await qxctl(['logs', 'node/logs-b', '-o', 'json']);
    expect(
      json.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).message),
    ).toEqual(['m7']);
    expect(json.stderr).toBe('');
    // vm/NS/NAME: the records of the correlation ids its audit records carry (here the update's: chain-1).
    const vm = await qxctl(['logs', 'vm/default/web', '-o', 'json']);
    expect(vm.code).toBe(0);
    expect(
      vm.stdout
        .trimEnd()
        .split('\n')
        .map((l) => JSON.parse(l).message),
    ).toEqual(['update virtualmachines default/web → 200', 'm3', 'm4', 'm5']);
    const bad = await qxctl(['logs', '--since', 'yesterday']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/since/);
  });

  it('a disconnected agent and a dead replica are listed unreachable; the rest still answers', async () => {
    await agents[0]!.stop();
    agents.shift();
    // The replica's API port dies while its etcd records live on (a crash, until its lease expires).
    await replica.apiserver.stop();
    const list = await eventually(async () => {
      const l = await logs('');
      return sourceOf(l, 'agent', 'logs-a')?.state === 'unreachable' ? l : false;
    });
    expect(sourceOf(list, 'apiserver', replica.url)).toMatchObject({ state: 'unreachable' });
    expect(sourceOf(list, 'apiserver', replica.url)?.message).toMatch(/cannot be reached/);
    // logs-b is connected to the dead replica: nobody answered for it.
    expect(sourceOf(list, 'agent', 'logs-a')?.message).toMatch(/not connected/);
    expect(sourceOf(list, 'agent', 'logs-b')).toMatchObject({ state: 'unreachable' });
    expect(sourceOf(list, 'apiserver', 'cp-host')).toMatchObject({ state: 'ok' });
    expect(list.items.map((r) => r.message)).toContain('m5');
    expect(list.items.map((r) => r.component)).not.toContain('controller-manager');
    // qxctl names them on stderr and succeeds: some sources answered.
    const cli = await qxctl(['logs', '--limit', '5']);
    expect(cli.code).toBe(0);
    expect(cli.stderr).toContain(`qxctl logs: apiserver on ${replica.url} unreachable`);
    expect(cli.stderr).toContain('qxctl logs: agent on logs-a unreachable');
    expect(cli.stdout).toContain(' m5');
  });
});
