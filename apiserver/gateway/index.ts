/**
 * The node gateway, hosted by the apiserver process on its own port (gRPC over TLS with
 * the apiserver's serving certificate). How a process hosts it:
 *
 *   const gateway = createNodeGatewayHost({ caCertPem });
 *   const server = await startApiserver({
 *     ...,
 *     // node credentials on REST too; bootstrap tokens (for RegisterNode only: the authorizer grants them nothing else)
 *     authenticator: chainAuthenticators(tokenFile, gateway.authenticator, gateway.bootstrapTokens),
 *     extraRoutes: gateway.extraRoutes,          // storagepools/NAME/files, bootstraptokens
 *     routedResources: gateway.routedResources,
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
import { BOOTSTRAP_TOKEN_FORMAT, BootstrapTokens } from './bootstrap-tokens.js';
import { BOOTSTRAP_TOKENS_RESOURCE, mountBootstrapTokenRoutes } from './bootstrap-token-routes.js';
import { caCertHash } from '../../lib/pki/ca-cert-hash.js';

export { DEFAULT_GATEWAY_PORT } from '../../api-types/proto/contract.js';

export interface GatewayStartOptions {
  /** 0 = any free port. */
  port: number;
  host?: string;
  tls: { certPem: string; keyPem: string };
  /** Resolves bearer tokens (bootstrap tokens, node credentials, admin). */
  authenticator: Authenticator;
  discoveredNamespace?: string;
  terminatedRetentionMs?: number;
  /** Host-discovered VMs one node may have recorded (service.ts DEFAULT_MAX_DISCOVERED_PER_NODE). */
  maxDiscoveredPerNode?: number;
  /** How often Terminated host-discovered VMs are garbage-collected (default 60 s; 0 = never). */
  gcIntervalMs?: number;
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
  /** Join tokens (`qxctl token create`) as an Authenticator: chain it into the gateway's. */
  bootstrapTokens: BootstrapTokens;
  tunnels: TunnelRegistry;
  /** Pass as ApiserverOptions.extraRoutes: binds the credentials to etcd, mounts the pool files and bootstrap token routes. */
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
}

export function createNodeGatewayHost(hostOptions: NodeGatewayHostOptions = {}): NodeGatewayHost {
  const authenticator = new NodeCredentialAuthenticator();
  const bootstrapTokens = new BootstrapTokens();
  const log = createLogger('gateway');
  const tunnels = new TunnelRegistry(log);
  let pin = hostOptions.caCertPem ? caCertHash(hostOptions.caCertPem) : undefined;
  return {
    authenticator,
    bootstrapTokens,
    tunnels,
    routedResources: [BOOTSTRAP_TOKENS_RESOURCE],
    setClusterCa(caCertPem) {
      pin = caCertHash(caCertPem);
    },
    extraRoutes(app, context) {
      authenticator.attach(context.etcd);
      bootstrapTokens.attach(context.etcd);
      mountPoolFilesRoute(app, context, tunnels);
      mountBootstrapTokenRoutes(app, bootstrapTokens, () => pin);
    },
    start(context, options) {
      authenticator.attach(context.etcd);
      bootstrapTokens.attach(context.etcd);
      return startNodeGateway(context, { ...options, log: options.log ?? log }, authenticator, bootstrapTokens, tunnels);
    },
  };
}

async function startNodeGateway(
  context: ApiserverContext,
  options: GatewayStartOptions & { log: Logger },
  credentials: NodeCredentialAuthenticator,
  bootstrapTokens: BootstrapTokens,
  tunnels: TunnelRegistry,
): Promise<RunningGateway> {
  const serviceOptions: GatewayServiceOptions = {
    authenticator: options.authenticator,
    credentials: credentials.store,
    bootstrapTokens,
    tunnels,
    discoveredNamespace: options.discoveredNamespace,
    terminatedRetentionMs: options.terminatedRetentionMs,
    maxDiscoveredPerNode: options.maxDiscoveredPerNode,
    log: options.log,
  };
  const service = new GatewayService(context, serviceOptions);
  const server = new grpc.Server({
    // Agents keep streams open for days; let them ping and detect dead peers on both sides.
    'grpc.keepalive_time_ms': 30_000,
    'grpc.keepalive_timeout_ms': 10_000,
    'grpc.keepalive_permit_without_calls': 1,
    'grpc.http2.min_ping_interval_without_data_ms': 5_000,
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    // Nothing of a call is read before its caller is known (authenticate-first.ts).
    interceptors: [authenticateFirst(options.authenticator, (token) => refusalOf(bootstrapTokens, token))],
  });
  server.addService(loadGateway().service, service.implementation());
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

/** A refused token that has the bootstrap token format: why (expired, revoked, used...), for the caller. */
export async function refusalOf(bootstrapTokens: BootstrapTokens, token: string) {
  if (!BOOTSTRAP_TOKEN_FORMAT.test(token)) return undefined;
  const result = await bootstrapTokens.check(token).catch(() => undefined);
  return result && 'refusal' in result ? result.refusal : undefined;
}
