/**
 * Loads the node gateway proto at runtime (no codegen step for the wire code): the service
 * definition for the gateway server and the client constructor for the agent.
 */
import { fileURLToPath } from 'node:url';
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';

export const GATEWAY_PROTO_PATH = fileURLToPath(new URL('./quantix/gateway/v1/gateway.proto', import.meta.url));

/** The decode options `types.ts` is generated for: keep them in step with generate.ts. */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = {
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
};

export const GATEWAY_SERVICE_NAME = 'quantix.gateway.v1.NodeGateway';

let cached: { service: grpc.ServiceDefinition; client: grpc.ServiceClientConstructor } | undefined;

export function loadGateway(): { service: grpc.ServiceDefinition; client: grpc.ServiceClientConstructor } {
  if (cached) return cached;
  const definition = protoLoader.loadSync(GATEWAY_PROTO_PATH, PROTO_LOADER_OPTIONS);
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    quantix: { gateway: { v1: { NodeGateway: grpc.ServiceClientConstructor } } };
  };
  const client = pkg.quantix.gateway.v1.NodeGateway;
  cached = { service: client.service, client };
  return cached;
}
