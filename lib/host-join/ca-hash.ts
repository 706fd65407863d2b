/**
 * The CA pin of a join, as kubeadm's `--discovery-token-ca-cert-hash`: `sha256:` + hex of the
 * SHA-256 of the CA certificate's SubjectPublicKeyInfo (DER). Node only (node:crypto).
 */
import { createHash, X509Certificate } from 'node:crypto';

export function caCertHash(caPem: string): string {
  const spki = new X509Certificate(caPem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}
