/**
 * The project's PKI, under `<dataDir>/pki/` (made with the openssl CLI on first start; later
 * starts reuse it, and a leaf certificate missing a requested SAN is re-issued):
 * - `ca.crt` / `ca.key`: the cluster CA; `apiserver.crt`: the HTTPS serving certificate
 *   (SANs for localhost, 127.0.0.1, ::1, the hostname and any extra names).
 * - `etcd/ca.crt`: a CA of etcd's own (as kubeadm lays it out), so that nothing the cluster CA
 *   signs can authenticate to etcd; `etcd/server.crt` serves etcd's client port on
 *   127.0.0.1 / localhost, and `apiserver-etcd-client.crt` is the apiserver's client
 *   certificate (etcd runs with --client-cert-auth).
 * - `metrics-serving.crt`: the serving certificate of the controller-manager's and the local
 *   agent's `--metrics-listen` (`make up` runs them on this host), so that Prometheus checks
 *   them against the cluster CA like the apiserver.
 * All keys are ECDSA P-256.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

export interface ServingCertificates {
  caCertPem: string;
  certPem: string;
  keyPem: string;
  dir: string;
}

/** Files of the etcd PKI: etcd's serving pair, and the client pair the apiserver presents. */
export interface EtcdCertificates {
  caFile: string;
  serverCertFile: string;
  serverKeyFile: string;
  clientCertFile: string;
  clientKeyFile: string;
}

const CA_DAYS = 3650;
const LEAF_DAYS = 825;

function openssl(args: string[], cwd: string): void {
  execFileSync('openssl', args, { cwd, stdio: ['ignore', 'ignore', 'pipe'] });
}

function subjectAltNames(names: Iterable<string>, ips: Iterable<string>): string[] {
  const ipSet = new Set(ips);
  const sans: string[] = [];
  for (const name of names) {
    if (/^[\d.]+$/.test(name) || name.includes(':')) ipSet.add(name);
    else sans.push(`DNS:${name}`);
  }
  for (const ip of ipSet) sans.push(`IP:${ip}`);
  return sans;
}

function certificateCovers(certPath: string, sans: string[]): boolean {
  const text = execFileSync('openssl', ['x509', '-in', certPath, '-noout', '-ext', 'subjectAltName'], {
    encoding: 'utf8',
  });
  const present = text.replace(/IP Address:/g, 'IP:').replace(/0:0:0:0:0:0:0:1/g, '::1');
  return sans.every((san) => present.includes(san));
}

/** A self-signed CA at `<dir>/ca.crt` / `ca.key`, created when absent. */
function ensureCa(dir: string, commonName: string): { cert: string; key: string } {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const key = join(dir, 'ca.key');
  const cert = join(dir, 'ca.crt');
  if (!existsSync(key) || !existsSync(cert)) {
    openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
    openssl(
      [
        'req',
        '-x509',
        '-new',
        '-key',
        key,
        '-sha256',
        '-days',
        String(CA_DAYS),
        '-subj',
        `/CN=${commonName}`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        'keyUsage=critical,keyCertSign,cRLSign',
        '-out',
        cert,
      ],
      dir,
    );
  }
  return { cert, key };
}

interface LeafRequest {
  ca: { cert: string; key: string };
  /** Path of the certificate; the key is next to it with `.key`. */
  cert: string;
  commonName: string;
  usage: 'serverAuth' | 'clientAuth' | 'serverAuth,clientAuth';
  sans?: string[];
}

/** A certificate signed by `ca`, created when absent or when it lacks a requested SAN. */
function ensureLeaf(req: LeafRequest): { cert: string; key: string } {
  const dir = dirname(req.cert);
  const stem = basename(req.cert).replace(/\.crt$/, '');
  const key = join(dir, `${stem}.key`);
  const sans = req.sans ?? [];
  if (existsSync(key) && existsSync(req.cert) && (sans.length === 0 || certificateCovers(req.cert, sans))) return { cert: req.cert, key };
  const extFile = join(dir, `${stem}.ext`);
  writeFileSync(
    extFile,
    `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=${req.usage}\n` +
      (sans.length > 0 ? `subjectAltName=${sans.join(',')}\n` : ''),
  );
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', key], dir);
  openssl(['req', '-new', '-key', key, '-subj', `/CN=${req.commonName}`, '-out', `${stem}.csr`], dir);
  openssl(
    [
      'x509',
      '-req',
      '-in',
      `${stem}.csr`,
      '-CA',
      req.ca.cert,
      '-CAkey',
      req.ca.key,
      '-CAcreateserial',
      '-days',
      String(LEAF_DAYS),
      '-sha256',
      '-extfile',
      extFile,
      '-out',
      req.cert,
    ],
    dir,
  );
  return { cert: req.cert, key };
}

/** Loads or creates the CA and serving certificate in `<dataDir>/pki`. */
export function ensureServingCertificates(dataDir: string, extraNames: string[] = []): ServingCertificates {
  const dir = join(dataDir, 'pki');
  const ca = ensureCa(dir, 'quantix-ca');
  const serving = ensureLeaf({
    ca,
    cert: join(dir, 'apiserver.crt'),
    commonName: 'quantix-apiserver',
    usage: 'serverAuth',
    sans: subjectAltNames(['localhost', hostname(), ...extraNames], ['127.0.0.1', '::1']),
  });
  const caCertPem = readFileSync(ca.cert, 'utf8');
  return {
    caCertPem,
    // The chain, CA included: a joining host finds the CA in the handshake and checks it
    // against the pin it was given (quantix-agent join --ca-cert-hash) before trusting it.
    certPem: `${readFileSync(serving.cert, 'utf8').trimEnd()}\n${caCertPem}`,
    keyPem: readFileSync(serving.key, 'utf8'),
    dir,
  };
}

/**
 * Loads or creates etcd's CA, its serving certificate (for 127.0.0.1 and localhost: etcd
 * listens on the loopback only) and the apiserver's etcd client certificate.
 */
export function ensureEtcdCertificates(dataDir: string): EtcdCertificates {
  const dir = join(dataDir, 'pki');
  const ca = ensureCa(join(dir, 'etcd'), 'quantix-etcd-ca');
  const server = ensureLeaf({
    ca,
    cert: join(dir, 'etcd', 'server.crt'),
    commonName: 'quantix-etcd',
    // clientAuth too: etcd's gRPC gateway dials its own client port with this certificate
    // (without it etcd logs "rejected connection … incompatible key usage" again and again).
    usage: 'serverAuth,clientAuth',
    sans: subjectAltNames(['localhost'], ['127.0.0.1']),
  });
  const client = ensureLeaf({ ca, cert: join(dir, 'apiserver-etcd-client.crt'), commonName: 'quantix-apiserver-etcd-client', usage: 'clientAuth' });
  return { caFile: ca.cert, serverCertFile: server.cert, serverKeyFile: server.key, clientCertFile: client.cert, clientKeyFile: client.key };
}

/**
 * Loads or creates `<dataDir>/pki/etcd/peer.crt` (+ `.key`): what the members of an etcd cluster
 * on this host (`make up-ha`) present to each other on their peer URLs, both as server and as
 * client, signed by etcd's CA (--peer-client-cert-auth admits only its certificates).
 */
export function ensureEtcdPeerCertificate(dataDir: string): { certFile: string; keyFile: string } {
  const dir = join(dataDir, 'pki');
  const ca = ensureCa(join(dir, 'etcd'), 'quantix-etcd-ca');
  const leaf = ensureLeaf({
    ca,
    cert: join(dir, 'etcd', 'peer.crt'),
    commonName: 'quantix-etcd-peer',
    usage: 'serverAuth,clientAuth',
    sans: subjectAltNames(['localhost'], ['127.0.0.1']),
  });
  return { certFile: leaf.cert, keyFile: leaf.key };
}

/**
 * Loads or creates `<dataDir>/pki/metrics-serving.crt` (+ `.key`): a serving certificate from the
 * cluster CA for localhost, 127.0.0.1, ::1 and the hostname, used by the components on this host
 * that serve /metrics (`--metrics-tls-cert-file`).
 */
export function ensureMetricsServingCertificate(dataDir: string): { certFile: string; keyFile: string } {
  const dir = join(dataDir, 'pki');
  const ca = ensureCa(dir, 'quantix-ca');
  const leaf = ensureLeaf({
    ca,
    cert: join(dir, 'metrics-serving.crt'),
    commonName: 'quantix-metrics',
    usage: 'serverAuth',
    sans: subjectAltNames(['localhost', hostname()], ['127.0.0.1', '::1']),
  });
  return { certFile: leaf.cert, keyFile: leaf.key };
}
