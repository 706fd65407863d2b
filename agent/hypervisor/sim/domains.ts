/**
 * Domains on the simulated host, with libvirt's observable behaviour: its event orders
 * and state reasons, idempotent transitions towards their target state, undefining a
 * running domain makes it transient, a domain cannot start when a disk is not a volume of
 * a running pool (or a host file). The guest agent answers guestInfo (guest.ts) and agent
 * shutdowns of running domains with the channel. Knobs: crashDomain, guestPowerOff,
 * setAcpiShutdownDelay, setGuestAgentResponding, defineForeignDomain.
 */
import type { ConsoleChannel, ConsoleKind, ConsoleOpenOptions, DomainInfo, DomainOwner, DomainSpec, DomainStats, GuestInfo, ShutdownMode } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { nicLabel, normalizeUuid, validateDomainSpec } from '../validate.js';
import { simGuestInfo } from './guest.js';
import type { DomainConfig, SimDomain, SimHost } from './host.js';

/** libvirt's answer when the guest agent channel is not open on the guest side. */
const AGENT_NOT_CONNECTED = 'Guest agent is not responding: QEMU guest agent is not connected';

export class SimDomains {
  constructor(private readonly host: SimHost) {}

  /** The guest panics: Crashed(panicked), then Stopped(crashed) (on_crash=destroy). */
  crashDomain(uuid: string): void {
    const d = this.mustDomain(normalizeUuid(uuid), 'crashDomain');
    if (d.state !== 'Running' && d.state !== 'Paused') throw new HypervisorError('InvalidState', 'domain is not running', { target: d.uuid });
    this.host.events.domainEvent(d, 'Crashed', 'panicked');
    this.powerOff(d, 'crashed', 'crashed');
  }

  /** The guest powers itself off (e.g. `poweroff` inside the VM). */
  guestPowerOff(uuid: string): void {
    const d = this.mustDomain(normalizeUuid(uuid), 'guestPowerOff');
    if (d.state !== 'Running') throw new HypervisorError('InvalidState', 'domain is not running', { target: d.uuid });
    this.host.events.domainEvent(d, 'Shutdown', 'guest');
    this.powerOff(d, 'shutdown', 'shutdown');
  }

  /** Sets how guests react to ACPI shutdown (null: ignore it). */
  setAcpiShutdownDelay(ms: number | null): void {
    this.host.opts.acpiShutdownDelayMs = ms;
  }

  /** Whether the guest agent inside the domain answers (default true; e.g. false while the guest boots). */
  setGuestAgentResponding(uuid: string, responding: boolean): void {
    this.mustDomain(normalizeUuid(uuid), 'setGuestAgentResponding').agentResponding = responding;
  }

  /**
   * A domain defined behind Quantix's back (like `virsh define`): no owner metadata.
   * Emits Defined(added).
   */
  defineForeignDomain(spec: Omit<DomainSpec, 'owner'> & { owner?: DomainOwner | null }): DomainInfo {
    const uuid = normalizeUuid(spec.uuid);
    this.assertUnique(uuid, spec.name, 'defineForeignDomain');
    const d: SimDomain = {
      uuid,
      config: {
        name: spec.name,
        vcpus: spec.vcpus,
        memoryBytes: spec.memoryBytes,
        disks: spec.disks,
        networks: spec.networks,
        owner: spec.owner ?? null,
        domainType: spec.domainType ?? this.host.opts.domainType,
        guestAgent: spec.guestAgent ?? true,
      },
      live: null,
      state: 'Shutoff',
      reason: 'unknown',
      id: -1,
      persistent: true,
      autostart: false,
      shutdownTimer: null,
      agentResponding: true,
    };
    this.host.domains.set(uuid, d);
    this.host.events.domainEvent(d, 'Defined', 'added');
    return this.info(d);
  }

  private mustDomain(uuid: string, operation: string): SimDomain {
    const d = this.host.domains.get(uuid);
    if (!d) throw new HypervisorError('DomainNotFound', `Domain not found: no domain with matching uuid '${uuid}'`, { operation, target: uuid });
    return d;
  }

  private info(d: SimDomain): DomainInfo {
    const c = d.live ?? d.config;
    return {
      uuid: d.uuid,
      name: d.config.name,
      id: d.id,
      state: d.state,
      reason: d.reason,
      persistent: d.persistent,
      vcpus: c.vcpus,
      memoryBytes: c.memoryBytes,
      owner: c.owner ? { ...c.owner } : null,
    };
  }

  private assertUnique(uuid: string, name: string, operation: string): void {
    const byUuid = this.host.domains.get(uuid);
    if (byUuid && byUuid.config.name !== name) {
      throw new HypervisorError('DomainExists', `operation failed: domain '${byUuid.config.name}' already exists with uuid ${uuid}`, {
        operation,
        target: uuid,
      });
    }
    for (const d of this.host.domains.values()) {
      if (d.config.name === name && d.uuid !== uuid) {
        throw new HypervisorError('DomainExists', `operation failed: domain '${name}' already exists with uuid ${d.uuid}`, { operation, target: uuid });
      }
    }
  }

  async listDomains(): Promise<DomainInfo[]> {
    await this.host.enter('listDomains');
    return [...this.host.domains.values()].map((d) => this.info(d));
  }

  async getDomain(uuid: string): Promise<DomainInfo> {
    const u = normalizeUuid(uuid);
    await this.host.enter('getDomain', u);
    return this.info(this.mustDomain(u, 'getDomain'));
  }

  /** How often each running domain's statistics were read: the sim's counters grow with it. */
  private readonly statsReads = new Map<string, number>();

  /** Statistics of the running domains: counters that grow on every read, memory as configured. */
  async domainStats(): Promise<DomainStats[]> {
    await this.host.enter('domainStats');
    const out: DomainStats[] = [];
    for (const d of this.host.domains.values()) {
      if (d.state !== 'Running' && d.state !== 'Paused' && d.state !== 'Blocked') continue;
      const c = d.live ?? d.config;
      const n = (this.statsReads.get(d.uuid) ?? 0) + 1;
      this.statsReads.set(d.uuid, n);
      const vcpus = Array.from({ length: c.vcpus }, (_, id) => ({ id, timeSeconds: n * 0.01 }));
      out.push({
        uuid: d.uuid,
        name: c.name,
        state: d.state,
        cpu: { timeSeconds: n * 0.01 * c.vcpus + n * 0.001, userSeconds: n * 0.008 * c.vcpus, systemSeconds: n * 0.002 * c.vcpus },
        vcpus,
        memory: { domainBytes: c.memoryBytes, actualBytes: c.memoryBytes, residentBytes: Math.floor(c.memoryBytes / 2) },
        disks: c.disks.map((_, i) => ({
          name: `vd${String.fromCharCode(97 + i)}`,
          readBytes: n * 4096,
          readOps: n,
          writeBytes: n * 512,
          writeOps: n,
          readSeconds: n * 0.0001,
          writeSeconds: n * 0.0002,
          flushOps: 0,
        })),
        nics: c.networks.map((_, i) => ({
          name: `vnet${i}`,
          rxBytes: n * 100,
          rxPackets: n,
          rxErrors: 0,
          rxDropped: 0,
          txBytes: n * 60,
          txPackets: n,
          txErrors: 0,
          txDropped: 0,
        })),
      });
    }
    return out;
  }

  async getDomainXml(uuid: string): Promise<string> {
    const u = normalizeUuid(uuid);
    await this.host.enter('getDomainXml', u);
    const d = this.mustDomain(u, 'getDomainXml');
    return `<domain type="${(d.live ?? d.config).domainType}"><name>${d.config.name}</name><uuid>${d.uuid}</uuid><!-- simulated --></domain>\n`;
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const uuid = normalizeUuid(spec.uuid);
    await this.host.enter('defineDomain', uuid);
    this.assertUnique(uuid, spec.name, 'defineDomain');
    const config: DomainConfig = {
      name: spec.name,
      vcpus: spec.vcpus,
      memoryBytes: spec.memoryBytes,
      disks: spec.disks.map((d) => ({ ...d })),
      networks: spec.networks.map((n) => (n.type === 'user' && n.portForwards ? { ...n, portForwards: n.portForwards.map((f) => ({ ...f })) } : { ...n })),
      owner: { ...spec.owner },
      domainType: spec.domainType ?? this.host.opts.domainType,
      guestAgent: spec.guestAgent ?? true,
    };
    const existing = this.host.domains.get(uuid);
    if (existing) {
      existing.config = config;
      existing.persistent = true;
      if (spec.autostart !== undefined) existing.autostart = spec.autostart;
      this.host.events.domainEvent(existing, 'Defined', 'updated');
      return this.info(existing);
    }
    const d: SimDomain = {
      uuid,
      config,
      live: null,
      state: 'Shutoff',
      reason: 'unknown',
      id: -1,
      persistent: true,
      autostart: spec.autostart ?? false,
      shutdownTimer: null,
      agentResponding: true,
    };
    this.host.domains.set(uuid, d);
    this.host.events.domainEvent(d, 'Defined', 'added');
    return this.info(d);
  }

  async startDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.host.enter('startDomain', u);
    const d = this.mustDomain(u, 'startDomain');
    if (d.state !== 'Shutoff') return; // already active: idempotent
    if (this.host.opts.strictDiskPaths) {
      for (const disk of d.config.disks) {
        if (!this.host.diskAvailable(disk.path)) {
          throw new HypervisorError('OperationFailed', `Cannot access storage file '${disk.path}': No such file or directory`, {
            operation: 'startDomain',
            target: u,
          });
        }
      }
    }
    if (this.host.opts.strictNetworks) this.assertNetworksUsable(d);
    d.live = { ...d.config };
    d.id = this.host.nextId++;
    d.state = 'Running';
    d.reason = 'booted';
    this.host.events.domainEvent(d, 'Resumed', 'unpaused');
    this.host.events.domainEvent(d, 'Started', 'booted');
  }

  /** Like libvirt at start: a network NIC needs an active network, a bridge NIC an existing bridge. */
  private assertNetworksUsable(d: SimDomain): void {
    d.config.networks.forEach((n, i) => {
      const ctx = { operation: 'startDomain', target: d.uuid };
      if (n.type === 'network') {
        const net = this.host.networks.get(n.network);
        if (!net) throw new HypervisorError('NetworkNotFound', `${nicLabel(n, i)}: Network not found: no network with matching name '${n.network}'`, ctx);
        if (!net.active)
          throw new HypervisorError('OperationFailed', `${nicLabel(n, i)}: Requested operation is not valid: network '${n.network}' is not active`, ctx);
      } else if (n.type === 'bridge' && !this.host.bridgeExists(n.bridge)) {
        throw new HypervisorError('OperationFailed', `${nicLabel(n, i)}: Cannot get interface MTU on '${n.bridge}': No such device`, ctx);
      }
    });
  }

  clearShutdownTimer(d: SimDomain): void {
    if (d.shutdownTimer) clearTimeout(d.shutdownTimer);
    d.shutdownTimer = null;
  }

  /** Running/Paused → Shutoff; a transient domain disappears. */
  powerOff(d: SimDomain, reason: string, stoppedDetail: string): void {
    this.clearShutdownTimer(d);
    d.state = 'Shutoff';
    d.reason = reason;
    d.id = -1;
    d.live = null;
    this.host.consoles.endAll(d.uuid, 'stopped', `domain '${d.config.name}' stopped (${stoppedDetail})`);
    this.host.events.domainEvent(d, 'Stopped', stoppedDetail);
    if (!d.persistent) this.host.domains.delete(d.uuid);
  }

  /** ACPI or guest agent: the simulated guest powers off after the ACPI delay either way; the agent mode needs an answering agent. */
  async shutdownDomain(uuid: string, mode: ShutdownMode = 'acpi'): Promise<void> {
    const u = normalizeUuid(uuid);
    if (mode !== 'acpi' && mode !== 'agent') throw new HypervisorError('InvalidSpec', `unknown shutdown mode "${mode}" (acpi, agent)`, { target: u });
    await this.host.enter('shutdownDomain', u);
    const d = this.mustDomain(u, 'shutdownDomain');
    if (d.state === 'Shutoff') return;
    if (d.state !== 'Running')
      throw new HypervisorError('InvalidState', `Requested operation is not valid: domain is ${d.state.toLowerCase()}`, {
        operation: 'shutdownDomain',
        target: u,
      });
    if (mode === 'agent' && !this.agentAnswers(d)) {
      throw new HypervisorError('GuestAgentUnavailable', AGENT_NOT_CONNECTED, { operation: 'shutdownDomain', target: u });
    }
    const delay = this.host.opts.acpiShutdownDelayMs;
    if (delay === null || d.shutdownTimer) return; // ignored, or already shutting down
    d.shutdownTimer = setTimeout(() => {
      d.shutdownTimer = null;
      if (this.host.domains.get(d.uuid) !== d || d.state !== 'Running') return;
      this.host.events.domainEvent(d, 'Shutdown', 'guest');
      this.powerOff(d, 'shutdown', 'shutdown');
    }, delay);
    d.shutdownTimer.unref?.();
  }

  private agentAnswers(d: SimDomain): boolean {
    return d.state === 'Running' && (d.live ?? d.config).guestAgent && d.agentResponding;
  }

  async guestInfo(uuid: string): Promise<GuestInfo> {
    const u = normalizeUuid(uuid);
    await this.host.enter('guestInfo', u);
    const d = this.mustDomain(u, 'guestInfo');
    if (d.state !== 'Running') return { connected: false, message: 'Requested operation is not valid: domain is not running' };
    if (!this.agentAnswers(d)) return { connected: false, message: AGENT_NOT_CONNECTED };
    return simGuestInfo(this.host, d);
  }

  async destroyDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.host.enter('destroyDomain', u);
    const d = this.mustDomain(u, 'destroyDomain');
    if (d.state === 'Shutoff') return;
    this.host.events.domainEvent(d, 'Shutdown', 'host');
    this.powerOff(d, 'destroyed', 'destroyed');
  }

  async suspendDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.host.enter('suspendDomain', u);
    const d = this.mustDomain(u, 'suspendDomain');
    if (d.state === 'Paused') return;
    if (d.state !== 'Running')
      throw new HypervisorError('InvalidState', 'Requested operation is not valid: domain is not running', { operation: 'suspendDomain', target: u });
    d.state = 'Paused';
    d.reason = 'user';
    this.host.events.domainEvent(d, 'Suspended', 'paused');
  }

  async resumeDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.host.enter('resumeDomain', u);
    const d = this.mustDomain(u, 'resumeDomain');
    if (d.state === 'Running') return;
    if (d.state !== 'Paused')
      throw new HypervisorError('InvalidState', 'Requested operation is not valid: domain is not running', { operation: 'resumeDomain', target: u });
    d.state = 'Running';
    d.reason = 'unpaused';
    this.host.events.domainEvent(d, 'Resumed', 'unpaused');
  }

  async undefineDomain(uuid: string): Promise<void> {
    const u = normalizeUuid(uuid);
    await this.host.enter('undefineDomain', u);
    const d = this.mustDomain(u, 'undefineDomain');
    if (!d.persistent)
      throw new HypervisorError('InvalidState', 'Requested operation is not valid: cannot undefine transient domain', {
        operation: 'undefineDomain',
        target: u,
      });
    this.host.events.domainEvent(d, 'Undefined', 'removed');
    if (d.state === 'Shutoff') this.host.domains.delete(u);
    else d.persistent = false;
  }

  async openConsole(uuid: string, kind: ConsoleKind, options?: ConsoleOpenOptions): Promise<ConsoleChannel> {
    const u = normalizeUuid(uuid);
    if (kind !== 'serial' && kind !== 'vnc') throw new HypervisorError('InvalidSpec', `unknown console kind "${String(kind)}" (serial, vnc)`, { target: u });
    await this.host.enter('openConsole', u);
    const d = this.mustDomain(u, 'openConsole');
    if (d.state !== 'Running' && d.state !== 'Paused')
      throw new HypervisorError('InvalidState', 'Requested operation is not valid: domain is not running', { operation: 'openConsole', target: u });
    return this.host.consoles.open(u, d.config.name, kind, options);
  }
}
