/**
 * The agent's side of the node gateway: one gRPC channel (HTTP/2, TLS against the
 * apiserver's CA), the bearer token in every call's metadata, deadlines on unary calls,
 * and errors decoded into GatewayError (Kubernetes reason + message).
 */
import * as grpc from '@grpc/grpc-js';
import { gatewayErrorFrom } from '../api-types/proto/errors.js';
import { loadGateway } from '../api-types/proto/load.js';
import { gatewayTarget } from './flags.js';
import type {
  DesiredStateEvent,
  HeartbeatRequest,
  HeartbeatResponse,
  Init,
  RegisterNodeRequest,
  RegisterNodeResponse,
  ImageReport,
  ImageReportAck,
  StorageChangeAck,
  StorageChangeNotification,
  SyncFullStateRequest,
  SyncFullStateResponse,
  ConsoleFrame,
  TunnelRequest,
  TunnelResponse,
  VMChangeAck,
  VMChangeNotification,
  WatchDesiredStateRequest,
} from '../api-types/proto/types.js';

export const DEFAULT_CALL_TIMEOUT_MS = 15_000;

export interface GatewayClientOptions {
  /** host:port, or several replicas' IP:PORT, comma-separated (flags.ts gatewayTarget). */
  address: string;
  caPem: string;
  /** TLS server name when the address is not in the certificate (default: the address host). */
  serverName?: string;
  callTimeoutMs?: number;
  /**
   * A connection of this client's own. grpc-js otherwise shares one connection among the
   * clients of a process with equal credentials: a benchmark simulating many hosts in one
   * process sets it, so each host has its own connection as it would on its own machine.
   */
  ownConnection?: boolean;
}

type Unary<Req, Res> = (
  req: Req,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res: Res) => void,
) => grpc.ClientUnaryCall;

export class GatewayClient {
  #client: grpc.Client & Record<string, unknown>;
  readonly #timeoutMs: number;
  readonly #options: GatewayClientOptions;
  #token = '';

  constructor(options: GatewayClientOptions) {
    this.#options = options;
    this.#client = GatewayClient.#connect(options);
    this.#timeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
  }

  static #connect(options: GatewayClientOptions, identity?: { keyPem: string; certPem: string }): grpc.Client & Record<string, unknown> {
    const { client: Ctor } = loadGateway();
    const channelOptions: grpc.ChannelOptions = {
      // Find a dead gateway (or a dead path to it) within seconds, also on idle streams.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.initial_reconnect_backoff_ms': 200,
      'grpc.max_reconnect_backoff_ms': 5_000,
      'grpc.max_receive_message_length': 16 * 1024 * 1024,
      ...(options.ownConnection ? { 'grpc.use_local_subchannel_pool': 1 } : {}),
    };
    if (options.serverName) channelOptions['grpc.ssl_target_name_override'] = options.serverName;
    const tls = identity
      ? grpc.credentials.createSsl(Buffer.from(options.caPem), Buffer.from(identity.keyPem), Buffer.from(identity.certPem))
      : grpc.credentials.createSsl(Buffer.from(options.caPem));
    return new Ctor(gatewayTarget(options.address), tls, channelOptions) as grpc.Client & Record<string, unknown>;
  }

  /**
   * From now on, authenticate by this client certificate (mutual TLS) instead of a bearer
   * token: a new channel (calls and streams on the old one end; the agent reopens them).
   */
  presentClientCertificate(keyPem: string, certPem: string): void {
    const old = this.#client;
    this.#client = GatewayClient.#connect(this.#options, { keyPem, certPem });
    this.#token = '';
    old.close();
  }

  /** The bearer token for the following calls (join token, then the node credential). */
  setToken(token: string): void {
    this.#token = token;
  }

  #metadata(token = this.#token): grpc.Metadata {
    const md = new grpc.Metadata();
    if (token) md.set('authorization', `Bearer ${token}`);
    return md;
  }

  #unary<Req, Res>(method: string, req: Init<Req>, token?: string, timeoutMs = this.#timeoutMs): Promise<Res> {
    const fn = this.#client[method] as Unary<Init<Req>, Res>;
    return new Promise<Res>((resolve, reject) => {
      fn.call(this.#client, req, this.#metadata(token), { deadline: Date.now() + timeoutMs }, (err, res) => {
        if (err) reject(gatewayErrorFrom(err));
        else resolve(res);
      });
    });
  }

  registerNode(req: Init<RegisterNodeRequest>, token: string): Promise<RegisterNodeResponse> {
    return this.#unary('RegisterNode', req, token);
  }

  heartbeat(req: Init<HeartbeatRequest>): Promise<HeartbeatResponse> {
    return this.#unary('Heartbeat', req);
  }

  syncFullState(req: Init<SyncFullStateRequest>): Promise<SyncFullStateResponse> {
    // A full sync of a busy host writes many objects: give it more time.
    return this.#unary('SyncFullState', req, undefined, this.#timeoutMs * 4);
  }

  notifyVmChange(req: Init<VMChangeNotification>): Promise<VMChangeAck> {
    return this.#unary('NotifyVMChange', req);
  }

  notifyStorageChange(req: Init<StorageChangeNotification>): Promise<StorageChangeAck> {
    return this.#unary('NotifyStorageChange', req);
  }

  reportImages(req: Init<ImageReport>): Promise<ImageReportAck> {
    return this.#unary('ReportImages', req);
  }

  watchDesiredState(req: Init<WatchDesiredStateRequest>): grpc.ClientReadableStream<DesiredStateEvent> {
    const fn = this.#client.WatchDesiredState as (req: Init<WatchDesiredStateRequest>, md: grpc.Metadata) => grpc.ClientReadableStream<DesiredStateEvent>;
    return fn.call(this.#client, req, this.#metadata());
  }

  /** One console session's bytes (agent/console-sessions.ts). */
  consoleSession(): grpc.ClientDuplexStream<ConsoleFrame, ConsoleFrame> {
    const fn = this.#client.ConsoleSession as (md: grpc.Metadata) => grpc.ClientDuplexStream<ConsoleFrame, ConsoleFrame>;
    return fn.call(this.#client, this.#metadata());
  }

  tunnel(): grpc.ClientDuplexStream<TunnelResponse, TunnelRequest> {
    const fn = this.#client.Tunnel as (md: grpc.Metadata) => grpc.ClientDuplexStream<TunnelResponse, TunnelRequest>;
    return fn.call(this.#client, this.#metadata());
  }

  close(): void {
    this.#client.close();
  }
}
