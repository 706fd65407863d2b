import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { actionsFor, patchFor } from './vm-actions.js';

function vm(spec: Partial<VirtualMachine['spec']>, status?: VirtualMachine['status'], meta: Partial<VirtualMachine['metadata']> = {}): VirtualMachine {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'v', namespace: 'default', ...meta },
    spec: { memory: '1Gi', ...spec },
    status,
  };
}

const enabled = (v: VirtualMachine) =>
  actionsFor(v)
    .filter((a) => a.enabled)
    .map((a) => a.action);

describe('actionsFor', () => {
  it.each([
    ['running, Always', vm({ runStrategy: 'Always' }, { phase: 'Running' }), ['stop', 'restart', 'pause', 'delete']],
    ['stopped, Halted', vm({ runStrategy: 'Halted' }, { phase: 'Stopped' }), ['start', 'delete']],
    ['paused', vm({ paused: true }, { phase: 'Paused' }), ['stop', 'restart', 'resume', 'delete']],
    ['pending, no status', vm({}), ['stop', 'delete']],
    ['being deleted', vm({}, { phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:00Z' }), []],
    ['unmanaged', vm({}, { phase: 'Running', origin: 'host-discovered', managed: false }), ['delete']],
  ])('%s', (_name, v, want) => {
    expect(enabled(v)).toEqual(want);
  });

  it('explains why an action is disabled and warns that deleting an unmanaged VM leaves its domain', () => {
    const actions = actionsFor(vm({}, { phase: 'Running', origin: 'host-discovered', managed: false }));
    expect(actions.find((a) => a.action === 'stop')?.why).toMatch(/Unmanaged/);
    expect(actions.find((a) => a.action === 'delete')?.confirm).toMatch(/keeps running on its host/);
  });
});

describe('patchFor', () => {
  it('maps actions to spec changes', () => {
    expect(patchFor('start')).toEqual({ spec: { runStrategy: 'Always' } });
    expect(patchFor('stop')).toEqual({ spec: { runStrategy: 'Halted' } });
    expect(patchFor('pause')).toEqual({ spec: { paused: true } });
    expect(patchFor('resume')).toEqual({ spec: { paused: false } });
  });
});
