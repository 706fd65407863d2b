/**
 * Certificates for the apiserver's HTTPS port. On first start a CA and a serving
 * certificate (ECDSA P-256, SANs for localhost, 127.0.0.1, ::1, the hostname and any
 * extra names) are generated under `<dataDir>/pki/` with the openssl CLI; later starts
 * reuse them, and a serving certificate missing a requested SAN is re-issued from the CA.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';

export interface ServingCertificates {
  caCertPem: string;
  certPem: string;
  keyPem: string;
  dir: string;
}

const CA_DAYS = 3650;
const SERVING_DAYS = 825;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function subjectAltNames(extraNames: string[]): string[] {
  const names = new Set(['localhost', hostname(), ...extraNames]);
  const ips = new Set(['127.0.0.1', '::1']);
  const sans: string[] = [];
  for (const name of names) {
    if (/^[\d.]+$/.test(name) || name.includes(':')) ips.add(name);
    else sans.push(`DNS:${name}`);
  }
  for (const ip of ips) sans.push(`IP:${ip}`);
  return sans;
}

function certificateCovers(certPath: string, sans: string[]): boolean {
  const text = execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-ext', 'subjectAltName'], {
    encoding: 'utf8',
  });
  const present = text.replace(/IP Address:/g, 'IP:').replace(/0:0:0:0:0:0:0:1/g, '::1');
  return sans.every((san) => present.includes(san));
}

/** Loads or creates the CA and serving certificate in `<dataDir>/pki`. */
export function ensureServingCertificates(dataDir: string, extraNames: string[] = []): ServingCertificates {
  const dir = join(dataDir, 'pki');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const caKey = join(dir, 'ca.key');
  const caCert = join(dir, 'ca.crt');
  const key = join(dir, 'apiserver.key');
  const cert = join(dir, 'apiserver.crt');

  if (!existsSync(caKey) || !existsSync(caCert)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', caKey], dir);
    openssl(
      ['req', '-x509', '-new', '-key', caKey, '-sha256', '-days', String(CA_DAYS), '-subj', '/CN=quantix-ca',
        '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign', '-out', caCert],
      dir,
    );
  }

  const sans = subjectAltNames(extraNames);
  if (!existsSync(key) || !existsSync(cert) || !certificateCovers(cert, sans)) {
    const extFile = join(dir, 'apiserver.ext');
    writeFileSync(
      extFile,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=${sans.join(',')}\n`,
    );
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
    openssl(['req', '-new', '-key', key, '-subj', '/CN=quantix-apiserver', '-out', 'apiserver.csr'], dir);
    openssl(
      ['x509', '-req', '-in', 'apiserver.csr', '-CA', caCert, '-CAkey', caKey, '-CAcreateserial', '-days',
        String(SERVING_DAYS), '-sha256', '-extfile', extFile, '-out', cert],
      dir,
    );
  }

  return {
    caCertPem: readFileSync(caCert, 'utf8'),
    certPem: readFileSync(cert, 'utf8'),
    keyPem: readFileSync(key, 'utf8'),
    dir,
  };
}
