#!/usr/bin/env node
/**
 * quantix-controller-manager: the scheduler, vm, storagepool and node-lifecycle
 * controllers. Several replicas may run; with --leader-elect one leads (a Lease in
 * --lease-namespace) and the others wait with warm caches.
 *
 * Exit codes: 0 after SIGTERM/SIGINT (lease released), 1 when leadership is lost (the
 * supervisor restarts it as a fresh candidate, as with kube-controller-manager), 2 on bad flags.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { applyLogFlags, LOG_FLAG_OPTIONS, logFlagsHelp } from '../lib/logging/flags.js';
import { createLogger } from '../lib/logging/logger.js';
import type { KubeConfig } from '@kubernetes/client-node';
import { DelegatedAuthorizer } from '../lib/metrics/delegated-auth.js';
import { parseMetricsListen, startMetricsServer, type RunningMetricsServer } from '../lib/metrics/server.js';
import { ControllerManagerMetrics } from './runtime/metrics.js';
import { CONTROLLER_NAMES, defaultIdentity, startControllerManager, type ControllerName } from './setup.js';

const HELP = `quantix-controller-manager: controllers for Quantix (scheduler, vm, storagepool, image, network, nodelifecycle, hostjoin)

  --kubeconfig PATH            kubeconfig of the Quantix API (required; or $KUBECONFIG)
  --leader-elect               elect one leader among replicas through a Lease
  --lease-namespace NS         namespace of the Lease (default quantix-system)
  --lease-name NAME            name of the Lease (default quantix-controller-manager)
  --lease-duration D           default 15s
  --renew-deadline D           default 10s
  --retry-period D             default 2s
  --identity ID                this replica's identity (default <hostname>_<pid>_<random>)
  --controllers LIST           comma-separated subset of ${CONTROLLER_NAMES.join(',')} (default all)
  --node-grace-period D        heartbeat grace before a node is Unknown (default 40s)
  --cpu-overcommit N           vCPUs per host core for scheduling (default 4)
  --memory-overcommit N        guest bytes per host byte for scheduling (default 1)
  --kube-api-qps N, --kube-api-burst N
                               client-side rate limit of the shared client (default 50, 100)
  --scheduler-api-qps N, --scheduler-api-burst N
                               the scheduler's own client (default 500, 1000)
  --host-join-server URL       apiserver URL a host added with \`qxctl node add\` is told to join
                               (default: the server of --kubeconfig)
  --host-join-token-ttl D      TTL of the single-use bootstrap token handed to it (default 15m)
  --metrics-listen HOST:PORT   serve Prometheus metrics at https://HOST:PORT/metrics (default: off);
                               callers need a bearer token the apiserver allows to get /metrics
                               (admins, viewers), checked by the apiserver (see controllers/README.md)
  --metrics-tls-cert-file FILE, --metrics-tls-key-file FILE
                               the serving certificate and key of --metrics-listen (required with it;
                               \`make up\` issues one from the cluster CA)
${logFlagsHelp(31)}
`;

/** The apiserver URL and CA of a kubeconfig: where a metrics caller's token is checked. */
function apiserverOf(kc: KubeConfig): { server: string; caPem: string } {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('--kubeconfig: no current cluster');
  const caPem = cluster.caData ? Buffer.from(cluster.caData, 'base64').toString('utf8') : cluster.caFile ? readFileSync(cluster.caFile, 'utf8') : '';
  if (!caPem) throw new Error('--metrics-listen: the kubeconfig names no CA of the apiserver (certificate-authority[-data])');
  return { server: cluster.server, caPem };
}

function duration(flag: string, value: string | undefined, fallbackMs: number): number {
  if (value === undefined) return fallbackMs;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value);
  if (!m) throw new Error(`${flag}: invalid duration "${value}" (e.g. 40s, 500ms, 2m)`);
  const n = Number(m[1]);
  return m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
}

function positive(flag: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`${flag}: must be a positive number, got "${value}"`);
  return n;
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      kubeconfig: { type: 'string' },
      'leader-elect': { type: 'boolean', default: false },
      'lease-namespace': { type: 'string', default: 'quantix-system' },
      'lease-name': { type: 'string', default: 'quantix-controller-manager' },
      'lease-duration': { type: 'string' },
      'renew-deadline': { type: 'string' },
      'retry-period': { type: 'string' },
      identity: { type: 'string' },
      controllers: { type: 'string' },
      'node-grace-period': { type: 'string' },
      'cpu-overcommit': { type: 'string' },
      'memory-overcommit': { type: 'string' },
      'kube-api-qps': { type: 'string' },
      'kube-api-burst': { type: 'string' },
      'scheduler-api-qps': { type: 'string' },
      'scheduler-api-burst': { type: 'string' },
      'host-join-server': { type: 'string' },
      'host-join-token-ttl': { type: 'string' },
      ...LOG_FLAG_OPTIONS,
      'metrics-listen': { type: 'string' },
      'metrics-tls-cert-file': { type: 'string' },
      'metrics-tls-key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  applyLogFlags(values, 'controller-manager');
  const log = createLogger('controller-manager');
  const kubeconfig = values.kubeconfig ?? process.env.KUBECONFIG;
  if (!kubeconfig) throw new Error('--kubeconfig is required');
  const enabled = values.controllers
    ?.split(',')
    .map((s) => s.trim())
    .filter(Boolean) as ControllerName[] | undefined;
  for (const c of enabled ?? [])
    if (!CONTROLLER_NAMES.includes(c)) throw new Error(`--controllers: unknown controller "${c}" (known: ${CONTROLLER_NAMES.join(', ')})`);

  const metricsListen = values['metrics-listen'] ? parseMetricsListen('--metrics-listen', values['metrics-listen']) : undefined;
  if (metricsListen && (!values['metrics-tls-cert-file'] || !values['metrics-tls-key-file'])) {
    throw new Error('--metrics-listen needs --metrics-tls-cert-file and --metrics-tls-key-file (metrics are served over HTTPS only)');
  }
  const metricsTls = metricsListen
    ? { certPem: readFileSync(values['metrics-tls-cert-file']!, 'utf8'), keyPem: readFileSync(values['metrics-tls-key-file']!, 'utf8') }
    : undefined;
  const metrics = new ControllerManagerMetrics();

  const identity = values.identity ?? defaultIdentity();
  const { manager, client, kubeConfig } = await startControllerManager({
    metrics,
    kubeconfig,
    identity,
    enabled,
    api: {
      qps: positive('--kube-api-qps', values['kube-api-qps'], 50),
      burst: positive('--kube-api-burst', values['kube-api-burst'], 100),
      schedulerQps: positive('--scheduler-api-qps', values['scheduler-api-qps'], 500),
      schedulerBurst: positive('--scheduler-api-burst', values['scheduler-api-burst'], 1000),
    },
    scheduler: {
      config: {
        cpuOvercommit: positive('--cpu-overcommit', values['cpu-overcommit'], 4),
        memoryOvercommit: positive('--memory-overcommit', values['memory-overcommit'], 1),
      },
    },
    nodelifecycle: { gracePeriodMs: duration('--node-grace-period', values['node-grace-period'], 40_000) },
    hostjoin: {
      ...(values['host-join-server'] ? { server: values['host-join-server'] } : {}),
      bootstrapTokenTtlSeconds: Math.ceil(duration('--host-join-token-ttl', values['host-join-token-ttl'], 15 * 60_000) / 1000),
    },
    leaderElection: values['leader-elect']
      ? {
          namespace: values['lease-namespace']!,
          name: values['lease-name']!,
          leaseDurationMs: duration('--lease-duration', values['lease-duration'], 15_000),
          renewDeadlineMs: duration('--renew-deadline', values['renew-deadline'], 10_000),
          retryPeriodMs: duration('--retry-period', values['retry-period'], 2_000),
        }
      : undefined,
  });
  let metricsServer: RunningMetricsServer | undefined;
  if (metricsListen && metricsTls) {
    metricsServer = await startMetricsServer({
      ...metricsListen,
      tls: metricsTls,
      registry: metrics.registry,
      authorizer: new DelegatedAuthorizer(apiserverOf(kubeConfig)),
      beforeCollect: async () => manager.refreshMetrics(),
      onError: (message, fields) => log.warn(message, fields),
    });
  }
  log.info('quantix-controller-manager started', {
    identity,
    leaderElect: values['leader-elect'],
    controllers: enabled ?? CONTROLLER_NAMES,
    metrics: metricsServer?.url,
  });

  let shuttingDown = false;
  const stopped = new Promise<number>((resolve) => {
    const onSignal = (signal: string) => {
      shuttingDown = true;
      log.info('shutting down', { signal });
      // The lease is released first (manager.stop); then in-flight reconciles drain, but not for
      // longer than 5 s — one waiting on a rate-limited client could hold the exit for minutes.
      void Promise.race([manager.stop(), new Promise((r) => setTimeout(r, 5000).unref())]).then(() => resolve(0));
    };
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    void manager.lost.then(() => {
      if (values['leader-elect'] && !shuttingDown) {
        log.error('leadership lost: exiting');
        resolve(1);
      }
    });
  });
  const code = await stopped;
  // A scraper's keep-alive connection can hold the metrics server open: exit regardless after 1 s.
  await Promise.race([metricsServer?.stop(), new Promise((r) => setTimeout(r, 1000).unref())]);
  client.close();
  return code;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`quantix-controller-manager: ${(err as Error)?.message ?? String(err)}\n`);
    process.exit(2);
  },
);
