/**
 * Status writes to one object coalesce in the gateway (ObjectWriter.updateStatus): many nodes
 * reporting on the pool they share at once, through the real gateway on real etcd. No report
 * is lost, far fewer etcd writes than reports reach the pool, and a refused report fails only
 * its own call.
 */
import type { StoragePool } from '../../api-types/generated/types.js';
import type { PoolStatus } from '../../api-types/proto/types.js';
import { storagePoolDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import type { GatewayClient } from '../../agent/gateway-client.js';
import { gatewayClients, startTestControlPlane, type TestControlPlane } from '../../hack/testenv/agent.js';

const POOL = storagePoolDefinition as unknown as ResourceDefinition;
const NODES = 24;

let cp: TestControlPlane;
let clients: ReturnType<typeof gatewayClients>;
let nodes: { name: string; client: GatewayClient }[];

beforeAll(async () => {
  cp = await startTestControlPlane();
  clients = gatewayClients(cp);
  nodes = await Promise.all(Array.from({ length: NODES }, async (_, i) => ({ name: `co-${i}`, client: await clients.registered(`co-${i}`) })));
  await cp.env.apiserver.context.stores.get(POOL).create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'StoragePool',
    metadata: { name: 'shared' },
    spec: { type: 'dir', dir: { path: '/var/lib/qx/shared' }, assignedNodes: nodes.map((n) => n.name) },
  });
});

afterAll(async () => {
  clients.close();
  await cp.stop();
});

function report(volumeCount: number, health = 'HEALTHY'): PoolStatus {
  const gib = 1024 ** 3;
  return {
    name: 'shared',
    health,
    totalBytes: 100 * gib,
    usedBytes: gib,
    availableBytes: 99 * gib,
    mountPath: '/var/lib/qx/shared',
    volumeCount,
    message: '',
    removed: false,
  };
}

/** etcd writes (txn) the stores made on storagepools so far. */
async function poolTxns(): Promise<number> {
  const { values } = await cp.env.apiserver.context.metrics.etcdDuration.get();
  return values.find((v) => v.metricName === 'etcd_request_duration_seconds_count' && v.labels.operation === 'txn' && v.labels.resource === 'storagepools')
    ?.value as number;
}

describe('coalesced status writes on a shared object', () => {
  it('every node reporting at once, three times over: every entry lands with its last volumeCount, in fewer etcd writes than reports', async () => {
    const before = (await poolTxns()) ?? 0;
    for (let round = 1; round <= 3; round++) {
      await Promise.all(nodes.map((n, i) => n.client.notifyStorageChange({ pool: report(round * 100 + i), stateHash: '' })));
    }
    const writes = (await poolTxns()) - before;
    const pool = (await cp.env.apiserver.context.stores.get(POOL).get(undefined, 'shared')) as StoragePool;
    const hosts = pool.status?.hosts ?? {};
    expect(Object.keys(hosts).sort()).toEqual(nodes.map((n) => n.name).sort());
    for (const [i, n] of nodes.entries()) expect(hosts[n.name]?.volumeCount).toBe(300 + i);
    // 72 reports, each a forced write. One write at a time per object, the waiting ones together.
    expect(writes).toBeGreaterThan(0);
    expect(writes).toBeLessThan(3 * NODES);
  });

  it('a refused report in the middle of a batch fails its own call only; the others are written', async () => {
    const results = await Promise.allSettled(
      nodes.map((n, i) => n.client.notifyStorageChange({ pool: report(1000 + i, i === 5 ? 'BOGUS' : 'HEALTHY'), stateHash: '' })),
    );
    const refused = results.flatMap((r, i) => (r.status === 'rejected' ? [{ i, message: String((r.reason as Error).message) }] : []));
    expect(refused).toEqual([{ i: 5, message: expect.stringContaining('health "BOGUS"') }]);
    const pool = (await cp.env.apiserver.context.stores.get(POOL).get(undefined, 'shared')) as StoragePool;
    for (const [i, n] of nodes.entries()) expect(pool.status?.hosts?.[n.name]?.volumeCount).toBe(i === 5 ? 305 : 1000 + i);
  });
});
