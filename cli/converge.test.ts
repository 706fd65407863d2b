import type { Image, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import { goneConvergence, imageConvergence, poolConvergence, progressBar, vmConvergence, vmTargetPhases } from './converge.js';
import { restartCheck } from './commands/vm.js';

const vm = (spec: Partial<VirtualMachine['spec']>, status?: VirtualMachine['status'], meta: Partial<VirtualMachine['metadata']> = {}): VirtualMachine => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'VirtualMachine',
  metadata: { name: 'web', namespace: 'default', generation: 1, ...meta },
  spec: { memory: '256Mi', ...spec },
  status,
});

const pool = (phase: string | undefined, hosts: NonNullable<StoragePool['status']>['hosts'] = {}, assigned = ['n1', 'n2']): StoragePool => ({
  apiVersion: 'quantix.io/v1alpha1',
  kind: 'StoragePool',
  metadata: { name: 'local', generation: 1 },
  spec: { type: 'dir', dir: { path: '/p' }, assignedNodes: assigned },
  status: { phase: phase as never, hosts },
});

describe('VM convergence', () => {
  it.each([
    [{}, ['Running']],
    [{ runStrategy: 'Always' }, ['Running']],
    [{ runStrategy: 'RerunOnFailure' }, ['Running']],
    [{ runStrategy: 'Halted' }, ['Stopped']],
    [{ runStrategy: 'Manual' }, ['Running', 'Stopped', 'Paused']],
    [{ paused: true }, ['Paused']],
    [{ runStrategy: 'Halted', paused: true }, ['Stopped']],
  ])('spec %j converges to %j', (spec, phases) => {
    expect(vmTargetPhases(vm(spec as never))).toEqual(phases);
  });

  it('is done in the target phase, with the status caught up with the spec', () => {
    expect(vmConvergence(vm({}, { phase: 'Running', nodeName: 'n1' }))).toEqual({ done: true, state: 'phase Running on n1', want: 'phase Running' });
    const lagging = vmConvergence(vm({}, { phase: 'Running', observedGeneration: 1 }, { generation: 2 }));
    expect(lagging.done).toBe(false);
    expect(lagging.state).toContain('status reflects generation 1, spec is at 2');
  });

  it('says why it is not there yet (Ready condition)', () => {
    const c = vmConvergence(
      vm({}, { phase: 'Pending', conditions: [{ type: 'Ready', status: 'False', reason: 'Unschedulable', message: 'no node has 64Gi free' }] }),
    );
    expect(c).toEqual({ done: false, state: 'phase Pending (Unschedulable: no node has 64Gi free)', want: 'phase Running' });
    expect(vmConvergence(vm({})).state).toBe('phase not reported');
  });

  it('fails at once when waiting cannot help', () => {
    expect(vmConvergence(vm({}, { phase: 'Lost', lostReason: 'domain missing on n1' })).failure).toMatch(/the VM is Lost: domain missing on n1/);
    expect(vmConvergence(undefined).failure).toBe('the VM was deleted');
    expect(vmConvergence(vm({}, { phase: 'Running' }, { deletionTimestamp: '2026-01-01T00:00:00Z' })).failure).toBe('the VM is being deleted');
  });

  it('honours explicit targets (vm stop waits for Stopped even under Always)', () => {
    expect(vmConvergence(vm({}, { phase: 'Running' }), ['Stopped']).done).toBe(false);
    expect(vmConvergence(vm({}, { phase: 'Stopped' }), ['Stopped']).done).toBe(true);
  });

  it('restart: done once restartCount grew and the VM runs', () => {
    const check = restartCheck(vm({}, { phase: 'Running', restartCount: 2 }));
    expect(check(vm({}, { phase: 'Running', restartCount: 2 })).done).toBe(false);
    expect(check(vm({}, { phase: 'Starting', restartCount: 3 })).done).toBe(false);
    const done = check(vm({}, { phase: 'Running', restartCount: 3 }));
    expect(done.done).toBe(true);
    expect(done.state).toContain('restarted (restartCount 3)');
  });
});

describe('pool convergence', () => {
  it('is done when Ready', () => {
    expect(poolConvergence(pool('Ready', { n1: { health: 'HEALTHY' }, n2: { health: 'HEALTHY' } }))).toEqual({
      done: true,
      state: 'phase Ready (n1 HEALTHY, n2 HEALTHY)',
      want: 'phase Ready',
    });
  });

  it('names the hosts that are not healthy', () => {
    const c = poolConvergence(
      pool('Degraded', { n1: { health: 'HEALTHY' }, n2: { health: 'UNMOUNTED', message: 'mount.nfs: Connection refused' } }, ['n1', 'n2', 'n3']),
    );
    expect(c.done).toBe(false);
    expect(c.state).toBe('phase Degraded (n1 HEALTHY, n2 UNMOUNTED: mount.nfs: Connection refused, n3 not reported)');
    expect(poolConvergence(pool(undefined, {}, [])).state).toBe('phase not reported (assigned to no node)');
  });
});

describe('deletion', () => {
  it('waits for finalizers', () => {
    expect(goneConvergence(undefined).done).toBe(true);
    const c = goneConvergence({ metadata: { name: 'web', deletionTimestamp: 'x', finalizers: ['quantix.io/vm-cleanup'] } });
    expect(c).toEqual({ done: false, state: 'being deleted, waiting for finalizers quantix.io/vm-cleanup', want: 'deleted' });
  });
});

describe('imageConvergence', () => {
  const base = (status: Image['status'], nodeNames?: string[]): Image => ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Image',
    metadata: { name: 'debian' },
    spec: { source: { url: 'http://127.0.0.1/d.qcow2' }, ...(nodeNames ? { nodeNames, storagePool: 'p' } : {}) },
    status,
  });
  it('shows a progress bar per importing node, done when every node is Ready, fails on Failed', () => {
    const importing = imageConvergence(
      base({
        phase: 'Importing',
        nodes: { n1: { phase: 'Importing', progress: { step: 'Downloading', bytesDone: 45 * 2 ** 20, bytesTotal: 100 * 2 ** 20, percent: 45 } } },
      }),
    );
    expect(importing).toMatchObject({ done: false, state: 'phase Importing (n1 downloading [#########-----------] 45% 45.0/100.0 MiB)' });
    expect(imageConvergence(base({ phase: 'Ready', nodes: { n1: { phase: 'Ready' } } })).done).toBe(true);
    expect(imageConvergence(base({ phase: 'Ready', nodes: { n1: { phase: 'Ready' } } }, ['n1', 'n2']))).toMatchObject({
      done: false,
      state: 'phase Ready (n1 Ready, n2 not started)',
    });
    expect(
      imageConvergence(
        base({ phase: 'Failed', nodes: { n1: { phase: 'Failed', reason: 'HTTPError', message: 'GET http://127.0.0.1/d.qcow2: 404 Not Found' } } }),
      ).failure,
    ).toBe('the import failed on n1 Failed: HTTPError: GET http://127.0.0.1/d.qcow2: 404 Not Found (retried with backoff)');
  });
  it('an image no node needs yet is done at once, saying so', () => {
    expect(imageConvergence(base({}))).toMatchObject({ done: true, state: 'not imported anywhere yet: a node imports it when a VM there needs it' });
  });
  it('progressBar without a total shows bytes', () => {
    expect(progressBar(3 * 2 ** 20, undefined)).toBe('3.0 MiB');
    expect(progressBar(0, 100)).toBe('[--------------------] 0% 0.0/0.0 MiB');
  });
});
