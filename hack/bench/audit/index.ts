/**
 * Benchmark of the audit log's cost (issue 17: creates/s with the audit log at Metadata level
 * ≥ 0.9× the same with the audit log off, in the same run).
 *
 * Two quantix-apiserver processes, each on its own TLS etcd (as `make up` runs them), the same
 * in all but the audit log: one with manifests/audit/policy.yaml (Metadata for every write)
 * writing to a temp audit.log, one without. Each is warmed up, then they are measured in
 * interleaved rounds (which goes first alternates, so neither always follows the other's GC
 * debt), 64 creates in flight; the ratio is the median of the rounds'. The audit log is read
 * back at the end: two Events (RequestReceived, ResponseComplete) per create.
 */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureTokenFile } from '../../../apiserver/auth/token-file.js';
import { ensureServingCertificates } from '../../../apiserver/pki/certificates.js';
import { logFilesOf } from '../../../lib/logging/files.js';
import { startEtcd } from '../../testenv/etcd.js';
import { startApiserverProcess, stopProcess } from '../apiserver-process.js';
import { benchClient, benchVm, expectStatus, type BenchClient } from '../https-pool.js';
import { measureCores, percentile, runConcurrently } from '../stats.js';

const IN_FLIGHT = 64;
const CREATES = Number(process.env.BENCH_CREATES ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WARM_UP = 1000;

async function main() {
  const logDir = mkdtempSync(join(tmpdir(), 'quantix-bench-audit-'));
  const auditLog = join(logDir, 'audit.log');
  const kinds = ['audit', 'off'] as const;
  const started: { etcd: Awaited<ReturnType<typeof startEtcd>>; server: Awaited<ReturnType<typeof startApiserverProcess>>; client: BenchClient }[] = [];
  const result: Record<string, unknown> = { benchmark: 'audit', inFlight: IN_FLIGHT, cpus: cpus().length, loadAverage1mAtStart: +loadavg()[0]!.toFixed(2) };
  try {
    for (const kind of kinds) {
      const etcd = await startEtcd({ tls: true });
      const args = kind === 'audit' ? ['--audit-policy-file', 'manifests/audit/policy.yaml', '--audit-log-path', auditLog] : [];
      const server = await startApiserverProcess(etcd, 'quantix-bench-', args);
      const tokens = ensureTokenFile(join(server.dataDir, 'tokens.csv'));
      const ca = ensureServingCertificates(server.dataDir).caCertPem;
      started.push({ etcd, server, client: benchClient(server.url, tokens.admin, ca, IN_FLIGHT) });
    }
    const create = (client: BenchClient) => (name: string) =>
      expectStatus(client.call('POST', '/apis/quantix.io/v1alpha1/namespaces/bench/virtualmachines', benchVm(name)), 201);
    for (const { client } of started) await runConcurrently(WARM_UP, IN_FLIGHT, (i) => create(client)(`warm-${i}`));
    const rounds: { audit: number; off: number; auditCores: Record<string, number>; offCores: Record<string, number> }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
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
      const order = round % 2 === 0 ? [0, 1] : [1, 0];
      const out: { rate: number; cores: Record<string, number> }[] = [];
      for (const i of order) out[i] = await one(i);
      rounds.push({ audit: out[0]!.rate, off: out[1]!.rate, auditCores: out[0]!.cores, offCores: out[1]!.cores });
      process.stderr.write(`[bench] audit round ${round + 1}: audit ${Math.round(out[0]!.rate)}/s, off ${Math.round(out[1]!.rate)}/s\n`);
    }
    // Stop the audited apiserver first: its audit log is flushed on exit.
    await stopProcess(started[0]!.server.child);
    const files = logFilesOf(logDir, 'audit');
    const lines = files.flatMap((f) => readFileSync(f, 'utf8').split('\n')).filter(Boolean);
    const creates = lines.map((l) => JSON.parse(l) as { verb: string; stage: string; level: string }).filter((e) => e.verb === 'create');
    const completed = creates.filter((e) => e.stage === 'ResponseComplete').length;
    const median = (values: number[]) => percentile(values, 50);
    const ratio = +median(rounds.map((r) => r.audit / r.off)).toFixed(3);
    result.creates = {
      auditMetadataPerSecond: Math.round(median(rounds.map((r) => r.audit))),
      auditOffPerSecond: Math.round(median(rounds.map((r) => r.off))),
      auditToOffRatio: ratio,
      target: 'audit at Metadata >= 0.9x audit off (median of the rounds)',
      // CPU the apiserver spends per create (its cores / creates per second): less sensitive to
      // what else the machine runs than the rates are.
      apiserverCpuMsPerCreate: {
        audit: +median(rounds.map((r) => ((r.auditCores.apiserver ?? 0) / r.audit) * 1000)).toFixed(3),
        off: +median(rounds.map((r) => ((r.offCores.apiserver ?? 0) / r.off) * 1000)).toFixed(3),
      },
      met: ratio >= 0.9,
      rounds: rounds.map((r) => ({
        audit: Math.round(r.audit),
        off: Math.round(r.off),
        ratio: +(r.audit / r.off).toFixed(3),
        auditCores: r.auditCores,
        offCores: r.offCores,
      })),
    };
    result.auditLog = {
      policy: 'manifests/audit/policy.yaml',
      files: files.length,
      bytes: files.reduce((sum, f) => sum + statSync(f).size, 0),
      createEvents: creates.length,
      // One ResponseComplete per create (the shipped policy omits RequestReceived).
      createsCompleted: completed,
      expectedCreatesCompleted: WARM_UP + ROUNDS * CREATES,
      levels: [...new Set(creates.map((e) => e.level))],
      stages: [...new Set(creates.map((e) => e.stage))],
    };
    result.loadAverage1mAtEnd = +loadavg()[0]!.toFixed(2);
  } finally {
    for (const { client, server, etcd } of started) {
      await client.close();
      await stopProcess(server.child);
      await etcd.stop();
      rmSync(server.dataDir, { recursive: true, force: true });
    }
    rmSync(logDir, { recursive: true, force: true });
  }
  process.stdout.write(JSON.stringify(result, null, 2) + '\n');
}

main().catch((err: unknown) => {
  process.stderr.write(`bench audit failed: ${err instanceof Error ? err.stack : String(err)}\n`);
  process.exit(1);
});
