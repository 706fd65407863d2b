/**
 * Starts a real, single-member etcd for tests and benchmarks: free client and peer ports,
 * a unique temporary data dir, a health wait, and a `stop()` that kills the member and
 * removes the dir. Nothing here mocks etcd.
 *
 * Robustness:
 * - ports are picked by binding port 0; if etcd still loses a race for them it is
 *   restarted on fresh ports (a few attempts);
 * - every member is killed on `process.on('exit')`, and a tiny detached watchdog shell
 *   kills it and removes its data dir if this process dies without running exit hooks
 *   (SIGKILL, a crashed jest worker), so no etcd outlives its owner;
 * - the data dir lives on tmpfs (`/dev/shm`) when available: etcd 3.4 has no
 *   `--unsafe-no-fsync`, and fsync on the build machine's disk dominates test time.
 *
 * - `tls: true` starts the member as `make up` does: client URL https:// with a serving
 *   certificate for 127.0.0.1 and client-certificate authentication, from a PKI made in its
 *   data dir (apiserver/pki/certificates.ts); the peer URL stays plain on 127.0.0.1.
 *
 * Usage (jest):
 *   let etcd: EtcdInstance;
 *   beforeAll(async () => { etcd = await startEtcd(); });
 *   afterAll(() => etcd.stop());
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, openSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { IOptions } from 'etcd3';
import { ensureEtcdCertificates } from '../../apiserver/pki/certificates.js';
import { etcd3Options, leanKvTls, type EtcdClientTls } from '../../apiserver/storage/etcd-store.js';

export interface EtcdOptions {
  /** etcd binary; default $ETCD_BIN or /usr/bin/etcd. */
  binary?: string;
  /** Parent of the temp data dir; default /dev/shm when present, else os.tmpdir(). */
  baseDir?: string;
  /** How long to wait for /health; default 20 s. */
  startTimeoutMs?: number;
  /** etcd's own periodic watch progress notification interval, e.g. '1s' (default etcd: 10m). */
  watchProgressNotifyInterval?: string;
  /** Extra command-line flags passed to etcd as is. */
  extraArgs?: string[];
  /** Serve clients over TLS with client-certificate authentication (as `make up`). */
  tls?: boolean;
  /**
   * For a TLS member: the directory whose `pki/` it uses (made when absent); default its own
   * data dir. Members started with one `pkiDir` share a CA, so one client reaches them all.
   */
  pkiDir?: string;
}

/** A TLS member's PKI files, as the apiserver's --etcd-cafile / --etcd-certfile / --etcd-keyfile take them. */
export interface EtcdClientFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

export interface EtcdInstance {
  /** Client endpoints for `new Etcd3({ hosts: endpoints })`. */
  endpoints: string[];
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  pid: number;
  /** Set for a TLS member: the CA and a client certificate it accepts (PEM and files), and its `pkiDir`. */
  tls?: EtcdClientTls & { files: EtcdClientFiles; pkiDir: string };
  /** Options for `new Etcd3(...)` that reach this member (endpoints, and TLS when it has it). */
  etcd3Options(): IOptions;
  /** The lean etcd client's TLS options for this member (undefined for a plain one). */
  kvTls(): ReturnType<typeof leanKvTls> | undefined;
  /** Kills the member (SIGTERM, then SIGKILL after 5 s) and removes its data dir. Idempotent. */
  stop(): Promise<void>;
}

const live = new Set<{ child: ChildProcess; dataDir: string; watchdog?: ChildProcess }>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const m of live) {
      try {
        m.child.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      try {
        m.watchdog?.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      rmSync(m.dataDir, { recursive: true, force: true });
    }
  });
}

/** Asks the kernel for `n` distinct free TCP ports on 127.0.0.1. */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const srv = createServer();
          srv.unref();
          srv.once('error', reject);
          srv.listen(0, '127.0.0.1', () => resolve(srv));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

async function healthy(clientUrl: string, tls: EtcdClientTls | undefined): Promise<boolean> {
  if (!tls) {
    try {
      const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
      if (!res.ok) return false;
      const body = (await res.json()) as { health?: string };
      return body.health === 'true';
    } catch {
      return false;
    }
  }
  return new Promise((resolve) => {
    const req = request(`${clientUrl}/health`, { ca: tls.caPem, cert: tls.certPem, key: tls.keyPem, timeout: 1000 }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(res.statusCode === 200 && /"health":\s*"true"/.test(body)));
      res.on('error', () => resolve(false));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(false));
    req.end();
  });
}

export async function startEtcd(opts: EtcdOptions = {}): Promise<EtcdInstance> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 4; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      lastError = err as Error;
      if (!/address already in use|bind/i.test(lastError.message)) throw lastError;
    }
  }
  throw lastError ?? new Error('etcd did not start');
}

async function startOnce(opts: EtcdOptions): Promise<EtcdInstance> {
  installExitHook();
  const binary = opts.binary ?? process.env.ETCD_BIN ?? '/usr/bin/etcd';
  const baseDir = opts.baseDir ?? (existsSync('/dev/shm') ? '/dev/shm' : tmpdir());
  const dataDir = mkdtempSync(join(baseDir, 'quantix-etcd-'));
  const [clientPort, peerPort] = await freePorts(2);
  const clientUrl = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = `test-${process.pid}-${clientPort}`;
  const logPath = join(dataDir, 'etcd.log');
  const pkiDir = opts.pkiDir ?? dataDir;
  const pki = opts.tls ? ensureEtcdCertificates(pkiDir) : undefined;
  const tls = pki && {
    caPem: readFileSync(pki.caFile, 'utf8'),
    certPem: readFileSync(pki.clientCertFile, 'utf8'),
    keyPem: readFileSync(pki.clientKeyFile, 'utf8'),
    files: { caFile: pki.caFile, certFile: pki.clientCertFile, keyFile: pki.clientKeyFile },
    pkiDir,
  };
  const logFd = openSync(logPath, 'a');
  const args = [
    `--name=${name}`,
    `--data-dir=${join(dataDir, 'data')}`,
    `--listen-client-urls=${clientUrl}`,
    `--advertise-client-urls=${clientUrl}`,
    `--listen-peer-urls=${peerUrl}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster=${name}=${peerUrl}`,
    '--initial-cluster-state=new',
    // A single member elects itself after one election timeout: keep it short so tests start fast.
    '--heartbeat-interval=20',
    '--election-timeout=200',
    `--initial-cluster-token=${name}`,
    '--logger=zap',
    '--log-outputs=stderr',
    '--log-level=warn',
    ...(pki ? [`--cert-file=${pki.serverCertFile}`, `--key-file=${pki.serverKeyFile}`, `--trusted-ca-file=${pki.caFile}`, '--client-cert-auth'] : []),
    ...(opts.watchProgressNotifyInterval ? [`--experimental-watch-progress-notify-interval=${opts.watchProgressNotifyInterval}`] : []),
    ...(opts.extraArgs ?? []),
  ];
  const child = spawn(binary, args, { stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  const pid = child.pid;
  if (pid === undefined) {
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`cannot spawn ${binary}`);
  }
  // Kills etcd and removes its dir if this process vanishes without running exit hooks.
  const watchdog = spawn(
    '/bin/sh',
    [
      '-c',
      'while kill -0 "$1" 2>/dev/null && kill -0 "$2" 2>/dev/null; do sleep 1; done; ' + 'kill -9 "$2" 2>/dev/null; sleep 0.2; rm -rf "$3"',
      'etcd-watchdog',
      String(process.pid),
      String(pid),
      dataDir,
    ],
    { detached: true, stdio: 'ignore' },
  );
  watchdog.unref();
  const member = { child, dataDir, watchdog };
  live.add(member);

  let exited: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exitPromise = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      resolve();
    });
  });

  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exitPromise;
        clearTimeout(timer);
      }
      try {
        watchdog.kill('SIGKILL');
      } catch {
        /* already gone */
      }
      live.delete(member);
      rmSync(dataDir, { recursive: true, force: true });
    })());

  const deadline = Date.now() + (opts.startTimeoutMs ?? 20_000);
  while (!(await healthy(clientUrl, tls))) {
    if (exited || Date.now() > deadline) {
      const log = existsSync(logPath) ? readFileSync(logPath, 'utf8').slice(-4000) : '';
      await stop();
      throw new Error(`etcd ${exited ? `exited (${exited.code ?? exited.signal})` : 'did not become healthy'} ` + `on ${clientUrl}: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    endpoints: [clientUrl],
    clientUrl,
    peerUrl,
    dataDir,
    pid,
    tls,
    etcd3Options: () => etcd3Options([clientUrl], tls),
    kvTls: () => (tls ? leanKvTls(tls) : undefined),
    stop,
  };
}
