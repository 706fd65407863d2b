/**
 * The registration API's serving certificate: self-signed, made with the openssl CLI on first
 * start (as apiserver/pki/certificates.ts makes the cluster's), kept in the agent's state dir
 * (`registration.crt`, `registration.key` 0600). Nothing signs it: the admin checks its SHA-256
 * fingerprint, printed in the agent's log and by `quantix-agent token`, as Proxmox does.
 */
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { chmodSync, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { formatFingerprint } from '../../lib/host-join/protocol.js';

export interface RegistrationCertificate {
  certPem: string;
  keyPem: string;
  /** sha256:AB:CD:… of the certificate (DER). */
  fingerprint: string;
}

export function ensureRegistrationCertificate(stateDir: string, hostname: string, addresses: readonly string[] = []): RegistrationCertificate {
  const cert = path.join(stateDir, 'registration.crt');
  const key = path.join(stateDir, 'registration.key');
  if (!existsSync(cert) || !existsSync(key)) {
    const sans = [`DNS:${hostname}`, 'DNS:localhost', 'IP:127.0.0.1', ...addresses.map((a) => `IP:${a}`)];
    execFileSync(
      'openssl',
      [
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        key,
        '-out',
        cert,
        '-days',
        '825',
        '-subj',
        `/CN=${hostname.replace(/[/=,+]/g, '_')}/O=quantix-agent registration`,
        '-addext',
        `subjectAltName=${[...new Set(sans)].join(',')}`,
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    chmodSync(key, 0o600);
  }
  const certPem = readFileSync(cert, 'utf8');
  return { certPem, keyPem: readFileSync(key, 'utf8'), fingerprint: certificateFingerprint(certPem) };
}

export function certificateFingerprint(certPem: string): string {
  return formatFingerprint(new X509Certificate(certPem).fingerprint256.replace(/:/g, ''));
}
