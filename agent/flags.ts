/** Flag parsing helpers of quantix-agent. */
import { existsSync } from 'node:fs';
import type { DomainType } from './hypervisor/driver.js';

/** `500ms`, `10s`, `2m`, `1h`, or a bare number of seconds → milliseconds. */
export function parseDuration(flag: string, value: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(value.trim());
  if (!m) throw new Error(`--${flag}: invalid duration "${value}" (use e.g. 500ms, 10s, 2m)`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[unit]!);
}

/**
 * The TLS name to verify the gateway's certificate for. Dialled by IP, "localhost": every
 * apiserver serving certificate carries it (apiserver/pki/certificates.ts), while the IP
 * may not be among its SANs; the certificate is still checked against the Quantix CA.
 */
export function defaultServerName(gateway: string): string | undefined {
  const first = gateway.split(',')[0]!.trim(); // several endpoints: replicas of one cluster, one certificate name
  const host = first.startsWith('[') ? first.slice(1, first.indexOf(']')) : first.slice(0, first.lastIndexOf(':'));
  return /^[\d.]+$/.test(host) || host.includes(':') ? 'localhost' : undefined;
}

/**
 * --gateway → the gRPC channel's target: one endpoint (HOST:PORT, [V6]:PORT) as it is, or
 * several apiserver replicas' endpoints, comma-separated. With several, the channel uses the
 * first that answers and, when it goes away, the next that does (grpc-js's pick_first over
 * the list), so the agent's session moves to a live replica by itself. grpc-js resolves one
 * DNS name only: several endpoints must be IP addresses of one family (or name one balancer
 * in front of the replicas, docs/ha.md).
 */
export function gatewayTarget(value: string): string {
  const endpoints = value.split(',').map((e) => e.trim());
  for (const e of endpoints) {
    const port = Number(e.slice(e.lastIndexOf(':') + 1));
    const host = e.slice(0, Math.max(0, e.lastIndexOf(':')));
    if (!host || !/^\d+$/.test(e.slice(e.lastIndexOf(':') + 1)) || port < 1 || port > 65535)
      throw new Error(`--gateway: "${e}" is not HOST:PORT (in "${value}")`);
  }
  if (endpoints.length === 1) return endpoints[0]!;
  if (endpoints.every((e) => /^\d{1,3}(\.\d{1,3}){3}:\d+$/.test(e))) return `ipv4:${endpoints.join(',')}`;
  if (endpoints.every((e) => /^\[[\da-fA-F:.]+\]:\d+$/.test(e))) return `ipv6:${endpoints.join(',')}`;
  throw new Error(`--gateway: several endpoints must all be IPv4 or all IPv6 addresses with a port, got "${value}" (for host names, name one balancer)`);
}

/** --acceleration → the libvirt domain type, and why it was chosen (Node status shows both). */
export function chooseAcceleration(mode: string, kvmDevice = existsSync('/dev/kvm'), reason?: string): { type: DomainType; source: string } {
  switch (mode) {
    case 'kvm':
      if (!kvmDevice) throw new Error('--acceleration kvm: /dev/kvm does not exist on this host (use tcg, or auto)');
      return { type: 'kvm', source: reason ?? 'flag: --acceleration kvm' };
    case 'tcg':
      return { type: 'qemu', source: reason ?? 'flag: --acceleration tcg' };
    case 'auto':
      return kvmDevice ? { type: 'kvm', source: 'probe: /dev/kvm exists' } : { type: 'qemu', source: 'probe: /dev/kvm does not exist' };
    default:
      throw new Error(`--acceleration: unknown mode "${mode}" (kvm, tcg or auto)`);
  }
}

/** The longest self-fencing timeout (the gateway refuses a longer one in a heartbeat). */
export const MAX_SELF_FENCE_TIMEOUT_MS = 86_400_000;

/**
 * --self-fence-timeout against the heartbeat interval: 0 is off; otherwise at least three
 * heartbeats must fit in it (one lost heartbeat must not fence a healthy host), at most a day.
 */
export function checkSelfFenceTimeout(timeoutMs: number, heartbeatIntervalMs: number): number {
  if (timeoutMs === 0) return 0;
  if (timeoutMs < 3 * heartbeatIntervalMs) {
    throw new Error(
      `--self-fence-timeout: ${timeoutMs}ms is shorter than three heartbeat intervals (${3 * heartbeatIntervalMs}ms); use 0 to turn self-fencing off`,
    );
  }
  if (timeoutMs > MAX_SELF_FENCE_TIMEOUT_MS) throw new Error(`--self-fence-timeout: ${timeoutMs}ms is longer than a day`);
  return timeoutMs;
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` (all addresses) → host and port. */
export function parseListen(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`--${flag}: invalid address "${value}" (use HOST:PORT, e.g. 0.0.0.0:9443)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}
