import { Procs, TypedParamType, writeTypedParam, type TypedParam } from './protocol.js';
import { domainStatsFromParams } from './stats.js';
import { XdrReader, XdrWriter } from './xdr.js';

const ULL = TypedParamType.ULLong;
const p = (field: string, type: number, value: TypedParam['value']): TypedParam => ({ field, type, value });

/** A record as libvirt 9 sends it for a running 2-vCPU domain with one disk and one NIC. */
const RECORD: TypedParam[] = [
  p('state.state', TypedParamType.Int, 1),
  p('state.reason', TypedParamType.Int, 1),
  p('cpu.time', ULL, 12_500_000_000n),
  p('cpu.user', ULL, 9_000_000_000n),
  p('cpu.system', ULL, 3_000_000_000n),
  p('balloon.current', ULL, 1_048_576n),
  p('balloon.maximum', ULL, 1_048_576n),
  p('balloon.rss', ULL, 524_288n),
  p('vcpu.current', TypedParamType.UInt, 2),
  p('vcpu.maximum', TypedParamType.UInt, 2),
  p('vcpu.0.state', TypedParamType.Int, 1),
  p('vcpu.0.time', ULL, 6_000_000_000n),
  p('vcpu.1.state', TypedParamType.Int, 1),
  p('vcpu.1.time', ULL, 5_000_000_000n),
  p('net.count', TypedParamType.UInt, 1),
  p('net.0.name', TypedParamType.String, 'vnet7'),
  p('net.0.rx.bytes', ULL, 1500n),
  p('net.0.rx.pkts', ULL, 10n),
  p('net.0.rx.errs', ULL, 0n),
  p('net.0.rx.drop', ULL, 1n),
  p('net.0.tx.bytes', ULL, 900n),
  p('net.0.tx.pkts', ULL, 6n),
  p('net.0.tx.errs', ULL, 0n),
  p('net.0.tx.drop', ULL, 0n),
  p('block.count', TypedParamType.UInt, 1),
  p('block.0.name', TypedParamType.String, 'vda'),
  p('block.0.path', TypedParamType.String, '/var/lib/libvirt/images/p/vm-root.qcow2'),
  p('block.0.rd.reqs', ULL, 300n),
  p('block.0.rd.bytes', ULL, 4_915_200n),
  p('block.0.rd.times', ULL, 250_000_000n),
  p('block.0.wr.reqs', ULL, 20n),
  p('block.0.wr.bytes', ULL, 81_920n),
  p('block.0.wr.times', ULL, 50_000_000n),
  p('block.0.fl.reqs', ULL, 4n),
  p('block.0.fl.times', ULL, 1_000_000n),
  p('block.0.allocation', ULL, 1n),
];

describe('domainStatsFromParams', () => {
  it('turns libvirt typed parameters into seconds, bytes and counts', () => {
    const s = domainStatsFromParams('0b7e3c2a-0000-4000-8000-000000000001', 'ns_vm', RECORD);
    expect(s.state).toBe('Running');
    expect(s.cpu).toEqual({ timeSeconds: 12.5, userSeconds: 9, systemSeconds: 3 });
    expect(s.vcpus).toEqual([
      { id: 0, timeSeconds: 6 },
      { id: 1, timeSeconds: 5 },
    ]);
    expect(s.memory).toEqual({ domainBytes: 1024 ** 3, actualBytes: 1024 ** 3, residentBytes: 512 * 1024 ** 2 });
    expect(s.disks).toEqual([
      { name: 'vda', readBytes: 4_915_200, readOps: 300, writeBytes: 81_920, writeOps: 20, readSeconds: 0.25, writeSeconds: 0.05, flushOps: 4 },
    ]);
    expect(s.nics).toEqual([{ name: 'vnet7', rxBytes: 1500, rxPackets: 10, rxErrors: 0, rxDropped: 1, txBytes: 900, txPackets: 6, txErrors: 0, txDropped: 0 }]);
  });

  it('leaves out what libvirt did not report (no balloon, no cpu group), never zero', () => {
    const s = domainStatsFromParams('u', 'n', [p('state.state', TypedParamType.Int, 3), p('block.count', TypedParamType.UInt, 0)]);
    expect(s.state).toBe('Paused');
    expect(s.cpu).toBeUndefined();
    expect(s.memory).toBeUndefined();
    expect(s.disks).toEqual([]);
    expect(s.nics).toEqual([]);
  });

  it('skips a device without a name', () => {
    const s = domainStatsFromParams('u', 'n', [
      p('net.count', TypedParamType.UInt, 2),
      p('net.1.name', TypedParamType.String, 'vnet1'),
      p('net.1.rx.bytes', ULL, 5n),
    ]);
    expect(s.nics.map((n) => n.name)).toEqual(['vnet1']);
  });
});

describe('CONNECT_GET_ALL_DOMAIN_STATS on the wire', () => {
  it('encodes the arguments as remote_connect_get_all_domain_stats_args', () => {
    const w = new XdrWriter();
    Procs.connectGetAllDomainStats.encode(w, { doms: [], stats: 63, flags: 16 | (1 << 29) });
    const r = new XdrReader(w.toBuffer());
    expect([r.uint(), r.uint(), r.uint()]).toEqual([0, 63, 16 | (1 << 29)]);
    expect(Procs.connectGetAllDomainStats.proc).toBe(344);
  });

  it('decodes remote_connect_get_all_domain_stats_ret: records of a domain and its parameters', () => {
    const uuid = Buffer.from('0b7e3c2a00004000800000000000000a', 'hex');
    const w = new XdrWriter();
    w.uint(1); // one record
    w.string('ns_vm').fixedOpaque(uuid, 16).int(7);
    w.uint(RECORD.length);
    for (const param of RECORD) writeTypedParam(w, param);
    const records = Procs.connectGetAllDomainStats.decode(new XdrReader(w.toBuffer()));
    expect(records).toHaveLength(1);
    expect(records[0]!.dom).toEqual({ name: 'ns_vm', uuid, id: 7 });
    expect(records[0]!.params.find((x) => x.field === 'cpu.time')?.value).toBe(12_500_000_000n);
    expect(records[0]!.params.find((x) => x.field === 'block.0.name')?.value).toBe('vda');
  });
});
