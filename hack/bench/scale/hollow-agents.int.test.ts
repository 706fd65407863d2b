/**
 * Hollow agents (the scale benchmark's nodes) against a real control plane: each joins with
 * the bootstrap token and a certificate request of its own, gets its own node certificate,
 * heartbeats, and reports the pool assigned to it, as a host's agent does.
 */
import { X509Certificate } from 'node:crypto';
import type { Node, StoragePool } from '../../../api-types/generated/types.js';
import { nodeDefinition, storagePoolDefinition } from '../../../api-types/registry.js';
import type { ResourceDefinition } from '../../../api-types/schema/types.js';
import { startTestControlPlane, type TestControlPlane } from '../../testenv/agent.js';
import { eventually } from '../../testenv/eventually.js';
import { hollowNodeNames, startHollowAgents, type HollowAgents } from './hollow-agents.js';

const COUNT = 20;
const NODE = nodeDefinition as unknown as ResourceDefinition;
const POOL = storagePoolDefinition as unknown as ResourceDefinition;

describe('hollow agents', () => {
  let cp: TestControlPlane;
  let fleet: HollowAgents | undefined;

  beforeAll(async () => {
    cp = await startTestControlPlane();
  });

  afterAll(async () => {
    await fleet?.stop();
    await cp.stop();
  });

  it(`runs ${COUNT} agents in one process, each with its own node certificate, heartbeats and pool reports`, async () => {
    const names = hollowNodeNames(COUNT, 'hollow-test-');
    const stores = cp.env.apiserver.context.stores;
    await stores.get(POOL).create({
      apiVersion: 'quantix.io/v1alpha1',
      kind: 'StoragePool',
      metadata: { name: 'hollow' },
      spec: { type: 'dir', dir: { path: '/var/lib/quantix/hollow' }, assignedNodes: names },
    } as StoragePool);
    fleet = await startHollowAgents({
      gateway: cp.gatewayAddress,
      caPem: cp.env.caCertPem,
      joinToken: cp.joinToken,
      count: COUNT,
      namePrefix: 'hollow-test-',
      heartbeatIntervalMs: 1000,
      startupJitterMs: 500,
      startSpreadMs: 1000,
    });
    expect(fleet.names).toEqual(names);
    expect(fleet.agents.map((a) => a.nodeName)).toEqual(names);

    // A certificate of its own for each, naming its node.
    const subjects = fleet.agents.map((a) => new X509Certificate(a.stateDir.nodeCertificate()!).subject);
    expect(subjects).toEqual(names.map((n) => `O=quantix:nodes\nCN=quantix:node:${n}`));

    await eventually(async () => {
      const nodes = (await stores.get(NODE).list({})).items as Node[];
      const ready = nodes.filter((n) => names.includes(n.metadata.name!) && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'));
      expect(ready.map((n) => n.metadata.name).sort()).toEqual(names);
      const pool = (await stores.get(POOL).get(undefined, 'hollow')) as StoragePool;
      expect(Object.keys(pool.status?.hosts ?? {}).sort()).toEqual(names);
      expect(Object.values(pool.status?.hosts ?? {}).every((h) => h.health === 'HEALTHY')).toBe(true);
    });

    // Heartbeats keep coming, from every agent (the gateway's session state: Node status is
    // written only on change, docs/architecture.md "Heartbeats and node Leases").
    const seen = new Map(names.map((n) => [n, cp.gateway.leases.lastHeartbeatMs(n) ?? 0]));
    await eventually(() => expect(names.filter((n) => (cp.gateway.leases.lastHeartbeatMs(n) ?? 0) <= seen.get(n)!)).toEqual([]), {
      message: 'a new heartbeat from every hollow agent',
    });
    expect(fleet.reachable()).toBe(COUNT);
  });
});
