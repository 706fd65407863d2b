import type { KubeObject } from '../../api-types/meta.js';
import { defaultSnapshotName, restoreConvergence, snapshotConvergence } from './snapshot.js';

const snap = (status?: object) =>
  ({ apiVersion: 'quantix.io/v1alpha1', kind: 'VirtualMachineSnapshot', metadata: { name: 's' }, status }) as unknown as KubeObject;

describe('defaultSnapshotName', () => {
  it('is the VM and the UTC time, a DNS label', () => {
    expect(defaultSnapshotName('web', new Date('2026-12-07T05:04:09.123Z'))).toBe('web-20261207-050409');
    const long = defaultSnapshotName('v'.repeat(70), new Date('2026-12-07T05:04:09Z'));
    expect(long.length).toBeLessThanOrEqual(63);
    expect(long).toMatch(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/);
  });
});

describe('snapshotConvergence / restoreConvergence', () => {
  it('done at Ready, failure at Failed with the message, progress otherwise', () => {
    expect(snapshotConvergence(snap({ phase: 'Ready' })).done).toBe(true);
    expect(snapshotConvergence(snap({ phase: 'InProgress', message: 'the agent on node n1 is taking the snapshot' }))).toEqual({
      done: false,
      state: 'phase InProgress: the agent on node n1 is taking the snapshot',
      want: 'phase Ready',
    });
    expect(snapshotConvergence(snap({ phase: 'Failed', message: 'no space' })).failure).toBe('no space');
    expect(snapshotConvergence(undefined).failure).toBe('the snapshot was deleted');
  });
  it('a restore is done at Succeeded and fails at Failed', () => {
    expect(restoreConvergence(snap({ phase: 'Succeeded' })).done).toBe(true);
    expect(restoreConvergence(snap({ phase: 'Failed', message: 'VM running' })).failure).toBe('VM running');
    expect(restoreConvergence(snap()).state).toBe('phase Pending');
  });
});
