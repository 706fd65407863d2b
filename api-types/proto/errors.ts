/**
 * Gateway errors carry the Kubernetes Status reasons of the HTTP API. The gRPC status code
 * is derived from the reason (one table, used by the gateway to send and by the agent to
 * read), the reason itself travels in the `quantix-reason` trailer and the whole Status
 * object, JSON-encoded, in `quantix-status-bin`.
 */
import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import type { Status } from '../meta.js';
import { REASON_METADATA_KEY, STATUS_METADATA_KEY } from './contract.js';

/** Kubernetes reason → gRPC code (and the HTTP code the reason has on the REST API). */
export const REASON_CODES: Record<string, { grpc: GrpcStatus; http: number }> = {
  BadRequest: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 400 },
  Invalid: { grpc: GrpcStatus.INVALID_ARGUMENT, http: 422 },
  Unauthorized: { grpc: GrpcStatus.UNAUTHENTICATED, http: 401 },
  Forbidden: { grpc: GrpcStatus.PERMISSION_DENIED, http: 403 },
  NotFound: { grpc: GrpcStatus.NOT_FOUND, http: 404 },
  AlreadyExists: { grpc: GrpcStatus.ALREADY_EXISTS, http: 409 },
  Conflict: { grpc: GrpcStatus.ABORTED, http: 409 },
  Gone: { grpc: GrpcStatus.OUT_OF_RANGE, http: 410 },
  Expired: { grpc: GrpcStatus.OUT_OF_RANGE, http: 410 },
  MethodNotAllowed: { grpc: GrpcStatus.UNIMPLEMENTED, http: 405 },
  RequestEntityTooLarge: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 413 },
  TooManyRequests: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 429 },
  InternalError: { grpc: GrpcStatus.INTERNAL, http: 500 },
  ServiceUnavailable: { grpc: GrpcStatus.UNAVAILABLE, http: 503 },
  /** etcd's space quota is exhausted (NOSPACE alarm): every write is refused until an admin reclaims space. */
  InsufficientStorage: { grpc: GrpcStatus.RESOURCE_EXHAUSTED, http: 507 },
  Timeout: { grpc: GrpcStatus.DEADLINE_EXCEEDED, http: 504 },
};

/** gRPC code → the reason it stands for when a call failed without our trailer (transport errors). */
const CODE_REASONS: Partial<Record<GrpcStatus, string>> = {
  [GrpcStatus.INVALID_ARGUMENT]: 'BadRequest',
  [GrpcStatus.UNAUTHENTICATED]: 'Unauthorized',
  [GrpcStatus.PERMISSION_DENIED]: 'Forbidden',
  [GrpcStatus.NOT_FOUND]: 'NotFound',
  [GrpcStatus.ALREADY_EXISTS]: 'AlreadyExists',
  [GrpcStatus.ABORTED]: 'Conflict',
  [GrpcStatus.OUT_OF_RANGE]: 'Expired',
  [GrpcStatus.RESOURCE_EXHAUSTED]: 'TooManyRequests',
  [GrpcStatus.UNAVAILABLE]: 'ServiceUnavailable',
  [GrpcStatus.DEADLINE_EXCEEDED]: 'Timeout',
  [GrpcStatus.CANCELLED]: 'ServiceUnavailable',
};

/** Builds the ServiceError a gateway handler returns for a Kubernetes Status. */
export function grpcErrorFromStatus(status: Status): Partial<ServiceError> {
  const reason = status.reason ?? 'InternalError';
  const metadata = new Metadata();
  metadata.set(REASON_METADATA_KEY, reason);
  metadata.set(STATUS_METADATA_KEY, Buffer.from(JSON.stringify(status)));
  return { code: REASON_CODES[reason]?.grpc ?? GrpcStatus.UNKNOWN, details: status.message ?? reason, metadata };
}

/** A failed gateway call, as the agent sees it. */
export class GatewayError extends Error {
  constructor(
    /** The Kubernetes reason (from the trailer, else derived from the gRPC code). */
    readonly reason: string,
    message: string,
    readonly grpcCode: number,
    readonly status?: Status,
  ) {
    super(message);
    this.name = 'GatewayError';
  }

  /** How long the gateway asked the caller to wait before trying again (Status details.retryAfterSeconds), if it did. */
  get retryAfterMs(): number | undefined {
    const seconds = this.status?.details?.retryAfterSeconds;
    return typeof seconds === 'number' && seconds > 0 ? seconds * 1000 : undefined;
  }

  /** Transport trouble or an overloaded/unavailable control plane: retry later. */
  get retryable(): boolean {
    return ['ServiceUnavailable', 'Timeout', 'TooManyRequests', 'InternalError', 'Conflict', 'InsufficientStorage'].includes(this.reason);
  }
}

export function gatewayErrorFrom(err: unknown): GatewayError {
  if (err instanceof GatewayError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e?.code !== 'number') return new GatewayError('InternalError', err instanceof Error ? err.message : String(err), GrpcStatus.UNKNOWN);
  const reasonValue = e.metadata?.get(REASON_METADATA_KEY)[0];
  const statusValue = e.metadata?.get(STATUS_METADATA_KEY)[0];
  let status: Status | undefined;
  if (Buffer.isBuffer(statusValue)) {
    try {
      status = JSON.parse(statusValue.toString('utf8')) as Status;
    } catch {
      status = undefined;
    }
  }
  const reason = typeof reasonValue === 'string' ? reasonValue : (CODE_REASONS[e.code as GrpcStatus] ?? 'InternalError');
  const message = status?.message ?? e.details ?? e.message ?? reason;
  return new GatewayError(reason, message, e.code, status);
}
