/**
 * Client certificates for nodes, signed by the cluster CA from the request (CSR) an agent
 * made for a key it generated on its host (the key never leaves it), as kubelet's client
 * certificate. The subject is fixed by the node's name: O=quantix:nodes,
 * CN=quantix:node:<name>; a request for any other name is refused. Signed with the openssl
 * CLI like the rest of the PKI (certificates.ts), run asynchronously so a signing never
 * blocks the apiserver's event loop.
 */
import { execFile } from 'node:child_process';
import { randomBytes, X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const NODE_CERT_ORGANIZATION = 'quantix:nodes';
export const NODE_CERT_CN_PREFIX = 'quantix:node:';
/** kubelet's client certificates default to a year; ours are renewed by the agent at 70 %. */
export const DEFAULT_NODE_CERT_DAYS = 30;
const MAX_CSR_BYTES = 16 * 1024;

export interface ClusterCaFiles {
  certFile: string;
  keyFile: string;
}

export interface SignedNodeCertificate {
  certPem: string;
  /** Upper-case hex, as Node's X509Certificate reports it. */
  serial: string;
  notAfter: string;
}

/** Why a CSR cannot be signed for `node` (an Invalid cause's message), or undefined when it can. */
export class CsrError extends Error {}

/** The node a certificate names (CN=quantix:node:<name>, O=quantix:nodes), or undefined. */
export function nodeOfCertificateSubject(subject: string): string | undefined {
  const fields = new Map(subject.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
  const cn = fields.get('CN');
  if (fields.get('O') !== NODE_CERT_ORGANIZATION || !cn?.startsWith(NODE_CERT_CN_PREFIX)) return undefined;
  return cn.slice(NODE_CERT_CN_PREFIX.length) || undefined;
}

export async function signNodeCertificate(ca: ClusterCaFiles, csrPem: string, node: string, days = DEFAULT_NODE_CERT_DAYS): Promise<SignedNodeCertificate> {
  if (Buffer.byteLength(csrPem) > MAX_CSR_BYTES || !csrPem.includes('-----BEGIN CERTIFICATE REQUEST-----')) {
    throw new CsrError('csrPem: not a PEM certificate request');
  }
  const dir = await mkdtemp(join(tmpdir(), 'quantix-csr-'));
  try {
    await writeFile(join(dir, 'node.csr'), csrPem, { mode: 0o600 });
    await writeFile(
      join(dir, 'node.ext'),
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n',
    );
    const serial = randomBytes(16);
    serial[0]! &= 0x7f; // a positive INTEGER
    try {
      // One openssl run (a join costs one process): `x509 -req` checks the request's
      // self-signature (the agent holds the key); the subject is checked on the result.
      await run(
        'openssl',
        [
          'x509',
          '-req',
          '-in',
          'node.csr',
          '-CA',
          ca.certFile,
          '-CAkey',
          ca.keyFile,
          '-set_serial',
          `0x${serial.toString('hex')}`,
          '-days',
          String(days),
          '-sha256',
          '-extfile',
          'node.ext',
          '-out',
          'node.crt',
        ],
        { cwd: dir },
      );
    } catch (err) {
      const stderr = String((err as { stderr?: string }).stderr ?? '');
      if (/self-signature|unable to load|expecting|asn1|PEM/i.test(stderr)) {
        throw new CsrError(`csrPem: the certificate request does not verify: ${stderr.trim().split('\n')[0]}`);
      }
      throw err;
    }
    const certPem = await readFile(join(dir, 'node.crt'), 'utf8');
    const cert = new X509Certificate(certPem);
    if (nodeOfCertificateSubject(cert.subject) !== node) {
      // Signed but never handed out nor recorded: it authenticates nothing.
      throw new CsrError(
        `csrPem: the request must name O=${NODE_CERT_ORGANIZATION}, CN=${NODE_CERT_CN_PREFIX}${node} (it names ${cert.subject.replace(/\n/g, ', ')})`,
      );
    }
    return { certPem, serial: cert.serialNumber.toUpperCase(), notAfter: new Date(cert.validTo).toISOString() };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
