/**
 * Test environment: a real etcd member (TLS with client certificates, as `make up` runs it)
 * and a real quantix-apiserver (in this process),
 * with a temp data dir holding the PKI, token file and kubeconfigs, plus helpers to run
 * the real kubectl against it.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { TokenFileAuthenticator, ensureTokenFile, type StaticTokens } from '../../apiserver/auth/token-file.js';
import { chainAuthenticators, type Authenticator, type CertificateAuthenticator } from '../../apiserver/auth/identity.js';
import { ensureServingCertificates } from '../../apiserver/pki/certificates.js';
import { writeKubeconfig } from '../../apiserver/pki/kubeconfig.js';
import { startApiserver, type ApiserverOptions, type RunningApiserver } from '../../apiserver/server.js';
import { startEtcd, type EtcdInstance as RunningEtcd, type EtcdOptions } from './etcd.js';
import { recordTestSecrets, startTestLogFile, testAuditLogPath } from './test-logs.js';
import { createAuditor } from '../../apiserver/audit/index.js';
import type { Auditor } from '../../apiserver/audit/auditor.js';

export interface TestApiserver {
  etcd: RunningEtcd;
  apiserver: RunningApiserver;
  dataDir: string;
  tokens: StaticTokens;
  caCertPem: string;
  /** Admin kubeconfig path. */
  kubeconfig: string;
  viewerKubeconfig: string;
  /** Writes a kubeconfig for any token (e.g. a node credential). */
  kubeconfigFor(name: string, token: string): string;
  /** Stops the apiserver only (etcd keeps running). */
  stopApiserver(): Promise<void>;
  /** Starts the apiserver again on the same port. */
  restartApiserver(): Promise<void>;
  stop(): Promise<void>;
}

export interface TestApiserverOptions {
  extraAuthenticators?: Authenticator[];
  /** Authenticates client certificates the test CA signed (node certificates). */
  certificateAuthenticator?: CertificateAuthenticator;
  extra?: Partial<ApiserverOptions>;
  /** For the etcd member (e.g. `extraArgs: ['--quota-backend-bytes=...']`); it always serves TLS. */
  etcd?: Omit<EtcdOptions, 'tls'>;
}

export async function startTestApiserver(options: TestApiserverOptions = {}): Promise<TestApiserver> {
  const dataDir = mkdtempSync(join(tmpdir(), 'quantix-test-'));
  // Under test-summary: this process's records go to the run's log dir, and what must never be logged is recorded.
  const closeLogFile = startTestLogFile('in-process');
  const etcd = await startEtcd({ ...options.etcd, tls: true });
  const tokens = ensureTokenFile(join(dataDir, 'tokens.csv'));
  const pki = ensureServingCertificates(dataDir);
  recordTestSecrets(tokens.admin, tokens.viewer, pki.keyPem);
  // Under test-summary every request is audited at Request level (bodies in), so the run's
  // secrets check also covers what the audit log's redaction lets through.
  const auditLogPath = testAuditLogPath();
  let audit: Auditor | undefined;
  if (auditLogPath) {
    const policyFile = join(dataDir, 'audit-policy.yaml');
    writeFileSync(policyFile, 'apiVersion: audit.k8s.io/v1\nkind: Policy\nomitStages: [RequestReceived]\nrules:\n  - level: Request\n');
    audit = createAuditor({ policyFile, logPath: auditLogPath });
  }
  const authenticator = chainAuthenticators(TokenFileAuthenticator.fromFile(join(dataDir, 'tokens.csv')), ...(options.extraAuthenticators ?? []));
  const serverOptions = (port: number): ApiserverOptions => ({
    etcdEndpoints: etcd.endpoints,
    etcdTls: etcd.tls,
    port,
    host: '127.0.0.1',
    tls: { certPem: pki.certPem, keyPem: pki.keyPem },
    authenticator,
    ...(options.certificateAuthenticator ? { clientCertificates: { caPem: pki.caCertPem, authenticator: options.certificateAuthenticator } } : {}),
    ...(audit ? { audit } : {}),
    ...options.extra,
  });
  let apiserver = await startApiserver(serverOptions(0));
  const port = apiserver.port;
  const server = `https://127.0.0.1:${port}`;
  const kubeconfigFor = (name: string, token: string) => {
    const path = join(dataDir, `${name}.kubeconfig`);
    writeKubeconfig(path, { server, caCertPem: pki.caCertPem, token, user: name });
    return path;
  };
  const env: TestApiserver = {
    etcd,
    get apiserver() {
      return apiserver;
    },
    dataDir,
    tokens,
    caCertPem: pki.caCertPem,
    kubeconfig: kubeconfigFor('admin', tokens.admin),
    viewerKubeconfig: kubeconfigFor('viewer', tokens.viewer),
    kubeconfigFor,
    async stopApiserver() {
      await apiserver.stop();
    },
    async restartApiserver() {
      apiserver = await startApiserver(serverOptions(port));
    },
    async stop() {
      await apiserver.stop().catch(() => undefined);
      await etcd.stop();
      await audit?.close();
      rmSync(dataDir, { recursive: true, force: true });
      await closeLogFile();
    },
  } as TestApiserver;
  return env;
}

export interface CommandResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command, never throwing on a non-zero exit (tests assert on the result). */
export function run(command: string, args: string[], opts: { env?: NodeJS.ProcessEnv; input?: string; timeoutMs?: number } = {}): Promise<CommandResult> {
  return new Promise((resolve) => {
    const child = execFile(
      command,
      args,
      { env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 32 * 1024 * 1024 },
      (error, stdout, stderr) => {
        const code = error ? (typeof (error as { code?: unknown }).code === 'number' ? (error as { code: number }).code : 1) : 0;
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      },
    );
    if (opts.input !== undefined) {
      child.stdin?.end(opts.input);
    }
  });
}

/** The real /usr/bin/kubectl with default flags against a kubeconfig. */
export function kubectl(kubeconfig: string, args: string[], input?: string): Promise<CommandResult> {
  return run('kubectl', ['--kubeconfig', kubeconfig, ...args], { input, env: { KUBECACHEDIR: join(dirname(kubeconfig), 'kube-cache') } });
}
