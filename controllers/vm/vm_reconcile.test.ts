import type { Condition, Node } from '../../api-types/generated/types.js';
import { NOW, NOW_MS, node, vm } from '../testing/fixtures.js';
import { planVm } from './vm_reconcile.js';
import { restartBackoffMs } from './vm_reconcile_restart.js';
import { failureCauseEvent } from './vm_reconcile_status.js';
import { CLEANUP_FINALIZER, FORCE_CLEANUP_ANNOTATION } from './vm_status.js';

const F = [CLEANUP_FINALIZER];
const cond = (type: string, status: Condition['status'], reason: string, extra: Partial<Condition> = {}): Condition => ({
  type,
  status,
  reason,
  lastTransitionTime: NOW,
  ...extra,
});
const types = (cs: Condition[] | undefined) => Object.fromEntries((cs ?? []).map((c) => [c.type, `${c.status}/${c.reason}`]));

describe('planVm: finalizer and status before the agent acts', () => {
  it.each([
    [
      'new, unbound: finalizer added, Pending, Ready False, Synced NotScheduled',
      vm('a'),
      { finalizers: F, phase: 'Pending', conds: { Synced: 'False/NotScheduled', Ready: 'False/Pending' } },
    ],
    [
      'unbound and unschedulable: Ready carries the scheduler reason',
      vm('a', { finalizers: F, conditions: [cond('Scheduled', 'False', 'Unschedulable', { message: '0/3 nodes available: 3 insufficient memory' })] }),
      { finalizers: undefined, phase: 'Pending', conds: { Scheduled: 'False/Unschedulable', Synced: 'False/NotScheduled', Ready: 'False/Unschedulable' } },
    ],
    [
      'bound: Scheduled, Scheduled=True Bound (replacing Unschedulable), waiting for agent',
      vm('a', { finalizers: F, nodeName: 'n1', phase: 'Pending', conditions: [cond('Scheduled', 'False', 'Unschedulable')] }),
      { finalizers: undefined, phase: 'Scheduled', conds: { Scheduled: 'True/Bound', Synced: 'False/WaitingForAgent', Ready: 'False/Scheduled' } },
    ],
    [
      "bound, the agent reported Synced before any phase (a disk waiting for its Image): the agent's word stands",
      vm('a', {
        finalizers: F,
        nodeName: 'n1',
        phase: 'Scheduled',
        conditions: [cond('Synced', 'False', 'ImageNotReady', { message: 'disk root: waiting for Image "x"' })],
      }),
      { finalizers: undefined, phase: 'Scheduled', conds: { Scheduled: 'True/Bound', Synced: 'False/ImageNotReady', Ready: 'False/Scheduled' } },
    ],
    [
      'pinned to an unsuitable node: stays Pending, flag kept',
      vm('a', { finalizers: F, nodeName: 'n3', conditions: [cond('Scheduled', 'False', 'NodeNotSuitable')] }),
      {
        finalizers: undefined,
        phase: 'Pending',
        conds: { Scheduled: 'False/NodeNotSuitable', Synced: 'False/WaitingForAgent', Ready: 'False/NodeNotSuitable' },
      },
    ],
    [
      'running (agent phase): phase untouched, Ready True, agent Synced untouched',
      vm('a', { finalizers: F, nodeName: 'n1', phase: 'Running', conditions: [cond('Synced', 'True', 'DomainDefined')] }),
      { finalizers: undefined, phase: 'Running', conds: { Synced: 'True/DomainDefined', Scheduled: 'True/Bound', Ready: 'True/Running' } },
    ],
    [
      'unknown (node-lifecycle): Ready Unknown',
      vm('a', { finalizers: F, nodeName: 'n1', phase: 'Unknown' }),
      { finalizers: undefined, phase: 'Unknown', conds: { Scheduled: 'True/Bound', Ready: 'Unknown/NodeUnreachable' } },
    ],
    [
      'lost (gateway): Ready False Lost, never rescheduled',
      vm('a', { finalizers: F, nodeName: 'n1', status: { phase: 'Lost', lostReason: 'domain missing on full sync' } }),
      { finalizers: undefined, phase: 'Lost', conds: { Scheduled: 'True/Bound', Ready: 'False/Lost' } },
    ],
  ] as const)('%s', (_label, v, expected) => {
    const plan = planVm({ vm: v, node: node('n1'), nowMs: NOW_MS });
    expect(plan.finalizers).toEqual(expected.finalizers);
    expect(plan.status.phase).toBe(expected.phase);
    expect(types(plan.status.conditions)).toEqual(expected.conds);
    expect(plan.status.observedGeneration).toBe(1);
    expect(plan.status.nodeName).toBe(v.status?.nodeName);
  });

  it('is a fixed point: applying its own status changes nothing the second time', () => {
    const first = planVm({ vm: vm('a', { finalizers: F, nodeName: 'n1' }), node: node('n1'), nowMs: NOW_MS });
    const again = planVm({ vm: { ...vm('a', { finalizers: F, nodeName: 'n1' }), status: first.status }, node: node('n1'), nowMs: NOW_MS + 60_000 });
    expect(again.status).toEqual(first.status);
    expect(again.finalizers).toBeUndefined();
    expect(again.events).toEqual([]);
  });

  it('keeps lastTransitionTime of unchanged conditions', () => {
    const v = vm('a', {
      finalizers: F,
      nodeName: 'n1',
      phase: 'Running',
      conditions: [cond('Ready', 'True', 'Running', { message: 'running on node n1', lastTransitionTime: '2020-01-01T00:00:00.000Z' })],
    });
    const plan = planVm({ vm: v, node: node('n1'), nowMs: NOW_MS });
    expect(plan.status.conditions!.find((c) => c.type === 'Ready')!.lastTransitionTime).toBe('2020-01-01T00:00:00.000Z');
  });
});

describe('planVm: events on Ready transitions', () => {
  const was = (reason: string, status: Condition['status'] = 'False') => [cond('Ready', status, reason)];
  it.each([
    ['Scheduled → Running: Started', 'Running', was('Scheduled'), ['Normal Started'], undefined],
    ['Running → Stopped: Stopped', 'Stopped', was('Running', 'True'), ['Normal Stopped'], undefined],
    ['Running → Failed: Warning Failed', 'Failed', was('Running', 'True'), ['Warning Failed'], undefined],
    ['Running → Lost: Warning Lost', 'Lost', was('Running', 'True'), ['Warning Lost'], undefined],
    ['Running → Unknown: Warning Unknown', 'Unknown', was('Running', 'True'), ['Warning Unknown'], undefined],
    ['Running → Running: nothing', 'Running', was('Running', 'True'), [], undefined],
    ['first sight of a running host-discovered VM: no Started', 'Running', undefined, [], 'host-discovered'],
    ['first sight of a running control-plane VM (a fast agent): Started', 'Running', undefined, ['Normal Started'], 'control-plane'],
  ] as const)('%s', (_label, phase, conditions, expected, origin) => {
    const plan = planVm({
      vm: vm('a', { finalizers: F, nodeName: 'n1', status: { phase, origin, conditions: conditions as Condition[] | undefined } }),
      node: node('n1'),
      nowMs: NOW_MS,
    });
    expect(plan.events.map((e) => `${e.type} ${e.reason}`)).toEqual(expected);
  });
});

describe('failureCauseEvent: a Failed VM that fails for another reason', () => {
  const at = (phase: 'Failed' | 'Running', reason: string, message: string, deleting = false) =>
    vm('a', { finalizers: F, nodeName: 'n1', deleting, status: { phase, conditions: [cond('Synced', 'False', reason, { message })] } });
  const missing = at('Failed', 'ImageNotReady', 'disk root: Image "x" does not exist');
  const tooSmall = 'disk root: spec.disks[].size 32Mi must be at least the virtual size of Image "x" (64Mi, 67108864 bytes)';
  it.each([
    ['another reason: an Event with the new cause', missing, at('Failed', 'DiskTooSmall', tooSmall), { type: 'Warning', reason: 'Failed', message: tooSmall }],
    [
      'the same reason, another message (a percentage): none',
      at('Failed', 'ImageNotReady', 'disk root: waiting for Image "x": downloading 3% on node n1'),
      at('Failed', 'ImageNotReady', 'disk root: waiting for Image "x": downloading 40% on node n1'),
      undefined,
    ],
    ['not Failed before (the Ready transition has its Event): none', at('Running', 'ImageNotReady', 'x'), at('Failed', 'DiskTooSmall', tooSmall), undefined],
    ['being deleted: none', missing, at('Failed', 'Deleting', 'removing the domain and volumes from node n1', true), undefined],
  ] as const)('%s', (_label, old, now, expected) => {
    expect(failureCauseEvent(old, now)).toEqual(expected);
  });
});

describe('planVm: RerunOnFailure', () => {
  const failedAt = (msAgo: number) => [
    cond('Ready', 'False', 'Failed', { message: 'failed on node n1', lastTransitionTime: new Date(NOW_MS - msAgo).toISOString() }),
  ];
  it.each([
    ['just failed: wait the backoff', 'RerunOnFailure', 0, undefined, 0, { phase: 'Failed', requeue: 10_000, events: ['Warning Failed'] }],
    ['failed 5 s ago: requeue for the rest', 'RerunOnFailure', 0, failedAt(5_000), 5_000, { phase: 'Failed', requeue: 5_000, events: [] }],
    [
      'backoff passed: restart (phase Scheduled)',
      'RerunOnFailure',
      0,
      failedAt(10_000),
      10_000,
      { phase: 'Scheduled', requeue: undefined, events: ['Normal Restarting'] },
    ],
    ['3 restarts: 80 s backoff', 'RerunOnFailure', 3, failedAt(60_000), 60_000, { phase: 'Failed', requeue: 20_000, events: [] }],
    ['Manual never restarts', 'Manual', 0, failedAt(600_000), 0, { phase: 'Failed', requeue: undefined, events: [] }],
    ['Always: the agent restarts, not the controller', 'Always', 0, failedAt(600_000), 0, { phase: 'Failed', requeue: undefined, events: [] }],
  ] as const)('%s', (_label, runStrategy, restartCount, conditions, _ago, expected) => {
    const v = vm('a', {
      finalizers: F,
      nodeName: 'n1',
      runStrategy,
      status: { phase: 'Failed', restartCount, conditions: conditions as Condition[] | undefined },
    });
    const plan = planVm({ vm: v, node: node('n1'), nowMs: NOW_MS });
    expect(plan.status.phase).toBe(expected.phase);
    expect(plan.requeueAfterMs).toBe(expected.requeue);
    expect(plan.events.map((e) => `${e.type} ${e.reason}`)).toEqual(expected.events);
    if (expected.phase === 'Scheduled') expect(plan.status.nodeName).toBeUndefined(); // same node: nothing moves
  });

  it('backoff doubles per restart and caps at 5 min', () => {
    expect([0, 1, 2, 5, 10].map(restartBackoffMs)).toEqual([10_000, 20_000, 40_000, 300_000, 300_000]);
  });
});

describe('planVm: deletion and the cleanup finalizer', () => {
  const deleting = (o: Parameters<typeof vm>[1] = {}) =>
    vm('a', { deleting: true, finalizers: [CLEANUP_FINALIZER, 'other.io/keep'], nodeName: 'n1', phase: 'Running', ...o });
  it.each<[string, ReturnType<typeof vm>, Node | undefined, { released: boolean; event?: string; readyReason?: string }]>([
    ['agent has not cleaned up: wait', deleting(), node('n1'), { released: false, readyReason: 'Deleting' }],
    [
      'agent reports Synced=True/Deleted: release',
      deleting({ conditions: [cond('Synced', 'True', 'Deleted')] }),
      node('n1'),
      { released: true, event: 'Normal CleanedUp' },
    ],
    ['Synced=False/Deleted is not a cleanup report', deleting({ conditions: [cond('Synced', 'False', 'Deleted')] }), node('n1'), { released: false }],
    ['never bound: release at once', deleting({ nodeName: undefined, phase: 'Pending' }), undefined, { released: true, event: 'Normal CleanedUp' }],
    [
      'unmanaged: release, domain untouched',
      deleting({ status: { phase: 'Running', managed: false } }),
      node('n1'),
      { released: true, event: 'Normal CleanupSkipped' },
    ],
    [
      'forced, node deleted: release with a warning',
      deleting({ annotations: { [FORCE_CLEANUP_ANNOTATION]: 'true' } }),
      undefined,
      { released: true, event: 'Warning ForcedCleanup' },
    ],
    [
      'forced, node Unknown: release with a warning',
      deleting({ annotations: { [FORCE_CLEANUP_ANNOTATION]: 'true' } }),
      node('n1', { ready: 'Unknown' }),
      { released: true, event: 'Warning ForcedCleanup' },
    ],
    [
      'forced, node Ready: refused (its agent will clean up)',
      deleting({ annotations: { [FORCE_CLEANUP_ANNOTATION]: 'true' } }),
      node('n1'),
      { released: false, readyReason: 'Deleting' },
    ],
    ['forced with another value: ignored', deleting({ annotations: { [FORCE_CLEANUP_ANNOTATION]: 'yes' } }), undefined, { released: false }],
  ])('%s', (_label, v, n, expected) => {
    const plan = planVm({ vm: v, node: n, nowMs: NOW_MS });
    if (expected.released) {
      expect(plan.finalizers).toEqual(['other.io/keep']);
      expect(plan.events.map((e) => `${e.type} ${e.reason}`)).toEqual([expected.event]);
    } else {
      expect(plan.finalizers).toBeUndefined();
      expect(plan.events).toEqual([]);
    }
    if (expected.readyReason) expect(plan.status.conditions?.find((c) => c.type === 'Ready')?.reason).toBe(expected.readyReason);
  });

  it('a deleting VM without our finalizer is left alone', () => {
    const v = vm('a', { deleting: true, finalizers: ['x'], nodeName: 'n1', phase: 'Running' });
    const plan = planVm({ vm: v, node: node('n1'), nowMs: NOW_MS });
    expect(plan.finalizers).toBeUndefined();
    expect(plan.status).toEqual(v.status);
  });

  it('never adds the finalizer to a VM being deleted', () => {
    const plan = planVm({ vm: vm('a', { deleting: true, finalizers: [] }), node: undefined, nowMs: NOW_MS });
    expect(plan.finalizers).toBeUndefined();
  });
});
