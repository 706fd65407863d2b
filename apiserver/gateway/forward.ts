/**
 * Forwarding to the replica that holds a node's tunnel (tunnel-locator.ts). The request goes
 * on as the caller sent it — path, query, the caller's own bearer credential (header or
 * WebSocket subprotocol) — over TLS verified against the cluster CA, with FORWARDED_HEADER
 * added. The receiving replica authenticates and authorizes the caller again and never
 * forwards a request that carries the header (no loops); its answer, refusal or upgrade,
 * goes back to the caller byte for byte.
 *
 * A caller authenticated by a client certificate cannot be forwarded (its key stays with
 * it): `forwardable` says so, and the caller gets 503 naming the replica to ask.
 */
import { request as httpsRequest, type RequestOptions } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { errors } from '../../lib/apimachinery/status-error.js';
import { writeUpgradeRefusal } from '../server.js';

/** How the routes reach the replica holding a node's tunnel (index.ts binds it to the TunnelLocator). */
export interface Forwarding {
  /** The other replica holding `node`'s tunnel, or undefined (none, or forwarding is off). */
  peerFor(node: string): Promise<string | undefined>;
  forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, peerUrl: string): void;
  forwardRequest(req: IncomingMessage, res: ServerResponse, peerUrl: string): Promise<void>;
}

/** Set on a forwarded request (value: the forwarding replica's id); such a request is never forwarded again. */
export const FORWARDED_HEADER = 'x-quantix-forwarded-by';

export function wasForwarded(req: IncomingMessage): boolean {
  return req.headers[FORWARDED_HEADER] !== undefined;
}

/** Whether the caller's credential can go on with the request: a bearer token can, a client certificate cannot. */
export function forwardable(req: IncomingMessage): boolean {
  return typeof req.headers.authorization === 'string' && /^Bearer\s/i.test(req.headers.authorization);
}

function optionsFor(req: IncomingMessage, peerUrl: string, caPem: string, replica: string): RequestOptions {
  const peer = new URL(peerUrl);
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) if (value !== undefined && name !== 'host') headers[name] = value;
  headers.host = peer.host;
  headers[FORWARDED_HEADER] = replica;
  return {
    hostname: peer.hostname,
    port: peer.port || 443,
    path: req.url,
    method: req.method,
    headers,
    ca: caPem,
    // One connection per forwarded request: upgraded sockets are never handed back to a pool.
    agent: false,
  };
}

function rawHead(statusLine: string, rawHeaders: string[]): string {
  const lines = [statusLine];
  for (let i = 0; i < rawHeaders.length; i += 2) lines.push(`${rawHeaders[i]}: ${rawHeaders[i + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}

/** Forwards a WebSocket upgrade: the peer's 101 and the bytes after it, or its refusal, go back on `socket`. */
export function forwardUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, peerUrl: string, caPem: string, replica: string): void {
  const upstream = httpsRequest(optionsFor(req, peerUrl, caPem, replica));
  upstream.on('upgrade', (res, peerSocket, peerHead) => {
    socket.write(rawHead(`HTTP/1.1 101 ${res.statusMessage ?? 'Switching Protocols'}`, res.rawHeaders));
    if (peerHead.length) socket.write(peerHead);
    if (head.length) peerSocket.write(head);
    peerSocket.pipe(socket);
    socket.pipe(peerSocket);
    const close = () => {
      peerSocket.destroy();
      socket.destroy();
    };
    peerSocket.on('close', close);
    peerSocket.on('error', close);
    socket.on('close', close);
    socket.on('error', close);
  });
  upstream.on('response', (res) => {
    socket.write(rawHead(`HTTP/1.1 ${res.statusCode} ${res.statusMessage ?? ''}`, res.rawHeaders));
    res.pipe(socket);
  });
  upstream.on('error', (err) => {
    writeUpgradeRefusal(socket, errors.unavailable(`the apiserver replica holding the tunnel (${peerUrl}) cannot be reached: ${err.message}`));
  });
  socket.on('close', () => upstream.destroy());
  upstream.end();
}

/** Forwards a plain request (the pool file listing); the peer's answer becomes ours. */
export function forwardRequest(req: IncomingMessage, res: ServerResponse, peerUrl: string, caPem: string, replica: string): Promise<void> {
  return new Promise((resolve) => {
    const upstream = httpsRequest(optionsFor(req, peerUrl, caPem, replica), (peerRes) => {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(peerRes.headers)) {
        if (value !== undefined && name !== 'connection' && name !== 'keep-alive' && name !== 'transfer-encoding') headers[name] = value;
      }
      res.writeHead(peerRes.statusCode ?? 502, headers);
      peerRes.pipe(res);
      peerRes.on('end', resolve);
      peerRes.on('error', () => resolve());
    });
    upstream.on('error', (err) => {
      if (!res.headersSent) {
        const status = errors.unavailable(`the apiserver replica holding the tunnel (${peerUrl}) cannot be reached: ${err.message}`);
        res.writeHead(503, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(status.toStatus()));
      } else res.destroy();
      resolve();
    });
    res.on('close', () => upstream.destroy());
    upstream.end();
  });
}
