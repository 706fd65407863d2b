/**
 * `make up-ha` end to end: the replicated control plane (hack/up-ha.sh: 3 etcd members with TLS
 * for clients and peers, 2 apiservers behind Debian's haproxy, 2 leader-elected
 * controller-managers, the agent through the balancer) brought up once for the whole suite, on
 * ports and a state dir of its own, then faults in sequence, each killing a whole process group
 * with SIGKILL and restarting it with up-ha.sh (idempotent: it starts only what is not running):
 *   1. the layout: pid files, the etcd cluster, the kubeconfig naming the balancer, one leader;
 *   2. the apiserver replica holding the agent's session killed during a write burst through
 *      the balancer: each request is retried at most once (counted), no acknowledged write is
 *      lost, watches resume from their resourceVersion on the other replica (no relist), the
 *      agent's session moves to the other replica and the node stays Ready;
 *   3. the leading controller-manager killed: the other takes the Lease within its duration;
 *   4. an etcd member killed, then the etcd leader: reads and writes go on, and concurrent
 *      compare-and-swap increments through the API add up to the acknowledged ones.
 * The agent runs the sim hypervisor (the suite is about the control plane; libvirt faults are
 * agent/agent.e2e.test.ts's). Failover times are measured and printed (docs/ha.md quotes them).
 * `bash hack/up-ha.sh` is what `make up-ha` runs after `make deps web`, which `make test` did.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { connect, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Etcd3 } from 'etcd3';
import { watchEvents } from '../lib/apiclient/watch-events.js';
import { kubectl, run } from './testenv/apiserver.js';
import { eventually } from './testenv/eventually.js';
import { keepUpStateLogs } from './testenv/test-logs.js';

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stateDir = mkdtempSync(path.join(existsSync('/dev/shm') ? '/dev/shm' : tmpdir(), 'qxtest-ha-'));
const nodeName = `qxtest-ha-${path.basename(stateDir).slice(-6).toLowerCase()}`;
const namespace = nodeName;
const LEASES = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
/** Figures for the report (printed at the end). */
const measured: Record<string, number | string> = {};

let base = 0;
let apiPort = 0;
let gatewayPort = 0;
let etcd: Etcd3 | undefined;
let api: HaClient;

/**
 * A port block whose every port is free now: the members sit at base + 1 … base + 62. Below
 * the kernel's ephemeral range: a member killed and restarted must find its port again, and an
 * outgoing connection may take any free port in that range meanwhile.
 */
async function freeBlock(): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const srv = createServer();
      srv.once('error', () => resolve(false));
      srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
    });
  const ephemeralLow = Number(readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]);
  const blocks = Math.floor((ephemeralLow - 100 - 10_000) / 100);
  for (let attempt = 0; attempt < 20; attempt++) {
    const candidate = 10_000 + Math.floor(Math.random() * blocks) * 100;
    let ok = true;
    for (let p = candidate; p <= candidate + 62 && ok; p++) ok = await free(p);
    if (ok) return candidate;
  }
  throw new Error(`no free block of 63 ports between 10000 and ${ephemeralLow}`);
}

function haEnv(): NodeJS.ProcessEnv {
  return {
    QUANTIX_STATE_DIR: stateDir,
    QUANTIX_HA_PORT_BASE: String(base),
    QUANTIX_API_PORT: String(apiPort),
    QUANTIX_GATEWAY_PORT: String(gatewayPort),
    QUANTIX_AGENT_DRIVER: 'sim',
    QUANTIX_NODE_NAME: nodeName,
  };
}

async function upHa(): Promise<void> {
  const res = await run('bash', [path.join(repoRoot, 'hack/up-ha.sh')], { env: haEnv(), timeoutMs: 150_000 });
  if (res.code !== 0) throw new Error(`up-ha.sh failed (${res.code}): ${res.stderr}\n${res.stdout}`);
}

const pidFile = (name: string) => path.join(stateDir, 'run', `${name}.pid`);
const pidOf = (name: string) => Number(readFileSync(pidFile(name), 'utf8').trim());
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILL to the component's whole process group (up-ha.sh starts each with setsid); waits until it is gone. */
async function killGroup(name: string): Promise<number> {
  const pid = pidOf(name);
  process.kill(-pid, 'SIGKILL');
  const at = Date.now();
  await eventually(() => !alive(pid), { message: `${name} (pid ${pid}) gone` });
  return at;
}

/** HTTPS to the balancer with the admin token, on kept-alive connections as a real client keeps them. */
class HaClient {
  readonly agent: Agent;
  constructor(
    readonly port: number,
    readonly token: string,
    readonly ca: string,
    keepAlive = true,
  ) {
    this.agent = new Agent({ keepAlive, maxSockets: 8, ca });
  }

  request(method: string, urlPath: string, body?: unknown, freshConnection = false): Promise<{ status: number; body: Record<string, unknown> }> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.port,
          method,
          path: urlPath,
          ...(freshConnection ? { agent: false, ca: this.ca } : { agent: this.agent }),
          servername: 'localhost',
          headers: { authorization: `Bearer ${this.token}`, 'content-type': 'application/json' },
          timeout: 20_000,
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            resolve({ status: res.statusCode ?? 0, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} });
          });
          res.on('error', reject);
        },
      );
      req.on('timeout', () => req.destroy(new Error('request timed out')));
      req.on('error', reject);
      req.end(body === undefined ? undefined : JSON.stringify(body));
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/**
 * One API call as a careful client makes it: once more, on a new connection and after a short
 * back-off, after a connection failure or a 5xx (counted in `retries`). A second failure fails the test: "at
 * most a retried request".
 */
async function withOneRetry<T extends { status: number }>(call: (freshConnection: boolean) => Promise<T>, counter: { retries: number }): Promise<T> {
  let first: string;
  try {
    const res = await call(false);
    if (res.status < 500) return res;
    first = `status ${res.status}`;
  } catch (err) {
    first = (err as Error).message; // a connection that died with its replica
  }
  counter.retries++;
  // After a back-off, as client-go retries: a replica being killed can still complete a TCP
  // handshake (its listening socket outlives its connections for a moment) and then reset it,
  // which a retry fired within the same millisecond would meet.
  await new Promise((r) => setTimeout(r, 200));
  try {
    return await call(true);
  } catch (err) {
    throw new Error(`failed twice: ${first}, then ${(err as Error).message}`);
  }
}

/**
 * A watch on the suite's Leases through the balancer, resumed from the last resourceVersion
 * it saw whenever its stream ends (its replica died): it counts the resumes and the 410s
 * (a 410 would force a relist; none may happen within etcd's history window).
 */
class ResumingWatch {
  readonly added = new Set<string>();
  resumes = 0;
  expired = 0;
  #stopped = false;
  #current: ReturnType<typeof request> | undefined;
  readonly done: Promise<void>;

  constructor(
    readonly client: HaClient,
    public resourceVersion: string,
  ) {
    this.done = this.#loop();
  }

  async #loop(): Promise<void> {
    for (let first = true; !this.#stopped; first = false) {
      if (!first) this.resumes++;
      try {
        await this.#once();
      } catch {
        // The stream broke: resume, after a short back-off as a client does (not to spin while no replica answers).
        if (!this.#stopped) await new Promise((r) => setTimeout(r, 100));
      }
    }
  }

  #once(): Promise<void> {
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: this.client.port,
          path: `${LEASES}?watch=true&allowWatchBookmarks=true&resourceVersion=${this.resourceVersion}`,
          agent: false,
          ca: this.client.ca,
          servername: 'localhost',
          headers: { authorization: `Bearer ${this.client.token}` },
        },
        (res) => {
          void (async () => {
            for await (const event of watchEvents<{ metadata: { name: string; resourceVersion: string } }>(res)) {
              if (event.type === 'ERROR') {
                const status = event.object as unknown as { code?: number };
                if (status.code === 410) this.expired++;
                break;
              }
              this.resourceVersion = event.object.metadata.resourceVersion;
              if (event.type === 'ADDED') this.added.add(event.object.metadata.name);
            }
          })().then(resolve, reject);
        },
      );
      this.#current = req;
      req.on('error', reject);
      req.end();
    });
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    this.#current?.destroy();
    await this.done;
  }
}

const leaseObject = (name: string, transitions = 0) => ({
  apiVersion: 'coordination.k8s.io/v1',
  kind: 'Lease',
  metadata: { name, namespace },
  spec: { holderIdentity: 'up-ha-e2e', leaseDurationSeconds: 15, leaseTransitions: transitions },
});

async function nodeStatus(counter = { retries: 0 }): Promise<{ ready: string; heartbeat: string }> {
  const res = await withOneRetry((fresh) => api.request('GET', `/apis/quantix.io/v1alpha1/nodes/${nodeName}`, undefined, fresh), counter);
  if (res.status !== 200) throw new Error(`GET node: ${res.status}`);
  const status = res.body.status as { conditions?: { type: string; status: string }[]; lastHeartbeatTime?: string } | undefined;
  return { ready: status?.conditions?.find((c) => c.type === 'Ready')?.status ?? '', heartbeat: status?.lastHeartbeatTime ?? '' };
}

async function tunnelUrl(): Promise<string> {
  return (await tunnelRecord()).url;
}

async function tunnelRecord(): Promise<{ url: string; replica: string }> {
  const value = await etcd!.get(`/quantix/tunnels/${nodeName}`).string();
  return value ? (JSON.parse(value) as { url: string; replica: string }) : { url: '', replica: '' };
}

/** The node's liveness Lease (docs/architecture.md, "Heartbeats and node Leases"). */
async function nodeLease(): Promise<{ holder: string; renewTime: string }> {
  const res = await withOneRetry(
    (fresh) => api.request('GET', `/apis/coordination.k8s.io/v1/namespaces/quantix-node-lease/leases/${nodeName}`, undefined, fresh),
    { retries: 0 },
  );
  if (res.status !== 200) throw new Error(`GET node lease: ${res.status}`);
  const spec = res.body.spec as { holderIdentity?: string; renewTime?: string } | undefined;
  return { holder: spec?.holderIdentity ?? '', renewTime: spec?.renewTime ?? '' };
}

const apiserverPort = (i: number) => base + 20 + i;

/** A controller-manager's informer counts, summed over resources, from its /metrics (the viewer's token, as Prometheus scrapes). */
async function informerCounts(i: number): Promise<{ lists: number; reconnects: number }> {
  const token = readFileSync(path.join(stateDir, 'prometheus.token'), 'utf8').trim();
  const text = await new Promise<string>((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: base + 40 + i,
        path: '/metrics',
        agent: false,
        ca: api.ca,
        servername: 'localhost',
        headers: { authorization: `Bearer ${token}` },
      },
      (res) => {
        let body = '';
        res.on('data', (c: Buffer) => {
          body += c.toString('utf8');
        });
        res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`metrics of controller-manager-${i}: ${res.statusCode}`))));
      },
    );
    req.on('error', reject);
    req.end();
  });
  const sum = (name: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith(`${name}{`))
      .reduce((n, l) => n + Number(l.split(' ').pop()), 0);
  return { lists: sum('quantix_informer_lists_total'), reconnects: sum('quantix_informer_watch_reconnects_total') };
}

/** haproxy's view of its servers ("backend/server" → UP, DOWN, …) from its stats socket. */
function haproxyServers(): Promise<Map<string, string>> {
  return new Promise((resolve, reject) => {
    const socket = connect(path.join(stateDir, 'run', 'haproxy.sock'));
    let text = '';
    socket.on('connect', () => socket.write('show stat\n'));
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
    });
    socket.on('error', reject);
    socket.on('end', () => {
      const servers = new Map<string, string>();
      for (const line of text.split('\n')) {
        const [backend, server, ...fields] = line.split(',');
        if (!backend || !server || line.startsWith('#') || server === 'FRONTEND' || server === 'BACKEND') continue;
        servers.set(`${backend}/${server}`, fields[15] ?? '');
      }
      resolve(servers);
    });
  });
}

beforeAll(async () => {
  base = await freeBlock();
  apiPort = base + 61;
  gatewayPort = base + 62;
  await upHa();
  const pki = path.join(stateDir, 'pki');
  const tokens = readFileSync(path.join(stateDir, 'tokens.csv'), 'utf8');
  const admin = tokens
    .split('\n')
    .find((l) => l.split(',')[1] === 'admin')!
    .split(',')[0]!;
  api = new HaClient(apiPort, admin, readFileSync(path.join(pki, 'ca.crt'), 'utf8'));
  etcd = new Etcd3({
    hosts: [1, 2, 3].map((i) => `https://127.0.0.1:${base + i}`),
    credentials: {
      rootCertificate: readFileSync(path.join(pki, 'etcd/ca.crt')),
      certChain: readFileSync(path.join(pki, 'apiserver-etcd-client.crt')),
      privateKey: readFileSync(path.join(pki, 'apiserver-etcd-client.key')),
    },
  });
}, 180_000);

afterAll(async () => {
  api?.close();
  etcd?.close();
  if (base) {
    // Already done by the last test when it ran; otherwise whatever is still up goes now.
    const res = await run('bash', [path.join(repoRoot, 'hack/down.sh')], { env: haEnv() });
    if (res.code !== 0) process.stderr.write(`down.sh: ${res.stderr}\n`);
    keepUpStateLogs(stateDir, 'up-ha'); // for the run's secrets check
  }
  rmSync(stateDir, { recursive: true, force: true });
  process.stdout.write(`up-ha e2e measured: ${JSON.stringify(measured)}\n`);
}, 60_000);

describe('make up-ha', () => {
  it('runs 3 etcd members (TLS peers), 2 apiservers behind haproxy, 2 controller-managers (one leads) and the agent, one pid file each', async () => {
    for (const name of ['etcd-1', 'etcd-2', 'etcd-3', 'apiserver-1', 'apiserver-2', 'haproxy', 'controller-manager-1', 'controller-manager-2', 'agent']) {
      expect(alive(pidOf(name))).toBe(true);
    }
    const members = await etcd!.cluster.memberList({});
    expect(members.members.map((m) => m.name).sort()).toEqual(['etcd-1', 'etcd-2', 'etcd-3']);
    for (const m of members.members) expect(m.peerURLs[0]).toMatch(/^https:\/\/127\.0\.0\.1:/);
    // The admin kubeconfig names the balancer, not a replica.
    const kubeconfig = path.join(stateDir, 'kubeconfig');
    expect(readFileSync(kubeconfig, 'utf8')).toContain(`server: https://127.0.0.1:${apiPort}`);
    const nodes = await kubectl(kubeconfig, ['get', 'nodes.quantix.io', nodeName, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}']);
    expect(nodes.stdout).toBe('True');
    const holder = await eventually(async () => {
      const res = await api.request('GET', '/apis/coordination.k8s.io/v1/namespaces/quantix-system/leases/quantix-controller-manager');
      return ((res.body.spec as { holderIdentity?: string } | undefined)?.holderIdentity ?? '') || false;
    });
    expect(holder).toMatch(/^controller-manager-[12]_/);
    // The agent's session is on one of the replicas (reached through the balancer).
    expect([apiserverPort(1), apiserverPort(2)].map((p) => `https://127.0.0.1:${p}`)).toContain(await tunnelUrl());
    // haproxy sends to both replicas, for the API and for the gateway.
    const stats = await eventually(async () => {
      const up = await haproxyServers();
      return up.size === 4 && [...up.values()].every((s) => s === 'UP') && up;
    });
    expect([...stats.keys()].sort()).toEqual(['apiservers/apiserver-1', 'apiservers/apiserver-2', 'gateways/apiserver-1', 'gateways/apiserver-2']);
  });
});

describe('an apiserver replica killed during a write burst through the balancer', () => {
  it('clients retry a request at most once, lose no write, resume watches without a relist; the agent moves and the node stays Ready', async () => {
    const WRITERS = 4;
    const PER_WRITER = 50;
    const KILL_AFTER = 40;
    // The replica the agent's session is on: its death must move the session.
    const victimUrl = await tunnelUrl();
    const victim = victimUrl.endsWith(`:${apiserverPort(1)}`) ? 1 : 2;
    const survivorUrl = `https://127.0.0.1:${apiserverPort(3 - victim)}`;

    const list = await api.request('GET', LEASES);
    expect(list.status).toBe(200);
    const fromRv = (list.body.metadata as { resourceVersion: string }).resourceVersion;
    const informersBefore = await Promise.all([1, 2].map((i) => eventually(() => informerCounts(i))));
    // Round robin over new connections: the watches land on both replicas.
    const watches = Array.from({ length: 4 }, () => new ResumingWatch(api, fromRv));

    const counter = { retries: 0 };
    const readiness: string[] = [];
    let watching = true;
    const readinessWatch = (async () => {
      while (watching) {
        // A client too: it retries once, on a new connection, a read its dying replica dropped.
        readiness.push((await nodeStatus(counter).catch(() => ({ ready: 'unreachable' }))).ready);
        await new Promise((r) => setTimeout(r, 250));
      }
    })();

    const acked: { name: string; at: number }[] = [];
    let killAt = 0;
    let killed: Promise<number> | undefined;
    try {
      await Promise.all(
        Array.from({ length: WRITERS }, async (_, w) => {
          for (let k = 0; k < PER_WRITER; k++) {
            const name = `burst-${w}-${k}`;
            const res = await withOneRetry((fresh) => api.request('POST', LEASES, leaseObject(name), fresh), counter);
            // 409 only after a retry whose first attempt was committed before its replica died.
            if (res.status !== 201 && res.status !== 409) throw new Error(`create ${name}: ${res.status} ${JSON.stringify(res.body)}`);
            acked.push({ name, at: Date.now() });
            if (acked.length === KILL_AFTER && !killed) {
              killAt = Date.now();
              killed = killGroup(`apiserver-${victim}`);
            }
          }
        }),
      );
      await killed;
      expect(killAt).toBeGreaterThan(0);

      // No acknowledged write is lost.
      const after = await api.request('GET', LEASES);
      const names = new Set((after.body.items as { metadata: { name: string } }[]).map((l) => l.metadata.name));
      for (const { name } of acked) expect(names.has(name)).toBe(true);
      expect(acked).toHaveLength(WRITERS * PER_WRITER);

      // The agent's session moved to the survivor, and it heartbeats through it.
      await eventually(async () => (await tunnelUrl()) === survivorUrl, { timeoutMs: 30_000, message: 'agent session on the surviving replica' });
      measured.agentSessionMoveMs = Date.now() - killAt;
      // Its heartbeats reach the survivor, which took the node's Lease (status is written only on change).
      const survivor = `gateway/${(await tunnelRecord()).replica}`;
      await eventually(
        async () => {
          const lease = await nodeLease();
          return lease.holder === survivor && Date.parse(lease.renewTime) > killAt;
        },
        { timeoutMs: 30_000, message: 'a heartbeat after the kill: the node Lease held by the surviving replica' },
      );

      // Every watch saw every create, none was told to relist, and the ones on the dead replica resumed.
      await eventually(() => watches.every((w) => acked.every(({ name }) => w.added.has(name))), { timeoutMs: 30_000, message: 'watches saw every create' });
      expect(watches.map((w) => w.expired)).toEqual([0, 0, 0, 0]);
      expect(watches.some((w) => w.resumes > 0)).toBe(true);
      // The controller-managers' informers (both run them; only the leader's controllers act)
      // resumed their watches through the balancer too, and none listed again.
      const informersAfter = await eventually(
        async () => {
          const now = await Promise.all([1, 2].map((i) => informerCounts(i)));
          return now.some((c, i) => c.reconnects > informersBefore[i]!.reconnects) && now;
        },
        { timeoutMs: 30_000, message: 'an informer watch resumed' },
      );
      expect(informersAfter.map((c) => c.lists)).toEqual(informersBefore.map((c) => c.lists));
      measured.informerWatchResumes = informersAfter.reduce((n, c, i) => n + c.reconnects - informersBefore[i]!.reconnects, 0);
    } finally {
      watching = false;
      await readinessWatch;
      await Promise.all(watches.map((w) => w.stop()));
    }
    expect(readiness.length).toBeGreaterThan(0);
    expect(readiness.filter((r) => r !== 'True')).toEqual([]);

    // The API's failover: the longest pause between acknowledged writes around the kill.
    const times = acked.map((a) => a.at).sort((a, b) => a - b);
    let gap = 0;
    for (let i = 1; i < times.length; i++) if (times[i]! >= killAt && times[i - 1]! <= killAt + 5_000) gap = Math.max(gap, times[i]! - times[i - 1]!);
    measured.apiWriteGapAroundKillMs = gap;
    measured.retriedRequests = counter.retries;
    measured.watchResumes = watches.reduce((n, w) => n + w.resumes, 0);

    // Back to two replicas: up-ha.sh starts the one that is missing.
    await upHa();
    expect(alive(pidOf(`apiserver-${victim}`))).toBe(true);
    await eventually(async () => [...(await haproxyServers()).values()].every((s) => s === 'UP'), {
      timeoutMs: 30_000,
      message: 'haproxy sees both replicas UP',
    });
  }, 150_000);
});

type LeaseObject = {
  metadata: { resourceVersion: string };
  spec: { holderIdentity?: string; leaseTransitions?: number; renewTime?: string; acquireTime?: string };
};
const CM_LEASE = '/apis/coordination.k8s.io/v1/namespaces/quantix-system/leases/quantix-controller-manager';

describe('the leading controller-manager killed', () => {
  it('the standby takes the Lease within its duration; the restarted one stands by', async () => {
    const before = (await api.request('GET', CM_LEASE)).body as unknown as LeaseObject;
    const leader = before.spec.holderIdentity!.startsWith('controller-manager-1_') ? 1 : 2;
    const standby = 3 - leader;
    const killAt = await killGroup(`controller-manager-${leader}`);
    const after = await eventually(
      async () => {
        const lease = (await api.request('GET', CM_LEASE)).body as unknown as LeaseObject;
        return lease.spec.holderIdentity?.startsWith(`controller-manager-${standby}_`) ? lease : false;
      },
      // The lease duration (15 s) from the last renewal it saw, plus one retry period (2 s) and
      // slack for a loaded machine (the figure is measured and reported, not asserted).
      { timeoutMs: 30_000, intervalMs: 100, message: `controller-manager-${standby} leads` },
    );
    measured.controllerTakeoverAfterKillMs = Date.now() - killAt;
    expect(after.spec.leaseTransitions).toBe((before.spec.leaseTransitions ?? 0) + 1);

    await upHa();
    expect(alive(pidOf(`controller-manager-${leader}`))).toBe(true);
    const lease = (await api.request('GET', CM_LEASE)).body as unknown as LeaseObject;
    expect(lease.spec.holderIdentity).toBe(after.spec.holderIdentity);
  }, 90_000);
});

/** etcd's view of its members: which one leads (etcdctl endpoint status over the cluster). */
async function etcdLeader(): Promise<number> {
  const pki = path.join(stateDir, 'pki');
  const res = await run(
    'etcdctl',
    [
      '--endpoints',
      [1, 2, 3].map((i) => `https://127.0.0.1:${base + i}`).join(','),
      '--cacert',
      path.join(pki, 'etcd/ca.crt'),
      '--cert',
      path.join(pki, 'apiserver-etcd-client.crt'),
      '--key',
      path.join(pki, 'apiserver-etcd-client.key'),
      '--command-timeout',
      '3s',
      'endpoint',
      'status',
      '-w',
      'json',
    ],
    { env: { ETCDCTL_API: '3' } },
  );
  const statuses = JSON.parse(res.stdout || '[]') as { Endpoint: string; Status: { header: { member_id: number }; leader: number } }[];
  const leader = statuses.find((s) => s.Status.header.member_id === s.Status.leader);
  if (!leader) throw new Error(`no etcd leader: ${res.stderr}`);
  return Number(leader.Endpoint.split(':').pop()) - base;
}

describe('an etcd member killed, then the etcd leader', () => {
  it('reads and writes go on; concurrent compare-and-swap increments add up to the acknowledged ones', async () => {
    const COUNTERS = ['counter-0', 'counter-1', 'counter-2'];
    for (const name of COUNTERS) expect((await api.request('POST', LEASES, leaseObject(name))).status).toBe(201);
    const acked = new Map(COUNTERS.map((c) => [c, 0]));
    /** Writes whose outcome the client cannot know (no answer): they may or may not have been applied. */
    const unknown = new Map(COUNTERS.map((c) => [c, 0]));
    const ackTimes: number[] = [];
    let writing = true;
    let conflicts = 0;
    // The writers pause while up-ha.sh restarts a member: on two shared cores they would slow
    // the restart, and the point is what they see while a member is down.
    let resume: Promise<void> | undefined;
    const restart = async () => {
      let open!: () => void;
      resume = new Promise((r) => (open = r));
      try {
        await upHa();
      } finally {
        open();
        resume = undefined;
      }
    };
    const writer = async (w: number) => {
      for (let k = 0; writing; k++) {
        if (resume) await resume;
        const name = COUNTERS[(w + k) % COUNTERS.length]!;
        const got = await api.request('GET', `${LEASES}/${name}`).catch(() => undefined);
        if (got?.status !== 200) {
          // No answer: try again shortly, as a client does (not to spin).
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        const lease = got.body as unknown as LeaseObject;
        const next = {
          ...leaseObject(name, (lease.spec.leaseTransitions ?? 0) + 1),
          metadata: { name, namespace, resourceVersion: lease.metadata.resourceVersion },
        };
        const put = await api.request('PUT', `${LEASES}/${name}`, next).catch(() => undefined);
        if (put?.status === 200) {
          acked.set(name, acked.get(name)! + 1);
          ackTimes.push(Date.now());
        } else if (put?.status === 409) conflicts++;
        else unknown.set(name, unknown.get(name)! + 1);
      }
    };
    const writers = Array.from({ length: 4 }, (_, w) => writer(w));
    const total = () => [...acked.values()].reduce((a, b) => a + b, 0);
    const progress = async (more: number) => {
      const target = total() + more;
      await eventually(() => total() >= target, { timeoutMs: 30_000, message: `${more} more acknowledged increments` });
    };
    const gapAfter = (at: number) => {
      const times = ackTimes.filter((t) => t >= at - 5_000).sort((a, b) => a - b);
      let gap = 0;
      for (let i = 1; i < times.length; i++) if (times[i]! >= at) gap = Math.max(gap, times[i]! - times[i - 1]!);
      return gap;
    };

    try {
      await progress(10);
      // A follower first.
      const leader = await etcdLeader();
      const follower = leader === 1 ? 2 : 1;
      const followerKilledAt = await killGroup(`etcd-${follower}`);
      await progress(20);
      measured.etcdFollowerKillWriteGapMs = gapAfter(followerKilledAt);
      await restart();
      await progress(10);
      // Then the leader (the restarted member is back in the quorum).
      const leaderNow = await etcdLeader();
      const leaderKilledAt = await killGroup(`etcd-${leaderNow}`);
      await progress(20);
      measured.etcdLeaderKillWriteGapMs = gapAfter(leaderKilledAt);
      const newLeader = await eventually(() => etcdLeader(), { timeoutMs: 15_000 });
      expect(newLeader).not.toBe(leaderNow);
      await restart();
      await progress(10);
    } finally {
      writing = false;
      await Promise.all(writers);
    }

    // No acknowledged increment is lost, and none appears that no writer made.
    for (const name of COUNTERS) {
      const lease = (await api.request('GET', `${LEASES}/${name}`)).body as unknown as LeaseObject;
      const value = lease.spec.leaseTransitions ?? 0;
      expect(value).toBeGreaterThanOrEqual(acked.get(name)!);
      expect(value).toBeLessThanOrEqual(acked.get(name)! + unknown.get(name)!);
    }
    measured.casAcknowledged = total();
    measured.casConflicts = conflicts;
    measured.casUnknownOutcome = [...unknown.values()].reduce((a, b) => a + b, 0);
    // The three members are a healthy cluster again.
    const members = await etcd!.cluster.memberList({});
    expect(members.members).toHaveLength(3);
    for (let i = 1; i <= 3; i++) expect(alive(pidOf(`etcd-${i}`))).toBe(true);
  }, 150_000);
});

describe('make down', () => {
  it('stops every process of the HA layout and removes their pid files', async () => {
    const names = ['etcd-1', 'etcd-2', 'etcd-3', 'apiserver-1', 'apiserver-2', 'haproxy', 'controller-manager-1', 'controller-manager-2', 'agent'];
    const pids = names.map(pidOf);
    const res = await run('bash', [path.join(repoRoot, 'hack/down.sh')], { env: haEnv() });
    expect(res.code).toBe(0);
    expect(res.stdout.trim()).toBe(`Stopped: agent controller-manager-1 controller-manager-2 haproxy apiserver-1 apiserver-2 etcd-1 etcd-2 etcd-3`);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    for (const name of names) expect(existsSync(pidFile(name))).toBe(false);
  }, 60_000);
});
