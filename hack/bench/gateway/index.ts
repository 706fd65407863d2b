/**
 * Benchmark of the node gateway with many simulated hosts (issue 16): each host joins with a
 * bootstrap token and then heartbeats and reports its full state, over a connection of its
 * own. Two runs, each on a fresh control plane (etcd, apiserver and gateway in process):
 *
 *   bearer  the way nodes authenticated before node certificates: RegisterNode without a
 *           certificate request, then a bearer credential in every call's metadata;
 *   mtls    RegisterNode with a certificate request (the gateway signs it with the cluster
 *           CA), then mutual TLS: the certificate authenticates every call.
 *
 * Per run: joins per second (with certificate signing in mtls; each host's key and request
 * are made before the clock starts, as each host makes its own), heartbeats per second with
 * every host beating back to back for HEARTBEAT_SECONDS (the per-node heartbeat rate limit
 * raised out of the way: this measures capacity, not the limit), their latency, and the
 * latency of one SyncFullState per host (one host-discovered domain each) with SYNC_IN_FLIGHT
 * at once. The mtls figures are compared with the bearer ones of the same run.
 *
 *   BENCH_NODES (default 1000), BENCH_HEARTBEAT_SECONDS (15), BENCH_SYNC_IN_FLIGHT (32)
 */
import { generateKeyPairSync, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { GatewayClient } from '../../../agent/gateway-client.js';
import { certificateRequest } from '../../../agent/node-certificate.js';
import { setLogLevel } from '../../../lib/logging/logger.js';
import { startTestControlPlane } from '../../testenv/agent.js';
import { percentile, runConcurrently } from '../stats.js';

const NODES = Number(process.env.BENCH_NODES ?? 1000);
const HEARTBEAT_SECONDS = Number(process.env.BENCH_HEARTBEAT_SECONDS ?? 15);
const SYNC_IN_FLIGHT = Number(process.env.BENCH_SYNC_IN_FLIGHT ?? 32);
/** Joins at once: a fleet coming up, without making 1,000 openssl processes at a time. */
const JOIN_IN_FLIGHT = 16;

type Mode = 'bearer' | 'mtls';

const progress = (message: string) => process.stderr.write(`gateway bench: ${message}\n`);
const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

interface RunResult {
  joinsPerSecond: number;
  joinSeconds: number;
  heartbeatsPerSecond: number;
  heartbeatLatencyMs: { p50: number; p99: number };
  heartbeatErrors: number;
  syncFullStateMs: { p50: number; p95: number; p99: number };
}

async function run(mode: Mode): Promise<RunResult> {
  const cp = await startTestControlPlane({
    gateway: {
      // Capacity, not the per-node limit (rate-limit.ts), is measured here; a thousand hosts in one process need more streams.
      nodeRates: { heartbeat: { burst: 1_000_000, perSecond: 1_000_000 }, notification: { burst: 1_000_000, perSecond: 1_000_000 } },
      maxDiscoveredPerNode: 10,
    },
  });
  const keyDir = mkdtempSync(join(tmpdir(), 'quantix-gateway-bench-'));
  const clients: GatewayClient[] = [];
  try {
    // Each host makes its key and certificate request on its own machine: made before the
    // clock starts, so the join rate is the control plane's (signing included).
    const keys: { keyPem: string; csrPem: string }[] = [];
    if (mode === 'mtls') {
      progress(`${mode}: ${NODES} hosts make their keys and certificate requests`);
      await runConcurrently(NODES, 8, async (i) => {
        const keyPem = generateKeyPairSync('ec', { namedCurve: 'prime256v1' }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
        const keyFile = join(keyDir, `gw-${i}.key`);
        writeFileSync(keyFile, keyPem, { mode: 0o600 });
        keys[i] = { keyPem, csrPem: await certificateRequest(keyFile, `gw-${i}`) };
      });
    }
    progress(`${mode}: ${NODES} hosts join`);
    const joinStarted = performance.now();
    await runConcurrently(NODES, JOIN_IN_FLIGHT, async (i) => {
      const hostname = `gw-${i}`;
      const client = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost', ownConnection: true });
      clients[i] = client;
      const { keyPem, csrPem } = keys[i] ?? { keyPem: '', csrPem: '' };
      const res = await client.registerNode({ hostname, machineId: `machine-${i}`, addresses: ['192.0.2.1'], csrPem }, cp.joinToken);
      if (mode === 'mtls') client.presentClientCertificate(keyPem, res.certificatePem);
      else client.setToken(res.credential);
    });
    const joinSeconds = (performance.now() - joinStarted) / 1000;

    progress(`${mode}: every host heartbeats back to back for ${HEARTBEAT_SECONDS} s`);
    // One heartbeat each first: connections (and TLS handshakes) are not part of the rate.
    await runConcurrently(NODES, 64, (i) => clients[i]!.heartbeat({ stateHash: 'warm', hypervisorReady: true }));
    const latencies: number[] = [];
    let errors = 0;
    const until = performance.now() + HEARTBEAT_SECONDS * 1000;
    const beatStarted = performance.now();
    await Promise.all(
      clients.map(async (client) => {
        while (performance.now() < until) {
          const t = performance.now();
          try {
            await client.heartbeat({ stateHash: 'steady', hypervisorReady: true });
            latencies.push(performance.now() - t);
          } catch {
            errors++;
          }
        }
      }),
    );
    const beatSeconds = (performance.now() - beatStarted) / 1000;

    progress(`${mode}: one SyncFullState per host, ${SYNC_IN_FLIGHT} at a time`);
    const syncMs: number[] = [];
    await runConcurrently(NODES, SYNC_IN_FLIGHT, async (i) => {
      const t = performance.now();
      await clients[i]!.syncFullState({
        stateHash: `s-${i}`,
        vms: [
          {
            domainUuid: randomUUID(),
            domainName: `host-vm-${i}`,
            powerState: 'running',
            stateReason: 'booted',
            vcpus: 1,
            memoryBytes: 268_435_456,
            persistent: true,
          },
        ],
        pools: [],
      });
      syncMs.push(performance.now() - t);
    });
    return {
      joinsPerSecond: round(NODES / joinSeconds),
      joinSeconds: round(joinSeconds),
      heartbeatsPerSecond: Math.round(latencies.length / beatSeconds),
      heartbeatLatencyMs: { p50: round(percentile(latencies, 50)), p99: round(percentile(latencies, 99)) },
      heartbeatErrors: errors,
      syncFullStateMs: { p50: round(percentile(syncMs, 50)), p95: round(percentile(syncMs, 95)), p99: round(percentile(syncMs, 99)) },
    };
  } finally {
    for (const c of clients) c?.close();
    await cp.stop();
    rmSync(keyDir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  setLogLevel('warn');
  const bearer = await run('bearer');
  const mtls = await run('mtls');
  const result = {
    benchmark: 'gateway',
    machine: { cpus: cpus().length },
    nodes: NODES,
    heartbeatSeconds: HEARTBEAT_SECONDS,
    syncInFlight: SYNC_IN_FLIGHT,
    baseline: { mode: 'bearer credentials (before node certificates), same run', ...bearer },
    mtls: { mode: 'node certificates, mutual TLS', ...mtls },
    ratios: {
      heartbeatsPerSecond: round(mtls.heartbeatsPerSecond / bearer.heartbeatsPerSecond, 2),
      syncFullStateP50: round(mtls.syncFullStateMs.p50 / bearer.syncFullStateMs.p50, 2),
      syncFullStateP99: round(mtls.syncFullStateMs.p99 / bearer.syncFullStateMs.p99, 2),
      joinsPerSecond: round(mtls.joinsPerSecond / bearer.joinsPerSecond, 2),
    },
  };
  process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`gateway bench failed: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
