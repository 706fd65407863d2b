#!/usr/bin/env node
/**
 * quantix-agent entry point: flags → Agent. See agent/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { applyLogFlags, LOG_FLAG_OPTIONS, logFlagsHelp } from '../lib/logging/flags.js';
import { createLogger, setLogNode, type Logger } from '../lib/logging/logger.js';
import { Agent, AGENT_DEFAULTS, AGENT_VERSION } from './agent.js';
import type { HypervisorDriver } from './hypervisor/driver.js';
import { LibvirtDriver } from './hypervisor/libvirt/driver.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { DEFAULT_GATEWAY_PORT } from '../api-types/proto/contract.js';
import { checkSelfFenceTimeout, chooseAcceleration, defaultServerName, gatewayTarget, parseDuration, parseListen } from './flags.js';
import { defaultAddresses, defaultHostname, StateDir } from './identity.js';
import { exitCodeFor } from '../lib/host-join/codes.js';
import { DEFAULT_REGISTRATION_PORT } from '../lib/host-join/protocol.js';
import { nodeNameOfHostname } from './node-certificate.js';
import { fetchAndKeepPinnedCa, JoinError, joinErrorCodeOf, parseCaCertHash } from './join.js';
import { clusterJoiner } from './registration/cluster-joiner.js';
import { discoverHardware } from './registration/hardware.js';
import { HOST_TOKEN_TTL_MS, HostTokenStore, redactHostToken } from './registration/host-token.js';
import { RegistrationServer } from './registration/server.js';
import { ensureRegistrationCertificate } from './registration/serving-cert.js';
import { AgentMetrics } from './metrics.js';
import { DelegatedAuthorizer } from '../lib/metrics/delegated-auth.js';
import { parseMetricsListen, startMetricsServer } from '../lib/metrics/server.js';

const HELP = `quantix-agent: runs on every hypervisor host; makes libvirt match the VMs and pools
assigned to this node and reports what is true, through the node gateway.

  quantix-agent join --server URL --token T --ca-cert-hash sha256:H [flags]
      joins the cluster (the command \`qxctl token create\` prints): checks the cluster CA
      against the hash before it sends anything, keeps it as <state-dir>/ca.crt, registers
      with the bootstrap token, then runs. Run again later (or as a service) it runs with
      the node credential it got; the token is not needed any more.
  quantix-agent [flags]
      runs with the node credential in the state dir (or --join-token-file); a host with
      neither serves the registration API until an admin adds it (\`qxctl node add\`),
      which joins it as \`join\` does
  quantix-agent serve-registration [flags]
      serves the registration API even with a credential
  quantix-agent token [--state-dir DIR]
      prints the host token (a new one when there is none or it expired) and the
      registration certificate's fingerprint

  --server URL               apiserver URL (default https://127.0.0.1:6443); the node
                             kubeconfig in the state dir points there
  --gateway HOST:PORT        node gateway (default: the --server host, port ${DEFAULT_GATEWAY_PORT}); or
                             several replicas' IP:PORT, comma-separated: the session moves
                             to another when its replica goes away (or name a balancer)
  --ca-file FILE             CA of the apiserver certificates (default <state-dir>/ca.crt,
                             else .quantix/pki/ca.crt)
  --token T                  bootstrap token (join)
  --ca-cert-hash sha256:H    pin of the cluster CA (join)
  --exit-after-join          join, then exit (the service runs the agent afterwards)
  --join-token-file FILE     bootstrap token in a file, for the first registration
  --state-dir DIR            machine id, credential, managed pools (default /var/lib/quantix-agent)
  --driver libvirt|sim       hypervisor driver (default libvirt: qemu:///system)
  --acceleration MODE        kvm, tcg (QEMU software emulation) or auto (default): auto
                             uses kvm when /dev/kvm exists, else tcg; reported in Node
                             status. Use tcg where KVM cannot boot Linux (some nested
                             hosts: hack/accel-probe.sh tells)
  --acceleration-reason TEXT why kvm/tcg was chosen (e.g. the probe's finding), shown
                             in Node status.accelerationSource
  --hostname NAME            node name (default the host name)
  --address IP               management address, repeatable (default the host's IPs)
  --heartbeat-interval D     default 10s
  --self-fence-timeout D     self-fencing (docs/fencing.md): with no heartbeat renewed
                             for this long, force-stop the domains of VMs that may be
                             recovered elsewhere (Always, disks on shared storage) so the
                             control plane can start them there (default 0: off; at least
                             three heartbeat intervals)
  --startup-jitter D         random wait before the first full sync, default 5s
  --safety-poll-interval D   libvirt re-list period, default 10s
  --shutdown-timeout D       graceful shutdown before force off, default 60s
  --pool-mount-root DIR      where nfs pools are mounted (default ${AGENT_DEFAULTS.poolMountRoot})
  --libvirt-socket PATH      default /var/run/libvirt/libvirt-sock
  --tls-server-name NAME     name to verify the gateway certificate for (default: the
                             gateway host; "localhost" when it is an IP address, a name
                             every apiserver certificate carries)
  --registration-listen A    HOST:PORT of the registration API (default 0.0.0.0:${DEFAULT_REGISTRATION_PORT})
  --host-token-ttl D         lifetime of a new host token (default 1h)
  --metrics-listen HOST:PORT serve Prometheus metrics (agent, libvirt, per-VM quantix_vmi_*)
                             at https://HOST:PORT/metrics (default: off); callers need a
                             bearer token the apiserver allows to get /metrics (admins,
                             viewers), checked by the apiserver (see agent/README.md)
  --metrics-tls-cert-file FILE, --metrics-tls-key-file FILE
                             its serving certificate (default: the registration API's
                             self-signed one in the state dir; \`make up\` passes one
                             issued by the cluster CA)
${logFlagsHelp(29)}
Durations: 500ms, 10s, 2m, or a number of seconds.
`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      token: { type: 'string' },
      'ca-cert-hash': { type: 'string' },
      'exit-after-join': { type: 'boolean' },
      server: { type: 'string', default: 'https://127.0.0.1:6443' },
      gateway: { type: 'string' },
      'ca-file': { type: 'string' },
      'join-token-file': { type: 'string' },
      'state-dir': { type: 'string', default: '/var/lib/quantix-agent' },
      driver: { type: 'string', default: 'libvirt' },
      acceleration: { type: 'string', default: 'auto' },
      'acceleration-reason': { type: 'string' },
      hostname: { type: 'string' },
      address: { type: 'string', multiple: true },
      'heartbeat-interval': { type: 'string', default: '10s' },
      'self-fence-timeout': { type: 'string', default: '0' },
      'startup-jitter': { type: 'string', default: '5s' },
      'safety-poll-interval': { type: 'string', default: '10s' },
      'shutdown-timeout': { type: 'string', default: '60s' },
      'pool-mount-root': { type: 'string', default: AGENT_DEFAULTS.poolMountRoot },
      'libvirt-socket': { type: 'string' },
      'tls-server-name': { type: 'string' },
      ...LOG_FLAG_OPTIONS,
      'registration-listen': { type: 'string', default: `0.0.0.0:${DEFAULT_REGISTRATION_PORT}` },
      'host-token-ttl': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'metrics-tls-cert-file': { type: 'string' },
      'metrics-tls-key-file': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  applyLogFlags(values, 'agent');
  const log = createLogger('agent');
  const stateDir = path.resolve(values['state-dir']!);
  const command = positionals[0] ?? 'run';
  if (!['run', 'join', 'token', 'serve-registration'].includes(command) || positionals.length > 1) {
    throw new Error(`unknown command "${positionals.join(' ')}" (join, token, serve-registration, or none to run; see --help)`);
  }
  if (command !== 'join' && values['ca-cert-hash']) throw new Error('--ca-cert-hash is for `quantix-agent join`');
  const hostname = values.hostname ?? defaultHostname();
  setLogNode(nodeNameOfHostname(hostname));
  const hostTokenTtlMs = values['host-token-ttl'] ? parseDuration('host-token-ttl', values['host-token-ttl']) : HOST_TOKEN_TTL_MS;
  if (command === 'token') {
    printHostToken(stateDir, hostname, hostTokenTtlMs);
    return;
  }
  const joinToken = values.token || (values['join-token-file'] ? readFileSync(values['join-token-file'], 'utf8').trim() : undefined) || undefined;
  if (command === 'join') {
    if (!joinToken) throw new JoinError('TOKEN_MISSING', '--token: the bootstrap token from `qxctl token create` is required');
    const pin = parseCaCertHash(values['ca-cert-hash']);
    const { caPem, caFile } = await fetchAndKeepPinnedCa(values.server!, pin, stateDir);
    log.info('cluster CA matches the pin; kept for every later connection', { server: values.server, caCertHash: pin, caFile });
    const agent = await runAgent(values, { server: values.server!, caPem, joinToken, log });
    if (values['exit-after-join']) {
      log.info('joined; exiting (--exit-after-join)', { nodeName: agent.nodeName, uid: agent.nodeUid });
      await agent.stop();
      await agent.options.driver.close();
      process.exit(0);
    }
    return;
  }
  const hasCredential = new StateDir(stateDir).credential() !== undefined;
  if (command === 'serve-registration' || (!hasCredential && !joinToken)) {
    // Not joined and nothing to join with: wait for an admin to add this host.
    await serveRegistration(values, { stateDir, hostname, hostTokenTtlMs, log });
    return;
  }
  const caFile = values['ca-file'] ?? [path.join(stateDir, 'ca.crt'), path.resolve('.quantix/pki/ca.crt')].find((f) => existsSync(f));
  if (!caFile) throw new Error('no CA: run `quantix-agent join` (it keeps the pinned CA in the state dir), or pass --ca-file');
  await runAgent(values, { server: values.server!, caPem: readFileSync(caFile, 'utf8'), joinToken, log });
}

type Flags = Record<string, string | boolean | string[] | undefined>;

/** Runs the agent; resolves once it is registered and running. */
async function runAgent(values: Flags, o: { server: string; caPem: string; joinToken?: string; log: Logger; signals?: boolean }): Promise<Agent> {
  const log = o.log;
  const flag = (name: string) => values[name] as string | undefined;
  const stateDir = path.resolve(flag('state-dir')!);
  const server = new URL(o.server);
  const gateway = flag('gateway') ?? `${server.hostname}:${DEFAULT_GATEWAY_PORT}`;
  gatewayTarget(gateway); // a bad --gateway stops the start here, naming the flag
  const joinToken = o.joinToken;

  const acceleration = chooseAcceleration(flag('acceleration')!, undefined, flag('acceleration-reason'));
  const metricsListen = flag('metrics-listen') ? parseMetricsListen('--metrics-listen', flag('metrics-listen')!) : undefined;
  if (Boolean(flag('metrics-tls-cert-file')) !== Boolean(flag('metrics-tls-key-file'))) {
    throw new Error('--metrics-tls-cert-file and --metrics-tls-key-file go together');
  }
  const metrics = metricsListen ? new AgentMetrics() : undefined;
  let driver: HypervisorDriver;
  if (flag('driver') === 'libvirt') {
    driver = new LibvirtDriver({
      domainType: acceleration.type,
      socketPath: flag('libvirt-socket'),
      ...(metrics ? { onCall: metrics.observeLibvirtCall } : {}),
      log: (level, message) => log[level](message, { subsystem: 'libvirt' }),
    });
  } else if (flag('driver') === 'sim') {
    driver = new SimDriver({ hostname: flag('hostname') });
  } else {
    throw new Error(`--driver: unknown driver "${flag('driver')}" (libvirt or sim)`);
  }

  const agent = new Agent({
    gateway,
    caPem: o.caPem,
    serverName: flag('tls-server-name') ?? defaultServerName(gateway),
    server: o.server,
    joinToken,
    stateDir,
    driver,
    hostname: flag('hostname'),
    addresses: addressFlags(values),
    heartbeatIntervalMs: parseDuration('heartbeat-interval', flag('heartbeat-interval')!),
    selfFenceTimeoutMs: checkSelfFenceTimeout(
      parseDuration('self-fence-timeout', flag('self-fence-timeout')!),
      parseDuration('heartbeat-interval', flag('heartbeat-interval')!),
    ),
    startupJitterMs: parseDuration('startup-jitter', flag('startup-jitter')!),
    safetyPollIntervalMs: parseDuration('safety-poll-interval', flag('safety-poll-interval')!),
    shutdownTimeoutMs: parseDuration('shutdown-timeout', flag('shutdown-timeout')!),
    poolMountRoot: flag('pool-mount-root'),
    ...(flag('log-dir') ? { logDir: path.resolve(flag('log-dir')!) } : {}),
    ...(flag('driver') === 'libvirt' ? { acceleration } : {}),
    ...(metrics ? { metrics } : {}),
    log,
  });

  let metricsServer: Awaited<ReturnType<typeof startMetricsServer>> | undefined;
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Domains keep running: stopping the agent never touches them.
    log.info('stopping (domains are left running)', { signal });
    await metricsServer?.stop();
    await agent.stop();
    await driver.close();
    process.exit(0);
  };
  if (o.signals !== false) {
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  }
  try {
    await agent.start();
    if (metricsListen && metrics) {
      const certFile = flag('metrics-tls-cert-file');
      const keyFile = flag('metrics-tls-key-file');
      const tls =
        certFile && keyFile
          ? { certPem: readFileSync(certFile, 'utf8'), keyPem: readFileSync(keyFile, 'utf8') }
          : ensureRegistrationCertificate(stateDir, agent.nodeName, addressFlags(values) ?? defaultAddresses());
      metricsServer = await startMetricsServer({
        ...metricsListen,
        tls: { certPem: tls.certPem, keyPem: tls.keyPem },
        registry: metrics.registry,
        authorizer: new DelegatedAuthorizer({ server: o.server, caPem: o.caPem }),
        beforeCollect: () => metrics.refresh(),
        onError: (message, fields) => log.warn(message, fields),
      });
      log.info('serving metrics', { url: metricsServer.url });
    }
  } catch (err) {
    await metricsServer?.stop();
    // Refused (a bad token, a taken hostname): leave nothing running behind the error.
    await agent.stop().catch(() => undefined);
    await driver.close().catch(() => undefined);
    throw err;
  }
  log.info('agent running', { nodeName: agent.nodeName, uid: agent.nodeUid, gateway, driver: driver.kind });
  return agent;
}

function addressFlags(values: Flags): string[] | undefined {
  return (values.address as string[] | undefined)
    ?.flatMap((a) => a.split(','))
    .map((a) => a.trim())
    .filter(Boolean);
}

/** `quantix-agent token`: the admin reads this to add the host (the only place the whole token is printed: never in a log). */
function printHostToken(stateDir: string, hostname: string, ttlMs: number): void {
  new StateDir(stateDir); // creates it 0700 when absent
  const token = new HostTokenStore(stateDir, { ttlMs }).ensure();
  const cert = ensureRegistrationCertificate(stateDir, hostname, defaultAddresses());
  process.stdout.write(
    `token:       ${token.token}\nexpires:     ${token.expiresAt.toISOString()}\nfingerprint: ${cert.fingerprint}\n` +
      `add it with: qxctl node add https://<this host>:<port> --token ${token.token} --fingerprint ${cert.fingerprint}\n`,
  );
}

/**
 * Serves the registration API until an admin's "Add host" flow calls join; the join pins the
 * cluster CA and starts the agent proper with the bootstrap token (cluster-joiner.ts).
 */
async function serveRegistration(values: Flags, o: { stateDir: string; hostname: string; hostTokenTtlMs: number; log: Logger }): Promise<void> {
  const { stateDir, hostname, log } = o;
  const listen = parseListen('registration-listen', values['registration-listen'] as string);
  new StateDir(stateDir);
  const tokens = new HostTokenStore(stateDir, { ttlMs: o.hostTokenTtlMs });
  // A test hook: an agent that reports an older version, to provoke HOST_FIRMWARE_OUTDATED for real.
  const reportedVersion = process.env.QUANTIX_AGENT_REPORTED_VERSION || AGENT_VERSION;
  const token = tokens.ensure();
  const cert = ensureRegistrationCertificate(stateDir, hostname, addressFlags(values) ?? defaultAddresses());
  let agent: Agent | undefined;
  const registration = new RegistrationServer({
    host: listen.host,
    port: listen.port,
    certPem: cert.certPem,
    keyPem: cert.keyPem,
    tokens,
    hostname,
    agentVersion: reportedVersion,
    discover: () => discoverHardware({ agentVersion: reportedVersion, hostname }),
    joiner: clusterJoiner({
      stateDir,
      startAgent: async (server, joinToken, caPem) => {
        agent = await runAgent(values, { server, caPem, joinToken, log, signals: false });
        return agent.nodeName!;
      },
    }),
    onJoined: () => {
      log.info('joined: the registration API stops', { nodeName: agent?.nodeName });
      void registration.stop();
    },
    log: log.child({ subsystem: 'registration' }),
  });
  await registration.start();
  // The token is a credential: the log names only its first characters; the admin reads it with `quantix-agent token`.
  log.info('registration API serving: add this host with `qxctl node add` (`quantix-agent token` prints the host token)', {
    listen: `${listen.host}:${registration.port}`,
    fingerprint: cert.fingerprint,
    tokenPrefix: redactHostToken(token.token),
    tokenExpires: token.expiresAt.toISOString(),
  });
  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info('stopping', { signal });
    await registration.stop();
    await agent?.stop();
    await agent?.options.driver.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  const code = joinErrorCodeOf(err);
  createLogger('agent').error(code ? 'join refused' : 'fatal', { ...(code ? { code } : {}), error: err instanceof Error ? err.message : String(err) });
  process.exit(code ? exitCodeFor(code) : 1);
});
