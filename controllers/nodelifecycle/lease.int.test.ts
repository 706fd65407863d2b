/**
 * Node Leases end to end (docs/architecture.md, "Heartbeats and node Leases"): real etcd, two
 * apiserver replicas with their gateways, sim agents and node-lifecycle. Heartbeats that change
 * nothing write nothing; a stopped agent's Lease is released and its node goes Unknown; a
 * replica that is killed stops vouching, and its nodes go Unknown.
 */
import type { Counter } from 'prom-client';
import type { Lease, Node } from '../../api-types/generated/types.js';
import { GATEWAY_LEASE_NAMESPACE, NODE_LEASE_NAMESPACE, replicaOfHolder } from '../../api-types/node-lease.js';
import { SimDriver } from '../../agent/hypervisor/sim/driver.js';
import {
  startAgent,
  startApiserverReplica,
  startTestControlPlane,
  type ApiserverReplica,
  type TestAgent,
  type TestControlPlane,
} from '../../hack/testenv/agent.js';
import { adminClient } from '../../hack/testenv/controllers.js';
import { eventually } from '../../hack/testenv/eventually.js';
import { setLogLevel } from '../../lib/logging/logger.js';
import type { HttpApiClient } from '../runtime/client.js';
import type { ControllerManager } from '../runtime/manager.js';
import { Leases, Nodes } from '../runtime/resources.js';
import { startControllerManager } from '../setup.js';
import { heartbeatWritesCounter, NodeLeases } from '../../apiserver/gateway/node-lease.js';
import { ObjectWriter } from '../../apiserver/gateway/writes.js';
import { createLogger } from '../../lib/logging/logger.js';

const GRACE_MS = 3_000;

let cp: TestControlPlane;
let replica: ApiserverReplica;
let client: HttpApiClient;
let manager: ControllerManager;
let managerClient: { close(): void };
const agents = new Map<string, TestAgent>();
const drivers: SimDriver[] = [];
let heartbeats = 0;

async function agentOn(hostname: string, gateway: string): Promise<void> {
  const driver = new SimDriver({ hostname });
  drivers.push(driver);
  agents.set(hostname, await startAgent(cp, { driver, hostname, gateway }));
}

const nodeLease = (name: string) => client.get<Lease>(Leases, NODE_LEASE_NAMESPACE, name);
const ready = async (name: string) => (await client.get<Node>(Nodes, undefined, name)).status?.conditions?.find((c) => c.type === 'Ready');

/** The gateway's heartbeat writes by object (quantix_gateway_heartbeat_etcd_writes_total) on the first replica. */
async function heartbeatWrites(): Promise<Record<string, number>> {
  const counter = cp.env.apiserver.context.metrics.registry.getSingleMetric('quantix_gateway_heartbeat_etcd_writes_total') as Counter<'object'>;
  const out: Record<string, number> = {};
  for (const v of (await counter.get()).values) out[String(v.labels.object)] = v.value;
  return out;
}

beforeAll(async () => {
  setLogLevel('error');
  cp = await startTestControlPlane();
  replica = await startApiserverReplica(cp);
  client = await adminClient(cp.env.kubeconfig);
  // Heartbeats the first replica answers (the service is the gateway's own object).
  const service = cp.gateway.service as unknown as { heartbeat(call: unknown): Promise<unknown> };
  const heartbeat = service.heartbeat.bind(service);
  service.heartbeat = async (call) => {
    const out = await heartbeat(call);
    heartbeats++;
    return out;
  };
  await agentOn('lease-a', cp.gatewayAddress);
  await agentOn('lease-b', cp.gatewayAddress);
  await agentOn('lease-c', replica.gatewayAddress);
  ({ manager, client: managerClient } = await startControllerManager({
    kubeconfig: cp.env.kubeconfig,
    enabled: ['nodelifecycle'],
    nodelifecycle: { gracePeriodMs: GRACE_MS, resyncPeriodMs: 1_000 },
  }));
}, 60_000);

afterAll(async () => {
  for (const a of agents.values()) await a.stop().catch(() => undefined);
  for (const d of drivers) await d.close().catch(() => undefined);
  await manager?.stop();
  managerClient?.close();
  client?.close();
  await replica?.stop().catch(() => undefined);
  await cp?.stop();
});

describe('node Leases', () => {
  it('each node Lease is held by the replica its agent heartbeats to, vouched for by that replica Lease', async () => {
    const holders = await eventually(async () => {
      const out: Record<string, string> = {};
      for (const n of ['lease-a', 'lease-b', 'lease-c']) {
        const lease = await nodeLease(n);
        expect(lease.spec?.holderIdentity).toMatch(/^gateway\//);
        expect(lease.spec?.leaseDurationSeconds).toBe(40);
        out[n] = lease.spec!.holderIdentity!;
      }
      return out;
    });
    expect(holders['lease-a']).toBe(holders['lease-b']);
    expect(holders['lease-c']).not.toBe(holders['lease-a']);
    for (const holder of new Set(Object.values(holders))) {
      const own = await client.get<Lease>(Leases, GATEWAY_LEASE_NAMESPACE, `gateway-${replicaOfHolder(holder)}`);
      expect(own.spec?.holderIdentity).toBe(holder);
    }
    for (const n of ['lease-a', 'lease-b', 'lease-c']) await eventually(async () => expect((await ready(n))?.status).toBe('True'));
  });

  it('heartbeats that change nothing write nothing: neither the Node, nor its Lease, nor pools, networks or VMs', async () => {
    const node = await client.get<Node>(Nodes, undefined, 'lease-a');
    const lease = await nodeLease('lease-a');
    const before = await heartbeatWrites();
    const heartbeatsBefore = heartbeats;
    // Ten heartbeats of the two agents on this replica.
    await eventually(async () => expect(heartbeats - heartbeatsBefore).toBeGreaterThanOrEqual(10), { timeoutMs: 30_000 });
    const after = await heartbeatWrites();
    for (const object of ['node', 'node-lease', 'pool', 'network', 'vm']) expect([object, after[object] ?? 0]).toEqual([object, before[object] ?? 0]);
    expect((await client.get<Node>(Nodes, undefined, 'lease-a')).metadata.resourceVersion).toBe(node.metadata.resourceVersion);
    expect((await nodeLease('lease-a')).metadata.resourceVersion).toBe(lease.metadata.resourceVersion);
    // The replica's own Lease is what was renewed meanwhile.
    expect(after['gateway-lease'] ?? 0).toBeGreaterThan(before['gateway-lease'] ?? 0);
    expect((await ready('lease-a'))?.status).toBe('True');
  });

  it('a stopped agent: its Lease is released (renewTime = its last heartbeat) and its node goes Unknown', async () => {
    const held = await nodeLease('lease-b');
    await agents.get('lease-b')!.stop();
    agents.delete('lease-b');
    const stoppedAt = Date.now();
    const released = await eventually(
      async () => {
        const lease = await nodeLease('lease-b');
        expect(lease.spec?.holderIdentity).toBe('');
        return lease;
      },
      { timeoutMs: 30_000 },
    );
    const last = Date.parse(released.spec!.renewTime!);
    expect(last).toBeGreaterThanOrEqual(Date.parse(held.spec!.acquireTime!));
    expect(last).toBeLessThanOrEqual(stoppedAt);
    await eventually(async () => expect(await ready('lease-b')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' }), { timeoutMs: 30_000 });
    // The other node of that replica heartbeats on.
    expect((await ready('lease-a'))?.status).toBe('True');
  });

  it('heartbeats that lapse: the replica releases the Lease with renewTime = the last heartbeat it received', async () => {
    // This replica's sessions on a clock the test moves (the Leases are written to the real etcd).
    const context = cp.env.apiserver.context;
    let nowMs = Date.parse('2026-12-07T08:00:00.000Z');
    const leases = new NodeLeases({
      context,
      writer: new ObjectWriter(context),
      replica: 'lapse-test',
      writes: heartbeatWritesCounter(context.metrics.registry),
      log: createLogger('test'),
      now: () => nowMs,
    });
    // A registered node (node-lifecycle deletes the Lease of a node that does not exist).
    await client.create<Node>(Nodes, { apiVersion: 'quantix.io/v1alpha1', kind: 'Node', metadata: { name: 'lapse-n' }, spec: {} });
    leases.start();
    try {
      await leases.heartbeat('lapse-n');
      nowMs += 1_000;
      await leases.heartbeat('lapse-n');
      expect((await nodeLease('lapse-n')).spec).toMatchObject({ holderIdentity: 'gateway/lapse-test', renewTime: '2026-12-07T08:00:00.000Z' });
      // Silent for longer than the lapse (two 1 s intervals and 2 s, at least 5 s).
      nowMs += 5_001;
      const released = await eventually(async () => {
        const lease = await nodeLease('lapse-n');
        expect(lease.spec?.holderIdentity).toBe('');
        return lease;
      });
      expect(released.spec?.renewTime).toBe('2026-12-07T08:00:01.000Z');
      // The session comes back: taken again.
      await leases.heartbeat('lapse-n');
      expect((await nodeLease('lapse-n')).spec).toMatchObject({
        holderIdentity: 'gateway/lapse-test',
        renewTime: '2026-12-07T08:00:06.001Z',
        leaseTransitions: 0,
      });
    } finally {
      leases.stop();
    }
  });

  it('a killed replica vouches no more: the node Lease still names it, and its node goes Unknown', async () => {
    const holder = (await nodeLease('lease-c')).spec?.holderIdentity;
    expect(replicaOfHolder(holder)).toBeDefined();
    // Stopped as a crash leaves it: nothing released (the agent keeps dialling the dead replica).
    await replica.stop();
    await eventually(async () => expect(await ready('lease-c')).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' }), { timeoutMs: 30_000 });
    expect((await nodeLease('lease-c')).spec?.holderIdentity).toBe(holder);
    expect((await ready('lease-a'))?.status).toBe('True');
  });
});
