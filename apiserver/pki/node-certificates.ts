/**
 * Client certificates for nodes, signed by the cluster CA from the request (CSR) an agent
 * made for a key it generated on its host (the key never leaves it), as kubelet's client
 * certificate. The subject is fixed by the node's name (lib/pki/node-certificate-subject.ts);
 * a request for any other subject is refused before anything is signed.
 *
 * Signed in this process (the @peculiar/asn1-* schemas encode, Node's crypto signs and
 * verifies), not with the openssl CLI like the rest of the PKI (certificates.ts, run once at
 * first start): a child process per join forks the whole apiserver on its event loop. With 200
 * agents joining, spawning openssl took 37 s of the apiserver's 230 s of CPU and joins ran at
 * about 1/s (docs/scale.md).
 */
import { createHash, createPrivateKey, createPublicKey, type KeyObject, X509Certificate as NodeX509Certificate, randomBytes, sign, verify } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { CertificationRequest } from '@peculiar/asn1-csr';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AuthorityKeyIdentifier,
  BasicConstraints,
  Certificate,
  ExtendedKeyUsage,
  Extension,
  Extensions,
  id_ce_authorityKeyIdentifier,
  id_ce_basicConstraints,
  id_ce_extKeyUsage,
  id_ce_keyUsage,
  id_ce_subjectKeyIdentifier,
  id_kp_clientAuth,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  SubjectKeyIdentifier,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import {
  NODE_CERT_CN_PREFIX,
  NODE_CERT_ORGANIZATION,
  nodeOfCertificateSubject,
  OID_COMMON_NAME,
  OID_ORGANIZATION,
} from '../../lib/pki/node-certificate-subject.js';
import { pemFromDer } from '../../lib/pki/pem.js';

/** kubelet's client certificates default to a year; ours are renewed by the agent at 70 %. */
export const DEFAULT_NODE_CERT_DAYS = 30;
const MAX_CSR_BYTES = 16 * 1024;
const DAY_MS = 86_400_000;

/** Signature algorithms: the CA's (what it signs with) and the requests' (what they may be signed with). */
const SIGNATURE_ALGORITHMS: Record<string, { hash: string; rsa: boolean }> = {
  '1.2.840.10045.4.3.2': { hash: 'sha256', rsa: false }, // ecdsa-with-SHA256
  '1.2.840.10045.4.3.3': { hash: 'sha384', rsa: false }, // ecdsa-with-SHA384
  '1.2.840.113549.1.1.11': { hash: 'sha256', rsa: true }, // sha256WithRSAEncryption
};

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

interface LoadedCa {
  cert: Certificate;
  key: KeyObject;
  /** The signature algorithm's OID and hash. */
  algorithm: string;
  hash: string;
  /** Its subject key identifier (the AuthorityKeyIdentifier of what it signs). */
  keyId: Buffer;
}

/** The CA, parsed once per file content (a CA replaced on disk is used from the next signing). */
let loaded: { certPem: string; keyPem: string; ca: LoadedCa } | undefined;

async function loadCa(files: ClusterCaFiles): Promise<LoadedCa> {
  const [certPem, keyPem] = await Promise.all([readFile(files.certFile, 'utf8'), readFile(files.keyFile, 'utf8')]);
  if (loaded?.certPem !== certPem || loaded.keyPem !== keyPem) loaded = { certPem, keyPem, ca: parseCa(certPem, keyPem) };
  return loaded.ca;
}

function parseCa(certPem: string, keyPem: string): LoadedCa {
  const key = createPrivateKey(keyPem);
  let algorithm: string;
  if (key.asymmetricKeyType === 'ec') {
    algorithm = key.asymmetricKeyDetails?.namedCurve === 'secp384r1' ? '1.2.840.10045.4.3.3' : '1.2.840.10045.4.3.2';
  } else if (key.asymmetricKeyType === 'rsa') {
    algorithm = '1.2.840.113549.1.1.11';
  } else {
    throw new Error(`the cluster CA key is ${key.asymmetricKeyType}; an EC or RSA key can sign node certificates`);
  }
  const der = new NodeX509Certificate(certPem).raw;
  const cert = AsnConvert.parse(der, Certificate);
  const ski = cert.tbsCertificate.extensions?.find((e) => e.extnID === id_ce_subjectKeyIdentifier);
  const keyId = ski
    ? Buffer.from(AsnConvert.parse(ski.extnValue.buffer, SubjectKeyIdentifier).buffer)
    : keyIdentifier(cert.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey);
  return { cert, key, algorithm, hash: SIGNATURE_ALGORITHMS[algorithm]!.hash, keyId };
}

/** RFC 5280's key identifier (method 1, as openssl's `subjectKeyIdentifier=hash`): SHA-1 of the public key's bits. */
function keyIdentifier(subjectPublicKey: ArrayBuffer): Buffer {
  return createHash('sha1').update(Buffer.from(subjectPublicKey)).digest();
}

function pemBody(pem: string, label: string): Buffer | undefined {
  const m = new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`).exec(pem);
  return m ? Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64') : undefined;
}

/** The subject as O and CN, each present once, nothing else; undefined for any other shape. */
function nodeSubjectOf(request: CertificationRequest): { o: string; cn: string } | undefined {
  const attributes = request.certificationRequestInfo.subject.flatMap((rdn) => [...rdn]);
  if (attributes.length !== 2) return undefined;
  const o = attributes.filter((a) => a.type === OID_ORGANIZATION);
  const cn = attributes.filter((a) => a.type === OID_COMMON_NAME);
  if (o.length !== 1 || cn.length !== 1) return undefined;
  return { o: o[0]!.value.toString(), cn: cn[0]!.value.toString() };
}

function describeSubject(request: CertificationRequest): string {
  const names: Record<string, string> = { [OID_ORGANIZATION]: 'O', [OID_COMMON_NAME]: 'CN' };
  const parts = request.certificationRequestInfo.subject.flatMap((rdn) => [...rdn].map((a) => `${names[a.type] ?? a.type}=${a.value.toString()}`));
  return parts.join(', ') || 'nothing';
}

/** The request, checked: it parses, names exactly this node, and is signed by the key it carries. */
function checkedRequest(csrPem: string, node: string): CertificationRequest {
  const der = Buffer.byteLength(csrPem) <= MAX_CSR_BYTES ? pemBody(csrPem, 'CERTIFICATE REQUEST') : undefined;
  if (!der) throw new CsrError('csrPem: not a PEM certificate request');
  let request: CertificationRequest;
  try {
    request = AsnConvert.parse(der, CertificationRequest);
  } catch (err) {
    throw new CsrError(`csrPem: not a certificate request: ${err instanceof Error ? err.message : String(err)}`);
  }
  const subject = nodeSubjectOf(request);
  if (subject?.o !== NODE_CERT_ORGANIZATION || subject.cn !== `${NODE_CERT_CN_PREFIX}${node}`) {
    throw new CsrError(`csrPem: the request must name O=${NODE_CERT_ORGANIZATION}, CN=${NODE_CERT_CN_PREFIX}${node} (it names ${describeSubject(request)})`);
  }
  const algorithm = SIGNATURE_ALGORITHMS[request.signatureAlgorithm.algorithm];
  if (!algorithm || !request.certificationRequestInfoRaw) {
    throw new CsrError(`csrPem: the request is signed with ${request.signatureAlgorithm.algorithm}; ECDSA or RSA with SHA-256 or SHA-384 is required`);
  }
  let verified: boolean;
  try {
    const publicKey = createPublicKey({ key: Buffer.from(AsnConvert.serialize(request.certificationRequestInfo.subjectPKInfo)), format: 'der', type: 'spki' });
    verified = verify(algorithm.hash, Buffer.from(request.certificationRequestInfoRaw), publicKey, Buffer.from(request.signature));
  } catch (err) {
    throw new CsrError(`csrPem: the request's key cannot be used: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (!verified) throw new CsrError('csrPem: the certificate request does not verify: its signature does not match its key');
  return request;
}

function extension(extnID: string, critical: boolean, value: unknown): Extension {
  return new Extension({ extnID, critical, extnValue: new OctetString(AsnConvert.serialize(value)) });
}

export async function signNodeCertificate(files: ClusterCaFiles, csrPem: string, node: string, days = DEFAULT_NODE_CERT_DAYS): Promise<SignedNodeCertificate> {
  const request = checkedRequest(csrPem, node);
  const ca = await loadCa(files);
  const serial = randomBytes(16);
  serial[0] = (serial[0]! & 0x7f) | 0x01; // a positive INTEGER without a leading zero octet
  const notBefore = new Date();
  const subjectPKInfo = request.certificationRequestInfo.subjectPKInfo;
  const signatureAlgorithm = new AlgorithmIdentifier({ algorithm: ca.algorithm, ...(SIGNATURE_ALGORITHMS[ca.algorithm]!.rsa ? { parameters: null } : {}) });
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: new Uint8Array(serial).buffer,
    signature: signatureAlgorithm,
    issuer: ca.cert.tbsCertificate.subject,
    validity: new Validity({ notBefore, notAfter: new Date(notBefore.getTime() + days * DAY_MS) }),
    subject: request.certificationRequestInfo.subject,
    subjectPublicKeyInfo: subjectPKInfo,
    extensions: new Extensions([
      extension(id_ce_basicConstraints, true, new BasicConstraints({ cA: false })),
      extension(id_ce_keyUsage, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      extension(id_ce_extKeyUsage, false, new ExtendedKeyUsage([id_kp_clientAuth])),
      extension(id_ce_subjectKeyIdentifier, false, new SubjectKeyIdentifier(keyIdentifier(subjectPKInfo.subjectPublicKey))),
      extension(id_ce_authorityKeyIdentifier, false, new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(ca.keyId) })),
    ]),
  });
  const tbsDer = Buffer.from(AsnConvert.serialize(tbs));
  const signature = sign(ca.hash, tbsDer, ca.key);
  const der = Buffer.from(AsnConvert.serialize(new Certificate({ tbsCertificate: tbs, signatureAlgorithm, signatureValue: new Uint8Array(signature).buffer })));
  const cert = new NodeX509Certificate(der);
  // The subject was checked on the request; credentials.ts authenticates by what this reads.
  if (nodeOfCertificateSubject(cert.subject) !== node) throw new Error(`signed a certificate naming ${cert.subject.replace(/\n/g, ', ')} for ${node}`);
  const certPem = pemFromDer('CERTIFICATE', der);
  return { certPem, serial: cert.serialNumber.toUpperCase(), notAfter: new Date(cert.validTo).toISOString() };
}
