/**
 * The node gateway, hosted by the apiserver process on its own port (gRPC over TLS with
 * the apiserver's serving certificate). How a process hosts it:
 *
 *   const gateway = createNodeGatewayHost({ caCertPem });
 *   const server = await startApiserver({
 *     ...,
 *     // node credentials on REST too; bootstrap tokens (for RegisterNode only: the authorizer grants them nothing else)
 *     authenticator: chainAuthenticators(tokenFile, gateway.authenticator, gateway.bootstrapTokens),
 *     extraRoutes: gateway.extraRoutes,          // storagepools/NAME/files, bootstraptokens, virtualmachines/NAME/console|vnc (WebSocket)
 *     routedResources: gateway.routedResources,
 *   });
 *   // peerUrl: this replica's URL for the others (tunnels recorded in etcd, requests forwarded)
 *   const running = await gateway.start(server.context, { port: 6444, tls, authenticator, peerUrl: 'https://10.0.0.1:6443' });
 */
import type { Express } from 'express';
import * as grpc from '@grpc/grpc-js';
import { loadGateway } from '../../api-types/proto/load.js';
import { createLogger, type Logger } from '../../lib/logging/logger.js';
import type { Authenticator } from '../auth/identity.js';
import type { ApiserverContext } from '../server.js';
import { NodeCredentialAuthenticator } from './credentials.js';
import { mountPoolFilesRoute } from './files-route.js';
import { mountConsoleRoute } from './console-route.js';
import { mountLogsRoute, type LogsRouteOptions } from '../http/logs-route.js';
import { hostname } from 'node:os';
import { type Forwarding, forwardRequest, forwardUpgrade } from './forward.js';
import { TunnelLocator } from './tunnel-locator.js';
import { heartbeatWritesCounter, NodeLeases } from './node-lease.js';
import { ObjectWriter } from './writes.js';
import { randomUUID } from 'node:crypto';
import { GatewayService, type GatewayServiceOptions } from './service.js';
import { TunnelRegistry } from './tunnel.js';
import { authenticateFirst } from './authenticate-first.js';
import { auditGatewayCalls } from '../audit/grpc.js';
import { BOOTSTRAP_TOKEN_FORMAT, BootstrapTokens } from './bootstrap-tokens.js';
import { BOOTSTRAP_TOKENS_RESOURCE, mountBootstrapTokenRoutes } from './bootstrap-token-routes.js';
import { mountNodeRevokeRoute } from './revoke-route.js';
import type { NodeApproval } from './registration.js';
import { caCertHash } from '../../lib/pki/ca-cert-hash.js';
import { readFileSync } from 'node:fs';
import { nodeDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { NotFoundError } from '../storage/errors.js';
import { type ClusterCaFiles, signNodeCertificate } from '../pki/node-certificates.js';
import { limitNodeCallRates, NodeCallRates, type NodeRates } from './rate-limit.js';
import { DEFAULT_RPC_LIMITS, largestRequest, limitedService, refuseOverLimit, type RpcLimit } from './request-limits.js';

export { DEFAULT_GATEWAY_PORT } from '../../api-types/proto/contract.js';

/**
 * Concurrent streams (calls) per HTTP/2 connection. An agent holds two streams for good
 * (WatchDesiredState, Tunnel), one per open console session (at most
 * MAX_CONSOLE_SESSIONS_PER_NODE, tunnel.ts) and a few unary calls at a time; agents in one
 * process (tests) share one connection, two streams each. A call past the limit waits, client side, until
 * a stream ends: a connection cannot make the gateway buffer more than this many messages.
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

export interface GatewayStartOptions {
  /** 0 = any free port. */
  port: number;
  host?: string;
  tls: { certPem: string; keyPem: string };
  /** Resolves bearer tokens (bootstrap tokens, node credentials, admin). */
  authenticator: Authenticator;
  /**
   * The cluster CA's files: with them the gateway signs the certificate requests of joining
   * nodes and asks every caller for a client certificate (optional: bootstrap tokens and
   * admins still come with bearer tokens), which authenticates nodes by mutual TLS.
   */
  clusterCa?: ClusterCaFiles;
  /** Validity of issued node certificates (default DEFAULT_NODE_CERT_DAYS). */
  nodeCertificateDays?: number;
  /** `manual`: a newly joined Node stays unschedulable until an admin approves it (`qxctl node approve`). */
  nodeApproval?: NodeApproval;
  discoveredNamespace?: string;
  terminatedRetentionMs?: number;
  /** Host-discovered VMs one node may have recorded (service.ts DEFAULT_MAX_DISCOVERED_PER_NODE). */
  maxDiscoveredPerNode?: number;
  /** How often Terminated host-discovered VMs are garbage-collected (default 60 s; 0 = never). */
  gcIntervalMs?: number;
  /** Concurrent streams per connection (default DEFAULT_MAX_CONCURRENT_STREAMS). */
  maxConcurrentStreams?: number;
  /** Per-RPC request limits, by method name (default request-limits.ts DEFAULT_RPC_LIMITS). */
  rpcLimits?: Readonly<Record<string, RpcLimit>>;
  /** Per-node rates of heartbeats and notifications (default rate-limit.ts DEFAULT_NODE_RATES). */
  nodeRates?: NodeRates;
  /**
   * This replica's apiserver URL as the other replicas reach it (https://host:port; its
   * serving certificate must name the host, and the cluster CA, NodeGatewayHostOptions.caCertPem,
   * verify it). With it the tunnels of agents connected here are recorded in etcd and requests
   * for nodes connected to another replica are forwarded there (tunnel-locator.ts, forward.ts);
   * without it such requests get 503.
   */
  peerUrl?: string;
  log?: Logger;
}

export interface RunningGateway {
  port: number;
  /** host:port for agents. */
  address: string;
  service: GatewayService;
  /** This replica's heartbeat sessions and node Leases (node-lease.ts). */
  leases: NodeLeases;
  /** Stops at once: open streams end with UNAVAILABLE (agents reconnect). */
  stop(): Promise<void>;
}

export interface NodeGatewayHost {
  /** Node credentials as an Authenticator (chain it into the apiserver's and the gateway's). */
  authenticator: NodeCredentialAuthenticator;
  /** Join tokens (`qxctl token create`) as an Authenticator: chain it into the gateway's. */
  bootstrapTokens: BootstrapTokens;
  tunnels: TunnelRegistry;
  /** Pass as ApiserverOptions.extraRoutes: binds the credentials to etcd, mounts the pool files, console, logs and bootstrap token routes. */
  extraRoutes(app: Express, context: ApiserverContext): void;
  /** Pass as ApiserverOptions.routedResources. */
  routedResources: string[];
  /** Sets the cluster CA whose pin goes with new bootstrap tokens (when not known at creation). */
  setClusterCa(caCertPem: string): void;
  start(context: ApiserverContext, options: GatewayStartOptions): Promise<RunningGateway>;
}

export interface NodeGatewayHostOptions {
  /** The cluster CA: its pin (lib/pki/ca-cert-hash.ts) goes with every new bootstrap token. */
  caCertPem?: string;
  /**
   * GET /logs (http/logs-route.ts): this apiserver's --log-dir, its host's name (default
   * os.hostname()) and the route's bounds. The agents answer through their tunnels, the
   * other replicas through their API.
   */
  logs?: LogsRouteOptions & { dir?: string; nodeName?: string };
}

export function createNodeGatewayHost(hostOptions: NodeGatewayHostOptions = {}): NodeGatewayHost {
  const authenticator = new NodeCredentialAuthenticator();
  const bootstrapTokens = new BootstrapTokens();
  const log = createLogger('apiserver').child({ subsystem: 'gateway' });
  const tunnels = new TunnelRegistry(log);
  let pin = hostOptions.caCertPem ? caCertHash(hostOptions.caCertPem) : undefined;
  let caCertPem = hostOptions.caCertPem;
  // Set by start() when the replica has a peer URL; the routes look it up per request.
  let locator: TunnelLocator | undefined;
  const forwarding: Forwarding = {
    async peerFor(node) {
      return locator && caCertPem ? locator.peerFor(node) : undefined;
    },
    forwardUpgrade(req, socket, head, peerUrl) {
      forwardUpgrade(req, socket, head, peerUrl, caCertPem!, locator!.replica);
    },
    forwardRequest(req, res, peerUrl) {
      return forwardRequest(req, res, peerUrl, caCertPem!, locator!.replica);
    },
  };
  return {
    authenticator,
    bootstrapTokens,
    tunnels,
    routedResources: [BOOTSTRAP_TOKENS_RESOURCE],
    setClusterCa(pem) {
      pin = caCertHash(pem);
      caCertPem = pem;
    },
    extraRoutes(app, context) {
      authenticator.attach(context.etcd, nodeUidLookup(context));
      bootstrapTokens.attach(context.etcd);
      mountPoolFilesRoute(app, context, tunnels, forwarding);
      mountConsoleRoute(app, context, tunnels, forwarding);
      const nodes = context.stores.get(nodeDefinition as unknown as ResourceDefinition);
      mountLogsRoute(
        app,
        {
          logDir: hostOptions.logs?.dir,
          nodeName: hostOptions.logs?.nodeName ?? hostname(),
          connectedNodes: () => tunnels.connectedNodes(),
          readAgentLogs: (node, request, timeoutMs) => tunnels.readLogs(node, request, timeoutMs),
          peers: async () => (locator ? locator.peers() : []),
          nodeNames: async () => (await nodes.list()).items.map((n) => n.metadata.name ?? '').filter(Boolean),
          peerTls: () => (locator && caCertPem ? { caPem: caCertPem, replica: locator.replica } : undefined),
        },
        hostOptions.logs,
      );
      mountBootstrapTokenRoutes(app, bootstrapTokens, () => pin);
      mountNodeRevokeRoute(app, authenticator);
    },
    start(context, options) {
      authenticator.attach(context.etcd, nodeUidLookup(context));
      bootstrapTokens.attach(context.etcd);
      const own = options.peerUrl ? new TunnelLocator(context.etcd, options.peerUrl, options.log ?? log) : undefined;
      locator = own;
      if (own) void own.registerReplica();
      // One id per replica: the tunnel records' and the node Leases' holder (node-lease.ts).
      const leases = new NodeLeases({
        context,
        writer: new ObjectWriter(context),
        replica: own?.replica ?? randomUUID(),
        writes: heartbeatWritesCounter(context.metrics.registry),
        log: options.log ?? log,
      });
      tunnels.onTunnelChange = (node, here) => {
        if (own) void (here ? own.recordLocal(node) : own.forgetLocal(node));
        // The agent's session here ended without a heartbeat lapse: its Lease goes now.
        if (!here) void leases.sessionClosed(node);
      };
      leases.start();
      return startNodeGateway(context, { ...options, log: options.log ?? log }, authenticator, bootstrapTokens, tunnels, leases, () => locator?.stop());
    },
  };
}

async function startNodeGateway(
  context: ApiserverContext,
  options: GatewayStartOptions & { log: Logger },
  credentials: NodeCredentialAuthenticator,
  bootstrapTokens: BootstrapTokens,
  tunnels: TunnelRegistry,
  leases: NodeLeases,
  stopLocator: () => Promise<void> | undefined,
): Promise<RunningGateway> {
  const serviceOptions: GatewayServiceOptions = {
    authenticator: options.authenticator,
    credentials: credentials.store,
    bootstrapTokens,
    ...(options.clusterCa
      ? {
          certificates: credentials,
          signCertificate: (csrPem: string, node: string) => signNodeCertificate(options.clusterCa!, csrPem, node, options.nodeCertificateDays),
        }
      : {}),
    tunnels,
    discoveredNamespace: options.discoveredNamespace,
    nodeApproval: options.nodeApproval,
    terminatedRetentionMs: options.terminatedRetentionMs,
    maxDiscoveredPerNode: options.maxDiscoveredPerNode,
    leases,
    log: options.log,
  };
  const service = new GatewayService(context, serviceOptions);
  const rpcLimits = options.rpcLimits ?? DEFAULT_RPC_LIMITS;
  const nodeCertificates = options.clusterCa ? credentials : undefined;
  const server = new grpc.Server({
    // Agents keep streams open for days; let them ping and detect dead peers on both sides.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    // Each RPC has its own, smaller limit (request-limits.ts); this one bounds what is buffered.
    'grpc.max_receive_message_length': largestRequest(rpcLimits),
    'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    // In this order (after the audit): nothing of a call is read before its caller is known (authenticate-first.ts),
    // then its node's rate is taken (rate-limit.ts); a request past its RPC's limits is not
    // decoded (request-limits.ts).
    interceptors: [
      // First, so innermost: the audit sees every call and every status, refusals included.
      ...(context.audit ? [auditGatewayCalls(context.audit, options.authenticator, nodeCertificates)] : []),
      authenticateFirst(options.authenticator, (token) => refusalOf(bootstrapTokens, token), nodeCertificates),
      limitNodeCallRates(options.authenticator, new NodeCallRates(options.nodeRates), nodeCertificates),
      refuseOverLimit(),
    ],
  });
  server.addService(limitedService(loadGateway().service, rpcLimits), service.implementation());
  const credentialsTls = options.clusterCa
    ? // requestCert without requiring one: nodes present their certificate, others a bearer token.
      grpc.experimental.createCertificateProviderServerCredentials(
        staticCertificates(readFileSync(options.clusterCa.certFile), {
          certificate: Buffer.from(options.tls.certPem),
          privateKey: Buffer.from(options.tls.keyPem),
        }),
        // One provider in both places: grpc-js 1.14 passes its arguments to the constructor in
        // the opposite order to the one its typings name.
        staticCertificates(readFileSync(options.clusterCa.certFile), {
          certificate: Buffer.from(options.tls.certPem),
          privateKey: Buffer.from(options.tls.keyPem),
        }),
        false,
      )
    : grpc.ServerCredentials.createSsl(null, [{ private_key: Buffer.from(options.tls.keyPem), cert_chain: Buffer.from(options.tls.certPem) }], false);
  const host = options.host ?? '0.0.0.0';
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${host.includes(':') ? `[${host}]` : host}:${options.port}`, credentialsTls, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
  const gcEvery = options.gcIntervalMs ?? 60_000;
  const gcTimer =
    gcEvery > 0
      ? setInterval(() => void service.collectGarbage().catch((err: Error) => options.log.warn('gc failed', { error: err.message })), gcEvery)
      : undefined;
  gcTimer?.unref();
  const address = `${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${port}`;
  options.log.info('node gateway listening', { address: `${host}:${port}` });
  return {
    port,
    address,
    service,
    leases,
    async stop() {
      if (gcTimer) clearInterval(gcTimer);
      // First: the tunnels closing below release no Lease (a stopped replica vouches for nothing; the agents move).
      leases.stop();
      tunnels.closeAll();
      await stopLocator();
      server.forceShutdown();
    },
  };
}

/** A refused token that has the bootstrap token format: why (expired, revoked, used...), for the caller. */
export async function refusalOf(bootstrapTokens: BootstrapTokens, token: string) {
  if (!BOOTSTRAP_TOKEN_FORMAT.test(token)) return undefined;
  const result = await bootstrapTokens.check(token).catch(() => undefined);
  return result && 'refusal' in result ? result.refusal : undefined;
}

/**
 * A Node's current uid (a credential of a deleted or re-created Node is refused). The watch
 * cache answers when it holds the Node; etcd is asked only when the cache has no such Node
 * (one registered a moment ago) or another uid (re-created a moment ago), so a busy fleet's
 * authentication costs no etcd read per call. In the 300-node scale run a consistent read per
 * credential check was 126 etcd reads/s, each waiting as long as the writes (up to 16 s).
 * A Node deleted a moment ago may still be in the cache for as long as the watch lags
 * (milliseconds); its verified credentials are dropped from memory on deletion all the same.
 */
function nodeUidLookup(context: ApiserverContext) {
  const nodes = context.stores.get(nodeDefinition as unknown as ResourceDefinition);
  const read = async (name: string, cached: boolean): Promise<string | undefined> => {
    try {
      return (await nodes.get(undefined, name, cached ? { resourceVersion: '0' } : undefined)).metadata.uid;
    } catch (err) {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }
  };
  return async (name: string, expectedUid?: string): Promise<string | undefined> => {
    const cached = await read(name, true);
    if (cached !== undefined && (expectedUid === undefined || cached === expectedUid)) return cached;
    return read(name, false);
  };
}

/**
 * A grpc-js certificate provider for certificates that do not change while the process runs.
 * It answers a listener on the next tick, as grpc-js's file watcher does: the credentials
 * register their own watcher only after adding the listener, and miss an answer given at once.
 */
function staticCertificates(caCertificate: Buffer, identity: { certificate: Buffer; privateKey: Buffer }): grpc.experimental.CertificateProvider {
  return {
    addCaCertificateListener: (listener) => queueMicrotask(() => listener({ caCertificate })),
    removeCaCertificateListener: () => undefined,
    addIdentityCertificateListener: (listener) => queueMicrotask(() => listener(identity)),
    removeIdentityCertificateListener: () => undefined,
  };
}
