/**
 * `make up`'s image server: serves the files of one directory (the guest image cache) on
 * 127.0.0.1 with Range support, so manifests/examples/guest/image.yaml imports on a fresh
 * machine. Usage: tsx hack/serve-images.ts DIR [PORT]   (default 8089)
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { startFileServer } from './testenv/file-server.js';

const dir = path.resolve(process.argv[2] ?? '.');
const port = Number(process.argv[3] ?? 8089);
const server = await startFileServer({ port });
const refresh = () => {
  for (const name of readdirSync(dir))
    if (name.endsWith('.qcow2') || name.endsWith('.img') || name.endsWith('.raw')) server.serve(`/${name}`, path.join(dir, name));
};
refresh();
setInterval(refresh, 10_000).unref();
process.stdout.write(`serving ${dir} on ${server.url}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
