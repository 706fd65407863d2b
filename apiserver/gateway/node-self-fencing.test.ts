/** Node status.selfFencing from heartbeats, and refusals of reports about VMs that moved (the cause names the node). */
import { ApiError } from '../../lib/apimachinery/status-error.js';
import { BOUND_TO_ANOTHER_NODE } from '../../api-types/proto/contract.js';
import { boundNodeOf, entryRejection } from './full-sync.js';
import { MAX_SELF_FENCE_TIMEOUT_SECONDS, selfFencingStatus } from './node-status.js';

describe('selfFencingStatus', () => {
  it.each([
    ['absent (an agent from before self-fencing)', null, { enabled: false }],
    ['disabled', { enabled: false, timeoutSeconds: 30 }, { enabled: false }],
    ['enabled', { enabled: true, timeoutSeconds: 60 }, { enabled: true, timeoutSeconds: 60 }],
  ])('%s', (_name, reported, want) => {
    expect(selfFencingStatus(reported)).toEqual(want);
  });

  it.each([0, -5, 1.5, MAX_SELF_FENCE_TIMEOUT_SECONDS + 1])('enabled with timeout %p: BadRequest naming the field', (t) => {
    let err: unknown;
    try {
      selfFencingStatus({ enabled: true, timeoutSeconds: t });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect((err as ApiError).reason).toBe('BadRequest');
    expect((err as ApiError).causes).toEqual([expect.objectContaining({ field: 'selfFencing.timeoutSeconds', reason: 'FieldValueInvalid' })]);
  });
});

describe('refusals of a VM bound to another node', () => {
  it('carry that node, as a cause and in the full sync entry', () => {
    const err = new ApiError(403, 'Forbidden', 'node "a" may not write the status of VM default/web: it is bound to "b"', {
      causes: [{ reason: BOUND_TO_ANOTHER_NODE, field: 'spec.nodeName', message: 'b' }],
    });
    expect(boundNodeOf(err)).toBe('b');
    expect(entryRejection(err)).toEqual({ reason: 'Forbidden', message: err.message, boundNode: 'b' });
  });

  it('other refusals carry none', () => {
    expect(entryRejection(new ApiError(403, 'Forbidden', 'not bound to any node'))).toMatchObject({ boundNode: '' });
  });
});
