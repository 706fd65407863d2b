import type { DomainInfo, DomainStats } from './hypervisor/driver.js';
import { AgentMetrics, type ImportInProgress } from './metrics.js';

const VM_UUID = '11111111-2222-4333-8444-555555555555';
const FOREIGN_UUID = '99999999-2222-4333-8444-555555555555';

function domain(uuid: string, state: DomainInfo['state'], owner: DomainInfo['owner']): DomainInfo {
  return { uuid, name: `d-${uuid.slice(0, 4)}`, id: 1, state, reason: 'booted', persistent: true, vcpus: 2, memoryBytes: 1024 ** 3, owner };
}

function stats(uuid: string, cpuSeconds: number): DomainStats {
  return {
    uuid,
    name: 'x',
    state: 'Running',
    cpu: { timeSeconds: cpuSeconds, userSeconds: 1, systemSeconds: 0.5 },
    vcpus: [{ id: 0, timeSeconds: 2 }],
    memory: { domainBytes: 1024 ** 3, actualBytes: 1024 ** 3, residentBytes: 300 * 1024 ** 2 },
    disks: [{ name: 'vda', readBytes: 4096, readOps: 3, writeBytes: 512, writeOps: 1, readSeconds: 0.01, writeSeconds: 0.02, flushOps: 1 }],
    nics: [{ name: 'vnet0', rxBytes: 100, rxPackets: 2, rxErrors: 0, rxDropped: 0, txBytes: 50, txPackets: 1, txErrors: 0, txDropped: 0 }],
  };
}

/** The sample lines of `name` in the exposition. */
async function lines(m: AgentMetrics, name: string): Promise<string[]> {
  return (await m.registry.metrics()).split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

function setup(o: { cpuSeconds?: number; imports?: ImportInProgress[]; failStats?: boolean } = {}) {
  let now = 1_000_000;
  let calls = 0;
  let cpu = o.cpuSeconds ?? 12.5;
  const metrics = new AgentMetrics({ processMetrics: false, statsCacheMs: 5_000, now: () => now });
  metrics.attach({
    driver: {
      domainStats: async () => {
        calls++;
        if (o.failStats) throw new Error('libvirtd is not running');
        return [stats(VM_UUID, cpu), stats(FOREIGN_UUID, 99)];
      },
    },
    domains: () => [
      domain(VM_UUID, 'Running', { namespace: 'team-a', name: 'web', uid: VM_UUID }),
      domain(FOREIGN_UUID, 'Running', null),
      domain('33333333-2222-4333-8444-555555555555', 'Shutoff', { namespace: 'team-a', name: 'db' }),
    ],
    imports: () => o.imports ?? [],
    nodeName: () => 'node-1',
  });
  return {
    metrics,
    calls: () => calls,
    advance: (ms: number) => (now += ms),
    setCpu: (v: number) => (cpu = v),
  };
}

describe('AgentMetrics: per-VM series (quantix_vmi_*)', () => {
  it('names and labels follow KubeVirt: namespace, name, node, and the device label', async () => {
    const { metrics } = setup();
    await metrics.refresh();
    const vmi = 'namespace="team-a",name="web",node="node-1"';
    expect(await lines(metrics, 'quantix_vmi_cpu_usage_seconds_total')).toEqual([`quantix_vmi_cpu_usage_seconds_total{${vmi}} 12.5`]);
    expect(await lines(metrics, 'quantix_vmi_cpu_user_usage_seconds_total')).toEqual([`quantix_vmi_cpu_user_usage_seconds_total{${vmi}} 1`]);
    expect(await lines(metrics, 'quantix_vmi_vcpu_seconds_total')).toEqual([`quantix_vmi_vcpu_seconds_total{${vmi},id="0",state="running"} 2`]);
    expect(await lines(metrics, 'quantix_vmi_memory_actual_balloon_bytes')).toEqual([`quantix_vmi_memory_actual_balloon_bytes{${vmi}} ${1024 ** 3}`]);
    expect(await lines(metrics, 'quantix_vmi_memory_resident_bytes')).toEqual([`quantix_vmi_memory_resident_bytes{${vmi}} ${300 * 1024 ** 2}`]);
    // Not reported by libvirt (no guest balloon driver): no series, not a zero.
    expect(await lines(metrics, 'quantix_vmi_memory_usable_bytes')).toEqual([]);
    expect(await lines(metrics, 'quantix_vmi_storage_read_traffic_bytes_total')).toEqual([
      `quantix_vmi_storage_read_traffic_bytes_total{${vmi},drive="vda"} 4096`,
    ]);
    expect(await lines(metrics, 'quantix_vmi_storage_iops_write_total')).toEqual([`quantix_vmi_storage_iops_write_total{${vmi},drive="vda"} 1`]);
    expect(await lines(metrics, 'quantix_vmi_network_receive_bytes_total')).toEqual([`quantix_vmi_network_receive_bytes_total{${vmi},interface="vnet0"} 100`]);
    expect(await lines(metrics, 'quantix_vmi_network_transmit_packets_total')).toEqual([
      `quantix_vmi_network_transmit_packets_total{${vmi},interface="vnet0"} 1`,
    ]);
    const text = await metrics.registry.metrics();
    expect(text).toMatch(/# TYPE quantix_vmi_cpu_usage_seconds_total counter/);
    expect(text).toMatch(/# TYPE quantix_vmi_memory_resident_bytes gauge/);
  });

  it('reports only domains Quantix owns (a foreign domain has no series)', async () => {
    const { metrics } = setup();
    await metrics.refresh();
    const cpu = await lines(metrics, 'quantix_vmi_cpu_usage_seconds_total');
    expect(cpu).toHaveLength(1);
    expect(cpu.join()).not.toContain(' 99');
  });

  it('reads libvirt once per cache period, however often it is scraped', async () => {
    const t = setup();
    await t.metrics.refresh();
    t.setCpu(20);
    await t.metrics.refresh();
    expect(t.calls()).toBe(1);
    expect(await lines(t.metrics, 'quantix_vmi_cpu_usage_seconds_total')).toEqual([
      'quantix_vmi_cpu_usage_seconds_total{namespace="team-a",name="web",node="node-1"} 12.5',
    ]);
    t.advance(5_000);
    await t.metrics.refresh();
    expect(t.calls()).toBe(2);
    expect(await lines(t.metrics, 'quantix_vmi_cpu_usage_seconds_total')).toEqual([
      'quantix_vmi_cpu_usage_seconds_total{namespace="team-a",name="web",node="node-1"} 20',
    ]);
  });

  it('a libvirt failure leaves no VM series and is not cached; the agent metrics still answer', async () => {
    const t = setup({ failStats: true });
    await t.metrics.refresh();
    await t.metrics.refresh();
    expect(t.calls()).toBe(2);
    expect(await lines(t.metrics, 'quantix_vmi_cpu_usage_seconds_total')).toEqual([]);
    expect(await lines(t.metrics, 'quantix_agent_domains')).toContain('quantix_agent_domains{state="Running"} 2');
  });
});

describe('AgentMetrics: the agent itself', () => {
  it('domains by state, import progress, libvirt call latency and event → report latency', async () => {
    const { metrics } = setup({ imports: [{ image: 'debian-12', phase: 'Downloading', bytesDone: 250, bytesTotal: 1000 }] });
    metrics.observeLibvirtCall('DOMAIN_CREATE', 120, 'ok');
    metrics.observeLibvirtCall('DOMAIN_LOOKUP_BY_UUID', 2, 'DomainNotFound');
    metrics.observeEventReported(40);
    await metrics.refresh();
    expect(await lines(metrics, 'quantix_agent_domains')).toEqual(['quantix_agent_domains{state="Running"} 2', 'quantix_agent_domains{state="Shutoff"} 1']);
    expect(await lines(metrics, 'quantix_agent_image_import_bytes')).toEqual(['quantix_agent_image_import_bytes{image="debian-12",phase="Downloading"} 250']);
    expect(await lines(metrics, 'quantix_agent_image_import_progress_ratio')).toEqual(['quantix_agent_image_import_progress_ratio{image="debian-12"} 0.25']);
    expect(await lines(metrics, 'quantix_agent_libvirt_call_duration_seconds_count')).toEqual([
      'quantix_agent_libvirt_call_duration_seconds_count{procedure="DOMAIN_CREATE",result="ok"} 1',
      'quantix_agent_libvirt_call_duration_seconds_count{procedure="DOMAIN_LOOKUP_BY_UUID",result="DomainNotFound"} 1',
    ]);
    expect(await lines(metrics, 'quantix_agent_event_report_latency_seconds_sum')).toEqual(['quantix_agent_event_report_latency_seconds_sum 0.04']);
  });
});
