/**
 * The gateway refuses an unauthenticated call before it reads its message: a 16 MiB
 * SyncFullState of 8 million empty VM reports (decoded, about 78 times its size in heap)
 * from a caller with a bad token, or none, costs the apiserver's heap almost nothing. The
 * gateway runs in this process (hack/testenv), so this process's heap is the apiserver's;
 * the message is sent as raw bytes, so the client side adds nothing to the heap.
 */
import { setFlagsFromString, getHeapStatistics } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as grpc from '@grpc/grpc-js';
import { REASON_METADATA_KEY } from '../../api-types/proto/contract.js';
import { startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const MiB = 1024 * 1024;
/** Field 1 (vms), length 0: an empty VMReport. Two bytes each, 8 Mi of them, just under the 16 MiB limit. */
const flood = Buffer.alloc(16 * MiB - 1024, Buffer.from([0x0a, 0x00]));

let cp: TestControlPlane;
let client: grpc.Client;

beforeAll(async () => {
  cp = await startTestControlPlane();
  client = new grpc.Client(cp.gatewayAddress, grpc.credentials.createSsl(Buffer.from(cp.env.caCertPem)), {
    'grpc.ssl_target_name_override': 'localhost',
    'grpc.max_send_message_length': 32 * MiB,
  });
});

afterAll(async () => {
  client?.close();
  await cp?.stop();
});

function call(token: string | undefined, message: Buffer = flood): Promise<grpc.ServiceError | undefined> {
  const metadata = new grpc.Metadata();
  if (token !== undefined) metadata.set('authorization', `Bearer ${token}`);
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      '/quantix.gateway.v1.NodeGateway/SyncFullState',
      (b: Buffer) => b,
      (b: Buffer) => b,
      message,
      metadata,
      (err) => resolve(err ?? undefined),
    );
  });
}

function heapUsed(): number {
  gc();
  gc();
  return getHeapStatistics().used_heap_size;
}

describe('the gateway authenticates before it reads a message', () => {
  it.each([
    ['a token nobody issued', 'node-x.not-a-secret'],
    ['no token at all', undefined],
  ])('refuses a 16 MiB message with %s as Unauthorized, and the heap grows by less than 20 MB', async (_what, token) => {
    const before = heapUsed();
    let peak = before;
    const sampler = setInterval(() => (peak = Math.max(peak, getHeapStatistics().used_heap_size)), 5);
    const err = await call(token);
    clearInterval(sampler);
    peak = Math.max(peak, getHeapStatistics().used_heap_size);
    expect(err?.code).toBe(grpc.status.UNAUTHENTICATED);
    expect(err?.metadata.get(REASON_METADATA_KEY)[0]).toBe('Unauthorized');
    expect(err?.details).toMatch(/^Unauthorized: /);
    expect((peak - before) / MiB).toBeLessThan(20);
  });

  it('passes an authenticated call on to its handler', async () => {
    // An empty SyncFullStateRequest with the join token: authenticated, then refused by the
    // handler (the join token is no node credential), which shows the handler ran.
    const err = await call(cp.joinToken, Buffer.alloc(0));
    expect(err?.code).toBe(grpc.status.PERMISSION_DENIED);
    expect(err?.details).toMatch(/is not a node/);
  });
});
