import { IMAGE_IN_USE_FINALIZER } from '../../api-types/finalizers.js';
import type { Image, ImageNodeStatus } from '../../api-types/generated/types.js';
import { aggregatePhase, importEvents, namesList, planImage, planImageFinalizer } from './image_reconcile.js';

const NOW = Date.parse('2026-12-06T12:00:00Z');

function image(nodes: Record<string, ImageNodeStatus> = {}, extra: Partial<Image['metadata']> = {}): Image {
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Image',
    metadata: { name: 'debian', uid: 'u1', generation: 1, ...extra },
    spec: { source: { url: 'http://user:secret@127.0.0.1:8080/img/debian.qcow2?token=abc' } },
    status: { nodes },
  };
}

describe('aggregatePhase', () => {
  it.each([
    ['no node', [], 'Pending'],
    ['pending only', [{ phase: 'Pending' }], 'Pending'],
    ['one importing', [{ phase: 'Pending' }, { phase: 'Importing' }], 'Importing'],
    ['one ready, one importing', [{ phase: 'Ready' }, { phase: 'Importing' }], 'Ready'],
    ['a failure wins', [{ phase: 'Ready' }, { phase: 'Failed' }], 'Failed'],
  ] as const)('%s → %s', (_n, nodes, phase) => {
    expect(aggregatePhase(nodes as readonly ImageNodeStatus[])).toBe(phase);
  });
});

describe('planImage', () => {
  it('Ready: size and checksum from the ready node, Ready condition naming it, usedBy sorted', () => {
    const plan = planImage(image({ n1: { phase: 'Ready', virtualSizeBytes: 2 ** 31, sha256: 'ab'.repeat(32) } }), ['ns/b', 'ns/a'], NOW);
    expect(plan.status).toMatchObject({ phase: 'Ready', virtualSizeBytes: 2 ** 31, sha256: 'ab'.repeat(32), usedBy: ['ns/a', 'ns/b'], observedGeneration: 1 });
    expect(plan.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', message: 'ready on n1' });
    expect(plan.status.conditions?.find((c) => c.type === 'InUse')).toMatchObject({ status: 'True', reason: 'UsedByVMs', message: 'used by ns/a, ns/b' });
    expect(plan.events).toEqual([]);
  });

  it('Failed: the condition names the node, the reason and the message', () => {
    const plan = planImage(image({ n1: { phase: 'Failed', reason: 'HTTPError', message: 'GET http://127.0.0.1:8080/x: 404 Not Found' } }), [], NOW);
    expect(plan.status.phase).toBe('Failed');
    expect(plan.status.conditions?.find((c) => c.type === 'Ready')?.message).toBe('import failed on n1: HTTPError: GET http://127.0.0.1:8080/x: 404 Not Found');
    expect(plan.status.usedBy).toBeUndefined();
  });

  it('drops the reports of deleted nodes: a failure there no longer fails the image; unknown node set keeps them all', () => {
    const img = image({ gone: { phase: 'Failed', reason: 'NoSpace', message: 'full' }, n1: { phase: 'Ready', virtualSizeBytes: 1 } });
    const plan = planImage(img, [], NOW, new Set(['n1', 'n2']));
    expect(Object.keys(plan.status.nodes ?? {})).toEqual(['n1']);
    expect(plan.status.phase).toBe('Ready');
    expect(plan.status.conditions?.find((c) => c.type === 'Ready')?.message).toBe('ready on n1');
    expect(img.status?.nodes?.gone).toBeDefined(); // the input is not changed
    expect(planImage(img, [], NOW).status.phase).toBe('Failed');
    expect(Object.keys(planImage(image({ gone: { phase: 'Ready' } }), [], NOW, new Set()).status.nodes ?? {})).toEqual([]);
    expect(planImage(image({ gone: { phase: 'Ready' } }), [], NOW, new Set()).status.phase).toBe('Pending');
  });

  it('a deletion blocked by VMs says which, once (an Event only when the message changes)', () => {
    const deleting = image({}, { deletionTimestamp: '2026-12-06T11:59:00Z', finalizers: [IMAGE_IN_USE_FINALIZER] });
    const first = planImage(deleting, ['default/web'], NOW);
    expect(first.status.conditions?.find((c) => c.type === 'InUse')).toMatchObject({
      reason: 'DeletionBlocked',
      message: 'deletion waits until no VM uses the image; used by default/web',
    });
    expect(first.events).toEqual([{ type: 'Warning', reason: 'DeletionBlocked', message: 'deletion waits until no VM uses the image; used by default/web' }]);
    const again = planImage({ ...deleting, status: first.status }, ['default/web'], NOW);
    expect(again.events).toEqual([]);
  });

  it('long VM lists are cut with a count', () => {
    expect(namesList(Array.from({ length: 12 }, (_, i) => `ns/vm${i}`))).toBe(
      'ns/vm0, ns/vm1, ns/vm2, ns/vm3, ns/vm4, ns/vm5, ns/vm6, ns/vm7, ns/vm8, ns/vm9 and 2 more',
    );
  });
});

describe('planImageFinalizer', () => {
  it.each([
    ['in use, no finalizer: add', image(), ['a/b'], [IMAGE_IN_USE_FINALIZER]],
    ['in use, has it: nothing', image({}, { finalizers: [IMAGE_IN_USE_FINALIZER] }), ['a/b'], undefined],
    ['unused, has it: remove, keep others', image({}, { finalizers: ['x/y', IMAGE_IN_USE_FINALIZER] }), [], ['x/y']],
    ['unused, none: nothing', image(), [], undefined],
    ['deleting and in use, none: not added (the API refuses new finalizers)', image({}, { deletionTimestamp: '2026-12-06T11:00:00Z' }), ['a/b'], undefined],
  ] as const)('%s', (_n, img, users, want) => {
    expect(planImageFinalizer(img, users)).toEqual(want);
  });
});

describe('importEvents', () => {
  it('started, succeeded and failed, per node, with the URL redacted', () => {
    const before = image({ n1: { phase: 'Pending' }, n2: { phase: 'Importing' }, n3: { phase: 'Importing' } });
    const after = image({
      n1: { phase: 'Importing', pool: 'default' },
      n2: { phase: 'Ready', sourceFormat: 'qcow2', virtualSizeBytes: 2 * 2 ** 30, verified: true, path: '/var/lib/qx/.images/debian.qcow2' },
      n3: { phase: 'Failed', reason: 'ChecksumMismatch', message: 'sha256 is 00…, expected ff…' },
    });
    expect(importEvents(before, after)).toEqual([
      { type: 'Normal', reason: 'ImportStarted', message: 'node n1: importing http://127.0.0.1:8080/img/debian.qcow2 into pool default' },
      {
        type: 'Normal',
        reason: 'ImportSucceeded',
        message:
          'node n2: imported http://127.0.0.1:8080/img/debian.qcow2 (qcow2, virtual size 2048.0 MiB, sha256 verified) to /var/lib/qx/.images/debian.qcow2',
      },
      { type: 'Warning', reason: 'ImportFailed', message: 'node n3: ChecksumMismatch: sha256 is 00…, expected ff…' },
    ]);
    expect(importEvents(after, after)).toEqual([]);
  });
});
