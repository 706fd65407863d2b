#!/usr/bin/env node
/**
 * quantix-agent entry point: flags → Agent. See agent/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, setLogLevel, type Logger } from '../lib/logging/logger.js';
import { Agent, AGENT_DEFAULTS, AGENT_VERSION } from './agent.js';
import type { HypervisorDriver } from './hypervisor/driver.js';
import { LibvirtDriver } from './hypervisor/libvirt/driver.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { DEFAULT_GATEWAY_PORT } from '../api-types/proto/contract.js';
import { chooseAcceleration, defaultServerName, parseDuration, parseListen } from './flags.js';
import { defaultAddresses, defaultHostname, StateDir } from './identity.js';
import { DEFAULT_REGISTRATION_PORT } from '../lib/host-join/protocol.js';
import { discoverHardware } from './registration/hardware.js';
import { HostTokenStore, redactHostToken } from './registration/host-token.js';
import { interimJoiner } from './registration/interim-joiner.js';
import { RegistrationServer } from './registration/server.js';
import { ensureRegistrationCertificate } from './registration/serving-cert.js';

const HELP = `quantix-agent: runs on every hypervisor host; makes libvirt match the VMs and pools
assigned to this node and reports what is true, through the node gateway.

  quantix-agent [flags]                     run; a host without node credentials and without
                                            --join-token-file serves the registration API
                                            until an admin adds it (\`qxctl node add\`)
  quantix-agent serve-registration [flags]  serve the registration API even with credentials
  quantix-agent token [--state-dir DIR]     print the host token (a new one when there is
                                            none or it expired) and the certificate fingerprint

  --server URL               apiserver URL (default https://127.0.0.1:6443); the node
                             kubeconfig in the state dir points there
  --gateway HOST:PORT        node gateway (default: the --server host, port ${DEFAULT_GATEWAY_PORT})
  --ca-file FILE             CA of the apiserver certificates (default <state-dir>/ca.crt,
                             else .quantix/pki/ca.crt)
  --join-token-file FILE     node join token for the first registration
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
  --startup-jitter D         random wait before the first full sync, default 5s
  --safety-poll-interval D   libvirt re-list period, default 10s
  --shutdown-timeout D       graceful shutdown before force off, default 60s
  --pool-mount-root DIR      where nfs pools are mounted (default ${AGENT_DEFAULTS.poolMountRoot})
  --libvirt-socket PATH      default /var/run/libvirt/libvirt-sock
  --tls-server-name NAME     name to verify the gateway certificate for (default: the
                             gateway host; "localhost" when it is an IP address, a name
                             every apiserver certificate carries)
  --registration-listen A   HOST:PORT of the registration API (default 0.0.0.0:${DEFAULT_REGISTRATION_PORT})
  --log-level LEVEL          error | warn | info | debug
Durations: 500ms, 10s, 2m, or a number of seconds.
`;

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
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
      'startup-jitter': { type: 'string', default: '5s' },
      'safety-poll-interval': { type: 'string', default: '10s' },
      'shutdown-timeout': { type: 'string', default: '60s' },
      'pool-mount-root': { type: 'string', default: AGENT_DEFAULTS.poolMountRoot },
      'libvirt-socket': { type: 'string' },
      'tls-server-name': { type: 'string' },
      'log-level': { type: 'string' },
      'registration-listen': { type: 'string', default: `0.0.0.0:${DEFAULT_REGISTRATION_PORT}` },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(HELP);
    return;
  }
  if (values['log-level']) setLogLevel(values['log-level']);
  const log = createLogger('agent');
  const stateDir = path.resolve(values['state-dir']!);
  const command = positionals[0] ?? 'run';
  if (!['run', 'token', 'serve-registration'].includes(command) || positionals.length > 1) {
    throw new Error(`unknown command "${positionals.join(' ')}" (run, token or serve-registration; see --help)`);
  }
  const hostname = values.hostname ?? defaultHostname();
  if (command === 'token') {
    printHostToken(stateDir, hostname);
    return;
  }
  const caFile = values['ca-file'] ?? [path.join(stateDir, 'ca.crt'), path.resolve('.quantix/pki/ca.crt')].find((f) => existsSync(f));
  const joinToken = values['join-token-file'] ? readFileSync(values['join-token-file'], 'utf8').trim() : undefined;
  const hasCredential = new StateDir(stateDir).credential() !== undefined;
  if (command === 'serve-registration' || (!hasCredential && !joinToken)) {
    // Not joined and nothing to join with: wait for an admin to add this host.
    await serveRegistration(values, stateDir, hostname, caFile, log);
    return;
  }
  if (!caFile) throw new Error('no CA: pass --ca-file (the apiserver writes its CA to <data-dir>/pki/ca.crt)');
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
  const joinToken = o.joinToken;

  const acceleration = chooseAcceleration(flag('acceleration')!, undefined, flag('acceleration-reason'));
  let driver: HypervisorDriver;
  if (flag('driver') === 'libvirt') {
    driver = new LibvirtDriver({
      domainType: acceleration.type,
      socketPath: flag('libvirt-socket'),
      log: (level, message) => log[level](message, { component: 'libvirt' }),
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
    startupJitterMs: parseDuration('startup-jitter', flag('startup-jitter')!),
    safetyPollIntervalMs: parseDuration('safety-poll-interval', flag('safety-poll-interval')!),
    shutdownTimeoutMs: parseDuration('shutdown-timeout', flag('shutdown-timeout')!),
    poolMountRoot: flag('pool-mount-root'),
    ...(flag('driver') === 'libvirt' ? { acceleration } : {}),
    log,
  });

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    // Domains keep running: stopping the agent never touches them.
    log.info('stopping (domains are left running)', { signal });
    await agent.stop();
    await driver.close();
    process.exit(0);
  };
  if (o.signals !== false) {
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
    process.on('SIGINT', () => void shutdown('SIGINT'));
  }
  await agent.start();
  log.info('agent running', { node: agent.nodeName, uid: agent.nodeUid, gateway, driver: driver.kind });
  return agent;
}

function addressFlags(values: Flags): string[] | undefined {
  return (values.address as string[] | undefined)
    ?.flatMap((a) => a.split(','))
    .map((a) => a.trim())
    .filter(Boolean);
}

/** `quantix-agent token`: the admin reads this to add the host (the only place the whole token is printed besides the start-up line). */
function printHostToken(stateDir: string, hostname: string): void {
  new StateDir(stateDir); // creates it 0700 when absent
  const token = new HostTokenStore(stateDir).ensure();
  const cert = ensureRegistrationCertificate(stateDir, hostname, defaultAddresses());
  process.stdout.write(
    `token:       ${token.token}\nexpires:     ${token.expiresAt.toISOString()}\nfingerprint: ${cert.fingerprint}\n` +
      `add it with: qxctl node add https://<this host>:<port> --token ${token.token} --fingerprint ${cert.fingerprint}\n`,
  );
}

/**
 * Serves the registration API until an admin's "Add host" flow calls join; the join starts
 * the agent proper. Until the bootstrap-token join lands, that join is interim-joiner.ts.
 */
async function serveRegistration(values: Flags, stateDir: string, hostname: string, caFile: string | undefined, log: Logger): Promise<void> {
  const listen = parseListen('registration-listen', values['registration-listen'] as string);
  new StateDir(stateDir);
  const tokens = new HostTokenStore(stateDir);
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
    agentVersion: AGENT_VERSION,
    discover: () => discoverHardware({ agentVersion: AGENT_VERSION, hostname }),
    joiner: interimJoiner({
      caPem: caFile ? readFileSync(caFile, 'utf8') : undefined,
      startAgent: async (server, joinToken, caPem) => {
        agent = await runAgent(values, { server, caPem, joinToken, log, signals: false });
        return agent.nodeName!;
      },
    }),
    onJoined: () => {
      log.info('joined: the registration API stops', { node: agent?.nodeName });
      void registration.stop();
    },
    log: log.child({ component: 'registration' }),
  });
  await registration.start();
  // The one line where the whole token is logged: the admin reads it from here or from `quantix-agent token`.
  log.info('registration API serving: add this host with `qxctl node add`', {
    listen: `${listen.host}:${registration.port}`,
    fingerprint: cert.fingerprint,
    token: token.token,
    tokenExpires: token.expiresAt.toISOString(),
  });
  log.debug('host token', { token: redactHostToken(token.token) });
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
  createLogger('agent').error('fatal', { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
