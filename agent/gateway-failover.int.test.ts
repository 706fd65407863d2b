/**
 * The agent given several gateway endpoints (`--gateway IP:PORT,IP:PORT`, two apiserver
 * replicas over one real etcd): its session is on the first; when that replica stops, the
 * session moves to the other by itself (the tunnel record names it) and the heartbeats go on
 * through it. Sim hypervisor. (Through a balancer instead: hack/up-ha.e2e.test.ts.)
 */
import { Etcd3 } from 'etcd3';
import type { Lease } from '../api-types/generated/types.js';
import { NODE_LEASE_NAMESPACE } from '../api-types/node-lease.js';
import { leaseDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import {
  type ApiserverReplica,
  startAgent,
  startApiserverReplica,
  startTestControlPlane,
  type TestAgent,
  type TestControlPlane,
} from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';
import { setLogLevel } from '../lib/logging/logger.js';
import { SimDriver } from './hypervisor/sim/driver.js';

const LEASE = leaseDefinition as unknown as ResourceDefinition;
const hostname = 'failover-node';

let cp: TestControlPlane;
let replica: ApiserverReplica;
let agent: TestAgent | undefined;
let etcd: Etcd3;

beforeAll(async () => {
  setLogLevel('warn');
  cp = await startTestControlPlane();
  replica = await startApiserverReplica(cp);
  etcd = new Etcd3(cp.env.etcd.etcd3Options());
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  etcd?.close();
  await replica?.stop();
  await cp?.stop();
});

const tunnelUrl = async () => {
  const value = await etcd.get(`/quantix/tunnels/${hostname}`).string();
  return value ? (JSON.parse(value) as { url: string }).url : '';
};

describe('an agent with several gateway endpoints', () => {
  it('moves its session to the other replica when its replica stops, and keeps heartbeating', async () => {
    agent = await startAgent(cp, {
      driver: new SimDriver({ hostname }),
      hostname,
      gateway: `${cp.gatewayAddress},${replica.gatewayAddress}`,
      heartbeatIntervalMs: 1_000,
    });
    // pick_first: the first endpoint that answers.
    await eventually(async () => (await tunnelUrl()) === cp.env.apiserver.url, { message: 'session on the first replica' });

    await cp.stopControlPlane();
    const stoppedAt = Date.now();
    await eventually(async () => (await tunnelUrl()) === replica.url, { timeoutMs: 20_000, message: 'session on the second replica' });
    const movedMs = Date.now() - stoppedAt;
    process.stdout.write(`gateway failover (several endpoints): session moved in ${movedMs} ms\n`);
    // Heartbeats reach the second replica, which took the node's Lease (Node status is written only on change).
    await eventually(
      async () => {
        const lease = (await replica.apiserver.context.stores.get(LEASE).get(NODE_LEASE_NAMESPACE, hostname)) as Lease;
        return (replica.gateway.leases.lastHeartbeatMs(hostname) ?? 0) > stoppedAt && lease.spec?.holderIdentity === replica.gateway.leases.holder;
      },
      { timeoutMs: 20_000, message: 'a heartbeat through the second replica' },
    );
    await cp.startControlPlane();
  }, 60_000);
});
