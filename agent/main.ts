#!/usr/bin/env node
/**
 * quantix-agent entry point: flags → Agent. See agent/README.md.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import { Agent, AGENT_DEFAULTS } from './agent.js';
import type { HypervisorDriver } from './hypervisor/driver.js';
import { LibvirtDriver } from './hypervisor/libvirt/driver.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { DEFAULT_GATEWAY_PORT } from '../api-types/proto/contract.js';
import { chooseAcceleration, defaultServerName, parseDuration } from './flags.js';
import { fetchPinnedCa, JoinError, joinErrorCodeOf, joinExitCode, parseCaCertHash } from './join.js';

const HELP = `quantix-agent: runs on every hypervisor host; makes libvirt match the VMs and pools
assigned to this node and reports what is true, through the node gateway.

  quantix-agent join --server URL --token T --ca-cert-hash sha256:H [flags]
      joins the cluster (the command \`qxctl token create\` prints): checks the cluster CA
      against the hash before it sends anything, keeps it as <state-dir>/ca.crt, registers
      with the bootstrap token, then runs. Run again later (or as a service) it runs with
      the node credential it got; the token is not needed any more.
  quantix-agent [flags]
      runs with the node credential in the state dir (or --join-token-file).

  --server URL               apiserver URL (default https://127.0.0.1:6443); the node
                             kubeconfig in the state dir points there
  --gateway HOST:PORT        node gateway (default: the --server host, port ${DEFAULT_GATEWAY_PORT})
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
  --startup-jitter D         random wait before the first full sync, default 5s
  --safety-poll-interval D   libvirt re-list period, default 10s
  --shutdown-timeout D       graceful shutdown before force off, default 60s
  --pool-mount-root DIR      where nfs pools are mounted (default ${AGENT_DEFAULTS.poolMountRoot})
  --libvirt-socket PATH      default /var/run/libvirt/libvirt-sock
  --tls-server-name NAME     name to verify the gateway certificate for (default: the
                             gateway host; "localhost" when it is an IP address, a name
                             every apiserver certificate carries)
  --log-level LEVEL          error | warn | info | debug
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
      'startup-jitter': { type: 'string', default: '5s' },
      'safety-poll-interval': { type: 'string', default: '10s' },
      'shutdown-timeout': { type: 'string', default: '60s' },
      'pool-mount-root': { type: 'string', default: AGENT_DEFAULTS.poolMountRoot },
      'libvirt-socket': { type: 'string' },
      'tls-server-name': { type: 'string' },
      'log-level': { type: 'string' },
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
  const server = new URL(values.server!);
  const gateway = values.gateway ?? `${server.hostname}:${DEFAULT_GATEWAY_PORT}`;
  const command = positionals[0];
  if (command !== undefined && command !== 'join') throw new Error(`unknown command "${command}" (join, or none to run)`);
  let joinToken = values.token ?? (values['join-token-file'] ? readFileSync(values['join-token-file'], 'utf8').trim() : undefined);
  if (command === 'join') {
    if (!joinToken) throw new JoinError('TOKEN_MISSING', '--token: the bootstrap token from `qxctl token create` is required');
    const pin = parseCaCertHash(values['ca-cert-hash']);
    const caPem = await fetchPinnedCa(values.server!, pin);
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    writeFileSync(path.join(stateDir, 'ca.crt'), caPem, { mode: 0o644 });
    log.info('cluster CA matches the pin; kept for every later connection', { server: values.server, caCertHash: pin, caFile: path.join(stateDir, 'ca.crt') });
  } else if (values['ca-cert-hash']) {
    throw new Error('--ca-cert-hash is for `quantix-agent join`');
  }
  joinToken ||= undefined;
  const caFile =
    command === 'join'
      ? path.join(stateDir, 'ca.crt')
      : (values['ca-file'] ?? [path.join(stateDir, 'ca.crt'), path.resolve('.quantix/pki/ca.crt')].find((f) => existsSync(f)));
  if (!caFile) throw new Error('no CA: run `quantix-agent join` (it keeps the pinned CA in the state dir), or pass --ca-file');

  const acceleration = chooseAcceleration(values.acceleration!, undefined, values['acceleration-reason']);
  let driver: HypervisorDriver;
  if (values.driver === 'libvirt') {
    driver = new LibvirtDriver({
      domainType: acceleration.type,
      socketPath: values['libvirt-socket'],
      log: (level, message) => log[level](message, { component: 'libvirt' }),
    });
  } else if (values.driver === 'sim') {
    driver = new SimDriver({ hostname: values.hostname });
  } else {
    throw new Error(`--driver: unknown driver "${values.driver}" (libvirt or sim)`);
  }

  const agent = new Agent({
    gateway,
    caPem: readFileSync(caFile, 'utf8'),
    serverName: values['tls-server-name'] ?? defaultServerName(gateway),
    server: values.server,
    joinToken,
    stateDir,
    driver,
    hostname: values.hostname,
    addresses: values.address
      ?.flatMap((a) => a.split(','))
      .map((a) => a.trim())
      .filter(Boolean),
    heartbeatIntervalMs: parseDuration('heartbeat-interval', values['heartbeat-interval']!),
    startupJitterMs: parseDuration('startup-jitter', values['startup-jitter']!),
    safetyPollIntervalMs: parseDuration('safety-poll-interval', values['safety-poll-interval']!),
    shutdownTimeoutMs: parseDuration('shutdown-timeout', values['shutdown-timeout']!),
    poolMountRoot: values['pool-mount-root'],
    ...(values.driver === 'libvirt' ? { acceleration } : {}),
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
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));
  await agent.start();
  if (command === 'join' && values['exit-after-join']) {
    log.info('joined; exiting (--exit-after-join)', { node: agent.nodeName, uid: agent.nodeUid });
    await agent.stop();
    await driver.close();
    process.exit(0);
  }
  log.info('agent running', { node: agent.nodeName, uid: agent.nodeUid, gateway, driver: driver.kind });
}

main().catch((err: unknown) => {
  const code = joinErrorCodeOf(err);
  createLogger('agent').error(code ? 'join refused' : 'fatal', { ...(code ? { code } : {}), error: err instanceof Error ? err.message : String(err) });
  process.exit(code ? joinExitCode(code) : 1);
});
