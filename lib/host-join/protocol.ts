/**
 * The host registration API: what an agent without credentials serves over HTTPS on its
 * host, and what the control plane's "Add host" flow calls (issue 16, point 3). Shared by
 * the server (agent/registration/) and the prober (controllers/hostjoin/). Browser-safe.
 *
 *   GET  /v1/ping      no authentication: agent version, hostname, API version
 *   GET  /v1/token     Authorization: Bearer <host token>: 200 when it is valid
 *   GET  /v1/hardware  (token) what the host has: CPU, memory, disks, NICs, versions
 *   POST /v1/join      (token) {server, bootstrapToken, caCertHash}: the host joins the cluster
 *
 * Failures are Kubernetes Status objects whose reason is a host-join code (codes.ts).
 */

export const REGISTRATION_API_VERSION = 'registration.quantix.io/v1';
export const REGISTRATION_PATHS = { ping: '/v1/ping', token: '/v1/token', hardware: '/v1/hardware', join: '/v1/join' } as const;
export const DEFAULT_REGISTRATION_PORT = 9443;

/**
 * Version-skew policy: the oldest agent the control plane accepts. Older agents lack parts
 * of the join protocol (per-node certificates), so they are refused with HOST_FIRMWARE_OUTDATED.
 */
export const MIN_AGENT_VERSION = '0.1.0';

export interface PingResponse {
  apiVersion: string;
  agentVersion: string;
  hostname: string;
  /** The host's clock (RFC 3339): a large skew explains certificate and token expiry errors. */
  time: string;
}

export interface TokenCheckResponse {
  valid: true;
  hostname: string;
  expiresAt: string;
}

export interface HostDisk {
  name: string;
  sizeBytes: number;
  model?: string;
  rotational?: boolean;
}

export interface HostNic {
  name: string;
  mac?: string;
  addresses: string[];
  state?: string;
  speedMbps?: number;
}

export interface HostHardware {
  hostname: string;
  agentVersion: string;
  cpu: { model: string; count: number; arch?: string };
  memoryBytes: number;
  disks: HostDisk[];
  nics: HostNic[];
  libvirtVersion?: string;
  hypervisorVersion?: string;
  kvm?: boolean;
}

export interface JoinRequest {
  /** The apiserver URL the host joins. */
  server: string;
  /** The bootstrap token the host registers with (a secret: never logged). */
  bootstrapToken: string;
  /** sha256:<hex> of the cluster CA's public key (SubjectPublicKeyInfo, DER), as kubeadm pins it. */
  caCertHash: string;
}

export interface JoinResponse {
  /** The Node the host registered as. */
  nodeName: string;
}

/** Compares dotted versions numerically (`0.10.0` > `0.9.1`); a pre-release suffix is ignored. */
export function compareVersions(a: string, b: string): number {
  const parts = (v: string) =>
    v
      .replace(/^v/, '')
      .split(/[-+]/)[0]!
      .split('.')
      .map((p) => Number.parseInt(p, 10) || 0);
  const pa = parts(a);
  const pb = parts(b);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/** `sha256:AB:CD:…`, `sha256:abcd…` or `AB:CD:…` → lowercase hex without separators; undefined when malformed. */
export function normalizeFingerprint(value: string): string | undefined {
  const hex = value
    .trim()
    .replace(/^sha256:/i, '')
    .replace(/:/g, '')
    .toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

/** The form shown to admins and stored in status: `sha256:` + colon-separated uppercase pairs (as openssl prints). */
export function formatFingerprint(hex: string): string {
  return `sha256:${hex.toUpperCase().match(/../g)!.join(':')}`;
}
