/**
 * Benchmark of the UI action log endpoint (issue 17: POST /logs/ui sustains 1,000 entries/s
 * without making API p99 more than 10% worse).
 *
 * One quantix-apiserver (its own process, on a TLS etcd, as `make up`: the shipped audit
 * policy on, --log-dir for ui.log). An open-loop API load (GETs and creates of VMs at a fixed
 * rate, as a UI and controllers make them) runs throughout; its latency is measured in phases
 * alternating without and with the UI load: 20 sessions, one 50-entry batch each per second
 * (1,000 entries/s, each session at half the per-session bound). The baseline is the median
 * of the phases without; the ratio compares the median p99 of the phases with it. ui.log is read
 * back at the end: one record per entry sent.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTokenFile } from '../../../apiserver/auth/token-file.js';
import { ensureServingCertificates } from '../../../apiserver/pki/certificates.js';
import { logFilesOf } from '../../../lib/logging/files.js';
import { startEtcd } from '../../testenv/etcd.js';
import { startApiserverProcess, stopProcess } from '../apiserver-process.js';
import { benchClient, benchVm, expectStatus } from '../https-pool.js';
import { measureCores, percentile, runConcurrently } from '../stats.js';

const API_RATE = Number(process.env.BENCH_API_RATE ?? 200);
const UI_ENTRIES_PER_SECOND = 1000;
const UI_SESSIONS = 20;
const UI_BATCH = 50;
const PHASE_SECONDS = Number(process.env.BENCH_PHASE_SECONDS ?? 8);
/** without, with, without, with, …: three of each by default, so each median is a middle value. */
const PHASES = Number(process.env.BENCH_PHASES ?? 6);
const PRELOADED_VMS = 500;

function uiEntry(session: number, i: number) {
  return {
    time: new Date().toISOString(),
    level: 'info',
    category: 'vm',
    action: i % 2 ? 'stop' : 'start',
    target: `bench/vm-${i % PRELOADED_VMS}`,
    result: i % 3 ? 'success' : 'start',
    durationMs: 12,
    correlationId: `bench-${session}-${i}`,
    route: `/ui/vms/bench/vm-${i % PRELOADED_VMS}`,
  };
}

/** Runs `task` open-loop at `rate`/s for `seconds`; resolves when every call is done. */
async function openLoop(rate: number, seconds: number, task: (i: number) => Promise<unknown>): Promise<void> {
  const total = Math.round(rate * seconds);
  const start = performance.now();
  const pending: Promise<unknown>[] = [];
  for (let i = 0; i < total; i++) {
    const wait = start + (i * 1000) / rate - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    pending.push(task(i));
  }
  await Promise.all(pending);
}

async function main() {
  const logDir = mkdtempSync(join(tmpdir(), 'quantix-bench-ui-log-'));
  const etcd = await startEtcd({ tls: true });
  const server = await startApiserverProcess(etcd, 'quantix-bench-', [
    '--audit-policy-file',
    'manifests/audit/policy.yaml',
    '--audit-log-path',
    join(logDir, 'audit.log'),
    '--log-dir',
    logDir,
  ]);
  const tokens = ensureTokenFile(join(server.dataDir, 'tokens.csv'));
  const ca = ensureServingCertificates(server.dataDir).caCertPem;
  const api = benchClient(server.url, tokens.admin, ca, 32);
  // The UI's posts come from a viewer, as a browser session would.
  const ui = benchClient(server.url, tokens.viewer, ca, 8);
  const result: Record<string, unknown> = { benchmark: 'ui-log', cpus: cpus().length, loadAverage1mAtStart: +loadavg()[0]!.toFixed(2) };
  const pids = {
    apiserver: { pid: server.child.pid!, withChildren: true },
    etcd: { pid: etcd.pid, withChildren: false },
    benchClient: { pid: process.pid, withChildren: false },
  };
  let created = 0;
  let entriesSent = 0;
  let uiRefused = 0;
  try {
    await runConcurrently(PRELOADED_VMS, 32, (i) =>
      expectStatus(api.call('POST', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', benchVm(`vm-${i}`)), 201),
    );
    // The API load: 9 GETs to 1 create, as reads outnumber writes; the latency of each call.
    const apiCall = async (latencies: number[], i: number) => {
      const t0 = performance.now();
      if (i % 10 === 9) await expectStatus(api.call('POST', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', benchVm(`load-${created++}`)), 201);
      else await expectStatus(api.call('GET', `/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines/vm-${i % PRELOADED_VMS}`), 200);
      latencies.push(performance.now() - t0);
    };
    const uiBatch = async (i: number) => {
      const session = i % UI_SESSIONS;
      const entries = Array.from({ length: UI_BATCH }, (_, n) => uiEntry(session, i * UI_BATCH + n));
      const res = await ui.call('POST', '/logs/ui', { sessionId: `bench-session-${session}`, entries });
      if (res.status === 204) entriesSent += UI_BATCH;
      else uiRefused++;
    };
    // Warm-up of both paths.
    await openLoop(API_RATE, 3, (i) => apiCall([], i));
    await openLoop(UI_ENTRIES_PER_SECOND / UI_BATCH, 2, uiBatch);
    const phases: { uiLoad: boolean; p50Ms: number; p99Ms: number; calls: number; uiEntriesPerSecond: number; cores: Record<string, number> }[] = [];
    let apiIndex = 0;
    for (let phase = 0; phase < PHASES; phase++) {
      const withUi = phase % 2 === 1;
      const latencies: number[] = [];
      const sentBefore = entriesSent;
      const t0 = performance.now();
      const { cores } = await measureCores(pids, () =>
        Promise.all([
          openLoop(API_RATE, PHASE_SECONDS, () => apiCall(latencies, apiIndex++)),
          withUi ? openLoop(UI_ENTRIES_PER_SECOND / UI_BATCH, PHASE_SECONDS, uiBatch) : Promise.resolve(),
        ]),
      );
      const seconds = (performance.now() - t0) / 1000;
      phases.push({
        uiLoad: withUi,
        p50Ms: +percentile(latencies, 50).toFixed(1),
        p99Ms: +percentile(latencies, 99).toFixed(1),
        calls: latencies.length,
        uiEntriesPerSecond: Math.round((entriesSent - sentBefore) / seconds),
        cores,
      });
      process.stderr.write(`[bench] ui-log phase ${phase + 1} (${withUi ? 'with' : 'without'} UI load): API p99 ${phases.at(-1)!.p99Ms} ms\n`);
    }
    await stopProcess(server.child); // flushes ui.log
    const records = logFilesOf(logDir, 'ui')
      .flatMap((f) => readFileSync(f, 'utf8').split('\n'))
      .filter(Boolean).length;
    const median = (values: number[]) => percentile(values, 50);
    const without = phases.filter((p) => !p.uiLoad);
    const withUi = phases.filter((p) => p.uiLoad);
    const baselineP99 = median(without.map((p) => p.p99Ms));
    const loadedP99 = median(withUi.map((p) => p.p99Ms));
    const ratio = +(loadedP99 / baselineP99).toFixed(3);
    result.apiRate = API_RATE;
    result.uiLoad = {
      entriesPerSecond: UI_ENTRIES_PER_SECOND,
      sessions: UI_SESSIONS,
      batch: UI_BATCH,
      achievedEntriesPerSecond: median(withUi.map((p) => p.uiEntriesPerSecond)),
    };
    result.apiP99 = {
      withoutUiLoadMs: baselineP99,
      withUiLoadMs: loadedP99,
      ratio,
      target: 'API p99 with 1,000 UI entries/s <= 1.1x without (medians of the phases)',
      met: ratio <= 1.1,
    };
    // What the UI load costs the apiserver, in cores (less sensitive to the machine's other load than latency).
    result.apiserverCores = {
      withoutUiLoad: median(without.map((p) => p.cores.apiserver ?? 0)),
      withUiLoad: median(withUi.map((p) => p.cores.apiserver ?? 0)),
    };
    result.phases = phases;
    result.uiLog = { entriesAccepted: entriesSent, batchesRefused: uiRefused, recordsInUiLog: records };
    result.loadAverage1mAtEnd = +loadavg()[0]!.toFixed(2);
  } finally {
    await api.close();
    await ui.close();
    await stopProcess(server.child);
    await etcd.stop();
    rmSync(server.dataDir, { recursive: true, force: true });
    rmSync(logDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench ui-log failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
