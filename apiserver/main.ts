#!/usr/bin/env node
/**
 * quantix-apiserver entry point. On first start it creates the CA and serving
 * certificate (<data-dir>/pki), the token file and the admin kubeconfig.
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { applyLogFlags, LOG_FLAG_OPTIONS, logFlagsHelp, parseLogFlags } from '../lib/logging/flags.js';
import { createLogger } from '../lib/logging/logger.js';
import { chainAuthenticators } from './auth/identity.js';
import { TokenFileAuthenticator, ensureTokenFile } from './auth/token-file.js';
import { createNodeGatewayHost, DEFAULT_GATEWAY_PORT, DEFAULT_MAX_CONCURRENT_STREAMS } from './gateway/index.js';
import { ensureServingCertificates } from './pki/certificates.js';
import { writeKubeconfig } from './pki/kubeconfig.js';
import { auditFlagErrors, etcdTlsFlagErrors, parseDurationFlag, parseKubeconfigServerFlag, parseNonNegativeIntFlag, parsePositiveIntFlag } from './flags.js';
import { createAuditor, DEFAULT_AUDIT_LOG_MAXBACKUP, DEFAULT_AUDIT_LOG_MAXSIZE_MB } from './audit/index.js';
import { logFilePath, RotatingFile } from '../lib/logging/files.js';
import { DEFAULT_MAX_REQUESTS_INFLIGHT_PER_USER } from './http/inflight-limit.js';
import { DEFAULT_MAX_WATCHES_PER_USER } from './http/watch-limit.js';
import { startApiserver } from './server.js';

const HELP = `quantix-apiserver: the Quantix API (Kubernetes conventions) over HTTPS

  --etcd-servers URLS   comma-separated etcd client URLs (default http://127.0.0.1:2379)
  --etcd-cafile FILE    CA bundle that signed etcd's serving certificate (https:// etcd)
  --etcd-certfile FILE  client certificate presented to etcd (etcd --client-cert-auth)
  --etcd-keyfile FILE   key of --etcd-certfile
  --etcd-compaction-interval DURATION
                        compact etcd's history this often, keeping the last interval's
                        (one apiserver replica per interval); default 5m, 0 disables
  --etcd-defrag-interval DURATION
                        defragment each etcd member, one at a time, this often (one replica
                        per interval); default 0 (off). On demand: POST /admin/etcd/defragment
  --max-watches-per-user N
                        open watch streams one user may hold; past it 429 (default ${DEFAULT_MAX_WATCHES_PER_USER})
  --max-requests-inflight-per-user N
                        requests (watches apart) one user may have in flight; past it 429 with
                        Retry-After (default ${DEFAULT_MAX_REQUESTS_INFLIGHT_PER_USER})
  --node-approval auto|manual
                        manual: a newly joined Node stays unschedulable, annotated
                        quantix.io/approval=pending, until qxctl node approve (default auto)
  --node-certificate-days N
                        validity of the node client certificates the gateway signs; agents
                        renew at 70 % (default 30)
  --gateway-max-concurrent-streams N
                        concurrent calls per node gateway connection (HTTP/2 streams); further
                        calls wait client side. Agents in one process share one connection,
                        two long-lived streams each (default ${DEFAULT_MAX_CONCURRENT_STREAMS})
  --port N              HTTPS port (default 6443)
  --gateway-port N      node gateway (gRPC over TLS) port for agents (default --port + 1, i.e.
                        ${DEFAULT_GATEWAY_PORT}; 0 with --port 0)
  --bind-address ADDR   address to listen on (default 0.0.0.0)
  --peer-url URL        this replica's API URL as other replicas reach it, for consoles and file
                        listings of nodes whose agent is connected here (default
                        https://<bind address, or the hostname for 0.0.0.0>:<port>; the serving
                        certificate must name its host)
  --data-dir DIR        certificates, token file, kubeconfig (default .quantix)
  --kubeconfig-server URL
                        the server written into the admin and viewer kubeconfigs (default
                        https://127.0.0.1:<port>); replicas behind a balancer name the
                        balancer, so a restarted replica never points them at itself
  --token-file FILE     static tokens (default <data-dir>/tokens.csv)
  --web-root DIR        static web UI served at /ui/ (default web/dist when it exists)
${logFlagsHelp(24)}
  --audit-policy-file FILE
                        audit.k8s.io/v1 Policy: what is audited, at which level
                        (manifests/audit/policy.yaml; docs/audit.md). A bad file refuses the start
  --audit-log-path PATH audit Events as JSON lines to PATH (- for stdout); with --audit-policy-file
  --audit-log-maxsize MB
                        rotate the audit log at this many megabytes (default ${DEFAULT_AUDIT_LOG_MAXSIZE_MB})
  --audit-log-maxbackup N
                        rotated audit logs kept (default ${DEFAULT_AUDIT_LOG_MAXBACKUP}); disk use stays
                        within maxsize × (maxbackup + 1)
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'etcd-servers': { type: 'string', default: process.env.QUANTIX_ETCD_SERVERS ?? 'http://127.0.0.1:2379' },
      'etcd-cafile': { type: 'string' },
      'etcd-certfile': { type: 'string' },
      'etcd-keyfile': { type: 'string' },
      'etcd-compaction-interval': { type: 'string', default: '5m' },
      'etcd-defrag-interval': { type: 'string', default: '0' },
      // Measurement only (BENCH_APISERVER_MODE=etcd-clients in hack/bench/apiserver): etcd3 in place of the lean client.
      'etcd-kv-client': { type: 'string' },
      'max-watches-per-user': { type: 'string', default: String(DEFAULT_MAX_WATCHES_PER_USER) },
      'max-requests-inflight-per-user': { type: 'string', default: String(DEFAULT_MAX_REQUESTS_INFLIGHT_PER_USER) },
      'gateway-max-concurrent-streams': { type: 'string', default: String(DEFAULT_MAX_CONCURRENT_STREAMS) },
      'node-approval': { type: 'string', default: 'auto' },
      'node-certificate-days': { type: 'string', default: '30' },
      port: { type: 'string', default: '6443' },
      'gateway-port': { type: 'string' },
      'bind-address': { type: 'string', default: '0.0.0.0' },
      'peer-url': { type: 'string' },
      'data-dir': { type: 'string', default: '.quantix' },
      'kubeconfig-server': { type: 'string' },
      'token-file': { type: 'string' },
      'web-root': { type: 'string' },
      ...LOG_FLAG_OPTIONS,
      'audit-policy-file': { type: 'string' },
      'audit-log-path': { type: 'string' },
      'audit-log-maxsize': { type: 'string', default: String(DEFAULT_AUDIT_LOG_MAXSIZE_MB) },
      'audit-log-maxbackup': { type: 'string', default: String(DEFAULT_AUDIT_LOG_MAXBACKUP) },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  applyLogFlags(values, 'apiserver');
  const log = createLogger('apiserver');
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port: invalid port "${values.port}"`);
  const kubeconfigServerFlag = values['kubeconfig-server'] === undefined ? undefined : parseKubeconfigServerFlag(values['kubeconfig-server']);

  const dataDir = resolve(values['data-dir']!);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const tokenFile = values['token-file'] ?? join(dataDir, 'tokens.csv');
  const tokens = ensureTokenFile(tokenFile);
  const pki = ensureServingCertificates(dataDir);
  const defaultWebRoot = resolve('web/dist');
  const webRoot = values['web-root'] ?? (existsSync(join(defaultWebRoot, 'index.html')) ? defaultWebRoot : undefined);

  // Next to the API port by default, so several apiservers on one machine (tests, benchmarks) do not collide.
  const gatewayPort = values['gateway-port'] !== undefined ? Number(values['gateway-port']) : port === 0 ? 0 : port + 1;
  if (!Number.isInteger(gatewayPort) || gatewayPort < 0 || gatewayPort > 65535) throw new Error(`--gateway-port: invalid port "${values['gateway-port']}"`);
  // Node credentials (issued by the gateway) authenticate on REST too, under NodeRestriction.
  const gatewayHost = createNodeGatewayHost({ caCertPem: pki.caCertPem, logs: { dir: parseLogFlags(values).dir } });
  // Bootstrap tokens authenticate too, but the authorizer grants them nothing on REST: they only register a node.
  const authenticator = chainAuthenticators(TokenFileAuthenticator.fromFile(tokenFile), gatewayHost.authenticator, gatewayHost.bootstrapTokens);

  const etcdCa = values['etcd-cafile'];
  const etcdEndpoints = values['etcd-servers']!.split(',')
    .map((url) => url.trim())
    .filter(Boolean);
  const tlsFlagErrors = etcdTlsFlagErrors({ endpoints: etcdEndpoints, cafile: etcdCa, certfile: values['etcd-certfile'], keyfile: values['etcd-keyfile'] });
  if (tlsFlagErrors.length > 0) throw new Error(tlsFlagErrors.join('; '));
  const etcdTls = etcdCa && {
    caPem: readFileSync(etcdCa, 'utf8'),
    certPem: values['etcd-certfile'] && readFileSync(values['etcd-certfile'], 'utf8'),
    keyPem: values['etcd-keyfile'] && readFileSync(values['etcd-keyfile'], 'utf8'),
  };
  const compactionIntervalMs = parseDurationFlag('etcd-compaction-interval', values['etcd-compaction-interval']!);
  const defragIntervalMs = parseDurationFlag('etcd-defrag-interval', values['etcd-defrag-interval']!);
  const maxWatchesPerUser = parsePositiveIntFlag('max-watches-per-user', values['max-watches-per-user']!);
  const maxRequestsInflightPerUser = parsePositiveIntFlag('max-requests-inflight-per-user', values['max-requests-inflight-per-user']!);
  const gatewayMaxConcurrentStreams = parsePositiveIntFlag('gateway-max-concurrent-streams', values['gateway-max-concurrent-streams']!);
  const nodeApproval = values['node-approval'];
  if (nodeApproval !== 'auto' && nodeApproval !== 'manual') throw new Error(`--node-approval: auto or manual, got "${nodeApproval}"`);
  const nodeCertificateDays = parsePositiveIntFlag('node-certificate-days', values['node-certificate-days']!);
  const auditErrors = auditFlagErrors({ policyFile: values['audit-policy-file'], logPath: values['audit-log-path'] });
  if (auditErrors.length > 0) throw new Error(auditErrors.join('; '));
  // A bad policy stops the start here, naming the rule and the field.
  const audit =
    values['audit-policy-file'] !== undefined
      ? createAuditor({
          policyFile: values['audit-policy-file'],
          logPath: values['audit-log-path']!,
          maxSizeMB: parsePositiveIntFlag('audit-log-maxsize', values['audit-log-maxsize']!),
          maxBackup: parseNonNegativeIntFlag('audit-log-maxbackup', values['audit-log-maxbackup']!),
        })
      : undefined;
  const logFlags = parseLogFlags(values);
  const logDir = logFlags.dir;
  // UI actions (POST /logs/ui) go to <log-dir>/ui.log next to this host's component logs; without a dir they are checked and dropped.
  const uiLogFile = logDir ? new RotatingFile(logFilePath(logDir, 'ui'), { maxBytes: logFlags.maxBytes, maxFiles: logFlags.maxFiles }) : undefined;
  const kvClient = values['etcd-kv-client'];
  if (kvClient !== undefined && kvClient !== 'lean' && kvClient !== 'etcd3') throw new Error(`--etcd-kv-client: lean or etcd3, got "${kvClient}"`);

  const server = await startApiserver({
    etcdEndpoints,
    etcdTls: etcdTls || undefined,
    etcdKvClient: kvClient,
    etcdCompactionIntervalMs: compactionIntervalMs,
    etcdDefragIntervalMs: defragIntervalMs,
    port,
    host: values['bind-address'],
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    authenticator,
    clientCertificates: { caPem: pki.caCertPem, authenticator: gatewayHost.authenticator },
    webRoot,
    extraRoutes: gatewayHost.extraRoutes,
    routedResources: gatewayHost.routedResources,
    maxWatchesPerUser,
    maxRequestsInflightPerUser,
    audit,
    uiLog: { file: uiLogFile },
  });
  const gateway = await gatewayHost.start(server.context, {
    port: gatewayPort,
    host: values['bind-address'],
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    authenticator,
    clusterCa: { certFile: join(pki.dir, 'ca.crt'), keyFile: join(pki.dir, 'ca.key') },
    maxConcurrentStreams: gatewayMaxConcurrentStreams,
    nodeApproval,
    nodeCertificateDays,
    peerUrl: values['peer-url'] ?? defaultPeerUrl(values['bind-address']!, server.port),
  });
  const url = `https://127.0.0.1:${server.port}`;
  const kubeconfigServer = kubeconfigServerFlag ?? url;
  writeKubeconfig(join(dataDir, 'kubeconfig'), { server: kubeconfigServer, caCertPem: pki.caCertPem, token: tokens.admin, user: 'admin' });
  writeKubeconfig(join(dataDir, 'viewer.kubeconfig'), { server: kubeconfigServer, caCertPem: pki.caCertPem, token: tokens.viewer, user: 'viewer' });
  log.info('ready', {
    url,
    gateway: `${values['bind-address']}:${gateway.port}`,
    kubeconfig: join(dataDir, 'kubeconfig'),
    ui: webRoot ? `${url}/ui/` : undefined,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) process.exit(1); // a second signal: do not wait any longer
    stopping = true;
    log.info('shutting down', { signal });
    // Closing connections can wait on an etcd that is gone: never hang on the way out.
    setTimeout(() => {
      log.warn('shutdown did not finish within 10 s; exiting');
      process.exit(1);
    }, 10_000).unref();
    await gateway.stop();
    await server.stop();
    await audit?.close();
    await uiLogFile?.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  createLogger('apiserver').error('fatal', { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});

/** This replica's URL for the other replicas: the bind address, or the hostname (a SAN of the serving certificate) for a wildcard. */
function defaultPeerUrl(bindAddress: string, port: number): string {
  const host = bindAddress === '0.0.0.0' || bindAddress === '::' ? hostname() : bindAddress;
  return `https://${host.includes(':') ? `[${host}]` : host}:${port}`;
}
