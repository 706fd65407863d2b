/**
 * The node's client certificate, as kubelet's: a key made on this host (kept 0600 in the
 * state dir; it never leaves the host), a certificate request for it sent with RegisterNode,
 * and the certificate the gateway signs. From then on the node authenticates by mutual TLS.
 * It is renewed at RENEW_AT of its lifetime (kubelet: 70–90 %), by registering again with
 * the current certificate and a new request.
 */
import { execFile } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The share of a certificate's lifetime after which the agent renews it. */
export const RENEW_AT = 0.7;

/** The node name the gateway derives from a hostname (apiserver/gateway/registration.ts nodeNameFor). */
export function nodeNameOfHostname(hostname: string): string {
  return hostname.trim().toLowerCase().replace(/\.$/, '');
}

/** A PKCS#10 request for the key in `keyFile`, naming the node as the gateway requires. */
export async function certificateRequest(keyFile: string, node: string): Promise<string> {
  const { stdout } = await run('openssl', ['req', '-new', '-key', keyFile, '-subj', `/O=quantix:nodes/CN=quantix:node:${node}`]);
  return stdout;
}

export interface CertificateTimes {
  notBefore: number;
  notAfter: number;
}

export function certificateTimes(certPem: string): CertificateTimes {
  const cert = new X509Certificate(certPem);
  return { notBefore: Date.parse(cert.validFrom), notAfter: Date.parse(cert.validTo) };
}

/** When to renew: RENEW_AT of the way from notBefore to notAfter (ms since the epoch). */
export function renewalTime({ notBefore, notAfter }: CertificateTimes, renewAt = RENEW_AT): number {
  return notBefore + (notAfter - notBefore) * renewAt;
}

/** Still good to authenticate with: not expired (with a minute's margin for clock skew). */
export function usable(certPem: string | undefined, now: number): boolean {
  if (!certPem) return false;
  try {
    return certificateTimes(certPem).notAfter - 60_000 > now;
  } catch {
    return false;
  }
}
