/**
 * The node gateway's calls in the audit log. Each gRPC call is a non-resource request to the
 * policy: path `/quantix.gateway.v1.NodeGateway/<Method>`, verb `post`, the caller as
 * authenticated (a node certificate, a node token, a bootstrap token's `system:bootstrap:<id>`
 * user); unauthenticated calls are recorded without a user. Streaming calls
 * (WatchDesiredState, Tunnel, ConsoleSession) are long-running: ResponseStarted when the
 * gateway sends their headers, ResponseComplete when they end. The level is capped at
 * Metadata (auditor.ts gatewayCall). manifests/audit/policy.yaml keeps RegisterNode (joins)
 * and the streams, and drops Heartbeat and the status reports (None).
 *
 * The interceptor goes first in the gateway's list (innermost): it sees a call's metadata
 * before authenticate-first.ts may refuse it, and every status sent, refusals included.
 */
import * as grpc from '@grpc/grpc-js';
import { REASON_CODES } from '../../api-types/proto/errors.js';
import { REASON_METADATA_KEY } from '../../api-types/proto/contract.js';
import { newCorrelationId } from '../../lib/logging/logger.js';
import type { Authenticator, CertificateAuthenticator } from '../auth/identity.js';
import { identifyCall } from '../gateway/authenticate-first.js';
import type { Auditor } from './auditor.js';

/** gRPC codes as HTTP codes, when a status carries no Kubernetes reason. */
const GRPC_HTTP: Partial<Record<grpc.status, number>> = {
  [grpc.status.OK]: 200,
  [grpc.status.CANCELLED]: 499,
  [grpc.status.INVALID_ARGUMENT]: 400,
  [grpc.status.UNAUTHENTICATED]: 401,
  [grpc.status.PERMISSION_DENIED]: 403,
  [grpc.status.NOT_FOUND]: 404,
  [grpc.status.ALREADY_EXISTS]: 409,
  [grpc.status.ABORTED]: 409,
  [grpc.status.RESOURCE_EXHAUSTED]: 429,
  [grpc.status.UNIMPLEMENTED]: 501,
  [grpc.status.UNAVAILABLE]: 503,
  [grpc.status.DEADLINE_EXCEEDED]: 504,
};

export function httpCodeOfGrpcStatus(status: { code: grpc.status; metadata?: grpc.Metadata | null }): { code: number; reason?: string } {
  if (status.code === grpc.status.OK) return { code: 200 };
  const reason = status.metadata?.get(REASON_METADATA_KEY)[0];
  if (typeof reason === 'string' && REASON_CODES[reason]) return { code: REASON_CODES[reason].http, reason };
  return { code: GRPC_HTTP[status.code] ?? 500 };
}

/** `ipv4:127.0.0.1:5000`, `127.0.0.1:5000`, `[::1]:5000` → the address. */
export function peerAddress(peer: string): string {
  const bare = peer.replace(/^ipv[46]:/, '');
  const bracketed = /^\[([^\]]+)\]/.exec(bare);
  if (bracketed) return bracketed[1]!;
  const colon = bare.lastIndexOf(':');
  return (colon > 0 && bare.indexOf(':') === colon ? bare.slice(0, colon) : bare).replace(/^::ffff:/, '');
}

export function auditGatewayCalls(auditor: Auditor, authenticator: Authenticator, certificates?: CertificateAuthenticator): grpc.ServerInterceptor {
  return (method, call) => {
    let audit: ReturnType<Auditor['gatewayCall']> | undefined;
    let identified: Promise<void> = Promise.resolve();
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const userAgent = metadata.get('user-agent')[0];
            const correlationId = metadata.get('x-request-id')[0];
            audit = auditor.gatewayCall({
              path: method.path,
              sourceIPs: [peerAddress(call.getPeer())],
              userAgent: typeof userAgent === 'string' ? userAgent : undefined,
              correlationId: typeof correlationId === 'string' && correlationId ? correlationId : newCorrelationId(),
              longRunning: method.requestStream || method.responseStream,
            });
            const a = audit;
            // The caller, found as authenticate-first.ts finds it (node credentials are cached); the call is not held for it.
            identified = identifyCall(metadata, call.getAuthContext(), authenticator, certificates)
              .then((who) => (who ? a.authenticated(who.user) : undefined))
              .catch(() => undefined);
            pass(metadata);
          },
        });
      },
      sendMetadata(metadata, next) {
        const a = audit;
        if (a) void identified.then(() => a.started());
        next(metadata);
      },
      sendStatus(status, next) {
        const a = audit;
        if (a) {
          const { code, reason } = httpCodeOfGrpcStatus(status);
          void identified.then(() => a.complete({ code, reason, message: status.code === grpc.status.OK ? undefined : status.details }));
        }
        next(status);
      },
    });
    return intercepting;
  };
}
