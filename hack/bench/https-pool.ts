/**
 * The benchmarks' HTTPS client: an undici pool of keep-alive connections (about half the CPU
 * per request of node:https; the load generator shares the machine's cores with what it
 * measures).
 */
import { Pool, type Dispatcher } from 'undici';

export interface BenchClient {
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; text: string }>;
  close(): Promise<void>;
}

export function benchClient(base: string, token: string, ca: string, connections: number): BenchClient {
  const pool = new Pool(base, { connections, pipelining: 1, connect: { ca } });
  return {
    async call(method, path, body, headers = {}) {
      const res = await pool.request({
        method: method as Dispatcher.HttpMethod,
        path,
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          accept: 'application/json',
          ...Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v])),
        },
        body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
      });
      return { status: res.statusCode, text: await res.body.text() };
    },
    close: () => pool.close(),
  };
}

export async function expectStatus(promise: Promise<{ status: number; text: string }>, status: number): Promise<{ status: number; text: string }> {
  const result = await promise;
  if (result.status !== status) throw new Error(`expected HTTP ${status}, got ${result.status}: ${result.text.slice(0, 300)}`);
  return result;
}

export function benchVm(name: string, namespace = 'bench') {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace },
    spec: { cpu: 1, memory: '256Mi', disks: [{ name: 'root', storagePool: 'local', size: '1Gi' }] },
  };
}
