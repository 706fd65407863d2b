/**
 * Debian's real Prometheus scrapes `make up` with the shipped manifests/prometheus/prometheus.yml.
 *
 * `make up`'s own script (hack/up.sh: real etcd, apiserver, controller-manager and an agent on
 * the real libvirt, each /metrics over HTTPS with a bearer token) runs with a temp state dir
 * and free ports; the shipped configuration is rendered for them — its `../../.quantix/` paths
 * pointed at the temp state dir, its targets at the free ports, a 2 s scrape interval instead
 * of 15 s — and nothing else changed. A VM with a blank disk runs (TCG; it sits in the
 * firmware, which still takes CPU time). Prometheus gets a temp data dir and a free port on
 * 127.0.0.1. The test waits until every target is up, then asks by PromQL for the VM's CPU
 * time and the controller-manager's reconcile count.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import https from 'node:https';
import { mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kubectl, run } from '../../hack/testenv/apiserver.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName, virsh } from '../../hack/testenv/libvirt.js';
import { keepUpStateLogs } from '../../hack/testenv/test-logs.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SHIPPED = join(ROOT, 'manifests/prometheus/prometheus.yml');
/** make up's defaults, as the shipped file names them. */
const DEFAULT_PORTS = { api: 6443, controllerManager: 10257, agent: 10250 };

const ns = qxTestName('prom');
const node = qxTestName('pnode');
const pool = qxTestName('ppool');
const poolDir = join('/var/lib/libvirt/images', pool);
const vm = 'busy';
const stateDir = mkdtempSync(join(tmpdir(), 'quantix-prometheus-'));
const cleanup = new LibvirtCleanup();

let env: NodeJS.ProcessEnv | undefined;
let prometheus: ChildProcess | undefined;
let promUrl = '';
let metricsPorts: { controllerManager: number; agent: number } | undefined;

/** GET https://127.0.0.1:PORT/metrics verified with the cluster CA, with or without a token. */
function getMetrics(port: number, token?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolvePromise, reject) => {
    const req = https.get(
      `https://127.0.0.1:${port}/metrics`,
      { ca: readFileSync(join(stateDir, 'pki/ca.crt')), headers: token ? { Authorization: `Bearer ${token}` } : {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolvePromise({ status: res.statusCode!, body }));
      },
    );
    req.on('error', reject);
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolvePort) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolvePort(port));
    });
  });
}

/** A scrape target of the shipped file (quoted either way). */
const target = (port: number) => new RegExp(`(?<=["'])127\\.0\\.0\\.1:${port}(?=["'])`, 'g');

/** The shipped configuration with this run's state dir and ports (and a short scrape interval). */
function renderPrometheusConfig(
  shipped: string,
  o: { stateDir: string; api: number; controllerManager: number; agent: number; scrapeInterval: string },
): string {
  return shipped
    .replaceAll('../../.quantix/', `${o.stateDir}/`)
    .replace(target(DEFAULT_PORTS.api), `127.0.0.1:${o.api}`)
    .replace(target(DEFAULT_PORTS.controllerManager), `127.0.0.1:${o.controllerManager}`)
    .replace(target(DEFAULT_PORTS.agent), `127.0.0.1:${o.agent}`)
    .replace(/scrape_interval: 15s/, `scrape_interval: ${o.scrapeInterval}`);
}

interface PromResult {
  metric: Record<string, string>;
  value: [number, string];
}

async function query(promql: string): Promise<PromResult[]> {
  const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
  const body = (await res.json()) as { status: string; data: { result: PromResult[] }; error?: string };
  if (body.status !== 'success') throw new Error(`query ${promql}: ${body.error}`);
  return body.data.result;
}

beforeAll(async () => {
  await ensureLibvirt();
  mkdirSync(poolDir, { recursive: true });
  cleanup.path(poolDir);
  cleanup.pool(pool);
  cleanup.domain(`${ns}_${vm}`);
  const [etcdPort, etcdPeerPort, apiPort, gatewayPort, imagePort, cmPort, agentPort, promPort] = await Promise.all(Array.from({ length: 8 }, freePort));
  env = {
    ...process.env,
    QUANTIX_STATE_DIR: stateDir,
    QUANTIX_ETCD_PORT: String(etcdPort),
    QUANTIX_ETCD_PEER_PORT: String(etcdPeerPort),
    QUANTIX_API_PORT: String(apiPort),
    QUANTIX_GATEWAY_PORT: String(gatewayPort),
    QUANTIX_IMAGE_PORT: String(imagePort),
    QUANTIX_CM_METRICS_PORT: String(cmPort),
    QUANTIX_AGENT_METRICS_PORT: String(agentPort),
    QUANTIX_NODE_NAME: node,
    QUANTIX_ACCELERATION: 'tcg',
    QUANTIX_SKIP_IMAGE: '1',
    KUBECONFIG: join(stateDir, 'kubeconfig'),
  };
  const up = await run('bash', [join(ROOT, 'hack/up.sh')], { env, timeoutMs: 300_000 });
  if (up.code !== 0) throw new Error(`make up failed (${up.code}): ${up.stdout}\n${up.stderr}`);
  // The summary names the endpoints and what Prometheus needs.
  expect(up.stdout).toContain(`https://127.0.0.1:${cmPort}/metrics (controller-manager)`);
  expect(up.stdout).toContain(`https://127.0.0.1:${agentPort}/metrics (agent)`);
  expect(up.stdout).toContain(`bearer token: ${stateDir}/prometheus.token`);
  metricsPorts = { controllerManager: cmPort, agent: agentPort };

  const applied = await kubectl(
    env.KUBECONFIG!,
    ['apply', '-f', '-'],
    `apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: ${pool}
spec:
  type: dir
  dir:
    path: ${poolDir}
  assignedNodes: [${node}]
---
apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${vm}
  namespace: ${ns}
spec:
  runStrategy: Always
  cpu: 1
  memory: 64Mi
  disks:
  - name: root
    storagePool: ${pool}
    size: 16Mi
`,
  );
  if (applied.code !== 0) throw new Error(`kubectl apply failed: ${applied.stderr}`);
  await eventually(async () => (await virsh('domstate', `${ns}_${vm}`)).stdout.trim() === 'running', {
    timeoutMs: 120_000,
    message: `the VM's domain ${ns}_${vm} runs`,
  });

  const work = join(stateDir, 'prometheus-test');
  mkdirSync(join(work, 'data'), { recursive: true });
  const config = renderPrometheusConfig(readFileSync(SHIPPED, 'utf8'), {
    stateDir,
    api: apiPort,
    controllerManager: cmPort,
    agent: agentPort,
    scrapeInterval: '2s',
  });
  writeFileSync(join(work, 'prometheus.yml'), config);
  const log = openSync(join(work, 'prometheus.log'), 'a');
  promUrl = `http://127.0.0.1:${promPort}`;
  prometheus = spawn(
    '/usr/bin/prometheus',
    [`--config.file=${join(work, 'prometheus.yml')}`, `--storage.tsdb.path=${join(work, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`],
    { stdio: ['ignore', log, log] },
  );
  closeSync(log);
}, 420_000);

afterAll(async () => {
  if (prometheus && prometheus.exitCode === null) {
    const exited = new Promise((r) => prometheus!.once('close', r));
    prometheus.kill('SIGTERM');
    await exited;
  }
  if (env) {
    await kubectl(env.KUBECONFIG!, ['delete', 'vm', vm, '-n', ns, '--timeout=90s']).catch(() => undefined);
    await run('bash', [join(ROOT, 'hack/down.sh')], { env });
  }
  await cleanup.run();
  keepUpStateLogs(stateDir, 'prometheus-e2e'); // for the run's secrets check
  rmSync(stateDir, { recursive: true, force: true });
}, 180_000);

describe('Prometheus with manifests/prometheus/prometheus.yml against make up', () => {
  it('renders the shipped file only in paths, ports and interval', () => {
    const shipped = readFileSync(SHIPPED, 'utf8');
    const rendered = readFileSync(join(stateDir, 'prometheus-test/prometheus.yml'), 'utf8');
    expect(rendered).not.toContain('../../.quantix/');
    expect(rendered).toContain(`ca_file: ${stateDir}/pki/ca.crt`);
    expect(rendered).toContain(`credentials_file: ${stateDir}/prometheus.token`);
    for (const port of Object.values(DEFAULT_PORTS)) expect(rendered).not.toMatch(target(port));
    expect(rendered.match(/127\.0\.0\.1:\d+/g)).toHaveLength(3);
    // Line for line the same shape: nothing added or removed.
    expect(rendered.split('\n')).toHaveLength(shipped.split('\n').length);
  });

  it('the controller-manager and the agent refuse a caller without a valid token (401 Status) and serve the Prometheus token', async () => {
    const token = readFileSync(join(stateDir, 'prometheus.token'), 'utf8').trim();
    for (const port of [metricsPorts!.controllerManager, metricsPorts!.agent]) {
      const anonymous = await getMetrics(port);
      expect(anonymous.status).toBe(401);
      expect(JSON.parse(anonymous.body)).toMatchObject({ kind: 'Status', reason: 'Unauthorized', code: 401 });
      expect((await getMetrics(port, 'not-a-token')).status).toBe(401);
      const ok = await getMetrics(port, token);
      expect(ok.status).toBe(200);
      expect(ok.body).toContain('process_cpu_seconds_total');
    }
  });

  it('scrapes the apiserver, the controller-manager and the agent: every target up', async () => {
    const targets = await eventually(
      async () => {
        const res = await fetch(`${promUrl}/api/v1/targets`);
        const body = (await res.json()) as { data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] } };
        const active = body.data.activeTargets;
        if (active.length !== 3 || active.some((t) => t.health !== 'up')) {
          throw new Error(`targets: ${JSON.stringify(active.map((t) => ({ job: t.labels.job, health: t.health, error: t.lastError })))}`);
        }
        return active;
      },
      { timeoutMs: 90_000, intervalMs: 500, message: 'all three targets up' },
    );
    expect(targets.map((t) => t.labels.job).sort()).toEqual(['quantix-agent', 'quantix-apiserver', 'quantix-controller-manager']);
  }, 120_000);

  it('PromQL: the running VM has CPU time (quantix_vmi_cpu_usage_seconds_total), with namespace, name and node', async () => {
    const result = await eventually(
      async () => {
        const r = await query(`quantix_vmi_cpu_usage_seconds_total{namespace="${ns}",name="${vm}"}`);
        if (r.length !== 1 || !(Number(r[0]!.value[1]) > 0)) throw new Error(`result: ${JSON.stringify(r)}`);
        return r;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'per-VM CPU time in Prometheus' },
    );
    expect(result[0]!.metric).toMatchObject({ job: 'quantix-agent', namespace: ns, name: vm, node });
    expect(Number(result[0]!.value[1])).toBeGreaterThan(0);
    // The counter grows while the VM runs.
    const first = Number(result[0]!.value[1]);
    await eventually(
      async () => {
        const r = await query(`quantix_vmi_cpu_usage_seconds_total{namespace="${ns}",name="${vm}"}`);
        if (!(Number(r[0]?.value[1]) > first)) throw new Error(`still ${r[0]?.value[1]}`);
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'per-VM CPU time grows' },
    );
    const memory = await query(`quantix_vmi_memory_actual_balloon_bytes{namespace="${ns}",name="${vm}"}`);
    expect(Number(memory[0]?.value[1])).toBe(64 * 1024 * 1024);
  }, 150_000);

  it("PromQL: the controller-manager's reconcile count, per controller", async () => {
    const result = await eventually(
      async () => {
        const r = await query('sum by (controller) (quantix_controller_reconcile_total{job="quantix-controller-manager"})');
        const vmController = r.find((s) => s.metric.controller === 'vm');
        if (!vmController || !(Number(vmController.value[1]) > 0)) throw new Error(`result: ${JSON.stringify(r)}`);
        return r;
      },
      { timeoutMs: 60_000, intervalMs: 500, message: 'reconcile count in Prometheus' },
    );
    expect(Number(result.find((s) => s.metric.controller === 'vm')!.value[1])).toBeGreaterThan(0);
    const leader = await query('quantix_leader_election_master_status{job="quantix-controller-manager"}');
    expect(leader.map((s) => s.value[1])).toEqual(['1']);
  }, 90_000);
});
