/**
 * `quantix-agent join`: before a host sends anything to the control plane (its token least
 * of all), it finds the cluster CA in the apiserver's TLS handshake and checks it against
 * the pin the admin gave it (`--ca-cert-hash sha256:...`, printed by `qxctl token create`).
 * No trust on first use: a CA that does not match is refused with CA_MISMATCH, and the
 * handshake's certificate must be signed by the pinned CA. The CA is then kept in the state
 * dir and every later connection verifies against it.
 */
import { X509Certificate } from 'node:crypto';
import { connect, type PeerCertificate } from 'node:tls';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HostJoinError, hostJoinCodeOf, type HostJoinErrorCode } from '../lib/host-join/codes.js';
import { caCertHash, CA_CERT_HASH_FORMAT } from '../lib/pki/ca-cert-hash.js';

/** A join failure: a host-join code (lib/host-join/codes.ts, the one definition) and what happened. */
export class JoinError extends HostJoinError {
  constructor(code: HostJoinErrorCode, message: string) {
    super(code, message);
    this.name = 'JoinError';
  }
}

export const DEFAULT_CA_FETCH_TIMEOUT_MS = 10_000;

/** Checks the --ca-cert-hash flag's form; the message names the flag. */
export function parseCaCertHash(value: string | undefined): string {
  const hash = (value ?? '').trim().toLowerCase();
  if (!CA_CERT_HASH_FORMAT.test(hash)) {
    throw new JoinError(
      'CA_MISMATCH',
      `--ca-cert-hash: expected sha256:<64 hex digits> (as printed by \`qxctl token create\`), got ${JSON.stringify(value ?? '')}`,
    );
  }
  return hash;
}

/** The certificates of a handshake's chain, leaf first (Node links them by issuerCertificate). */
function chainOf(peer: PeerCertificate & { issuerCertificate?: PeerCertificate }): X509Certificate[] {
  const chain: X509Certificate[] = [];
  const seen = new Set<string>();
  let current: (PeerCertificate & { issuerCertificate?: PeerCertificate }) | undefined = peer;
  while (current?.raw && !seen.has(current.fingerprint256)) {
    seen.add(current.fingerprint256);
    chain.push(new X509Certificate(current.raw));
    current = current.issuerCertificate;
  }
  return chain;
}

/**
 * Connects to `server` (an https URL), takes the CA from its certificate chain and returns
 * it as PEM when its key matches `expectedHash` and it signed the serving certificate.
 */
export function fetchPinnedCa(server: string, expectedHash: string, timeoutMs = DEFAULT_CA_FETCH_TIMEOUT_MS): Promise<string> {
  const url = new URL(server);
  if (url.protocol !== 'https:') return Promise.reject(new JoinError('TLS_ERROR', `--server must be an https:// URL, got ${server}`));
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 443);
  return new Promise<string>((resolve, reject) => {
    const socket = connect({
      host,
      port,
      // The chain is checked below against the pin, not against any system CA.
      rejectUnauthorized: false,
      ...(/^[\d.]+$/.test(host) || host.includes(':') ? {} : { servername: host }),
    });
    const fail = (err: JoinError) => {
      socket.destroy();
      reject(err);
    };
    socket.setTimeout(timeoutMs, () => fail(new JoinError('CONNECTION_TIMEOUT', `${url.host} did not complete a TLS handshake within ${timeoutMs} ms`)));
    socket.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'ECONNREFUSED') fail(new JoinError('HOST_CONNECTION_FAILED', `nothing listens on ${url.host} (connection refused)`));
      else if (err.code === 'ENETUNREACH' || err.code === 'EHOSTUNREACH') fail(new JoinError('NETWORK_UNREACHABLE', `no route to ${url.host} (${err.code})`));
      else if (err.code === 'ETIMEDOUT') fail(new JoinError('CONNECTION_TIMEOUT', `connecting to ${url.host} timed out`));
      else fail(new JoinError('TLS_ERROR', `TLS handshake with ${url.host} failed: ${err.message}`));
    });
    socket.once('secureConnect', () => {
      const chain = chainOf(socket.getPeerCertificate(true));
      socket.end();
      const [leaf] = chain;
      if (!leaf) return fail(new JoinError('TLS_ERROR', `${url.host} presented no certificate`));
      const ca = chain.find((cert) => cert.ca && caCertHash(cert) === expectedHash);
      if (!ca) {
        const seen = chain.filter((cert) => cert.ca).map((cert) => `${cert.subject.replace(/\n/g, ', ')} (${caCertHash(cert)})`);
        return fail(
          new JoinError(
            'CA_MISMATCH',
            `the CA of ${url.host} does not match --ca-cert-hash ${expectedHash}: ${seen.length ? `it presented ${seen.join('; ')}` : 'it presented no CA certificate'}. ` +
              'Check the server address, and take the hash from `qxctl token create` on the cluster',
          ),
        );
      }
      if (!leaf.checkIssued(ca) || !leaf.verify(ca.publicKey)) {
        return fail(new JoinError('CA_MISMATCH', `the serving certificate of ${url.host} is not signed by the pinned CA`));
      }
      resolve(ca.toString());
    });
  });
}

/**
 * The host-join code of a failure, if it has one: a HostJoinError's (JoinError included), or
 * the one the gateway put on a refused registration (`causes[0].reason`: TOKEN_EXPIRED,
 * HOSTNAME_TAKEN, ...).
 */
export function joinErrorCodeOf(err: unknown): HostJoinErrorCode | undefined {
  if (err instanceof HostJoinError) return err.code;
  return hostJoinCodeOf((err as { status?: Parameters<typeof hostJoinCodeOf>[0] } | undefined)?.status);
}

/** The pinned CA in the state dir, where every later connection reads it (`<state-dir>/ca.crt`). */
export async function fetchAndKeepPinnedCa(server: string, pin: string, stateDir: string): Promise<{ caPem: string; caFile: string }> {
  const caPem = await fetchPinnedCa(server, pin);
  const caFile = path.join(stateDir, 'ca.crt');
  mkdirSync(stateDir, { recursive: true, mode: 0o700 });
  writeFileSync(caFile, caPem, { mode: 0o644 });
  return { caPem, caFile };
}
