import { NOW_MS, node, pool, vm } from '../testing/fixtures.js';
import { planNode } from './nodelifecycle_reconcile.js';

const GRACE = 40_000;
const base = { nowMs: NOW_MS, gracePeriodMs: GRACE };

describe('planNode', () => {
  it('fresh heartbeat: nothing to write, requeue when it would expire', () => {
    const plan = planNode({ ...base, node: node('n1'), probeMs: NOW_MS - 10_000, vms: [vm('a', { nodeName: 'n1', phase: 'Running' })], pools: [] });
    expect(plan.status).toBeUndefined();
    expect(plan.unknownVms).toEqual([]);
    expect(plan.requeueAfterMs).toBe(30_001);
  });

  it('heartbeat older than the grace: node Unknown, its VMs Unknown, its pool entries UNMOUNTED', () => {
    const n = node('n1', { heartbeat: '2026-01-12T09:59:00.000Z' });
    n.status!.stateHash = 'abc';
    const vms = [
      vm('running', { nodeName: 'n1', phase: 'Running' }),
      vm('scheduled', { nodeName: 'n1', phase: 'Scheduled' }),
      vm('lost', { nodeName: 'n1', phase: 'Lost' }),
      vm('already', { nodeName: 'n1', phase: 'Unknown' }),
      vm('elsewhere', { nodeName: 'n2', phase: 'Running' }),
    ];
    const pools = [pool('fast', ['n1', 'n2'], { n1: 'HEALTHY', n2: 'HEALTHY' }), pool('nfs', ['n1'], { n1: { health: 'UNMOUNTED', message: 'mount error' } })];
    const plan = planNode({ ...base, node: n, probeMs: NOW_MS - GRACE - 1, vms, pools });
    const ready = plan.status!.conditions!.find((c) => c.type === 'Ready')!;
    expect(ready).toMatchObject({ status: 'Unknown', reason: 'NodeStatusUnknown' });
    expect(ready.message).toBe('quantix-agent stopped heartbeating: no heartbeat since 2026-01-12T09:59:00.000Z (grace period 40s)');
    expect(plan.status!.stateHash).toBeUndefined();
    expect(plan.unknownVms.map((v) => v.metadata.name)).toEqual(['running', 'scheduled']);
    expect(plan.poolHosts).toHaveLength(1);
    expect(plan.poolHosts[0]!.pool.metadata.name).toBe('fast');
    expect(plan.poolHosts[0]!.host).toMatchObject({ health: 'UNMOUNTED', message: expect.stringContaining('node n1 is not heartbeating') });
    expect(plan.events.map((e) => `${e.type} ${e.reason}`)).toEqual(['Warning NodeNotReady']);
  });

  it('already Unknown: no node write or event, but VMs and pools still converge', () => {
    const n = node('n1', { ready: 'Unknown', readyReason: 'NodeStatusUnknown' });
    const plan = planNode({ ...base, node: n, probeMs: NOW_MS - 60_000, vms: [vm('late', { nodeName: 'n1', phase: 'Running' })], pools: [] });
    expect(plan.status).toBeUndefined();
    expect(plan.events).toEqual([]);
    expect(plan.unknownVms.map((v) => v.metadata.name)).toEqual(['late']);
  });

  it('heartbeats back after Unknown: Ready True again, NodeReady event; VMs left for the full sync', () => {
    const n = node('n1', { ready: 'Unknown', readyReason: 'NodeStatusUnknown' });
    const plan = planNode({ ...base, node: n, probeMs: NOW_MS, vms: [vm('a', { nodeName: 'n1', phase: 'Unknown' })], pools: [] });
    expect(plan.status!.conditions!.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'HeartbeatResumed' });
    expect(plan.events.map((e) => e.reason)).toEqual(['NodeReady']);
    expect(plan.unknownVms).toEqual([]);
  });

  it("a node the agent reports NotReady (False) is the agent's business while it heartbeats", () => {
    const plan = planNode({ ...base, node: node('n1', { ready: 'False' }), probeMs: NOW_MS, vms: [], pools: [] });
    expect(plan.status).toBeUndefined();
  });

  it('a node that never heartbeated becomes Unknown after the grace from first sight', () => {
    const n = node('n1', { ready: 'none' });
    delete n.status!.lastHeartbeatTime;
    expect(planNode({ ...base, node: n, probeMs: NOW_MS - 1000, vms: [], pools: [] }).status).toBeUndefined();
    const plan = planNode({ ...base, node: n, probeMs: NOW_MS - GRACE - 1, vms: [], pools: [] });
    expect(plan.status!.conditions![0]!.message).toContain('no heartbeat ever');
  });
});
