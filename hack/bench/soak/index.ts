/**
 * Soak (`tsx hack/bench/run.ts soak`): a steady write load on the real apiserver process and a
 * real TLS etcd for a long time, to see that neither etcd's database nor the apiserver's
 * memory grows with time once the apiserver compacts etcd's history
 * (apiserver/storage/etcd-maintenance.ts).
 *
 * Load: BENCH_SOAK_VMS VMs (default 1,000) created first, then status updates (merge patches
 * of /status, as the agents' reports) round-robin at BENCH_SOAK_RATE writes/s (default 200)
 * for BENCH_SOAK_SECONDS (default 600), with one HTTP watch of every VM consuming the
 * events (as a controller's informer). The apiserver compacts every
 * BENCH_SOAK_COMPACTION_INTERVAL (default 60s, so many times in a run).
 *
 * Every BENCH_SOAK_SAMPLE_SECONDS (default 30) it samples etcd's db size (Maintenance Status:
 * dbSize, the file; dbSizeInUse, the pages holding data) and the RSS of the apiserver and
 * etcd. It prints the start and end figures, the samples, and per series a slope over the
 * last half of the run (least squares, bytes per minute) with a verdict: flat when the
 * growth that slope makes over the last half stays within 10% of the series' mean there
 * (or 4 MiB), else "growing".
 */
import { readdirSync, readFileSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Pool, type Dispatcher } from 'undici';
import { ensureTokenFile } from '../../../apiserver/auth/token-file.js';
import { createKvClient } from '../../../apiserver/etcd-client/etcd-kv.js';
import { ensureServingCertificates } from '../../../apiserver/pki/certificates.js';
import { startEtcd } from '../../testenv/etcd.js';
import { startApiserverProcess, stopProcess } from '../apiserver-process.js';
import { runConcurrently } from '../stats.js';

const VMS = Number(process.env.BENCH_SOAK_VMS ?? 1000);
const RATE = Number(process.env.BENCH_SOAK_RATE ?? 200);
const SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 600);
const SAMPLE_SECONDS = Number(process.env.BENCH_SOAK_SAMPLE_SECONDS ?? 30);
const COMPACTION_INTERVAL = process.env.BENCH_SOAK_COMPACTION_INTERVAL ?? '60s';
const IN_FLIGHT = 64;
const NAMESPACE = 'soak';
const PATH = `/apis/quantix.io/v1alpha1/namespaces/${NAMESPACE}/virtualmachines`;

interface Sample {
  t: number;
  dbSize: number;
  dbSizeInUse: number;
  apiserverRss: number;
  etcdRss: number;
  writes: number;
}

const log = (message: string) => process.stderr.write(`[soak] ${message}\n`);

/** VmRSS of a process in bytes (0 when gone). */
function rss(pid: number): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}

/**
 * The apiserver's own node process under its launcher (`tsx` is a node process that starts
 * the apiserver's node, which runs an esbuild service): the largest `node` in the tree.
 */
function apiserverProcess(pid: number): number {
  const tree: number[] = [];
  const stack = [pid];
  while (stack.length > 0) {
    const current = stack.pop()!;
    tree.push(current);
    try {
      for (const task of readdirSync(`/proc/${current}/task`)) {
        const text = readFileSync(`/proc/${current}/task/${task}/children`, 'utf8').trim();
        if (text) stack.push(...text.split(' ').map(Number));
      }
    } catch {
      // gone
    }
  }
  const comm = (p: number) => {
    try {
      return readFileSync(`/proc/${p}/comm`, 'utf8').trim();
    } catch {
      return '';
    }
  };
  const nodes = tree.filter((p) => comm(p) === 'node');
  return nodes.sort((a, b) => rss(b) - rss(a))[0] ?? pid;
}

/** Least-squares slope of `values` against `minutes`. */
function slope(minutes: number[], values: number[]): number {
  const n = minutes.length;
  if (n < 2) return 0;
  const mx = minutes.reduce((a, b) => a + b, 0) / n;
  const my = values.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (minutes[i]! - mx) * (values[i]! - my);
    den += (minutes[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

const MiB = 1024 * 1024;

function trend(samples: Sample[], field: keyof Omit<Sample, 't' | 'writes'>) {
  const half = samples.filter((s) => s.t >= samples[samples.length - 1]!.t / 2);
  const minutes = half.map((s) => s.t / 60);
  const values = half.map((s) => s[field]);
  const bytesPerMinute = slope(minutes, values);
  const span = minutes.length > 1 ? minutes[minutes.length - 1]! - minutes[0]! : 0;
  const mean = values.reduce((a, b) => a + b, 0) / Math.max(1, values.length);
  const growth = bytesPerMinute * span;
  const allowance = Math.max(0.1 * mean, 4 * MiB);
  return {
    start: samples[0]![field],
    end: samples[samples.length - 1]![field],
    slopeBytesPerMinuteLastHalf: Math.round(bytesPerMinute),
    growthOverLastHalfMiB: +(growth / MiB).toFixed(2),
    verdict: growth <= allowance ? 'flat' : 'growing',
  };
}

async function main(): Promise<void> {
  // etcd as `make up` runs it (hack/up.sh): its default quota, and etcd 3.6's snapshot count.
  const etcd = await startEtcd({ tls: true, extraArgs: [`--quota-backend-bytes=${2 * 1024 * MiB}`, '--snapshot-count=10000'] });
  const server = await startApiserverProcess(etcd, 'quantix-soak-', ['--etcd-compaction-interval', COMPACTION_INTERVAL]);
  const tokens = ensureTokenFile(join(server.dataDir, 'tokens.csv'));
  const ca = ensureServingCertificates(server.dataDir).caCertPem;
  const pool = new Pool(server.url, { connections: IN_FLIGHT, pipelining: 1, connect: { ca } });
  const call = async (method: Dispatcher.HttpMethod, path: string, body: unknown, contentType = 'application/json') => {
    const res = await pool.request({
      method,
      path,
      headers: { authorization: `Bearer ${tokens.admin}`, 'content-type': contentType, accept: 'application/json' },
      body: JSON.stringify(body),
    });
    const text = await res.body.text();
    if (res.statusCode >= 300) throw new Error(`${method} ${path}: HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
  };
  const kv = createKvClient(etcd.endpoints, { tls: etcd.kvTls() });
  const watchAgent = new Agent({ keepAlive: true, ca });
  const result: Record<string, unknown> = {
    vms: VMS,
    targetWritesPerSecond: RATE,
    seconds: SECONDS,
    sampleSeconds: SAMPLE_SECONDS,
    compactionInterval: COMPACTION_INTERVAL,
    cpus: cpus().length,
    loadAverage1mAtStart: +loadavg()[0]!.toFixed(2),
  };
  try {
    log(`creating ${VMS} VMs`);
    await runConcurrently(VMS, IN_FLIGHT, (i) =>
      call('POST', PATH, {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: `vm-${i}`, namespace: NAMESPACE },
        spec: { cpu: 1, memory: '256Mi', disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }] },
      }),
    );

    // One watch of every VM, consuming the events (as an informer would).
    let watchEvents = 0;
    const watch = request(`${server.url}${PATH}?watch=true`, { agent: watchAgent, headers: { authorization: `Bearer ${tokens.admin}` } }, (res) => {
      res.setEncoding('utf8').on('data', (chunk: string) => {
        for (let i = chunk.indexOf('\n'); i >= 0; i = chunk.indexOf('\n', i + 1)) watchEvents++;
      });
    });
    watch.on('error', () => undefined);
    watch.end();

    const apiserverPid = apiserverProcess(server.child.pid!);
    const samples: Sample[] = [];
    let writes = 0;
    let failures = 0;
    let skipped = 0;
    let inFlight = 0;
    const started = performance.now();
    const sample = async () => {
      const status = await kv.status();
      samples.push({
        t: Math.round((performance.now() - started) / 1000),
        dbSize: Number(status.dbSize),
        dbSizeInUse: Number(status.dbSizeInUse),
        apiserverRss: rss(apiserverPid),
        etcdRss: rss(etcd.pid),
        writes,
      });
      const s = samples[samples.length - 1]!;
      log(
        `t=${s.t}s writes=${writes} dbSize=${(s.dbSize / MiB).toFixed(1)}MiB inUse=${(s.dbSizeInUse / MiB).toFixed(1)}MiB ` +
          `apiserverRss=${(s.apiserverRss / MiB).toFixed(0)}MiB etcdRss=${(s.etcdRss / MiB).toFixed(0)}MiB`,
      );
    };
    await sample();

    // Steady rate: every 50 ms, the writes due by now (at most IN_FLIGHT at once; the rest are counted as skipped).
    let issued = 0;
    let next = 0;
    const write = (i: number) => {
      inFlight++;
      const seen = new Date(Date.now()).toISOString().replace(/\.\d{3}Z$/, 'Z');
      void call('PATCH', `${PATH}/vm-${i % VMS}/status`, { status: { lastSeen: seen, restartCount: Math.floor(i / VMS) } }, 'application/merge-patch+json')
        .then(
          () => void writes++,
          (err: unknown) => {
            if (failures++ < 5) log(`write failed: ${err instanceof Error ? err.message : String(err)}`);
          },
        )
        .finally(() => void inFlight--);
    };
    let nextSample = SAMPLE_SECONDS;
    while ((performance.now() - started) / 1000 < SECONDS) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      const elapsed = (performance.now() - started) / 1000;
      const due = Math.floor(elapsed * RATE);
      while (issued < due) {
        issued++;
        if (inFlight >= IN_FLIGHT) skipped++;
        else write(next++);
      }
      if (elapsed >= nextSample) {
        nextSample += SAMPLE_SECONDS;
        await sample();
      }
    }
    while (inFlight > 0) await new Promise((resolve) => setTimeout(resolve, 20));
    await sample();
    watch.destroy();

    const key = await kv.range({ key: Buffer.from('/registry/compact_rev_key') });
    const claims = Number(key.kvs[0]?.version ?? 0);
    const seconds = samples[samples.length - 1]!.t;
    Object.assign(result, {
      writes,
      writesPerSecond: +(writes / seconds).toFixed(1),
      failedWrites: failures,
      skippedWrites: skipped,
      watchEvents,
      // Every claim but the first compacts (to the revision the previous claim recorded).
      compactions: Math.max(0, claims - 1),
      lastCompactionRecordedRevision: key.kvs[0] ? Number(key.kvs[0].value.toString()) : undefined,
      etcdRevisionAtEnd: Number(key.header.revision),
      dbSize: trend(samples, 'dbSize'),
      dbSizeInUse: trend(samples, 'dbSizeInUse'),
      apiserverRss: trend(samples, 'apiserverRss'),
      etcdRss: trend(samples, 'etcdRss'),
      samples,
    });
  } finally {
    watchAgent.destroy();
    kv.close();
    await pool.close();
    await stopProcess(server.child);
    await etcd.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().catch((err: unknown) => {
  process.stderr.write(`soak failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
