/**
 * The /metrics endpoint of the controller-manager and the agent (`--metrics-listen`): HTTPS
 * only, and a bearer token the apiserver accepts for `get /metrics` (delegated-auth.ts) before
 * any metric is collected — collecting the per-VM series costs libvirt calls, so an
 * unauthenticated caller must not be able to make the component do it. Answers are the
 * Prometheus text format; refusals are Kubernetes Status objects.
 */
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { TokenAuthorizer } from './delegated-auth.js';

export interface MetricsServerOptions {
  host: string;
  port: number;
  tls: { certPem: string; keyPem: string };
  registry: Registry;
  authorizer: TokenAuthorizer;
  /** Runs after authorization, before the registry is read (e.g. refresh gauges). */
  beforeCollect?: () => Promise<void>;
  /** A refusal or a failed collection (never with the token). */
  onError?: (message: string, fields: Record<string, unknown>) => void;
}

export interface RunningMetricsServer {
  port: number;
  /** https://HOST:PORT/metrics */
  url: string;
  stop(): Promise<void>;
}

/** `HOST:PORT`, `[v6]:PORT` or `:PORT` → host and port, or a message naming the flag. */
export function parseMetricsListen(flag: string, value: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(value.trim());
  const port = Number(m?.[3]);
  if (!m || port > 65535) throw new Error(`${flag}: invalid address "${value}" (use HOST:PORT, e.g. 127.0.0.1:10257)`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

function sendStatus(res: import('node:http').ServerResponse, code: number, reason: string, message: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });
  if (code === 401) res.setHeader('WWW-Authenticate', 'Bearer realm="quantix"');
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}

export async function startMetricsServer(o: MetricsServerOptions): Promise<RunningMetricsServer> {
  const server = https.createServer({ cert: o.tls.certPem, key: o.tls.keyPem }, (req, res) => {
    void (async () => {
      const path = (req.url ?? '/').split('?')[0];
      if (path !== '/metrics') return sendStatus(res, 404, 'NotFound', `the server could not find the requested resource (${path})`);
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendStatus(res, 405, 'MethodNotAllowed', `${req.method} is not supported on /metrics`);
      const header = req.headers.authorization ?? '';
      const token = /^Bearer\s+(\S+)\s*$/i.exec(header)?.[1] ?? '';
      const decision = await o.authorizer.authorize(token);
      if (!decision.allowed) {
        o.onError?.('metrics request refused', { code: decision.code, reason: decision.reason, remote: req.socket.remoteAddress });
        return sendStatus(res, decision.code, decision.reason, decision.message);
      }
      try {
        await o.beforeCollect?.();
        const text = await o.registry.metrics();
        res.writeHead(200, { 'Content-Type': o.registry.contentType, 'Content-Length': Buffer.byteLength(text) });
        res.end(req.method === 'HEAD' ? undefined : text);
      } catch (err) {
        o.onError?.('collecting metrics failed', { error: (err as Error).message });
        sendStatus(res, 500, 'InternalError', `Internal error occurred: ${(err as Error).message}`);
      }
    })();
  });
  // Scrapers keep connections open; do not hold a shutdown on them.
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const host = o.host.includes(':') ? `[${o.host}]` : o.host;
  return {
    port,
    url: `https://${host}:${port}/metrics`,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
