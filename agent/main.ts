#!/usr/bin/env node
/**
 * quantix-agent entry point: flags → Agent. See agent/README.md.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, setLogLevel } from '../lib/logging/logger.js';
import { Agent, AGENT_DEFAULTS } from './agent.js';
import type { HypervisorDriver } from './hypervisor/driver.js';
import { LibvirtDriver } from './hypervisor/libvirt/driver.js';
import { SimDriver } from './hypervisor/sim/driver.js';
import { DEFAULT_GATEWAY_PORT } from '../api-types/proto/contract.js';
import { chooseAcceleration, defaultServerName, parseDuration } from './flags.js';

const HELP = `quantix-agent: runs on every hypervisor host; makes libvirt match the VMs and pools
assigned to this node and reports what is true, through the node gateway.

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
  --log-level LEVEL          error | warn | info | debug
Durations: 500ms, 10s, 2m, or a number of seconds.
`;

async function main(): Promise<void> {
  const { values } = parseArgs({
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
  const caFile = values['ca-file'] ?? [path.join(stateDir, 'ca.crt'), path.resolve('.quantix/pki/ca.crt')].find((f) => existsSync(f));
  if (!caFile) throw new Error('no CA: pass --ca-file (the apiserver writes its CA to <data-dir>/pki/ca.crt)');
  const joinToken = values['join-token-file'] ? readFileSync(values['join-token-file'], 'utf8').trim() : undefined;

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
  log.info('agent running', { node: agent.nodeName, uid: agent.nodeUid, gateway, driver: driver.kind });
}

main().catch((err: unknown) => {
  createLogger('agent').error('fatal', { error: err instanceof Error ? err.message : String(err) });
  process.exit(1);
});
