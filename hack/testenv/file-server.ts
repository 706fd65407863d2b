/**
 * An HTTP server on 127.0.0.1 for image imports in tests: serves files by URL path with
 * ETag and Range (206) support, answers 404 for anything else, records every request, and
 * can hold a download after N bytes (`holdAfter`) until the test releases it — so a test can
 * kill an agent in the middle of an import deterministically, without racing a timer.
 */
import { createReadStream, statSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ServedRequest {
  path: string;
  range?: string;
  /** The If-Range header, when sent (the validator a resumed download relies on). */
  ifRange?: string;
  status: number;
}

export interface FileServer {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** Serves `file` at `urlPath` (e.g. /images/debian.qcow2). */
  serve(urlPath: string, file: string): void;
  /** Serves a fixed body (e.g. an HTML error page with status 200). */
  serveBody(urlPath: string, body: string, contentType?: string): void;
  requests: ServedRequest[];
  /** From now on, a response stops after this many bytes of the body and waits for release(). */
  holdAfter(bytes: number): void;
  /** Resolves once a held response has sent its bytes and is waiting. */
  whenHeld(): Promise<void>;
  /** Ends every held response (the connection is destroyed) and stops holding. */
  release(): void;
  close(): Promise<void>;
}

export async function startFileServer(options: { port?: number } = {}): Promise<FileServer> {
  const files = new Map<string, string>();
  const bodies = new Map<string, { body: string; type: string }>();
  const requests: ServedRequest[] = [];
  let hold: number | undefined;
  const held = new Set<http.ServerResponse>();
  let heldWaiters: (() => void)[] = [];

  const server = http.createServer((req, res) => {
    const urlPath = new URL(req.url ?? '/', 'http://127.0.0.1').pathname;
    const range = req.headers.range;
    const ifRangeHeader = typeof req.headers['if-range'] === 'string' ? req.headers['if-range'] : undefined;
    const record = (status: number) =>
      requests.push({ path: urlPath, ...(range ? { range } : {}), ...(ifRangeHeader ? { ifRange: ifRangeHeader } : {}), status });
    const fixed = bodies.get(urlPath);
    if (fixed) {
      record(200);
      res.writeHead(200, { 'content-type': fixed.type, 'content-length': Buffer.byteLength(fixed.body) });
      res.end(fixed.body);
      return;
    }
    const file = files.get(urlPath);
    if (!file) {
      record(404);
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found\n');
      return;
    }
    const st = statSync(file);
    const etag = `"${st.size.toString(16)}-${Math.floor(st.mtimeMs).toString(16)}"`;
    let start = 0;
    let status = 200;
    const headers: http.OutgoingHttpHeaders = { etag, 'accept-ranges': 'bytes', 'content-type': 'application/octet-stream' };
    const m = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (m && (!ifRangeHeader || ifRangeHeader === etag) && Number(m[1]) < st.size) {
      start = Number(m[1]);
      status = 206;
      headers['content-range'] = `bytes ${start}-${st.size - 1}/${st.size}`;
    }
    headers['content-length'] = st.size - start;
    record(status);
    res.writeHead(status, headers);
    const limit = hold;
    const stream = createReadStream(file, { start, ...(limit !== undefined ? { end: start + limit - 1 } : {}) });
    if (limit === undefined) {
      stream.pipe(res);
      return;
    }
    stream.pipe(res, { end: false });
    stream.on('end', () => {
      held.add(res);
      for (const w of heldWaiters.splice(0)) w();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', resolve);
  });
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    serve: (urlPath, file) => void files.set(urlPath, file),
    serveBody: (urlPath, body, type = 'text/html') => void bodies.set(urlPath, { body, type }),
    requests,
    holdAfter(bytes) {
      hold = bytes;
    },
    whenHeld() {
      if (held.size > 0) return Promise.resolve();
      return new Promise((resolve) => heldWaiters.push(resolve));
    },
    release() {
      hold = undefined;
      for (const res of held) res.destroy();
      held.clear();
      heldWaiters = [];
    },
    async close() {
      for (const res of held) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
