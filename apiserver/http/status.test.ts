import { gatewayErrorFrom, grpcErrorFromStatus } from '../../api-types/proto/errors.js';
import { EtcdKvError } from '../etcd-client/etcd-kv.js';
import { InsufficientStorageError } from '../storage/errors.js';
import { toApiError } from './status.js';

describe('toApiError: etcd NOSPACE', () => {
  const vms = { group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine' };

  it.each([
    ['the store typed error', new InsufficientStorageError('/registry/quantix.io/virtualmachines/default/a')],
    ["etcd's error as the lean client reports it", new EtcdKvError(8, 'etcdserver: mvcc: database space exceeded')],
    ["etcd's error as etcd3 reports it", new Error('8 RESOURCE_EXHAUSTED: etcdserver: mvcc: database space exceeded')],
  ])('%s → 507 InsufficientStorage saying what to do', (_name, err) => {
    const e = toApiError(err, vms);
    expect(e.code).toBe(507);
    expect(e.reason).toBe('InsufficientStorage');
    expect(e.message).toMatch(/^cannot write virtualmachines\.quantix\.io: etcd's space quota is exhausted/);
    expect(e.message).toMatch(/compact etcd, defragment every member, then disarm the alarm/);
  });

  it('other RESOURCE_EXHAUSTED errors are not NOSPACE', () => {
    expect(toApiError(new EtcdKvError(8, 'Received message larger than max (5 vs 4)')).code).toBe(500);
  });

  it('reaches an agent through the gateway as a retryable InsufficientStorage', () => {
    const status = toApiError(new InsufficientStorageError('/k')).toStatus();
    const received = gatewayErrorFrom(Object.assign(new Error(status.message), grpcErrorFromStatus(status)));
    expect(received.reason).toBe('InsufficientStorage');
    expect(received.grpcCode).toBe(8);
    expect(received.retryable).toBe(true);
  });
});
