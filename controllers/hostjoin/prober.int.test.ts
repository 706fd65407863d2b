/**
 * The prober against real sockets on 127.0.0.1 (issue 16 acceptance): the agent's real
 * registration server, and servers that fail in each way the Add-host flow names.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { HostTokenStore } from '../../agent/registration/host-token.js';
import { RegistrationServer } from '../../agent/registration/server.js';
import { ensureRegistrationCertificate, type RegistrationCertificate } from '../../agent/registration/serving-cert.js';
import { HostJoinError } from '../../lib/host-join/codes.js';
import { createLogger } from '../../lib/logging/logger.js';
import { RegistrationProber, type ProbeError } from './prober.js';

const log = createLogger('prober-test');
// Generous: every call here is expected to answer, also on a loaded CI machine.
const prober = new RegistrationProber({ timeoutMs: 15_000 });

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    return (err as ProbeError).code ?? `not a ProbeError: ${String(err)}`;
  }
  return 'no error';
}

function listen(server: HttpServer | NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: HttpServer | NetServer): Promise<void> {
  (server as HttpServer).closeAllConnections?.();
  return new Promise((resolve) => server.close(() => resolve()));
}

let dir: string;
let cert: RegistrationCertificate;
let otherCert: RegistrationCertificate;
let now = Date.now();
let tokens: HostTokenStore;
let hostToken: string;
let agent: RegistrationServer;
let oldAgent: RegistrationServer;
let agentUrl: string;
let oldAgentUrl: string;
const joins: unknown[] = [];

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'qx-prober-'));
  cert = ensureRegistrationCertificate(mkdtempSync(path.join(dir, 'a-')), 'host-a');
  otherCert = ensureRegistrationCertificate(mkdtempSync(path.join(dir, 'b-')), 'host-b');
  tokens = new HostTokenStore(dir, { ttlMs: 60_000, now: () => now });
  hostToken = tokens.ensure().token;
  const common = { host: '127.0.0.1', port: 0, certPem: cert.certPem, keyPem: cert.keyPem, tokens, hostname: 'host-a', log };
  const discover = async () => ({ hostname: 'host-a', agentVersion: '0.1.0', cpu: { model: 'Test CPU', count: 4 }, memoryBytes: 8 << 30, disks: [], nics: [] });
  agent = new RegistrationServer({
    ...common,
    agentVersion: '0.1.0',
    discover,
    joiner: {
      join: async (req) => {
        joins.push(req);
        if (req.caCertHash.endsWith('0'.repeat(64))) throw new HostJoinError('CA_MISMATCH', 'pinned hash does not match');
        return { nodeName: 'host-a' };
      },
    },
  });
  await agent.start();
  agentUrl = `https://127.0.0.1:${agent.port}`;
  oldAgent = new RegistrationServer({ ...common, agentVersion: '0.0.9', discover, joiner: { join: async () => ({ nodeName: 'x' }) } });
  await oldAgent.start();
  oldAgentUrl = `https://127.0.0.1:${oldAgent.port}`;
});

afterAll(async () => {
  await agent.stop();
  await oldAgent.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe('RegistrationProber against the agent registration server', () => {
  it('pings without a token and reports the presented certificate', async () => {
    const { ping, record } = await prober.ping({ url: agentUrl });
    expect(ping).toMatchObject({ agentVersion: '0.1.0', hostname: 'host-a', apiVersion: 'registration.quantix.io/v1' });
    expect(record.presentedFingerprint).toBe(cert.fingerprint);
  });

  it('validates the token, discovers the hardware and joins, with the confirmed fingerprint', async () => {
    const target = { url: agentUrl, fingerprint: cert.fingerprint };
    expect((await prober.checkToken(target, hostToken)).check).toMatchObject({ valid: true, hostname: 'host-a' });
    expect((await prober.hardware(target, hostToken)).hardware).toMatchObject({ cpu: { model: 'Test CPU', count: 4 } });
    const req = { server: 'https://127.0.0.1:6443', bootstrapToken: 'abcdef.0123456789abcdef', caCertHash: `sha256:${'a'.repeat(64)}` };
    expect((await prober.join(target, hostToken, req)).result).toEqual({ nodeName: 'host-a' });
    expect(joins).toContainEqual(req);
  });

  it('passes the joiner’s refusal on with its code (CA_MISMATCH)', async () => {
    const req = { server: 'https://127.0.0.1:6443', bootstrapToken: 't', caCertHash: `sha256:${'0'.repeat(64)}` };
    expect(await codeOf(prober.join({ url: agentUrl, fingerprint: cert.fingerprint }, hostToken, req))).toBe('CA_MISMATCH');
  });

  it('TOKEN_INVALID for a wrong token, TOKEN_MISSING for none, TOKEN_EXPIRED past the TTL', async () => {
    const target = { url: agentUrl, fingerprint: cert.fingerprint };
    expect(await codeOf(prober.checkToken(target, 'wrong-token'))).toBe('TOKEN_INVALID');
    expect(await codeOf(prober.checkToken(target, ''))).toBe('TOKEN_MISSING');
    const saved = now;
    now += 61_000; // the store's injected clock: the token is past its TTL
    try {
      expect(await codeOf(prober.checkToken(target, hostToken))).toBe('TOKEN_EXPIRED');
      expect(await codeOf(prober.hardware(target, hostToken))).toBe('TOKEN_EXPIRED');
    } finally {
      now = saved;
    }
  });

  it('TLS_ERROR when the certificate is not the confirmed one, or none was confirmed, before the token is sent', async () => {
    expect(await codeOf(prober.checkToken({ url: agentUrl, fingerprint: otherCert.fingerprint }, hostToken))).toBe('TLS_ERROR');
    expect(await codeOf(prober.checkToken({ url: agentUrl }, hostToken))).toBe('TLS_ERROR');
  });

  it('HOST_FIRMWARE_OUTDATED for an agent older than the version-skew policy', async () => {
    expect(await codeOf(prober.ping({ url: oldAgentUrl }))).toBe('HOST_FIRMWARE_OUTDATED');
  });
});

describe('RegistrationProber against what is not a registration API', () => {
  it('HOST_CONNECTION_FAILED for a closed port', async () => {
    const server = createNetServer();
    const port = await listen(server);
    await close(server);
    expect(await codeOf(prober.ping({ url: `https://127.0.0.1:${port}` }))).toBe('HOST_CONNECTION_FAILED');
  });

  it('CONNECTION_TIMEOUT for a listener that never answers', async () => {
    const sockets: Socket[] = [];
    const server = createNetServer((s) => sockets.push(s)); // accepts, never speaks
    const port = await listen(server);
    try {
      expect(await codeOf(new RegistrationProber({ timeoutMs: 300 }).ping({ url: `https://127.0.0.1:${port}` }))).toBe('CONNECTION_TIMEOUT');
    } finally {
      for (const s of sockets) s.destroy();
      await close(server);
    }
  });

  it('INVALID_RESPONSE for an HTTPS server answering HTML (a web UI’s fallback page)', async () => {
    const server = createHttpsServer({ cert: otherCert.certPem, key: otherCert.keyPem }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><html><body>Welcome</body></html>');
    });
    const port = await listen(server);
    try {
      expect(await codeOf(prober.ping({ url: `https://127.0.0.1:${port}` }))).toBe('INVALID_RESPONSE');
    } finally {
      await close(server);
    }
  });

  it('HOST_API_NOT_AVAILABLE for 404 on the API path', async () => {
    const server = createHttpsServer({ cert: otherCert.certPem, key: otherCert.keyPem }, (_req, res) => {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found');
    });
    const port = await listen(server);
    try {
      expect(await codeOf(prober.ping({ url: `https://127.0.0.1:${port}` }))).toBe('HOST_API_NOT_AVAILABLE');
    } finally {
      await close(server);
    }
  });

  it('TLS_ERROR for a plain-HTTP server behind an https:// URL', async () => {
    const server = createHttpServer((_req, res) => res.end('{}'));
    const port = await listen(server);
    try {
      expect(await codeOf(prober.ping({ url: `https://127.0.0.1:${port}` }))).toBe('TLS_ERROR');
    } finally {
      await close(server);
    }
  });
});
