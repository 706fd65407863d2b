/**
 * Domain statistics through libvirtd: one CONNECT_GET_ALL_DOMAIN_STATS call for every running
 * domain, and the typed parameters of each record turned into DomainStats (pure, unit-tested).
 * The parameter names are libvirt's (virConnectGetAllDomainStats' documentation): `cpu.time`
 * (ns), `vcpu.<n>.time` (ns), `balloon.current`/`maximum`/`rss`/`available`/`unused`/`usable`
 * (KiB), `block.<n>.name`, `block.<n>.rd.bytes`/`rd.reqs`/`rd.times` (ns) and the `wr.` and
 * `fl.` ones, `net.<n>.name`, `net.<n>.rx.bytes`/`rx.pkts`/`rx.errs`/`rx.drop` and `tx.`.
 */
import type { DomainStats } from '../driver.js';
import { bytesToUuid } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import {
  DomainStateNames,
  Procs,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT,
  VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING,
  VIR_DOMAIN_STATS_BALLOON,
  VIR_DOMAIN_STATS_BLOCK,
  VIR_DOMAIN_STATS_CPU_TOTAL,
  VIR_DOMAIN_STATS_INTERFACE,
  VIR_DOMAIN_STATS_STATE,
  VIR_DOMAIN_STATS_VCPU,
  type TypedParam,
} from './protocol.js';

const NS = 1e-9;
const KIB = 1024;

export async function domainStats(conn: LibvirtConnection): Promise<DomainStats[]> {
  const records = await conn.call(
    Procs.connectGetAllDomainStats,
    {
      doms: [],
      stats:
        VIR_DOMAIN_STATS_STATE |
        VIR_DOMAIN_STATS_CPU_TOTAL |
        VIR_DOMAIN_STATS_BALLOON |
        VIR_DOMAIN_STATS_VCPU |
        VIR_DOMAIN_STATS_INTERFACE |
        VIR_DOMAIN_STATS_BLOCK,
      flags: VIR_CONNECT_GET_ALL_DOMAINS_STATS_RUNNING | VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT,
    },
    { operation: 'domainStats' },
  );
  return records.map((r) => domainStatsFromParams(bytesToUuid(r.dom.uuid), r.dom.name, r.params));
}

/** One stats record's parameters as DomainStats. Unknown parameters are ignored. */
export function domainStatsFromParams(uuid: string, name: string, params: readonly TypedParam[]): DomainStats {
  const values = new Map<string, TypedParam['value']>();
  for (const p of params) values.set(p.field, p.value);
  const num = (field: string): number | undefined => {
    const v = values.get(field);
    return typeof v === 'number' || typeof v === 'bigint' ? Number(v) : undefined;
  };
  const str = (field: string): string | undefined => {
    const v = values.get(field);
    return typeof v === 'string' ? v : undefined;
  };
  const scaled = (field: string, factor: number): number | undefined => {
    const v = num(field);
    return v === undefined ? undefined : v * factor;
  };

  const stats: DomainStats = { uuid, name, state: DomainStateNames[num('state.state') ?? 0] ?? 'NoState', vcpus: [], disks: [], nics: [] };

  const cpuTime = num('cpu.time');
  if (cpuTime !== undefined) {
    stats.cpu = { timeSeconds: cpuTime * NS };
    const user = scaled('cpu.user', NS);
    const system = scaled('cpu.system', NS);
    if (user !== undefined) stats.cpu.userSeconds = user;
    if (system !== undefined) stats.cpu.systemSeconds = system;
  }

  const vcpuMax = num('vcpu.maximum') ?? num('vcpu.current') ?? 0;
  for (let i = 0; i < vcpuMax; i++) {
    const t = num(`vcpu.${i}.time`);
    if (t !== undefined) stats.vcpus.push({ id: i, timeSeconds: t * NS });
  }

  const memory: NonNullable<DomainStats['memory']> = {};
  const memoryFields: [keyof typeof memory, string][] = [
    ['domainBytes', 'balloon.maximum'],
    ['actualBytes', 'balloon.current'],
    ['residentBytes', 'balloon.rss'],
    ['availableBytes', 'balloon.available'],
    ['unusedBytes', 'balloon.unused'],
    ['usableBytes', 'balloon.usable'],
  ];
  for (const [key, field] of memoryFields) {
    const v = scaled(field, KIB);
    if (v !== undefined) memory[key] = v;
  }
  if (Object.keys(memory).length > 0) stats.memory = memory;

  for (let i = 0; i < (num('block.count') ?? 0); i++) {
    const p = `block.${i}.`;
    const name = str(`${p}name`);
    if (!name) continue;
    stats.disks.push({
      name,
      readBytes: num(`${p}rd.bytes`) ?? 0,
      readOps: num(`${p}rd.reqs`) ?? 0,
      writeBytes: num(`${p}wr.bytes`) ?? 0,
      writeOps: num(`${p}wr.reqs`) ?? 0,
      readSeconds: (num(`${p}rd.times`) ?? 0) * NS,
      writeSeconds: (num(`${p}wr.times`) ?? 0) * NS,
      flushOps: num(`${p}fl.reqs`) ?? 0,
    });
  }

  for (let i = 0; i < (num('net.count') ?? 0); i++) {
    const p = `net.${i}.`;
    const name = str(`${p}name`);
    if (!name) continue;
    stats.nics.push({
      name,
      rxBytes: num(`${p}rx.bytes`) ?? 0,
      rxPackets: num(`${p}rx.pkts`) ?? 0,
      rxErrors: num(`${p}rx.errs`) ?? 0,
      rxDropped: num(`${p}rx.drop`) ?? 0,
      txBytes: num(`${p}tx.bytes`) ?? 0,
      txPackets: num(`${p}tx.pkts`) ?? 0,
      txErrors: num(`${p}tx.errs`) ?? 0,
      txDropped: num(`${p}tx.drop`) ?? 0,
    });
  }
  return stats;
}
