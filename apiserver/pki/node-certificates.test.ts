/**
 * Node certificates signed in process, checked by the openssl CLI: requests made by openssl
 * (as agents before 2026-12 made them) and by the agent's own encoder are signed into
 * certificates openssl verifies as TLS clients of the cluster CA, with the extensions kubelet's
 * client certificates carry; a request for another subject, or one whose signature does not
 * match its key, is refused before anything is signed.
 */
import { execFileSync } from 'node:child_process';
import { createHash, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { certificateRequest } from '../../agent/node-certificate.js';
import { CsrError, signNodeCertificate } from './node-certificates.js';

let dir: string;
const ecCa = () => ({ certFile: join(dir, 'ec-ca.crt'), keyFile: join(dir, 'ec-ca.key') });
const rsaCa = () => ({ certFile: join(dir, 'rsa-ca.crt'), keyFile: join(dir, 'rsa-ca.key') });

function openssl(args: string[]): string {
  return execFileSync('openssl', args, { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** A P-256 key and an openssl-made request for `subject`. */
function opensslRequest(name: string, subject: string): { keyFile: string; csrPem: string } {
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', `${name}.key`]);
  return { keyFile: join(dir, `${name}.key`), csrPem: openssl(['req', '-new', '-key', `${name}.key`, '-subj', subject]) };
}

/** `openssl verify` of a certificate against the CA, for TLS client use. */
function verifiesAsClient(certPem: string, caFile: string): string {
  writeFileSync(join(dir, 'check.crt'), certPem);
  return openssl(['verify', '-CAfile', caFile, '-purpose', 'sslclient', 'check.crt']).trim();
}

function pemDer(pem: string): Buffer {
  return Buffer.from(pem.replace(/-----[A-Z ]+-----|\s/g, ''), 'base64');
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'quantix-node-cert-sign-'));
  // The cluster CA as apiserver/pki/certificates.ts makes it (EC P-256), and an RSA one.
  openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec-ca.key']);
  openssl(['req', '-x509', '-new', '-key', 'ec-ca.key', '-subj', '/CN=quantix-ca', '-days', '10', '-out', 'ec-ca.crt']);
  openssl(['genrsa', '-out', 'rsa-ca.key', '2048']);
  openssl(['req', '-x509', '-new', '-key', 'rsa-ca.key', '-subj', '/O=Example/CN=rsa-ca', '-days', '10', '-out', 'rsa-ca.crt']);
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('signNodeCertificate', () => {
  it("signs an openssl-made request into a client certificate openssl verifies, with kubelet's extensions", async () => {
    const { csrPem } = opensslRequest('n1', '/O=quantix:nodes/CN=quantix:node:n1');
    const before = Date.now();
    const signed = await signNodeCertificate(ecCa(), csrPem, 'n1', 30);
    expect(verifiesAsClient(signed.certPem, ecCa().certFile)).toBe('check.crt: OK');

    const cert = new X509Certificate(signed.certPem);
    const ca = new X509Certificate(readFileSync(ecCa().certFile));
    expect(cert.subject).toBe('O=quantix:nodes\nCN=quantix:node:n1');
    expect(cert.issuer).toBe(ca.subject);
    expect(cert.checkIssued(ca)).toBe(true);
    expect(cert.verify(ca.publicKey)).toBe(true);
    expect(cert.ca).toBe(false);
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']); // Node reports the extended key usage: clientAuth
    expect(signed.serial).toBe(cert.serialNumber.toUpperCase());
    expect(signed.serial).toMatch(/^[0-7][0-9A-F]{31}$/);
    const lifetimeDays = (Date.parse(cert.validTo) - Date.parse(cert.validFrom)) / 86_400_000;
    expect(lifetimeDays).toBe(30);
    expect(Date.parse(cert.validFrom)).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 - 1000);
    expect(signed.notAfter).toBe(new Date(cert.validTo).toISOString());

    const text = openssl(['x509', '-in', 'check.crt', '-noout', '-text', '-ext', 'basicConstraints,keyUsage,subjectKeyIdentifier,authorityKeyIdentifier']);
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    // The key identifiers as openssl's subjectKeyIdentifier=hash makes them: SHA-1 of the key's bits.
    const spki = cert.publicKey.export({ type: 'spki', format: 'der' });
    const keyBits = spki.subarray(spki.length - 65); // an uncompressed P-256 point
    const ski = createHash('sha1').update(keyBits).digest('hex').toUpperCase().match(/../g)!.join(':');
    expect(text).toContain(`Subject Key Identifier: \n    ${ski}`);
    const caSki = openssl(['x509', '-in', 'ec-ca.crt', '-noout', '-ext', 'subjectKeyIdentifier']).trim().split('\n').pop()!.trim();
    expect(text).toContain(`Authority Key Identifier: \n    ${caSki}`);
  });

  it("signs the agent's own request, and with an RSA CA", async () => {
    const { keyFile } = opensslRequest('n2', '/CN=unused');
    const csrPem = await certificateRequest(keyFile, 'n2.example');
    writeFileSync(join(dir, 'n2.csr'), csrPem);
    expect(openssl(['req', '-in', 'n2.csr', '-noout', '-subject'])).toBe('subject=O = quantix:nodes, CN = quantix:node:n2.example\n');
    for (const ca of [ecCa(), rsaCa()]) {
      const signed = await signNodeCertificate(ca, csrPem, 'n2.example');
      expect(verifiesAsClient(signed.certPem, ca.certFile)).toBe('check.crt: OK');
      expect(new X509Certificate(signed.certPem).subject).toBe('O=quantix:nodes\nCN=quantix:node:n2.example');
    }
  });

  it('refuses a request for another node, another organization or with more in its subject, naming what it names', async () => {
    const cases: [string, string][] = [
      ['/O=quantix:nodes/CN=quantix:node:someone-else', 'it names O=quantix:nodes, CN=quantix:node:someone-else'],
      ['/O=system:masters/CN=quantix:node:n3', 'it names O=system:masters, CN=quantix:node:n3'],
      ['/O=quantix:nodes/O=system:masters/CN=quantix:node:n3', 'it names O=quantix:nodes, O=system:masters, CN=quantix:node:n3'],
      ['/O=quantix:nodes/CN=quantix:node:n3/OU=x', 'it names O=quantix:nodes, CN=quantix:node:n3, 2.5.4.11=x'],
    ];
    for (const [subject, named] of cases) {
      const { csrPem } = opensslRequest('n3', subject);
      const refusal = await signNodeCertificate(ecCa(), csrPem, 'n3').catch((err: unknown) => err);
      expect(refusal).toBeInstanceOf(CsrError);
      expect((refusal as Error).message).toBe(`csrPem: the request must name O=quantix:nodes, CN=quantix:node:n3 (${named})`);
    }
  });

  it('refuses a request whose signature does not match its key, and what is not a request', async () => {
    const { csrPem } = opensslRequest('n4', '/O=quantix:nodes/CN=quantix:node:n4');
    const der = pemDer(csrPem);
    der[der.length - 5]! ^= 0x01; // a bit of the signature
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    await expect(signNodeCertificate(ecCa(), tampered, 'n4')).rejects.toThrow(
      new CsrError('csrPem: the certificate request does not verify: its signature does not match its key'),
    );

    const certificate = readFileSync(ecCa().certFile, 'utf8');
    await expect(signNodeCertificate(ecCa(), certificate, 'n4')).rejects.toThrow(new CsrError('csrPem: not a PEM certificate request'));
    await expect(signNodeCertificate(ecCa(), `${csrPem}${' '.repeat(16 * 1024)}`, 'n4')).rejects.toThrow(new CsrError('csrPem: not a PEM certificate request'));
    const garbage = '-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n';
    await expect(signNodeCertificate(ecCa(), garbage, 'n4')).rejects.toThrow(/^csrPem: not a certificate request: /);
  });
});
