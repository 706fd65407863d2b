/**
 * The CA pin a joining host checks before it trusts the control plane, as kubeadm's
 * `--discovery-token-ca-cert-hash`: `sha256:` and the hex SHA-256 of the CA certificate's
 * DER-encoded SubjectPublicKeyInfo. It pins the key, so a re-issued CA certificate with the
 * same key keeps the pin.
 */
import { createHash, X509Certificate } from 'node:crypto';

export const CA_CERT_HASH_FORMAT = /^sha256:[0-9a-f]{64}$/;

export function caCertHash(certificate: string | X509Certificate): string {
  const cert = typeof certificate === 'string' ? new X509Certificate(certificate) : certificate;
  const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}
