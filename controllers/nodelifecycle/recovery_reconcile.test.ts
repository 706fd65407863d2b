import type { Node, StoragePool } from '../../api-types/generated/types.js';
import { NOW, NOW_MS, node, pool, vm } from '../testing/fixtures.js';
import { planNode } from './nodelifecycle_reconcile.js';
import { fencingOf, notRecoverableReason, planRecovery, planRecoveryWithdrawn, RecoveryReasons, type Fencing } from './recovery_reconcile.js';

const MARGIN = 10_000;

function fencedNode(o: { admin?: boolean; selfFenceS?: number } = {}): Node {
  const n = node('n1', { ready: 'Unknown', readyReason: 'NodeStatusUnknown' });
  n.spec = { ...n.spec, fenced: o.admin ?? false };
  if (o.selfFenceS !== undefined) n.status!.selfFencing = { enabled: true, timeoutSeconds: o.selfFenceS };
  return n;
}

function sharedPool(name: string): StoragePool {
  const p = pool(name, ['n1', 'n2']);
  p.spec.shared = true;
  return p;
}

const pools = new Map<string, StoragePool>([
  ['shared', sharedPool('shared')],
  ['nfs', pool('nfs', ['n1', 'n2'], {}, 'nfs')],
  ['local', pool('local', ['n1'])],
]);

const FENCED: Fencing = { fenced: true, reason: 'AdminFenced', message: 'an admin fenced node n1 (spec.fenced)' };

describe('fencingOf', () => {
  it('a heartbeating node is never fenced, not even with spec.fenced', () => {
    expect(fencingOf(fencedNode({ admin: true }), NOW_MS, NOW_MS, false, MARGIN).fenced).toBe(false);
  });

  it('admin fence: fenced as soon as the heartbeat expired', () => {
    expect(fencingOf(fencedNode({ admin: true }), NOW_MS - 1, NOW_MS, true, MARGIN)).toMatchObject({ fenced: true, reason: 'AdminFenced' });
  });

  it('self-fencing: fenced only once timeout + margin passed since the last heartbeat seen', () => {
    const n = fencedNode({ selfFenceS: 60 });
    const probe = NOW_MS - 60_000 - MARGIN;
    expect(fencingOf(n, probe + 1, NOW_MS, true, MARGIN)).toMatchObject({ fenced: false, dueAtMs: NOW_MS + 1 });
    expect(fencingOf(n, probe, NOW_MS, true, MARGIN)).toMatchObject({
      fenced: true,
      reason: 'SelfFenceTimeoutElapsed',
      message: 'node n1 self-fenced: no heartbeat for its 60s self-fencing timeout + 10s margin',
    });
  });

  it('no self-fencing and no admin fence: never fenced, the message says how to fence', () => {
    const f = fencingOf(fencedNode(), NOW_MS - 3_600_000, NOW_MS, true, MARGIN);
    expect(f.fenced).toBe(false);
    expect(f.dueAtMs).toBeUndefined();
    expect(f.message).toContain('qxctl node fence n1');
  });

  it('self-fencing disabled in status counts as none', () => {
    const n = fencedNode();
    n.status!.selfFencing = { enabled: false, timeoutSeconds: 5 };
    expect(fencingOf(n, NOW_MS - 3_600_000, NOW_MS, true, MARGIN).fenced).toBe(false);
  });
});

describe('notRecoverableReason', () => {
  it.each([
    ['Always on a shared dir pool', vm('a', { pools: ['shared'] }), undefined],
    ['Always on nfs', vm('a', { pools: ['nfs'] }), undefined],
    ['Always without disks', vm('a', { pools: [] }), undefined],
    ['Manual', vm('a', { pools: ['shared'], runStrategy: 'Manual' }), RecoveryReasons.RunStrategyNotAlways],
    ['RerunOnFailure', vm('a', { pools: ['shared'], runStrategy: 'RerunOnFailure' }), RecoveryReasons.RunStrategyNotAlways],
    ['one disk on a local pool', vm('a', { pools: ['shared', 'local'] }), RecoveryReasons.DisksNotShared],
    ['a pool that does not exist', vm('a', { pools: ['gone'] }), RecoveryReasons.DisksNotShared],
  ])('%s', (_name, v, want) => {
    expect(notRecoverableReason(v, pools)?.reason).toBe(want);
  });

  it('names the disks that are not shared', () => {
    expect(notRecoverableReason(vm('a', { pools: ['shared', 'local'] }), pools)?.message).toMatch(/^disk d1 \(pool local\) is not on shared storage/);
  });
});

describe('planRecovery', () => {
  const running = (name: string, o: Parameters<typeof vm>[1] = {}) =>
    vm(name, {
      nodeName: 'n1',
      pools: ['shared'],
      status: { phase: 'Unknown', nodeName: 'n1', domainUUID: '6f1c2a8e-0000-4000-8000-000000000001', powerState: 'running', restartCount: 2 },
      ...o,
    });

  it('fenced: an eligible VM gets its recovery recorded (phase Pending, domain observations cleared) and is unbound', () => {
    const v = running('web');
    const plan = planRecovery({ node: fencedNode({ admin: true }), fencing: FENCED, vms: [v], pools, nowMs: NOW_MS });
    expect(plan.statuses).toHaveLength(1);
    const { status, event } = plan.statuses[0]!;
    expect(status.phase).toBe('Pending');
    expect(status.recovery).toEqual({ recoveredFrom: 'n1', count: 1, lastRecoveryTime: NOW });
    expect(status.domainUUID).toBeUndefined();
    expect(status.nodeName).toBeUndefined();
    expect(status.powerState).toBeUndefined();
    expect(status.restartCount).toBe(2);
    expect(status.conditions?.find((c) => c.type === 'Recovery')).toMatchObject({ status: 'True', reason: RecoveryReasons.Recovered });
    expect(event).toMatchObject({ type: 'Warning', reason: 'Recovering', message: expect.stringContaining('recovered from node n1') });
    expect(plan.unbind).toEqual([v]);
  });

  it('counts recoveries', () => {
    const v = running('web');
    v.status!.recovery = { recoveredFrom: 'n0', count: 2, lastRecoveryTime: '2026-01-01T00:00:00Z' };
    const plan = planRecovery({ node: fencedNode({ admin: true }), fencing: FENCED, vms: [v], pools, nowMs: NOW_MS });
    expect(plan.statuses[0]!.status.recovery).toMatchObject({ recoveredFrom: 'n1', count: 3 });
  });

  it('recovery recorded by an earlier pass: only the unbind (no second count)', () => {
    const v = running('web', { status: { phase: 'Pending', recovery: { recoveredFrom: 'n1', count: 1, lastRecoveryTime: NOW } } });
    const plan = planRecovery({ node: fencedNode({ admin: true }), fencing: FENCED, vms: [v], pools, nowMs: NOW_MS });
    expect(plan.statuses).toEqual([]);
    expect(plan.unbind).toEqual([v]);
  });

  it('not eligible: condition Recovery=False with the reason, one Warning, no unbind', () => {
    const manual = running('manual', { runStrategy: 'Manual' });
    const local = running('local', { pools: ['local'] });
    const plan = planRecovery({ node: fencedNode({ admin: true }), fencing: FENCED, vms: [manual, local], pools, nowMs: NOW_MS });
    expect(plan.unbind).toEqual([]);
    expect(
      plan.statuses.map((s) => [s.vm.metadata.name, s.status.phase, s.status.conditions?.find((c) => c.type === 'Recovery')?.reason, s.event?.reason]),
    ).toEqual([
      ['manual', 'Unknown', RecoveryReasons.RunStrategyNotAlways, 'NotRecoverable'],
      ['local', 'Unknown', RecoveryReasons.DisksNotShared, 'NotRecoverable'],
    ]);
    // Written once: the next pass finds the condition there.
    const again = planRecovery({
      node: fencedNode({ admin: true }),
      fencing: FENCED,
      vms: plan.statuses.map((s) => ({ ...s.vm, status: s.status })),
      pools,
      nowMs: NOW_MS + 5_000,
    });
    expect(again.statuses).toEqual([]);
  });

  it('not fenced yet: an eligible VM says it waits for fencing, nothing moves', () => {
    const fencing = fencingOf(fencedNode({ selfFenceS: 60 }), NOW_MS - 45_000, NOW_MS, true, MARGIN);
    const plan = planRecovery({ node: fencedNode({ selfFenceS: 60 }), fencing, vms: [running('web')], pools, nowMs: NOW_MS });
    expect(plan.unbind).toEqual([]);
    expect(plan.statuses[0]!.status.phase).toBe('Unknown');
    expect(plan.statuses[0]!.status.conditions?.find((c) => c.type === 'Recovery')).toMatchObject({
      status: 'False',
      reason: RecoveryReasons.WaitingForFencing,
      message: expect.stringContaining('waiting out its 60s self-fencing timeout'),
    });
  });

  it("leaves deleting, host-discovered, Lost and other nodes' VMs alone", () => {
    const deleting = running('deleting', { deleting: true });
    const discovered = running('found', { status: { phase: 'Unknown', origin: 'host-discovered', managed: false } });
    const elsewhere = running('elsewhere', { nodeName: 'n2' });
    const lost = running('lost', { status: { phase: 'Lost', lostReason: 'removed outside Quantix' } });
    const plan = planRecovery({ node: fencedNode({ admin: true }), fencing: FENCED, vms: [deleting, discovered, elsewhere, lost], pools, nowMs: NOW_MS });
    expect(plan).toEqual({ statuses: [], unbind: [] });
  });
});

describe('planNode with fencing', () => {
  const base = { nowMs: NOW_MS, gracePeriodMs: 40_000, pools: [] };

  it('expired and fenced: condition Fenced=True and an Event NodeFenced; a VM with its recovery recorded is not made Unknown', () => {
    const leaving = vm('leaving', { nodeName: 'n1', status: { phase: 'Pending', recovery: { recoveredFrom: 'n1', count: 1, lastRecoveryTime: NOW } } });
    const plan = planNode({ ...base, node: fencedNode({ admin: true }), probeMs: NOW_MS - 60_000, vms: [leaving], fencing: FENCED });
    expect(plan.status?.conditions?.find((c) => c.type === 'Fenced')).toMatchObject({ status: 'True', reason: 'AdminFenced' });
    expect(plan.events.map((e) => e.reason)).toEqual(['NodeFenced']);
    expect(plan.unknownVms).toEqual([]);
  });

  it('waiting for self-fencing: Fenced=False, requeued for the moment it counts', () => {
    const n = fencedNode({ selfFenceS: 60 });
    const fencing = fencingOf(n, NOW_MS - 45_000, NOW_MS, true, MARGIN);
    const plan = planNode({ ...base, node: n, probeMs: NOW_MS - 45_000, vms: [], fencing });
    expect(plan.status?.conditions?.find((c) => c.type === 'Fenced')).toMatchObject({ status: 'False', reason: 'NotFenced' });
    expect(plan.requeueAfterMs).toBe(25_001);
    expect(plan.events).toEqual([]);
  });

  it('heartbeats back: Ready=True and Fenced=False', () => {
    const n = fencedNode({ admin: true });
    n.status!.conditions!.push({ type: 'Fenced', status: 'True', reason: 'AdminFenced', lastTransitionTime: NOW });
    const plan = planNode({ ...base, node: n, probeMs: NOW_MS - 1_000, vms: [] });
    expect(plan.status?.conditions?.find((c) => c.type === 'Ready')?.status).toBe('True');
    expect(plan.status?.conditions?.find((c) => c.type === 'Fenced')).toMatchObject({ status: 'False', reason: 'NotFenced' });
  });
});

describe('planRecoveryWithdrawn', () => {
  it('the node heartbeats again: Recovery=False conditions go, Recovery=True stays', () => {
    const cond = (status: 'True' | 'False', reason: string) => [{ type: 'Recovery', status, reason, lastTransitionTime: NOW }];
    const waiting = vm('waiting', { nodeName: 'n1', status: { phase: 'Running', conditions: cond('False', RecoveryReasons.WaitingForFencing) } });
    const recovered = vm('recovered', { nodeName: 'n1', status: { phase: 'Running', conditions: cond('True', RecoveryReasons.Recovered) } });
    const other = vm('other', { nodeName: 'n2', status: { phase: 'Unknown', conditions: cond('False', RecoveryReasons.DisksNotShared) } });
    const out = planRecoveryWithdrawn('n1', [waiting, recovered, other]);
    expect(out.map((o) => o.vm.metadata.name)).toEqual(['waiting']);
    expect(out[0]!.status.conditions).toEqual([]);
  });
});
