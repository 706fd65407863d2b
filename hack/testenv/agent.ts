/**
 * Test environment for the agent and the node gateway:
 *
 *   const cp = await startTestControlPlane();           // etcd + apiserver + gateway, in process
 *   const fleet = await startSimAgents(cp, 3);           // 3 agents on sim drivers: sim-node-0..2
 *   fleet.agents[0].nodeName, fleet.drivers[0].crashDomain(uuid) …
 *   await fleet.stop(); await cp.stop();
 *
 * `startAgent(cp, { driver, hostname })` starts one agent on any driver (the libvirt
 * end-to-end suite uses it with the real driver). Agents run with test-friendly timings
 * (no start-up jitter, 1 s heartbeats) unless told otherwise.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Agent, type AgentOptions } from '../../agent/agent.js';
import { GatewayClient } from '../../agent/gateway-client.js';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { CLEANUP_FINALIZER } from '../../api-types/proto/contract.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import type { HypervisorDriver } from '../../agent/hypervisor/driver.js';
import { SimDriver, type SimDriverOptions } from '../../agent/hypervisor/sim/driver.js';
import { TokenFileAuthenticator } from '../../apiserver/auth/token-file.js';
import { chainAuthenticators } from '../../apiserver/auth/identity.js';
import {
  createNodeGatewayHost,
  type GatewayStartOptions,
  type NodeGatewayHost,
  type NodeGatewayHostOptions,
  type RunningGateway,
} from '../../apiserver/gateway/index.js';
import { ensureServingCertificates } from '../../apiserver/pki/certificates.js';
import { MAX_TTL_SECONDS } from '../../apiserver/gateway/bootstrap-tokens.js';
import { startTestApiserver, type TestApiserver, type TestApiserverOptions } from './apiserver.js';
import { recordTestSecrets } from './test-logs.js';
import { startApiserver, type RunningApiserver } from '../../apiserver/server.js';

export interface TestControlPlane {
  /** etcd, apiserver (with node credentials and the pool files route), kubeconfigs. */
  env: TestApiserver;
  gateway: RunningGateway;
  /** host:port agents connect to. */
  gatewayAddress: string;
  host: NodeGatewayHost;
  /** A bootstrap token agents join with (reusable, valid for days). */
  joinToken: string;
  /** Stops apiserver and gateway (etcd keeps running): "the control plane is down". */
  stopControlPlane(): Promise<void>;
  /** Starts both again on the same ports. */
  startControlPlane(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestControlPlaneOptions extends TestApiserverOptions {
  gateway?: Partial<Omit<GatewayStartOptions, 'port' | 'tls' | 'authenticator'>>;
  /** GET /logs: the apiserver's log dir, host name and bounds. */
  logs?: NodeGatewayHostOptions['logs'];
}

export async function startTestControlPlane(options: TestControlPlaneOptions = {}): Promise<TestControlPlane> {
  const host = createNodeGatewayHost({ logs: options.logs });
  const env = await startTestApiserver({
    ...options,
    extraAuthenticators: [host.authenticator, host.bootstrapTokens, ...(options.extraAuthenticators ?? [])],
    extra: { ...options.extra, extraRoutes: host.extraRoutes, routedResources: host.routedResources },
    certificateAuthenticator: host.authenticator,
  });
  // The same files the test apiserver serves with (already created: this only reads them).
  const pki = ensureServingCertificates(env.dataDir);
  host.setClusterCa(pki.caCertPem);
  const authenticator = chainAuthenticators(TokenFileAuthenticator.fromFile(join(env.dataDir, 'tokens.csv')), host.authenticator, host.bootstrapTokens);
  const { token: joinToken } = await host.bootstrapTokens.create({ ttlSeconds: MAX_TTL_SECONDS, description: 'test environment' }, 'test');
  recordTestSecrets(joinToken);
  const startGateway = (port: number) =>
    host.start(env.apiserver.context, {
      port,
      host: '127.0.0.1',
      tls: { certPem: pki.certPem, keyPem: pki.keyPem },
      authenticator,
      clusterCa: { certFile: join(pki.dir, 'ca.crt'), keyFile: join(pki.dir, 'ca.key') },
      gcIntervalMs: 0,
      // Tunnels are recorded in etcd, so a second replica (startApiserverReplica) can forward to this one.
      peerUrl: env.apiserver.url,
      ...options.gateway,
    });
  let gateway = await startGateway(0);
  const port = gateway.port;
  let up = true;
  const cp: TestControlPlane = {
    env,
    get gateway() {
      return gateway;
    },
    gatewayAddress: `127.0.0.1:${port}`,
    host,
    joinToken,
    async stopControlPlane() {
      if (!up) return;
      up = false;
      await gateway.stop();
      await env.stopApiserver();
    },
    async startControlPlane() {
      if (up) return;
      await env.restartApiserver();
      gateway = await startGateway(port);
      up = true;
    },
    async stop() {
      if (up) await gateway.stop();
      up = false;
      await env.stop();
    },
  } as TestControlPlane;
  return cp;
}

export interface ApiserverReplica {
  apiserver: RunningApiserver;
  /** https://127.0.0.1:PORT of this replica's API. */
  url: string;
  gateway: RunningGateway;
  /** host:port of this replica's gateway (for agents: `startAgent(cp, { gateway: replica.gatewayAddress, … })`). */
  gatewayAddress: string;
  host: NodeGatewayHost;
  stop(): Promise<void>;
}

/**
 * Another apiserver replica, with its own node gateway, on the control plane's etcd: the same
 * PKI, static tokens and cluster CA (what a second `quantix-apiserver` of one cluster has).
 * Each replica records the tunnels of the agents connected to it and forwards requests for
 * other nodes to the replica holding theirs.
 */
export async function startApiserverReplica(cp: TestControlPlane, options: { logs?: NodeGatewayHostOptions['logs'] } = {}): Promise<ApiserverReplica> {
  const host = createNodeGatewayHost({ logs: options.logs });
  const pki = ensureServingCertificates(cp.env.dataDir);
  host.setClusterCa(pki.caCertPem);
  const authenticator = chainAuthenticators(TokenFileAuthenticator.fromFile(join(cp.env.dataDir, 'tokens.csv')), host.authenticator, host.bootstrapTokens);
  const apiserver = await startApiserver({
    etcdEndpoints: cp.env.etcd.endpoints,
    etcdTls: cp.env.etcd.tls,
    port: 0,
    host: '127.0.0.1',
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    authenticator,
    clientCertificates: { caPem: pki.caCertPem, authenticator: host.authenticator },
    extraRoutes: host.extraRoutes,
    routedResources: host.routedResources,
  });
  const gateway = await host.start(apiserver.context, {
    port: 0,
    host: '127.0.0.1',
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    authenticator,
    clusterCa: { certFile: join(pki.dir, 'ca.crt'), keyFile: join(pki.dir, 'ca.key') },
    gcIntervalMs: 0,
    peerUrl: apiserver.url,
  });
  return {
    apiserver,
    url: apiserver.url,
    gateway,
    gatewayAddress: gateway.address,
    host,
    async stop() {
      await gateway.stop();
      await apiserver.stop();
    },
  };
}

export interface StartAgentOptions extends Partial<Omit<AgentOptions, 'driver'>> {
  driver: HypervisorDriver;
  hostname: string;
  /** Default: a fresh temp dir (removed by stop unless given). */
  stateDir?: string;
}

export interface TestAgent {
  agent: Agent;
  stateDir: string;
  stop(): Promise<void>;
}

/** Starts one in-process agent against the control plane; resolves once it is registered and has its desired state. */
export async function startAgent(cp: TestControlPlane, options: StartAgentOptions): Promise<TestAgent> {
  const ownDir = options.stateDir === undefined;
  const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), `quantix-agent-${options.hostname}-`));
  const agent = new Agent({
    gateway: cp.gatewayAddress,
    caPem: cp.env.caCertPem,
    server: cp.env.apiserver.url,
    joinToken: cp.joinToken,
    startupJitterMs: 0,
    heartbeatIntervalMs: 1_000,
    safetyPollIntervalMs: 2_000,
    shutdownTimeoutMs: 5_000,
    addresses: ['127.0.0.1'],
    ...options,
    stateDir,
  });
  await agent.start();
  return {
    agent,
    stateDir,
    async stop() {
      await agent.stop();
      if (ownDir) rmSync(stateDir, { recursive: true, force: true });
    },
  };
}

export interface SimFleet {
  agents: Agent[];
  drivers: SimDriver[];
  /** sim-node-0, sim-node-1, … (or the names given). */
  hostnames: string[];
  stop(): Promise<void>;
}

/**
 * N agents on sim drivers, each with its own hostname (= Node name) and state dir. Each
 * sim host has a `default` dir pool-compatible capacity; assign StoragePools to the nodes
 * to get pools defined there.
 */
export async function startSimAgents(
  cp: TestControlPlane,
  count: number,
  options: { hostnames?: string[]; sim?: SimDriverOptions; agent?: Partial<Omit<AgentOptions, 'driver'>> } = {},
): Promise<SimFleet> {
  const hostnames = options.hostnames ?? Array.from({ length: count }, (_, i) => `sim-node-${i}`);
  const drivers = hostnames.map((hostname) => new SimDriver({ hostname, ...options.sim }));
  const started = await Promise.all(hostnames.map((hostname, i) => startAgent(cp, { driver: drivers[i]!, hostname, ...options.agent })));
  return {
    agents: started.map((s) => s.agent),
    drivers,
    hostnames,
    async stop() {
      await Promise.all(started.map((s) => s.stop()));
      await Promise.all(drivers.map((d) => d.close()));
    },
  };
}

/**
 * A stand-in for the vm controller's finalizer handling, for suites that run without the
 * controller-manager: adds `quantix.io/vm-cleanup` to new managed VMs and removes it once
 * the agent reports cleanup done (Synced=True, reason Deleted) or the VM is unmanaged —
 * the contract of controllers/vm/vm_reconcile_deletion.ts.
 */
export function startFinalizerStandIn(cp: TestControlPlane): { stop(): void } {
  const def = virtualMachineDefinition as unknown as ResourceDefinition;
  let stopped = false;
  let watch: { stop(): void } | undefined;
  const handle = async (vm: VirtualMachine) => {
    const store = cp.env.apiserver.context.stores.get(def);
    const finalizers = vm.metadata.finalizers ?? [];
    const synced = vm.status?.conditions?.find((c) => c.type === 'Synced');
    const release =
      vm.metadata.deletionTimestamp &&
      finalizers.includes(CLEANUP_FINALIZER) &&
      (vm.status?.managed === false || (synced?.status === 'True' && synced.reason === 'Deleted') || !vm.spec?.nodeName);
    const add = !vm.metadata.deletionTimestamp && !finalizers.includes(CLEANUP_FINALIZER) && vm.status?.origin !== 'host-discovered';
    if (!release && !add) return;
    await store
      .guaranteedUpdate(vm.metadata.namespace, vm.metadata.name!, (current) => {
        const list = current.metadata.finalizers ?? [];
        if (release) return { ...current, metadata: { ...current.metadata, finalizers: list.filter((f) => f !== CLEANUP_FINALIZER) } };
        if (current.metadata.deletionTimestamp || list.includes(CLEANUP_FINALIZER)) return null;
        return { ...current, metadata: { ...current.metadata, finalizers: [...list, CLEANUP_FINALIZER] } };
      })
      .catch(() => undefined);
  };
  const open = () => {
    if (stopped) return;
    watch = cp.env.apiserver.context.stores.get(def).watch(
      {},
      (ev) => {
        if (ev.type === 'ADDED' || ev.type === 'MODIFIED') void handle(ev.object as VirtualMachine);
      },
      () => setTimeout(open, 200),
    );
  };
  open();
  return {
    stop() {
      stopped = true;
      watch?.stop();
    },
  };
}

/**
 * Raw gateway clients for suites that speak the node protocol themselves: `registered(name)`
 * registers a host through the gateway with the join token and returns a client holding its
 * node credential. `close()` closes every client made.
 */
export function gatewayClients(cp: TestControlPlane): {
  client(token: string): GatewayClient;
  registered(hostname: string): Promise<GatewayClient>;
  close(): void;
} {
  const made: GatewayClient[] = [];
  const client = (token: string) => {
    const c = new GatewayClient({ address: cp.gatewayAddress, caPem: cp.env.caCertPem, serverName: 'localhost' });
    c.setToken(token);
    made.push(c);
    return c;
  };
  return {
    client,
    async registered(hostname) {
      const res = await client(cp.joinToken).registerNode({ hostname, machineId: `machine-${hostname}` }, cp.joinToken);
      return client(res.credential);
    },
    close() {
      for (const c of made) c.close();
    },
  };
}
