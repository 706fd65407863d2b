/**
 * The agent's Prometheus metrics (served by `--metrics-listen`, lib/metrics/server.ts).
 *
 * The agent's own work:
 *   quantix_agent_libvirt_call_duration_seconds{procedure,result}   every libvirt RPC (procedure as libvirt names it, without REMOTE_PROC_)
 *   quantix_agent_event_report_latency_seconds                       libvirt lifecycle event received → the status report it caused accepted by the gateway
 *   quantix_agent_domains{state}                                     domains on this host by power state (read at scrape)
 *   quantix_agent_image_import_bytes{image,phase}                    bytes of an import in progress done so far (read at scrape)
 *   quantix_agent_image_import_size_bytes{image}                     its size, when the server told
 *   quantix_agent_image_import_progress_ratio{image}                 done / size (0–1), when the size is known
 *
 * Per VM, from libvirt's domain statistics, named after KubeVirt's kubevirt_vmi_* (same
 * suffixes, labels namespace, name, node; per-device labels drive, interface, id):
 *   quantix_vmi_cpu_usage_seconds_total, quantix_vmi_cpu_user_usage_seconds_total,
 *   quantix_vmi_cpu_system_usage_seconds_total, quantix_vmi_vcpu_seconds_total{id,state},
 *   quantix_vmi_memory_domain_bytes, quantix_vmi_memory_actual_balloon_bytes,
 *   quantix_vmi_memory_resident_bytes, quantix_vmi_memory_available_bytes,
 *   quantix_vmi_memory_unused_bytes, quantix_vmi_memory_usable_bytes,
 *   quantix_vmi_storage_read_traffic_bytes_total{drive}, quantix_vmi_storage_write_traffic_bytes_total{drive},
 *   quantix_vmi_storage_iops_read_total{drive}, quantix_vmi_storage_iops_write_total{drive},
 *   quantix_vmi_storage_read_times_seconds_total{drive}, quantix_vmi_storage_write_times_seconds_total{drive},
 *   quantix_vmi_storage_flush_requests_total{drive},
 *   quantix_vmi_network_receive_bytes_total{interface}, quantix_vmi_network_transmit_bytes_total{interface},
 *   quantix_vmi_network_receive_packets_total{interface}, quantix_vmi_network_transmit_packets_total{interface},
 *   quantix_vmi_network_receive_errors_total{interface}, quantix_vmi_network_transmit_errors_total{interface},
 *   quantix_vmi_network_receive_packets_dropped_total{interface}, quantix_vmi_network_transmit_packets_dropped_total{interface}
 * Collected when scraped (one bulk libvirt call, cached for `statsCacheMs` so that several
 * scrapers do not each cost a call), not on a timer. Only domains Quantix owns (a VM's
 * domain) are reported; a stopped VM has no series.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { DomainInfo, DomainStats, HypervisorDriver } from './hypervisor/driver.js';

export interface ImportInProgress {
  image: string;
  phase: string;
  bytesDone: number;
  bytesTotal?: number;
}

export interface AgentMetricsSources {
  driver: Pick<HypervisorDriver, 'domainStats'>;
  domains: () => DomainInfo[];
  imports: () => ImportInProgress[];
  nodeName: () => string;
}

const VMI_LABELS = ['namespace', 'name', 'node'] as const;
type VmiLabel = (typeof VMI_LABELS)[number];

const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

export class AgentMetrics {
  readonly registry: Registry;
  readonly libvirtCallDuration: Histogram<'procedure' | 'result'>;
  readonly eventReportLatency: Histogram;
  readonly domains: Gauge<'state'>;
  readonly importBytes: Gauge<'image' | 'phase'>;
  readonly importSize: Gauge<'image'>;
  readonly importProgress: Gauge<'image'>;
  readonly #vmiCounters = new Map<string, Counter<string>>();
  readonly #vmiGauges = new Map<string, Gauge<string>>();
  #sources?: AgentMetricsSources;
  #cache?: { at: number; stats: Promise<DomainStats[]> };
  readonly #statsCacheMs: number;
  readonly #now: () => number;

  constructor(options: { registry?: Registry; processMetrics?: boolean; statsCacheMs?: number; now?: () => number } = {}) {
    this.registry = options.registry ?? new Registry();
    this.#statsCacheMs = options.statsCacheMs ?? 5_000;
    this.#now = options.now ?? Date.now;
    const registers = [this.registry];
    this.libvirtCallDuration = new Histogram({
      name: 'quantix_agent_libvirt_call_duration_seconds',
      help: 'Duration of libvirt RPC calls by procedure and result (ok or the error reason)',
      labelNames: ['procedure', 'result'],
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.eventReportLatency = new Histogram({
      name: 'quantix_agent_event_report_latency_seconds',
      help: 'From a libvirt lifecycle event received to the status report it caused accepted by the gateway',
      buckets: LATENCY_BUCKETS,
      registers,
    });
    this.domains = new Gauge({ name: 'quantix_agent_domains', help: 'Domains on this host by power state', labelNames: ['state'], registers });
    this.importBytes = new Gauge({
      name: 'quantix_agent_image_import_bytes',
      help: 'Bytes an image import in progress has done so far, by phase',
      labelNames: ['image', 'phase'],
      registers,
    });
    this.importSize = new Gauge({
      name: 'quantix_agent_image_import_size_bytes',
      help: 'Size of an image import in progress, when known',
      labelNames: ['image'],
      registers,
    });
    this.importProgress = new Gauge({
      name: 'quantix_agent_image_import_progress_ratio',
      help: 'Share of an image import in progress done (0 to 1), when its size is known',
      labelNames: ['image'],
      registers,
    });
    const counter = (name: string, help: string, extra: string[] = []) =>
      this.#vmiCounters.set(name, new Counter({ name, help, labelNames: [...VMI_LABELS, ...extra], registers }));
    const gauge = (name: string, help: string) => this.#vmiGauges.set(name, new Gauge({ name, help, labelNames: [...VMI_LABELS], registers }));
    counter('quantix_vmi_cpu_usage_seconds_total', 'Total CPU time of the VM in all modes (vCPUs and hypervisor threads)');
    counter('quantix_vmi_cpu_user_usage_seconds_total', 'CPU time of the VM in user mode');
    counter('quantix_vmi_cpu_system_usage_seconds_total', 'CPU time of the VM in system mode');
    counter('quantix_vmi_vcpu_seconds_total', 'CPU time of each vCPU', ['id', 'state']);
    gauge('quantix_vmi_memory_domain_bytes', 'Memory the VM is defined with');
    gauge('quantix_vmi_memory_actual_balloon_bytes', 'Memory the balloon currently gives the guest');
    gauge('quantix_vmi_memory_resident_bytes', 'Memory of the VM resident on the host (QEMU RSS)');
    gauge('quantix_vmi_memory_available_bytes', 'Memory the guest sees as total (from the balloon driver)');
    gauge('quantix_vmi_memory_unused_bytes', 'Memory the guest leaves unused (from the balloon driver)');
    gauge('quantix_vmi_memory_usable_bytes', 'Memory the guest could use without swapping (from the balloon driver)');
    counter('quantix_vmi_storage_read_traffic_bytes_total', 'Bytes read per disk', ['drive']);
    counter('quantix_vmi_storage_write_traffic_bytes_total', 'Bytes written per disk', ['drive']);
    counter('quantix_vmi_storage_iops_read_total', 'Read requests per disk', ['drive']);
    counter('quantix_vmi_storage_iops_write_total', 'Write requests per disk', ['drive']);
    counter('quantix_vmi_storage_read_times_seconds_total', 'Time spent on reads per disk', ['drive']);
    counter('quantix_vmi_storage_write_times_seconds_total', 'Time spent on writes per disk', ['drive']);
    counter('quantix_vmi_storage_flush_requests_total', 'Flush requests per disk', ['drive']);
    counter('quantix_vmi_network_receive_bytes_total', 'Bytes received per interface', ['interface']);
    counter('quantix_vmi_network_transmit_bytes_total', 'Bytes sent per interface', ['interface']);
    counter('quantix_vmi_network_receive_packets_total', 'Packets received per interface', ['interface']);
    counter('quantix_vmi_network_transmit_packets_total', 'Packets sent per interface', ['interface']);
    counter('quantix_vmi_network_receive_errors_total', 'Receive errors per interface', ['interface']);
    counter('quantix_vmi_network_transmit_errors_total', 'Transmit errors per interface', ['interface']);
    counter('quantix_vmi_network_receive_packets_dropped_total', 'Received packets dropped per interface', ['interface']);
    counter('quantix_vmi_network_transmit_packets_dropped_total', 'Transmitted packets dropped per interface', ['interface']);
    if (options.processMetrics !== false) collectDefaultMetrics({ register: this.registry });
  }

  /** Where the values read at scrape time come from (the agent wires it once it exists). */
  attach(sources: AgentMetricsSources): void {
    this.#sources = sources;
  }

  /** For LibvirtConnectionOptions.onCall. */
  readonly observeLibvirtCall = (procedure: string, durationMs: number, result: string): void => {
    this.libvirtCallDuration.observe({ procedure, result }, durationMs / 1000);
  };

  /** For Reporter.onEventReported. */
  readonly observeEventReported = (latencyMs: number): void => {
    this.eventReportLatency.observe(Math.max(0, latencyMs) / 1000);
  };

  /** Reads everything read at scrape time: domain states, imports, per-VM statistics. */
  async refresh(): Promise<void> {
    const s = this.#sources;
    if (!s) return;
    const domains = s.domains();
    let stats: DomainStats[] = [];
    try {
      stats = await this.#stats(s);
    } catch {
      // libvirt unreachable or busy: the agent's own metrics still answer; VMs have no series.
      stats = [];
    }
    // From here on synchronous: a concurrent scrape never sees half of an update.
    this.domains.reset();
    for (const d of domains) this.domains.inc({ state: d.state });
    this.importBytes.reset();
    this.importSize.reset();
    this.importProgress.reset();
    for (const i of s.imports()) {
      this.importBytes.set({ image: i.image, phase: i.phase }, i.bytesDone);
      if (i.bytesTotal !== undefined && i.bytesTotal > 0) {
        this.importSize.set({ image: i.image }, i.bytesTotal);
        this.importProgress.set({ image: i.image }, Math.min(1, i.bytesDone / i.bytesTotal));
      }
    }
    const owners = new Map(domains.map((d) => [d.uuid, d.owner]));
    this.#setVmi(stats, owners, s.nodeName());
  }

  #stats(s: AgentMetricsSources): Promise<DomainStats[]> {
    const now = this.#now();
    if (!this.#cache || now - this.#cache.at >= this.#statsCacheMs) {
      const stats = s.driver.domainStats();
      this.#cache = { at: now, stats };
      // A failed read is not kept: the next scrape asks again.
      stats.catch(() => {
        if (this.#cache?.stats === stats) this.#cache = undefined;
      });
    }
    return this.#cache.stats;
  }

  #setVmi(stats: DomainStats[], owners: Map<string, DomainInfo['owner']>, node: string): void {
    for (const m of this.#vmiCounters.values()) m.reset();
    for (const m of this.#vmiGauges.values()) m.reset();
    const c = (name: string, labels: Record<string, string>, value: number | undefined) => {
      if (value !== undefined && Number.isFinite(value) && value >= 0) this.#vmiCounters.get(name)!.inc(labels, value);
    };
    const g = (name: string, labels: Record<VmiLabel, string>, value: number | undefined) => {
      if (value !== undefined && Number.isFinite(value)) this.#vmiGauges.get(name)!.set(labels, value);
    };
    for (const st of stats) {
      const owner = owners.get(st.uuid);
      if (!owner) continue; // not a Quantix VM's domain (or not listed yet)
      const vmi: Record<VmiLabel, string> = { namespace: owner.namespace, name: owner.name, node };
      c('quantix_vmi_cpu_usage_seconds_total', vmi, st.cpu?.timeSeconds);
      c('quantix_vmi_cpu_user_usage_seconds_total', vmi, st.cpu?.userSeconds);
      c('quantix_vmi_cpu_system_usage_seconds_total', vmi, st.cpu?.systemSeconds);
      for (const v of st.vcpus) c('quantix_vmi_vcpu_seconds_total', { ...vmi, id: String(v.id), state: 'running' }, v.timeSeconds);
      g('quantix_vmi_memory_domain_bytes', vmi, st.memory?.domainBytes);
      g('quantix_vmi_memory_actual_balloon_bytes', vmi, st.memory?.actualBytes);
      g('quantix_vmi_memory_resident_bytes', vmi, st.memory?.residentBytes);
      g('quantix_vmi_memory_available_bytes', vmi, st.memory?.availableBytes);
      g('quantix_vmi_memory_unused_bytes', vmi, st.memory?.unusedBytes);
      g('quantix_vmi_memory_usable_bytes', vmi, st.memory?.usableBytes);
      for (const d of st.disks) {
        const l = { ...vmi, drive: d.name };
        c('quantix_vmi_storage_read_traffic_bytes_total', l, d.readBytes);
        c('quantix_vmi_storage_write_traffic_bytes_total', l, d.writeBytes);
        c('quantix_vmi_storage_iops_read_total', l, d.readOps);
        c('quantix_vmi_storage_iops_write_total', l, d.writeOps);
        c('quantix_vmi_storage_read_times_seconds_total', l, d.readSeconds);
        c('quantix_vmi_storage_write_times_seconds_total', l, d.writeSeconds);
        c('quantix_vmi_storage_flush_requests_total', l, d.flushOps);
      }
      for (const n of st.nics) {
        const l = { ...vmi, interface: n.name };
        c('quantix_vmi_network_receive_bytes_total', l, n.rxBytes);
        c('quantix_vmi_network_transmit_bytes_total', l, n.txBytes);
        c('quantix_vmi_network_receive_packets_total', l, n.rxPackets);
        c('quantix_vmi_network_transmit_packets_total', l, n.txPackets);
        c('quantix_vmi_network_receive_errors_total', l, n.rxErrors);
        c('quantix_vmi_network_transmit_errors_total', l, n.txErrors);
        c('quantix_vmi_network_receive_packets_dropped_total', l, n.rxDropped);
        c('quantix_vmi_network_transmit_packets_dropped_total', l, n.txDropped);
      }
    }
  }
}
