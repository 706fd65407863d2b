/**
 * The node's client certificate, as kubelet's: a key made on this host (kept 0600 in the
 * state dir; it never leaves the host), a certificate request for it sent with RegisterNode,
 * and the certificate the gateway signs. From then on the node authenticates by mutual TLS.
 * It is renewed at RENEW_AT of its lifetime (kubelet: 70–90 %), by registering again with
 * the current certificate and a new request.
 */
import { createPrivateKey, createPublicKey, sign, X509Certificate } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { Attributes, CertificationRequest, CertificationRequestInfo } from '@peculiar/asn1-csr';
import { AsnConvert } from '@peculiar/asn1-schema';
import { AlgorithmIdentifier, AttributeTypeAndValue, AttributeValue, Name, RelativeDistinguishedName, SubjectPublicKeyInfo } from '@peculiar/asn1-x509';
import { NODE_CERT_CN_PREFIX, NODE_CERT_ORGANIZATION, OID_COMMON_NAME, OID_ORGANIZATION } from '../lib/pki/node-certificate-subject.js';
import { pemFromDer } from '../lib/pki/pem.js';

const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';

/** The share of a certificate's lifetime after which the agent renews it. */
export const RENEW_AT = 0.7;

/** The node name the gateway derives from a hostname (apiserver/gateway/registration.ts nodeNameFor). */
export function nodeNameOfHostname(hostname: string): string {
  return hostname.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * A PKCS#10 request for the key in `keyFile` (the EC P-256 key identity.ts makes), naming the
 * node as the gateway requires: O=quantix:nodes, CN=quantix:node:<name>. Made in process (the
 * @peculiar/asn1-* schemas encode, Node's crypto signs), not by the openssl CLI: the scale
 * benchmark's hollow agents join 1,000 nodes from one process, and a child process per join
 * forks all of it.
 */
export async function certificateRequest(keyFile: string, node: string): Promise<string> {
  const privateKey = createPrivateKey(await readFile(keyFile, 'utf8'));
  if (privateKey.asymmetricKeyType !== 'ec' || privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new Error(`${keyFile}: the node key must be EC P-256`);
  }
  const attribute = (type: string, value: string) =>
    new RelativeDistinguishedName([new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) })]);
  const info = new CertificationRequestInfo({
    version: 0,
    subject: new Name([attribute(OID_ORGANIZATION, NODE_CERT_ORGANIZATION), attribute(OID_COMMON_NAME, `${NODE_CERT_CN_PREFIX}${node}`)]),
    subjectPKInfo: AsnConvert.parse(createPublicKey(privateKey).export({ type: 'spki', format: 'der' }), SubjectPublicKeyInfo),
    attributes: new Attributes(),
  });
  const signature = sign('sha256', Buffer.from(AsnConvert.serialize(info)), privateKey);
  const request = new CertificationRequest({
    certificationRequestInfo: info,
    signatureAlgorithm: new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 }),
    signature: new Uint8Array(signature).buffer,
  });
  const der = Buffer.from(AsnConvert.serialize(request));
  return pemFromDer('CERTIFICATE REQUEST', der);
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
