/** SyncFullState entry by entry: which errors refuse an entry, and every entry runs whatever the others do. */
import type { VirtualMachine } from '../../api-types/generated/types.js';
import type { VMReport } from '../../api-types/proto/types.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { ConflictError } from '../storage/errors.js';
import { checkDomainUuid, entryRejection, partitionFailures, poolEntryRef, settleEach, vmEntryRef } from './full-sync.js';
import { isDiscoveredRecordOf } from './vm-status.js';

const UUID = '6f1c2a8e-0000-4000-8000-000000000001';

function report(over: Partial<VMReport> = {}): VMReport {
  return {
    domainUuid: UUID,
    domainName: 'default_web',
    ownerNamespace: 'default',
    ownerName: 'web',
    ownerUid: UUID,
    powerState: 'running',
    stateReason: '',
    vcpus: 1,
    memoryBytes: 64 << 20,
    persistent: true,
    status: null,
    ...over,
  };
}

describe('checkDomainUuid', () => {
  it.each([
    ['canonical lower case', UUID],
    ['upper case', UUID.toUpperCase()],
  ])('accepts %s', (_, uuid) => {
    expect(() => checkDomainUuid({ domainUuid: uuid }, 'vms[0]')).not.toThrow();
  });

  it.each([
    ['empty', '', 'vms[2].domainUuid: required', 'FieldValueRequired'],
    ['not a UUID', 'not-a-uuid', 'vms[2].domainUuid: "not-a-uuid" is not a domain UUID', 'FieldValueInvalid'],
    ['a selector smuggled in', `${UUID},quantix.io/discovered-on=other`, 'is not a domain UUID', 'FieldValueInvalid'],
    ['without dashes', UUID.replace(/-/g, ''), 'is not a domain UUID', 'FieldValueInvalid'],
  ])('refuses %s as BadRequest naming the field', (_, uuid, message, causeReason) => {
    let err: unknown;
    try {
      checkDomainUuid({ domainUuid: uuid }, 'vms[2]');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ApiError);
    expect(err).toMatchObject({ code: 400, reason: 'BadRequest', message: expect.stringContaining(message) });
    expect((err as ApiError).causes).toEqual([expect.objectContaining({ field: 'vms[2].domainUuid', reason: causeReason })]);
  });
});

describe('entryRejection: refused entry or failed call', () => {
  const ref = { group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine', name: 'web' };
  it.each<[string, unknown, string | undefined]>([
    ['Forbidden (bound to another node)', errors.forbidden('node "a" may not write the status of VM default/web: it is bound to "b"'), 'Forbidden'],
    ['Invalid (status or spec)', errors.invalid(ref, [{ field: 'spec.cpu', message: 'must be at most 1024' }]), 'Invalid'],
    ['BadRequest', errors.badRequest('status.phase: the agent may not set phase "Lost"'), 'BadRequest'],
    ['Conflict (no free name)', errors.conflict(ref, 'no free name for the host-discovered domain'), 'Conflict'],
    ['storage conflict retried out', new ConflictError('/k', 'web', '1', '2'), undefined],
    ['storage unavailable', errors.unavailable('storage unavailable: etcd'), undefined],
    ['internal error', errors.internal('boom'), undefined],
    ['too many requests', new ApiError(429, 'TooManyRequests', 'slow down'), undefined],
    ['not an ApiError', new Error('ECONNRESET'), undefined],
  ])('%s', (_, err, reason) => {
    expect(entryRejection(err)?.reason).toBe(reason);
  });
});

describe('settleEach', () => {
  it('applies every item although some fail, at most `limit` at once, and returns the failures in order', async () => {
    const done: number[] = [];
    let running = 0;
    let peak = 0;
    const failures = await settleEach([0, 1, 2, 3, 4, 5, 6], 3, async (n) => {
      running++;
      peak = Math.max(peak, running);
      await Promise.resolve();
      running--;
      if (n % 3 === 1) throw new Error(`bad ${n}`);
      done.push(n);
    });
    expect(done.sort()).toEqual([0, 2, 3, 5, 6]);
    expect(failures.map((f) => [f.index, (f.error as Error).message])).toEqual([
      [1, 'bad 1'],
      [4, 'bad 4'],
    ]);
    expect(peak).toBeLessThanOrEqual(3);
  });

  it('nothing to do', async () => {
    expect(await settleEach([], 8, async () => undefined)).toEqual([]);
  });
});

describe('partitionFailures', () => {
  it('refused entries become EntryResults naming the entry; other errors fail the call', () => {
    const reports = [report(), report({ domainUuid: 'bad', ownerName: '', ownerNamespace: '' }), report()];
    const storage = new Error('etcd unavailable');
    const out = partitionFailures(
      [
        { index: 0, error: errors.forbidden('node "a" may not write the status of VM default/web: it is bound to "b"') },
        { index: 1, error: errors.badRequest('vms[1].domainUuid: "bad" is not a domain UUID') },
        { index: 2, error: storage },
      ],
      (i) => vmEntryRef(reports[i]!, i),
    );
    expect(out.rejected).toEqual([
      { field: 'vms[0]', domainUuid: UUID, vm: 'default/web', pool: '', reason: 'Forbidden', message: expect.stringContaining('bound to "b"'), boundNode: '' },
      { field: 'vms[1]', domainUuid: 'bad', vm: '', pool: '', reason: 'BadRequest', message: expect.stringContaining('not a domain UUID'), boundNode: '' },
    ]);
    expect(out.errors).toEqual([storage]);
  });

  it('pool entries name the pool', () => {
    const out = partitionFailures([{ index: 1, error: errors.badRequest('pool p: health "SICK" is not one of …') }], (i) =>
      poolEntryRef(
        { name: 'p', health: 'SICK', totalBytes: 0, usedBytes: 0, availableBytes: 0, mountPath: '', volumeCount: 0, message: '', removed: false },
        i,
      ),
    );
    expect(out.rejected).toEqual([{ field: 'pools[1]', domainUuid: '', vm: '', pool: 'p', reason: 'BadRequest', message: expect.any(String), boundNode: '' }]);
  });
});

describe('isDiscoveredRecordOf', () => {
  const record = (labels: Record<string, string>, origin = 'host-discovered'): VirtualMachine => ({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name: 'db', namespace: 'default', labels },
    spec: { memory: '64Mi' },
    status: { origin: origin as 'host-discovered' | 'control-plane' },
  });
  const labels = { 'quantix.io/domain-uuid': UUID, 'quantix.io/discovered-on': 'n1' };
  it.each<[string, VirtualMachine, boolean]>([
    ['the record of this domain on this node', record(labels), true],
    ['another domain', record({ ...labels, 'quantix.io/domain-uuid': '6f1c2a8e-0000-4000-8000-000000000002' }), false],
    ['another node', record({ ...labels, 'quantix.io/discovered-on': 'n2' }), false],
    ['a managed VM that happens to carry the labels', record(labels, 'control-plane'), false],
    ['no labels', record({}), false],
  ])('%s → %s', (_, vm, expected) => {
    expect(isDiscoveredRecordOf(vm, 'n1', UUID)).toBe(expected);
  });
});
