/**
 * The structured error codes of host join (issue 16, point 4): the "Add host" flow (the
 * control plane probing a host's registration API), the agent's `join` (bootstrap token,
 * pinned CA) and the gateway's registration. One definition per code: the HTTP status an
 * API answers it with, one line of guidance for the admin, and qxctl's exit code. The
 * same code travels in a Kubernetes Status (`reason`, and `details.causes[0].reason`),
 * gRPC trailers, qxctl and the web UI. Browser-safe: imports nothing.
 */

export interface HostJoinErrorDefinition {
  /** HTTP status an API answers with (the host's registration API, the apiserver). */
  readonly httpStatus: number;
  /** qxctl's exit code (20–33: after the generic codes 0–9 of cli/errors.ts). */
  readonly exitCode: number;
  /** One line for the admin: what is wrong and what to do. */
  readonly guidance: string;
}

export const HostJoinErrorCodes = {
  HOST_CONNECTION_FAILED: {
    httpStatus: 502,
    exitCode: 20,
    guidance: 'Nothing accepted the connection: check the host address and port, and that quantix-agent runs there (`systemctl status quantix-agent`).',
  },
  CONNECTION_TIMEOUT: {
    httpStatus: 504,
    exitCode: 21,
    guidance: 'The host did not answer in time: check firewalls between the control plane and the host, and that the agent is not overloaded.',
  },
  NETWORK_UNREACHABLE: {
    httpStatus: 502,
    exitCode: 22,
    guidance: 'No route to the host: check the address, the control plane’s routes and VLANs.',
  },
  TLS_ERROR: {
    httpStatus: 502,
    exitCode: 23,
    guidance:
      'The host’s certificate is not the one expected: compare the fingerprint in the agent’s log (`quantix-agent token` prints it) and pass it with --fingerprint.',
  },
  CA_MISMATCH: {
    httpStatus: 502,
    exitCode: 24,
    guidance: 'The cluster CA does not match the pinned --ca-cert-hash: copy the hash from `qxctl token create` again; do not join an unknown server.',
  },
  HOST_API_NOT_AVAILABLE: {
    httpStatus: 502,
    exitCode: 25,
    guidance: 'The address answers but has no Quantix registration API: is this the agent’s registration port, and is the agent started without credentials?',
  },
  INVALID_RESPONSE: {
    httpStatus: 502,
    exitCode: 26,
    guidance: 'The host answered something that is not the registration API (e.g. HTML): check the port; another service may listen there.',
  },
  HOST_FIRMWARE_OUTDATED: {
    httpStatus: 412,
    exitCode: 27,
    guidance: 'The host’s agent is older than the version-skew policy allows: upgrade quantix-agent on the host, then retry.',
  },
  TOKEN_MISSING: {
    httpStatus: 401,
    exitCode: 28,
    guidance: 'No token was given, or the host has none: run `quantix-agent token` on the host and pass it with --token.',
  },
  TOKEN_INVALID: {
    httpStatus: 401,
    exitCode: 29,
    guidance: 'The token does not match: copy it again from `quantix-agent token` on the host (or `qxctl token list`).',
  },
  TOKEN_EXPIRED: {
    httpStatus: 401,
    exitCode: 30,
    guidance: 'The token has expired: run `quantix-agent token` on the host for a new one (or `qxctl token create` for a bootstrap token) and retry.',
  },
  TOKEN_REVOKED: {
    httpStatus: 401,
    exitCode: 31,
    guidance: 'The token was revoked: create a new one with `qxctl token create`.',
  },
  TOKEN_ALREADY_USED: {
    httpStatus: 401,
    exitCode: 32,
    guidance: 'The single-use token was already used: create a new one with `qxctl token create`.',
  },
  HOSTNAME_TAKEN: {
    httpStatus: 409,
    exitCode: 33,
    guidance: 'Another machine owns a Node with this hostname: give this host another name, or replace the old node explicitly.',
  },
} as const satisfies Record<string, HostJoinErrorDefinition>;

export type HostJoinErrorCode = keyof typeof HostJoinErrorCodes;

export const HOST_JOIN_ERROR_CODES = Object.keys(HostJoinErrorCodes) as HostJoinErrorCode[];

export function isHostJoinErrorCode(value: unknown): value is HostJoinErrorCode {
  return typeof value === 'string' && Object.hasOwn(HostJoinErrorCodes, value);
}

export function guidanceFor(code: HostJoinErrorCode): string {
  return HostJoinErrorCodes[code].guidance;
}

export function exitCodeFor(code: HostJoinErrorCode): number {
  return HostJoinErrorCodes[code].exitCode;
}

export function httpStatusFor(code: HostJoinErrorCode): number {
  return HostJoinErrorCodes[code].httpStatus;
}

/** A failure carrying its code; `message` says what happened this time (never a secret). */
export class HostJoinError extends Error {
  constructor(
    readonly code: HostJoinErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'HostJoinError';
  }

  get guidance(): string {
    return guidanceFor(this.code);
  }
}

/**
 * The Kubernetes Status for a code: `reason` is the code itself (kubectl prints
 * `Error from server (TOKEN_EXPIRED): …`), and `details.causes[0]` repeats it with the guidance.
 */
export function hostJoinStatus(code: HostJoinErrorCode, message: string) {
  return {
    kind: 'Status' as const,
    apiVersion: 'v1' as const,
    metadata: {},
    status: 'Failure' as const,
    code: httpStatusFor(code),
    reason: code,
    message,
    details: { causes: [{ reason: code, message: guidanceFor(code) }] },
  };
}

/** The code in a Status-like object (its reason, or its first cause's), if it is one. */
export function hostJoinCodeOf(status: { reason?: string; details?: { causes?: { reason?: string }[] } } | undefined): HostJoinErrorCode | undefined {
  if (isHostJoinErrorCode(status?.reason)) return status.reason;
  const cause = status?.details?.causes?.[0]?.reason;
  return isHostJoinErrorCode(cause) ? cause : undefined;
}
