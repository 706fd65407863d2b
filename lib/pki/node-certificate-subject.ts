/**
 * The subject of a node's client certificate, as kubelet's (O=system:nodes,
 * CN=system:node:<name>): O=quantix:nodes, CN=quantix:node:<name>. The agent asks for it in its
 * certificate request; the gateway signs only a request that names the registering node, and
 * authenticates a certificate as the node its subject names.
 */
export const NODE_CERT_ORGANIZATION = 'quantix:nodes';
export const NODE_CERT_CN_PREFIX = 'quantix:node:';
/** The X.500 attribute types of that subject (RFC 4519). */
export const OID_ORGANIZATION = '2.5.4.10';
export const OID_COMMON_NAME = '2.5.4.3';

/** The node a certificate subject names (Node's X509Certificate.subject: `O=…\nCN=…`), or undefined. */
export function nodeOfCertificateSubject(subject: string): string | undefined {
  const fields = new Map(subject.split('\n').map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)] as const));
  const cn = fields.get('CN');
  if (fields.get('O') !== NODE_CERT_ORGANIZATION || !cn?.startsWith(NODE_CERT_CN_PREFIX)) return undefined;
  return cn.slice(NODE_CERT_CN_PREFIX.length) || undefined;
}
