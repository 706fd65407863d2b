import type * as grpc from '@grpc/grpc-js';
import { loadGateway } from '../../api-types/proto/load.js';
import type { SyncFullStateRequest, VMReport } from '../../api-types/proto/types.js';
import {
  countTopLevelFields,
  DEFAULT_RPC_LIMITS,
  largestRequest,
  limitedService,
  RefusedRequest,
  repeatedFieldNumbers,
  requestRefusal,
} from './request-limits.js';

const service = loadGateway().service;
const syncFullState = service.SyncFullState as grpc.MethodDefinition<Partial<SyncFullStateRequest>, SyncFullStateRequest>;
const encode = (req: Partial<SyncFullStateRequest>) => syncFullState.requestSerialize(req);
const vm = (i: number) => ({ domainUuid: `00000000-0000-0000-0000-${String(i).padStart(12, '0')}`, domainName: `vm-${i}`, powerState: 'running' }) as VMReport;

describe('countTopLevelFields', () => {
  it('counts the entries of repeated fields on the wire, as the decoder sees them', () => {
    const bytes = encode({ vms: [vm(1), vm(2), vm(3)], pools: [{ name: 'p' } as never], stateHash: 'h', observedAtMs: 1_700_000_000_000 });
    expect(countTopLevelFields(bytes, new Set([1, 2]))).toEqual(
      new Map([
        [1, 3],
        [2, 1],
      ]),
    );
    expect(syncFullState.requestDeserialize(bytes).vms).toHaveLength(3);
  });

  it('counts empty entries too (two bytes each: the flood authenticate-first.int.test.ts sends)', () => {
    expect(countTopLevelFields(Buffer.alloc(2_000, Buffer.from([0x0a, 0x00])), new Set([1]))?.get(1)).toBe(1_000);
  });

  it.each([
    ['a length past the end', Buffer.from([0x0a, 0x05, 0x01])],
    ['a varint that never ends', Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01])],
    ['a group wire type', Buffer.from([0x0b])],
    ['field number 0', Buffer.from([0x02, 0x00])],
  ])('gives up on malformed bytes (%s)', (_what, bytes) => {
    expect(countTopLevelFields(bytes, new Set([1]))).toBeUndefined();
  });
});

describe('requestRefusal', () => {
  const fields = repeatedFieldNumbers(syncFullState as unknown as grpc.MethodDefinition<unknown, unknown>);

  it('refuses a request past its size as RequestEntityTooLarge, naming the RPC and the limit', () => {
    const refusal = requestRefusal('Heartbeat', { maxBytes: 10 }, Buffer.alloc(11), fields);
    expect(refusal?.reason).toBe('RequestEntityTooLarge');
    expect(refusal?.message).toBe('Heartbeat: the request is 11 bytes, the limit for Heartbeat is 10 bytes');
  });

  it('refuses too many entries of a repeated field as Invalid, naming the field and the cap', () => {
    const refusal = requestRefusal('SyncFullState', { maxBytes: 1_000_000, repeated: { vms: 2 } }, encode({ vms: [vm(1), vm(2), vm(3)] }), fields);
    expect(refusal?.reason).toBe('Invalid');
    expect(refusal?.message).toBe('SyncFullState: vms: Too many: 3: must have at most 2 items');
    expect(refusal?.causes).toEqual([{ reason: 'FieldValueTooMany', field: 'vms', message: 'Too many: 3: must have at most 2 items' }]);
  });

  it('lets a request within its limits through', () => {
    expect(requestRefusal('SyncFullState', { maxBytes: 1_000_000, repeated: { vms: 3 } }, encode({ vms: [vm(1), vm(2), vm(3)] }), fields)).toBeUndefined();
  });
});

describe('limitedService', () => {
  it('has a limit for every gateway RPC, on fields the requests have; the largest is the server-wide one', () => {
    expect(Object.keys(limitedService(service, DEFAULT_RPC_LIMITS)).sort()).toEqual(Object.keys(service).sort());
    expect(largestRequest(DEFAULT_RPC_LIMITS)).toBe(16 * 1024 * 1024);
  });

  it('refuses to start with a limit on a field the request does not repeat, or without a limit for an RPC', () => {
    expect(() => limitedService(service, { ...DEFAULT_RPC_LIMITS, SyncFullState: { maxBytes: 1, repeated: { vm: 1 } } })).toThrow(
      'SyncFullState has no repeated field "vm"',
    );
    const { Tunnel: _tunnel, ...withoutTunnel } = DEFAULT_RPC_LIMITS;
    expect(() => limitedService(service, withoutTunnel)).toThrow('no limit for Tunnel');
  });

  it('decodes a request within its limits and hands on a refusal, undecoded, for one past them', () => {
    const limited = limitedService(service, { ...DEFAULT_RPC_LIMITS, SyncFullState: { maxBytes: 1_000, repeated: { vms: 2 } } });
    const decode = (limited.SyncFullState as grpc.MethodDefinition<unknown, unknown>).requestDeserialize;
    expect((decode(encode({ vms: [vm(1)] })) as SyncFullStateRequest).vms[0]?.domainName).toBe('vm-1');
    const refused = decode(encode({ vms: [vm(1), vm(2), vm(3)] }));
    expect(refused).toBeInstanceOf(RefusedRequest);
    expect((refused as RefusedRequest).error.reason).toBe('Invalid');
    expect(decode(Buffer.alloc(1_001))).toBeInstanceOf(RefusedRequest);
  });
});
