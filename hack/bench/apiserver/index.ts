/**
 * Benchmark of quantix-apiserver over HTTPS, with same-run baselines:
 * - creates/s and gets/s with 64 requests in flight, next to the storage layer (EtcdStore,
 *   in process) and the raw etcd3 client doing the same etcd operations at the same
 *   concurrency; creates in three interleaved rounds after a warm-up of each;
 * - watch fan-out: 1,000 concurrent HTTP watch streams, put-to-delivery p50/p99 at
 *   500 writes/s (each stream watches one node's VMs, as agents and per-node views do),
 *   and a broadcast case where every stream receives every event at a lower rate; each
 *   measured after a warm-up at the same rate, whose figures are reported apart;
 * - list of 10,000 VMs as JSON and as Table.
 * The apiserver runs as its own process (as in production) on a TLS etcd with client
 * certificates (as `make up`); the load comes from this one (an undici pool for requests,
 * node:https for the watch streams).
 *
 * BENCH_APISERVER_MODE=etcd-clients measures instead the apiserver's HTTPS creates/s with
 * the lean etcd client against etcd3's, in one run: two apiservers, each on its own TLS etcd,
 * warmed up, then measured in interleaved rounds; the ratio is the median of the rounds'.
 */
import { rmSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { Agent, request } from 'node:https';
import { Pool, type Dispatcher } from 'undici';
import { join } from 'node:path';
import { Etcd3 } from 'etcd3';
import { ensureTokenFile } from '../../../apiserver/auth/token-file.js';
import { ensureServingCertificates } from '../../../apiserver/pki/certificates.js';
import { EtcdStore } from '../../../apiserver/storage/etcd-store.js';
import { startEtcd } from '../../testenv/etcd.js';
import { startApiserverProcess, stopProcess } from '../apiserver-process.js';
import { measureCores, percentile, runConcurrently, type MeasuredProcess } from '../stats.js';

const IN_FLIGHT = 64;
const CREATES = Number(process.env.BENCH_CREATES ?? 3000);
/** Measured create rounds (interleaved HTTPS / storage layer / raw etcd3). */
const ROUNDS = 3;
/** Creates before measuring, for each of the three. */
const WARM_UP = 1000;
const GETS = Number(process.env.BENCH_GETS ?? 6000);
const WATCHERS = Number(process.env.BENCH_WATCHERS ?? 1000);
const WRITE_RATE = 500;
const WRITE_SECONDS = Number(process.env.BENCH_WRITE_SECONDS ?? 10);
/** Writes at the same rate before each watch measurement, reported apart as `warmUp`. */
const WATCH_WARM_UP_SECONDS = 4;
const LIST_SIZE = 10_000;

interface Client {
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

/**
 * The load generator's HTTPS client: an undici pool of keep-alive connections. It costs
 * about half the CPU per request of node:https, and the load generator shares this
 * machine's two cores with the apiserver and etcd.
 */
function httpClient(base: string, token: string, ca: string, connections: number): Client {
  const pool = new Pool(base, { connections, pipelining: 1, connect: { ca } });
  return {
    async call(method, path, body, headers = {}) {
      const res = await pool.request({
        method: method as Dispatcher.HttpMethod,
        path,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'application/json', ...lowerCaseKeys(headers) },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      return { status: res.statusCode, text: await res.body.text() };
    },
    close: () => pool.close(),
  };
}

function lowerCaseKeys(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).map(([key, value]) => [key.toLowerCase(), value]));
}

function vm(name: string, labels: Record<string, string> = {}, namespace = 'bench') {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace, labels },
    spec: { cpu: 1, memory: '256Mi', disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }] },
  };
}

async function expectStatus(promise: Promise<{ status: number; text: string }>, status: number) {
  const result = await promise;
  if (result.status !== status) throw new Error(`expected HTTP ${status}, got ${result.status}: ${result.text.slice(0, 300)}`);
  return result;
}

async function main() {
  if (process.env.BENCH_APISERVER_MODE === 'etcd-clients') return compareEtcdClients();
  const etcd = await startEtcd({ tls: true });
  // Every watcher is the admin: room for all of them under the per-user cap.
  const server = await startApiserverProcess(etcd, 'quantix-bench-', ['--max-watches-per-user', String(WATCHERS + 100)]);
  const tokens = ensureTokenFile(join(server.dataDir, 'tokens.csv'));
  const ca = ensureServingCertificates(server.dataDir).caCertPem;
  const client = httpClient(server.url, tokens.admin, ca, IN_FLIGHT);
  const etcdClient = new Etcd3(etcd.etcd3Options());
  const result: Record<string, unknown> = { benchmark: 'apiserver', inFlight: IN_FLIGHT, cpus: cpus().length, loadAverage1mAtStart: +loadavg()[0]!.toFixed(2) };
  // CPU per process tree during the HTTP phases: the three share this machine's cores.
  const pids: Record<string, MeasuredProcess> = {
    apiserver: { pid: server.child.pid!, withChildren: true },
    etcd: { pid: etcd.pid, withChildren: false },
    benchClient: { pid: process.pid, withChildren: false },
  };
  try {
    // The same etcd operation three ways: over HTTPS, through the storage layer in this
    // process (create-if-absent txn) and with the raw etcd3 client (a create-if-absent txn
    // of a serialized object). Each is warmed up first (connections, TLS sessions, JIT),
    // then measured in ROUNDS interleaved rounds, so a change in the machine's load during
    // the run falls on all three alike; the ratio is the median of the rounds' ratios.
    const store = new EtcdStore(etcdClient, { group: 'bench.quantix.io', resource: 'virtualmachines', namespaced: true });
    const createHttp = (name: string) => expectStatus(client.call('POST', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', vm(name)), 201);
    const createStore = (name: string) => store.create(vm(name) as never);
    const createRaw = async (name: string) => {
      const key = `/registry/raw.quantix.io/virtualmachines/bench/${name}`;
      const value = JSON.stringify({ ...vm(name), metadata: { ...vm(name).metadata, uid: crypto.randomUUID(), creationTimestamp: new Date().toISOString() } });
      await etcdClient.if(key, 'Create', '==', 0).then(etcdClient.put(key).value(value)).commit();
    };
    await runConcurrently(WARM_UP, IN_FLIGHT, (i) => createHttp(`warm-${i}`));
    await runConcurrently(WARM_UP, IN_FLIGHT, (i) => createStore(`warm-${i}`));
    await runConcurrently(WARM_UP, IN_FLIGHT, (i) => createRaw(`warm-${i}`));
    const rounds: { http: number; store: number; raw: number; httpCores: Record<string, number> }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      const first = round * CREATES;
      const rate = async (create: (name: string) => Promise<unknown>) => {
        const t0 = performance.now();
        await runConcurrently(CREATES, IN_FLIGHT, (i) => create(`vm-${first + i}`));
        return CREATES / ((performance.now() - t0) / 1000);
      };
      let http = 0;
      const { cores } = await measureCores(pids, async () => {
        http = await rate(createHttp);
      });
      rounds.push({ http, store: await rate(createStore), raw: await rate(createRaw), httpCores: cores });
    }
    const median = (values: number[]) => percentile(values, 50);
    const httpCreates = median(rounds.map((r) => r.http));
    const storeCreates = median(rounds.map((r) => r.store));
    const rawCreates = median(rounds.map((r) => r.raw));
    const httpCreateCores = rounds[Math.floor(rounds.length / 2)]!.httpCores;

    // Gets.
    let started = performance.now();
    await runConcurrently(GETS, IN_FLIGHT, (i) =>
      expectStatus(client.call('GET', `/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines/vm-${i % CREATES}`), 200),
    );
    const httpGets = GETS / ((performance.now() - started) / 1000);
    started = performance.now();
    await runConcurrently(GETS, IN_FLIGHT, (i) => store.get('bench', `vm-${i % CREATES}`));
    const storeGets = GETS / ((performance.now() - started) / 1000);
    started = performance.now();
    await runConcurrently(GETS, IN_FLIGHT, (i) => etcdClient.get(`/registry/raw.quantix.io/virtualmachines/bench/vm-${i % CREATES}`).string());
    const rawGets = GETS / ((performance.now() - started) / 1000);

    result.creates = {
      httpPerSecond: Math.round(httpCreates),
      storageLayerPerSecond: Math.round(storeCreates),
      rawEtcd3PerSecond: Math.round(rawCreates),
      httpToRawRatio: +median(rounds.map((r) => r.http / r.raw)).toFixed(2),
      httpCpuCores: httpCreateCores,
      rounds: rounds.map((r) => ({
        http: Math.round(r.http),
        storageLayer: Math.round(r.store),
        rawEtcd3: Math.round(r.raw),
        httpToRaw: +(r.http / r.raw).toFixed(2),
      })),
      target: 'http >= 0.5x raw etcd3 (median of the rounds)',
    };
    result.gets = {
      httpPerSecond: Math.round(httpGets),
      storageLayerPerSecond: Math.round(storeGets),
      rawEtcd3PerSecond: Math.round(rawGets),
      httpToRawRatio: +(httpGets / rawGets).toFixed(2),
    };

    // List of 10,000 VMs (JSON and Table).
    const fill = LIST_SIZE - WARM_UP - ROUNDS * CREATES; // the namespace holds those already
    if (fill < 0) throw new Error(`BENCH_CREATES too large: the list phase needs at most ${LIST_SIZE} VMs in the namespace`);
    await runConcurrently(fill, IN_FLIGHT, (i) =>
      expectStatus(client.call('POST', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', vm(`fill-${i}`)), 201),
    );
    const listTimes = async (accept: string) => {
      const times: number[] = [];
      for (let i = 0; i < 5; i++) {
        const t0 = performance.now();
        const res = await expectStatus(client.call('GET', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', undefined, { Accept: accept }), 200);
        times.push(performance.now() - t0);
        if (i === 0) {
          const parsed = JSON.parse(res.text) as { items?: unknown[]; rows?: unknown[] };
          const count = (parsed.items ?? parsed.rows ?? []).length;
          if (count !== LIST_SIZE) throw new Error(`list returned ${count} objects, expected ${LIST_SIZE}`);
        }
      }
      return { p50Ms: +percentile(times, 50).toFixed(1), maxMs: +Math.max(...times).toFixed(1) };
    };
    result.list10k = {
      json: await listTimes('application/json'),
      table: await listTimes('application/json;as=Table;v=v1;g=meta.k8s.io'),
    };

    // Watch fan-out.
    result.watch = {
      perNode: await watchFanOut(
        server.url,
        tokens.admin,
        ca,
        client,
        { watchers: WATCHERS, rate: WRITE_RATE, seconds: WRITE_SECONDS, broadcast: false },
        pids,
      ),
      broadcast: await watchFanOut(server.url, tokens.admin, ca, client, { watchers: WATCHERS, rate: 20, seconds: WRITE_SECONDS, broadcast: true }, pids),
      target: '1,000 streams, p99 < 100 ms at 500 writes/s',
    };
  } finally {
    await client.close();
    etcdClient.close();
    await stopProcess(server.child);
    await etcd.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

/** Creates/s over HTTPS with the lean etcd client and with etcd3, both on TLS etcd, in one run. */
async function compareEtcdClients() {
  const rounds = Number(process.env.BENCH_ROUNDS ?? 5);
  const result: Record<string, unknown> = {
    benchmark: 'apiserver',
    mode: 'etcd-clients',
    inFlight: IN_FLIGHT,
    cpus: cpus().length,
    loadAverage1mAtStart: +loadavg()[0]!.toFixed(2),
  };
  const kinds = ['lean', 'etcd3'] as const;
  const started: { etcd: Awaited<ReturnType<typeof startEtcd>>; server: Awaited<ReturnType<typeof startApiserverProcess>>; client: Client }[] = [];
  try {
    for (const kind of kinds) {
      const etcd = await startEtcd({ tls: true });
      const server = await startApiserverProcess(etcd, 'quantix-bench-', ['--etcd-kv-client', kind]);
      const tokens = ensureTokenFile(join(server.dataDir, 'tokens.csv'));
      const ca = ensureServingCertificates(server.dataDir).caCertPem;
      started.push({ etcd, server, client: httpClient(server.url, tokens.admin, ca, IN_FLIGHT) });
    }
    const create = (client: Client) => (name: string) =>
      expectStatus(client.call('POST', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', vm(name)), 201);
    for (const { client } of started) await runConcurrently(WARM_UP, IN_FLIGHT, (i) => create(client)(`warm-${i}`));
    const measured: { lean: number; etcd3: number; leanCores: Record<string, number>; etcd3Cores: Record<string, number> }[] = [];
    for (let round = 0; round < rounds; round++) {
      const first = round * CREATES;
      const one = async (i: number) => {
        const { server, etcd, client } = started[i]!;
        const pids = {
          apiserver: { pid: server.child.pid!, withChildren: true },
          etcd: { pid: etcd.pid, withChildren: false },
          benchClient: { pid: process.pid, withChildren: false },
        };
        const t0 = performance.now();
        const { cores } = await measureCores(pids, () => runConcurrently(CREATES, IN_FLIGHT, (n) => create(client)(`vm-${first + n}`)));
        return { rate: CREATES / ((performance.now() - t0) / 1000), cores };
      };
      // Alternate which goes first, so neither always follows the other's GC debt.
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      const out: { rate: number; cores: Record<string, number> }[] = [];
      for (const i of order) out[i] = await one(i);
      measured.push({ lean: out[0]!.rate, etcd3: out[1]!.rate, leanCores: out[0]!.cores, etcd3Cores: out[1]!.cores });
      process.stderr.write(`[bench] etcd-clients round ${round + 1}: lean ${Math.round(out[0]!.rate)}/s, etcd3 ${Math.round(out[1]!.rate)}/s\n`);
    }
    const median = (values: number[]) => percentile(values, 50);
    result.httpsCreates = {
      leanPerSecond: Math.round(median(measured.map((r) => r.lean))),
      etcd3PerSecond: Math.round(median(measured.map((r) => r.etcd3))),
      leanToEtcd3Ratio: +median(measured.map((r) => r.lean / r.etcd3)).toFixed(2),
      rounds: measured.map((r) => ({
        lean: Math.round(r.lean),
        etcd3: Math.round(r.etcd3),
        leanToEtcd3: +(r.lean / r.etcd3).toFixed(2),
        leanCores: r.leanCores,
        etcd3Cores: r.etcd3Cores,
      })),
      decisionRule: 'keep the lean client only if lean >= 1.3x etcd3',
    };
    result.loadAverage1mAtEnd = +loadavg()[0]!.toFixed(2);
  } finally {
    for (const { client, server, etcd } of started) {
      await client.close();
      await stopProcess(server.child);
      await etcd.stop();
      rmSync(server.dataDir, { recursive: true, force: true });
    }
  }
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

/**
 * Opens `watchers` HTTP watch streams, then writes at `rate`/s for a warm-up and then for
 * `seconds`, timing each write from the moment it is sent to the moment each interested
 * stream receives it; the warm-up's figures are returned apart.
 * perNode: watcher i watches VMs labelled node=n<i> (one writer target each, like an agent).
 * broadcast: every watcher watches every VM.
 */
async function watchFanOut(
  base: string,
  token: string,
  ca: string,
  writer: Client,
  { watchers, rate, seconds, broadcast }: { watchers: number; rate: number; seconds: number; broadcast: boolean },
  pids: Record<string, MeasuredProcess>,
) {
  const namespace = broadcast ? 'fanout-all' : 'fanout-node';
  const targets = broadcast ? 10 : watchers;
  for (let i = 0; i < targets; i++) {
    await expectStatus(
      writer.call('POST', `/apis/quantix.io/v1alpha1/namespaces/${namespace}/virtualmachines`, vm(`w-${i}`, { node: `n${i}` }, namespace)),
      201,
    );
  }
  const listed = JSON.parse((await writer.call('GET', `/apis/quantix.io/v1alpha1/namespaces/${namespace}/virtualmachines`)).text) as {
    metadata: { resourceVersion: string };
  };
  // Each write's marker → when it was sent, and the phase whose latencies it counts in.
  const sent = new Map<string, { at: number; latencies: number[] }>();
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, ca });
  const url = new URL(base);
  const streams: { destroy(): void }[] = [];
  let connected = 0;
  await new Promise<void>((resolve, reject) => {
    for (let i = 0; i < watchers; i++) {
      const selector = broadcast ? '' : `&labelSelector=${encodeURIComponent(`node=n${i}`)}`;
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: `/apis/quantix.io/v1alpha1/namespaces/${namespace}/virtualmachines?watch=true&resourceVersion=${listed.metadata.resourceVersion}${selector}`,
          agent,
          headers: { Authorization: `Bearer ${token}` },
        },
        (res) => {
          connected++;
          if (connected === watchers) resolve();
          let buffer = '';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let newline: number;
            while ((newline = buffer.indexOf('\n')) >= 0) {
              const line = buffer.slice(0, newline);
              buffer = buffer.slice(newline + 1);
              const now = performance.now();
              const marker = /"bench-seq":"([^"]+)"/.exec(line)?.[1];
              const write = marker ? sent.get(marker) : undefined;
              if (write) write.latencies.push(now - write.at);
            }
          });
        },
      );
      req.on('error', reject);
      req.end();
      streams.push(req);
    }
  });
  let seq = 0;
  /** Writes open-loop at `rate` for `phaseSeconds`, then waits for every delivery (30 s at most). */
  const writePhase = async (phaseSeconds: number) => {
    const latencies: number[] = [];
    const total = Math.round(rate * phaseSeconds);
    const expected = total * (broadcast ? watchers : 1);
    const interval = 1000 / rate;
    const start = performance.now();
    const pending: Promise<unknown>[] = [];
    const { cores } = await measureCores(pids, async () => {
      for (let i = 0; i < total; i++) {
        const due = start + i * interval;
        const wait = due - performance.now();
        if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
        const target = seq % targets;
        const marker = `${seq++}`;
        sent.set(marker, { at: performance.now(), latencies });
        pending.push(
          expectStatus(
            writer.call(
              'PATCH',
              `/apis/quantix.io/v1alpha1/namespaces/${namespace}/virtualmachines/w-${target}`,
              { metadata: { annotations: { 'bench-seq': marker } } },
              {
                'Content-Type': 'application/merge-patch+json',
              },
            ),
            200,
          ),
        );
      }
      await Promise.all(pending);
    });
    const achievedRate = total / ((performance.now() - start) / 1000);
    const deadline = performance.now() + 30_000;
    while (latencies.length < expected && performance.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    return {
      writesPerSecond: Math.round(achievedRate),
      cpuCoresWhileWriting: cores,
      deliveries: latencies.length,
      expectedDeliveries: expected,
      p50Ms: +percentile(latencies, 50).toFixed(1),
      p99Ms: +percentile(latencies, 99).toFixed(1),
      maxMs: +latencies.reduce((max, value) => Math.max(max, value), Number.NEGATIVE_INFINITY).toFixed(1), // no spread: 200,000 broadcast deliveries
    };
  };
  // The same load first, unmeasured, as the creates are warmed up: the PATCH and delivery
  // paths run here for the first time in this process, and V8 is still compiling them.
  const warmUp = await writePhase(WATCH_WARM_UP_SECONDS);
  const measured = await writePhase(seconds);
  for (const stream of streams) stream.destroy();
  agent.destroy();
  return { watchers, ...measured, warmUp: { seconds: WATCH_WARM_UP_SECONDS, ...warmUp } };
}

main().catch((err: unknown) => {
  process.stderr.write(`bench apiserver failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
