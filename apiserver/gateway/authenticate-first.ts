/**
 * Every gateway call is authenticated from its metadata before any of its messages is read.
 *
 * Without this the handler authenticated after grpc-js had read and decoded the request:
 * anyone who could reach the port could make the apiserver decode 16 MiB messages, and a
 * message of many small repeated entries grows the heap about 78 times its size (1 MB cost
 * 77 MB). A server interceptor sees the metadata first; until it passes them on, the handler
 * has not asked for the message, so it is neither read nor decoded (HTTP/2 flow control
 * holds the sender to a window). A refused call ends with the same Unauthorized status, in
 * the same trailers, as the handlers send.
 *
 * Handlers still authenticate for themselves (they need the user); node credentials are
 * cached, so the second lookup costs no etcd read.
 */
import * as grpc from '@grpc/grpc-js';
import { grpcErrorFromStatus } from '../../api-types/proto/errors.js';
import { errors } from '../../lib/apimachinery/status-error.js';
import type { ApiError } from '../../lib/apimachinery/status-error.js';
import type { Authenticator, CertificateAuthenticator, UserInfo } from '../auth/identity.js';

export type { CertificateAuthenticator } from '../auth/identity.js';

/** What grpc-js tells of a call's TLS peer (its AuthContext, which it does not export by name). */
export interface CallAuthContext {
  sslPeerCertificate?: { subject?: object; serialNumber?: string };
}

/**
 * Who makes a call: its client certificate when the TLS layer verified one against the
 * cluster CA (a node), else its bearer token. `token` is set when the token decided.
 */
export async function identifyCall(
  metadata: grpc.Metadata,
  authContext: CallAuthContext | undefined,
  authenticator: Authenticator,
  certificates: CertificateAuthenticator | undefined,
): Promise<{ user: UserInfo; token?: string } | undefined> {
  const peer = authContext?.sslPeerCertificate;
  if (peer?.subject && peer.serialNumber && certificates) {
    // Node's parsed peer certificate as it is (parsing the DER again per call costs a third of a heartbeat).
    const subject = Object.entries(peer.subject as Record<string, string | string[]>)
      .map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('+') : value}`)
      .join('\n');
    const user = await certificates.authenticateCertificate({ subject, serialNumber: peer.serialNumber }).catch(() => undefined);
    if (user) return { user };
  }
  const token = bearer(metadata);
  const user = token ? await authenticator.authenticate(token).catch(() => undefined) : undefined;
  return user ? { user, token } : undefined;
}

export function bearer(metadata: grpc.Metadata): string | undefined {
  const value = metadata.get('authorization')[0];
  if (typeof value !== 'string') return undefined;
  return /^Bearer\s+(.+)$/i.exec(value)?.[1]?.trim();
}

/** Why a token was refused, when more can be said than "not valid" (a bootstrap token's TOKEN_* code). */
export type RefusalExplainer = (token: string) => Promise<ApiError | undefined>;

export function authenticateFirst(authenticator: Authenticator, explain?: RefusalExplainer, certificates?: CertificateAuthenticator): grpc.ServerInterceptor {
  return (_method, call) => {
    const intercepting: grpc.ServerInterceptingCall = new grpc.ServerInterceptingCall(call, {
      start(next) {
        next({
          onReceiveMetadata(metadata, pass) {
            const token = bearer(metadata);
            const verified = identifyCall(metadata, call.getAuthContext(), authenticator, certificates).catch(() => undefined);
            void verified.then(async (identified) => {
              if (identified) return pass(metadata);
              const explained = token && explain ? await explain(token).catch(() => undefined) : undefined;
              const refusal =
                explained ??
                (token
                  ? errors.unauthorized('Unauthorized: the bearer token is not valid')
                  : errors.unauthorized('Unauthorized: no valid node certificate and no bearer token in the call metadata (authorization: Bearer <token>)'));
              const status = grpcErrorFromStatus(refusal.toStatus());
              intercepting.sendStatus({
                code: status.code ?? grpc.status.UNAUTHENTICATED,
                details: status.details ?? refusal.message,
                metadata: status.metadata,
              });
            });
          },
        });
      },
    });
    return intercepting;
  };
}
