/**
 * The node gateway, hosted by the apiserver process on its own port (gRPC over TLS with
 * the apiserver's serving certificate). How a process hosts it:
 *
 *   const gateway = createNodeGatewayHost();
 *   const server = await startApiserver({
 *     ...,
 *     authenticator: chainAuthenticators(tokenFile, gateway.authenticator), // node credentials on REST too
 *     extraRoutes: gateway.extraRoutes,                                      // storagepools/NAME/files
 *   });
 *   const running = await gateway.start(server.context, { port: 6444, tls, authenticator });
 */
import type { Express } from 'express';
import * as grpc from '@grpc/grpc-js';
import { loadGateway } from '../../api-types/proto/load.js';
import { createLogger, type Logger } from '../../lib/logging/logger.js';
import type { Authenticator } from '../auth/identity.js';
import type { ApiserverContext } from '../server.js';
import { NodeCredentialAuthenticator } from './credentials.js';
import { mountPoolFilesRoute } from './files-route.js';
import { GatewayService, type GatewayServiceOptions } from './service.js';
import { TunnelRegistry } from './tunnel.js';
import { authenticateFirst } from './authenticate-first.js';
import { limitNodeCallRates, NodeCallRates, type NodeRates } from './rate-limit.js';
import { DEFAULT_RPC_LIMITS, largestRequest, limitedService, refuseOverLimit, type RpcLimit } from './request-limits.js';

export { DEFAULT_GATEWAY_PORT } from '../../api-types/proto/contract.js';

/**
 * Concurrent streams (calls) per HTTP/2 connection. An agent holds two streams for good
 * (WatchDesiredState, Tunnel) and a few unary calls at a time; agents in one process (tests)
 * share one connection, two streams each. A call past the limit waits, client side, until
 * a stream ends: a connection cannot make the gateway buffer more than this many messages.
 */
export const DEFAULT_MAX_CONCURRENT_STREAMS = 100;

export interface GatewayStartOptions {
  /** 0 = any free port. */
  port: number;
  host?: string;
  tls: { certPem: string; keyPem: string };
  /** Resolves bearer tokens (join token, node credentials, admin). */
  authenticator: Authenticator;
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
  log?: Logger;
}

export interface RunningGateway {
  port: number;
  /** host:port for agents. */
  address: string;
  service: GatewayService;
  /** Stops at once: open streams end with UNAVAILABLE (agents reconnect). */
  stop(): Promise<void>;
}

export interface NodeGatewayHost {
  /** Node credentials as an Authenticator (chain it into the apiserver's and the gateway's). */
  authenticator: NodeCredentialAuthenticator;
  tunnels: TunnelRegistry;
  /** Pass as ApiserverOptions.extraRoutes: binds the credentials to etcd and mounts the pool files route. */
  extraRoutes(app: Express, context: ApiserverContext): void;
  start(context: ApiserverContext, options: GatewayStartOptions): Promise<RunningGateway>;
}

export function createNodeGatewayHost(): NodeGatewayHost {
  const authenticator = new NodeCredentialAuthenticator();
  const log = createLogger('gateway');
  const tunnels = new TunnelRegistry(log);
  return {
    authenticator,
    tunnels,
    extraRoutes(app, context) {
      authenticator.attach(context.etcd);
      mountPoolFilesRoute(app, context, tunnels);
    },
    start(context, options) {
      authenticator.attach(context.etcd);
      return startNodeGateway(context, { ...options, log: options.log ?? log }, authenticator, tunnels);
    },
  };
}

async function startNodeGateway(
  context: ApiserverContext,
  options: GatewayStartOptions & { log: Logger },
  credentials: NodeCredentialAuthenticator,
  tunnels: TunnelRegistry,
): Promise<RunningGateway> {
  const serviceOptions: GatewayServiceOptions = {
    authenticator: options.authenticator,
    credentials: credentials.store,
    tunnels,
    discoveredNamespace: options.discoveredNamespace,
    terminatedRetentionMs: options.terminatedRetentionMs,
    maxDiscoveredPerNode: options.maxDiscoveredPerNode,
    log: options.log,
  };
  const service = new GatewayService(context, serviceOptions);
  const rpcLimits = options.rpcLimits ?? DEFAULT_RPC_LIMITS;
  const server = new grpc.Server({
    // Agents keep streams open for days; let them ping and detect dead peers on both sides.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    // Each RPC has its own, smaller limit (request-limits.ts); this one bounds what is buffered.
    'grpc.max_receive_message_length': largestRequest(rpcLimits),
    'grpc.max_concurrent_streams': options.maxConcurrentStreams ?? DEFAULT_MAX_CONCURRENT_STREAMS,
    // In this order: nothing of a call is read before its caller is known (authenticate-first.ts),
    // then its node's rate is taken (rate-limit.ts); a request past its RPC's limits is not
    // decoded (request-limits.ts).
    interceptors: [
      authenticateFirst(options.authenticator),
      limitNodeCallRates(options.authenticator, new NodeCallRates(options.nodeRates)),
      refuseOverLimit(),
    ],
  });
  server.addService(limitedService(loadGateway().service, rpcLimits), service.implementation());
  const credentialsTls = grpc.ServerCredentials.createSsl(
    null,
    [{ private_key: Buffer.from(options.tls.keyPem), cert_chain: Buffer.from(options.tls.certPem) }],
    false,
  );
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
    async stop() {
      if (gcTimer) clearInterval(gcTimer);
      tunnels.closeAll();
      server.forceShutdown();
    },
  };
}
