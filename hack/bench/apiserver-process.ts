/**
 * Starts quantix-apiserver as its own process (as in production) for a benchmark, on a
 * free port with a temp data dir, and waits until /readyz answers. Detached, so a bench can
 * stop the whole process group (tsx and the node process it starts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { apiserverNodeOptions } from '../../apiserver/node-options.js';
import type { EtcdInstance } from '../testenv/etcd.js';

export interface ApiserverProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  /** Admin kubeconfig written by the apiserver on start. */
  kubeconfig: string;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as { port: number }).port;
      server.close(() => resolve(port));
    });
  });
}

function readyz(url: string): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(`${url}/readyz`, { rejectUnauthorized: false }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.end();
  });
}

/**
 * Starts an apiserver on `etcd` (with its client certificate when it is a TLS member); `extraArgs` go to apiserver/main.ts.
 * `again` restarts one that was stopped: the same data dir (PKI, tokens) and port.
 */
export async function startApiserverProcess(
  etcd: EtcdInstance,
  dataDirPrefix = 'quantix-bench-',
  extraArgs: string[] = [],
  again?: ApiserverProcess,
): Promise<ApiserverProcess> {
  const dataDir = again?.dataDir ?? mkdtempSync(join(tmpdir(), dataDirPrefix));
  const port = again ? Number(new URL(again.url).port) : await freePort();
  const files = etcd.tls?.files;
  const etcdArgs = [
    '--etcd-servers',
    etcd.clientUrl,
    ...(files ? ['--etcd-cafile', files.caFile, '--etcd-certfile', files.certFile, '--etcd-keyfile', files.keyFile] : []),
  ];
  const args = ['apiserver/main.ts', '--data-dir', dataDir, ...etcdArgs, '--port', String(port), '--bind-address', '127.0.0.1', ...extraArgs];
  const child = spawn('node_modules/.bin/tsx', args, {
    stdio: ['ignore', 'ignore', 'inherit'],
    detached: true,
    // The V8 flags `make up` gives the apiserver (young generation, helper threads).
    env: {
      ...process.env,
      QUANTIX_LOG_LEVEL: 'warn',
      QUANTIX_LOG_FORMAT: 'json',
      NODE_OPTIONS: [...apiserverNodeOptions(), process.env.NODE_OPTIONS ?? ''].join(' ').trim(),
    },
  });
  const url = `https://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!(await readyz(url))) {
    if (Date.now() > deadline) throw new Error('apiserver did not become ready');
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, url, dataDir, kubeconfig: join(dataDir, 'kubeconfig') };
}

/** Stops a child started detached (its own process group: tsx and the node it runs). */
export function stopProcess(child: ChildProcess): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(-child.pid!, sig);
    } catch {
      /* already gone */
    }
  };
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const timer = setTimeout(() => signal('SIGKILL'), 10_000);
    child.once('exit', () => {
      clearTimeout(timer);
      signal('SIGKILL'); // anything left in the group
      resolve();
    });
    signal('SIGTERM');
  });
}
