/**
 * The logs query over 1,000,000 lines: time to its first page (issue 17: under 1 s).
 *
 * A temp log directory is filled the way `make up`'s is after a busy while: BENCH_LOGS_LINES
 * lines (default 1,000,000) over the apiserver (40 %), controller-manager (30 %) and audit
 * (30 %, audit.k8s.io Events) bases, each rotated into files of BENCH_LOGS_LINES_PER_FILE
 * lines (default 100,000), written in time order over the last few hours. 1 % of the lines
 * are errors, 5 % warnings; every 20 lines share a correlation id.
 *
 * Each query is timed twice in one run: through lib/logging/query.ts directly, and through
 * the real apiserver route (etcd, apiserver and node gateway in this process; GET /logs over
 * HTTPS with the admin token, the whole JSON answer read and parsed). Next to them, in the
 * same run, the baselines: reading the same bytes (every file, whole), and reading and
 * splitting them into lines. Queries:
 *   newest      no filter, limit 1000: the page is in the last chunk of each base;
 *   errors      level=error, limit 1000: about 100,000 lines read back;
 *   since       since=10m: the newest records, bounded by time;
 *   old-action  the correlation id of an action near the start: every file read (fewer
 *               matches than a page: the query cannot stop early);
 *   rare-text   grep for a text in 10 lines of the million: every file read.
 * Target (`pass`): the first page of the page-filling queries (newest, errors, since) under
 * 1000 ms through the API. The whole-directory scans (old-action, rare-text) read every byte
 * by definition; they are reported next to the plain read of the same bytes (`vsPlainRead`).
 */
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { request as httpsRequest } from 'node:https';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CORRELATION_ID_ANNOTATION } from '../../../api-types/correlation.js';
import { setLogLevel } from '../../../lib/logging/logger.js';
import { type LogFilter, queryLogDir } from '../../../lib/logging/query.js';
import { logFilesOf } from '../../../lib/logging/files.js';
import { startTestControlPlane } from '../../testenv/agent.js';

const LINES = Number(process.env.BENCH_LOGS_LINES ?? 1_000_000);
const PER_FILE = Number(process.env.BENCH_LOGS_LINES_PER_FILE ?? 100_000);
const TARGET_MS = 1000;
const STEP_MS = 10;

interface Query {
  name: string;
  filter: LogFilter;
  params: string;
  limit: number;
}

function log(message: string): void {
  process.stderr.write(`[bench logs] ${message}\n`);
}

/** Writes the directory; returns a correlation id near the start and the rare text. */
function generate(dir: string, now: number): { oldId: string; rareText: string; bytes: number } {
  const bases = [
    { base: 'apiserver', share: 0.4 },
    { base: 'controller-manager', share: 0.3 },
    { base: 'audit', share: 0.3 },
  ];
  const start = now - LINES * STEP_MS;
  const rareText = 'needle-in-the-logs';
  let bytes = 0;
  let oldId = '';
  let written = 0;
  for (const { base, share } of bases) {
    const count = Math.round(LINES * share);
    const files = Math.ceil(count / PER_FILE);
    for (let f = 0; f < files; f++) {
      // Oldest in the highest number, as rotation leaves them.
      const path = join(dir, f === files - 1 ? `${base}.log` : `${base}.log.${files - 1 - f}`);
      const fd = openSync(path, 'w');
      let chunk = '';
      const first = f * PER_FILE;
      const last = Math.min(count, first + PER_FILE);
      for (let i = first; i < last; i++) {
        // Interleave the bases in time: each base's line i sits at its own place on the clock.
        const t = new Date(start + Math.floor((i / count) * LINES) * STEP_MS).toISOString();
        const n = written + i;
        const cid = `c-${base}-${Math.floor(i / 20)}`;
        if (base === 'apiserver' && i === 40) oldId = cid;
        const level = n % 100 === 0 ? 'error' : n % 20 === 0 ? 'warn' : 'info';
        let line: string;
        if (base === 'audit') {
          line = JSON.stringify({
            kind: 'Event',
            apiVersion: 'audit.k8s.io/v1',
            level: 'Metadata',
            auditID: `a-${n}`,
            stage: 'ResponseComplete',
            requestURI: `/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/vm-${i % 500}`,
            verb: i % 3 === 0 ? 'update' : 'get',
            user: { username: 'admin', groups: ['quantix:admins'] },
            sourceIPs: ['127.0.0.1'],
            objectRef: { resource: 'virtualmachines', namespace: 'default', name: `vm-${i % 500}`, apiGroup: 'quantix.io', apiVersion: 'v1alpha1' },
            responseStatus: { code: level === 'error' ? 500 : 200 },
            requestReceivedTimestamp: t,
            stageTimestamp: t,
            annotations: { [CORRELATION_ID_ANNOTATION]: cid },
          });
        } else {
          line = JSON.stringify({
            time: t,
            level,
            component: base,
            node: 'bench-host',
            message: base === 'apiserver' ? 'request' : 'reconcile',
            correlationId: cid,
            ...(base === 'apiserver'
              ? { verb: 'GET', path: `/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/vm-${i % 500}`, code: 200, durationMs: i % 17 }
              : { controller: 'virtualmachine', key: `default/vm-${i % 500}`, durationMs: i % 23, result: 'ok' }),
            ...(base === 'controller-manager' && i % Math.floor(count / 10) === 7 ? { note: rareText } : {}),
          });
        }
        chunk += `${line}\n`;
        if (chunk.length > 1 << 20) {
          bytes += writeSync(fd, chunk);
          chunk = '';
        }
      }
      bytes += writeSync(fd, chunk);
      closeSync(fd);
    }
    written += count;
  }
  return { oldId, rareText, bytes };
}

function time<T>(fn: () => T): { ms: number; value: T } {
  const t0 = performance.now();
  const value = fn();
  return { ms: Math.round((performance.now() - t0) * 10) / 10, value };
}

async function timeAsync<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t0 = performance.now();
  const value = await fn();
  return { ms: Math.round((performance.now() - t0) * 10) / 10, value };
}

function httpGet(url: string, caPem: string, token: string): Promise<{ ms: number; status: number; items: number; sources: number }> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca: caPem, headers: { authorization: `Bearer ${token}` } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { items?: unknown[]; sources?: unknown[] };
        resolve({
          ms: Math.round((performance.now() - t0) * 10) / 10,
          status: res.statusCode ?? 0,
          items: body.items?.length ?? 0,
          sources: body.sources?.length ?? 0,
        });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const dir = mkdtempSync(join(tmpdir(), 'qx-bench-logs-'));
  try {
    const now = Date.now();
    log(`writing ${LINES} lines to ${dir}`);
    const gen = time(() => generate(dir, now));
    log(`written: ${gen.value.bytes} bytes in ${gen.ms} ms`);
    const files = ['apiserver', 'controller-manager', 'audit'].flatMap((b) => logFilesOf(dir, b));

    // Baselines over the same bytes (the second read is warm in the page cache, like the queries).
    readFileSync(files[0]!);
    const plainRead = time(() => files.reduce((sum, f) => sum + readFileSync(f).length, 0));
    const readAndSplit = time(() => files.reduce((sum, f) => sum + readFileSync(f, 'utf8').split('\n').length - 1, 0));

    const queries: Query[] = [
      { name: 'newest', filter: {}, params: '', limit: 1000 },
      { name: 'errors', filter: { level: 'error' }, params: 'level=error', limit: 1000 },
      { name: 'since', filter: { sinceMs: now - 10 * 60_000 }, params: 'since=10m', limit: 1000 },
      { name: 'old-action', filter: { correlationId: gen.value.oldId }, params: `correlationId=${gen.value.oldId}`, limit: 1000 },
      { name: 'rare-text', filter: { grep: gen.value.rareText }, params: `grep=${gen.value.rareText}`, limit: 1000 },
    ];

    const cp = await startTestControlPlane({ logs: { dir, nodeName: 'bench-host' } });
    const results: Record<string, unknown>[] = [];
    try {
      for (const q of queries) {
        const lib = await timeAsync(() => queryLogDir(dir, q.filter, q.limit, { node: 'bench-host', excludeBases: ['agent'] }));
        const http = await httpGet(`${cp.env.apiserver.url}/logs?${q.params}&limit=${q.limit}`, cp.env.caCertPem, cp.env.tokens.admin);
        if (http.status !== 200) throw new Error(`GET /logs?${q.params}: ${http.status}`);
        if (http.items !== lib.value.records.length)
          throw new Error(`${q.name}: the API returned ${http.items} records, the library ${lib.value.records.length}`);
        const scansAll = q.name === 'old-action' || q.name === 'rare-text';
        results.push({
          query: q.name,
          params: q.params,
          records: http.items,
          libMs: lib.ms,
          apiMs: http.ms,
          ...(scansAll ? { vsPlainRead: Math.round((http.ms / plainRead.ms) * 100) / 100 } : { underTarget: http.ms < TARGET_MS }),
        });
        log(`${q.name}: ${http.items} records, lib ${lib.ms} ms, API ${http.ms} ms`);
      }
    } finally {
      await cp.stop();
    }
    const firstPages = results.filter((r) => r.underTarget !== undefined);
    const worstApiMs = Math.max(...firstPages.map((r) => r.apiMs as number));
    process.stdout.write(
      `${JSON.stringify({
        lines: LINES,
        files: files.length,
        bytes: gen.value.bytes,
        cpus: cpus().length,
        loadavg: loadavg().map((l) => Math.round(l * 100) / 100),
        baseline: { plainReadMs: plainRead.ms, readAndSplitLinesMs: readAndSplit.ms, lines: readAndSplit.value },
        queries: results,
        targetMs: TARGET_MS,
        worstFirstPageApiMs: worstApiMs,
        pass: worstApiMs < TARGET_MS,
      })}\n`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench logs] failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
