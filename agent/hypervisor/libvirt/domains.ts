/**
 * Domains through libvirtd: list, read (state, reason, persistence and the Quantix owner
 * metadata, cached per UUID), define, lifecycle transitions that are idempotent towards
 * their target state, undefine with everything libvirt keeps beside a domain.
 */
import type { DomainInfo, DomainOwner, DomainSpec, DomainType, PowerState, ShutdownMode } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { bytesToUuid, normalizeUuid, uuidToBytes, validateDomainSpec } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import {
  DomainStateNames,
  DomainStateReasons,
  Procs,
  VIR_CONNECT_LIST_DOMAINS_PERSISTENT,
  VIR_CONNECT_LIST_DOMAINS_TRANSIENT,
  VIR_DOMAIN_DEFINE_VALIDATE,
  VIR_DOMAIN_METADATA_ELEMENT,
  VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN,
  VIR_DOMAIN_SHUTDOWN_GUEST_AGENT,
  VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA,
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE,
  VIR_DOMAIN_UNDEFINE_NVRAM,
  VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA,
  VirErr,
  type RemoteDomain,
} from './protocol.js';
import { buildDomainXml, parseOwner, QUANTIX_METADATA_NS } from './xml.js';

const UNDEFINE_FLAGS =
  VIR_DOMAIN_UNDEFINE_MANAGED_SAVE | VIR_DOMAIN_UNDEFINE_SNAPSHOTS_METADATA | VIR_DOMAIN_UNDEFINE_NVRAM | VIR_DOMAIN_UNDEFINE_CHECKPOINTS_METADATA;

function powerState(state: number): PowerState {
  return DomainStateNames[state] ?? 'NoState';
}

function stateReason(state: number, reason: number): string {
  return DomainStateReasons[state]?.[reason] ?? 'unknown';
}

export class LibvirtDomains {
  /** Ownership metadata per domain UUID; invalidated by Defined/Undefined events and reconnects. */
  private readonly ownerCache = new Map<string, DomainOwner | null>();

  constructor(
    private readonly conn: LibvirtConnection,
    /** The node's default acceleration; a spec's domainType overrides it. */
    private readonly domainType: DomainType,
  ) {
    // Subscribed before anyone else, so the cache is invalid before other listeners hear of a change.
    conn.subscribe((ev) => {
      if (ev.kind === 'domain' && (ev.type === 'Defined' || ev.type === 'Undefined')) this.ownerCache.delete(ev.uuid);
      else if (ev.kind === 'connection' && ev.state === 'restored') this.ownerCache.clear();
    });
  }

  private async lookupDomain(uuid: string, operation: string): Promise<RemoteDomain> {
    const u = normalizeUuid(uuid);
    return this.conn.call(Procs.domainLookupByUuid, { uuid: uuidToBytes(u) }, { operation, target: u });
  }

  private async owner(dom: RemoteDomain, uuid: string, operation: string): Promise<DomainOwner | null> {
    if (this.ownerCache.has(uuid)) return this.ownerCache.get(uuid) ?? null;
    let owner: DomainOwner | null = null;
    try {
      const xml = await this.conn.call(
        Procs.domainGetMetadata,
        { dom, type: VIR_DOMAIN_METADATA_ELEMENT, uri: QUANTIX_METADATA_NS, flags: 0 },
        { operation, target: uuid },
      );
      owner = parseOwner(xml);
    } catch (err) {
      if (!(err instanceof HypervisorError && err.details.libvirtCode === VirErr.NO_DOMAIN_METADATA)) throw err;
    }
    this.ownerCache.set(uuid, owner);
    return owner;
  }

  private async describe(dom: RemoteDomain, persistent: boolean | undefined, operation: string): Promise<DomainInfo> {
    const uuid = bytesToUuid(dom.uuid);
    const ctx = { operation, target: uuid };
    const [st, info, owner, isPersistent] = await Promise.all([
      this.conn.call(Procs.domainGetState, { dom, flags: 0 }, ctx),
      this.conn.call(Procs.domainGetInfo, { dom }, ctx),
      this.owner(dom, uuid, operation),
      persistent ?? this.conn.call(Procs.domainIsPersistent, { dom }, ctx),
    ]);
    return {
      uuid,
      name: dom.name,
      id: dom.id,
      state: powerState(st.state),
      reason: stateReason(st.state, st.reason),
      persistent: isPersistent,
      vcpus: info.nrVirtCpu,
      memoryBytes: info.maxMemKiB * 1024,
      owner,
    };
  }

  async listDomains(): Promise<DomainInfo[]> {
    const ctx = { operation: 'listDomains' };
    const [persistent, transient] = await Promise.all([
      this.conn.call(Procs.connectListAllDomains, { flags: VIR_CONNECT_LIST_DOMAINS_PERSISTENT }, ctx),
      this.conn.call(Procs.connectListAllDomains, { flags: VIR_CONNECT_LIST_DOMAINS_TRANSIENT }, ctx),
    ]);
    const all = [...persistent.map((d) => [d, true] as const), ...transient.map((d) => [d, false] as const)];
    const described = await Promise.all(
      all.map(async ([d, p]) => {
        try {
          return await this.describe(d, p, 'listDomains');
        } catch (err) {
          // Gone between the list and the detail calls.
          if (err instanceof HypervisorError && err.reason === 'DomainNotFound') return null;
          throw err;
        }
      }),
    );
    return described.filter((d): d is DomainInfo => d !== null);
  }

  async getDomain(uuid: string): Promise<DomainInfo> {
    const dom = await this.lookupDomain(uuid, 'getDomain');
    return this.describe(dom, undefined, 'getDomain');
  }

  async getDomainXml(uuid: string): Promise<string> {
    const dom = await this.lookupDomain(uuid, 'getDomainXml');
    return this.conn.call(Procs.domainGetXmlDesc, { dom, flags: 0 }, { operation: 'getDomainXml', target: uuid });
  }

  async defineDomain(spec: DomainSpec): Promise<DomainInfo> {
    validateDomainSpec(spec);
    const uuid = normalizeUuid(spec.uuid);
    const xml = buildDomainXml({ ...spec, uuid }, this.domainType);
    this.ownerCache.delete(uuid);
    const dom = await this.conn.call(Procs.domainDefineXmlFlags, { xml, flags: VIR_DOMAIN_DEFINE_VALIDATE }, { operation: 'defineDomain', target: uuid });
    if (spec.autostart !== undefined) {
      await this.conn.call(Procs.domainSetAutostart, { dom, autostart: spec.autostart }, { operation: 'defineDomain', target: uuid });
    }
    return this.describe(dom, true, 'defineDomain');
  }

  /**
   * Runs a state-changing call; an OPERATION_INVALID answer is success when the domain is
   * already in one of `done` states (idempotence), InvalidState otherwise.
   */
  private async transition(uuid: string, operation: string, done: PowerState[], run: (dom: RemoteDomain) => Promise<unknown>): Promise<void> {
    const dom = await this.lookupDomain(uuid, operation);
    try {
      await run(dom);
    } catch (err) {
      if (!(err instanceof HypervisorError) || err.reason !== 'InvalidState') throw err;
      const st = await this.conn.call(Procs.domainGetState, { dom, flags: 0 }, { operation, target: uuid });
      if (done.includes(powerState(st.state))) return;
      throw err;
    }
  }

  async startDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'startDomain', ['Running', 'Paused', 'Blocked'], (dom) =>
      this.conn.call(Procs.domainCreateWithFlags, { dom, flags: 0 }, { operation: 'startDomain', target: uuid }),
    );
  }

  /**
   * ACPI power button, or the guest agent's guest-shutdown. Without an answering agent libvirt
   * fails at once with VIR_ERR_AGENT_UNRESPONSIVE (GuestAgentUnavailable); it does not fall
   * back to ACPI because only the agent flag is given: the caller decides.
   */
  async shutdownDomain(uuid: string, mode: ShutdownMode = 'acpi'): Promise<void> {
    if (mode !== 'acpi' && mode !== 'agent') throw new HypervisorError('InvalidSpec', `unknown shutdown mode "${mode}" (acpi, agent)`, { target: uuid });
    const flags = mode === 'agent' ? VIR_DOMAIN_SHUTDOWN_GUEST_AGENT : VIR_DOMAIN_SHUTDOWN_ACPI_POWER_BTN;
    await this.transition(uuid, 'shutdownDomain', ['Shutoff'], (dom) =>
      this.conn.call(Procs.domainShutdownFlags, { dom, flags }, { operation: 'shutdownDomain', target: uuid }),
    );
  }

  async destroyDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'destroyDomain', ['Shutoff'], (dom) =>
      this.conn.call(Procs.domainDestroy, { dom }, { operation: 'destroyDomain', target: uuid }),
    );
  }

  async suspendDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'suspendDomain', ['Paused'], (dom) =>
      this.conn.call(Procs.domainSuspend, { dom }, { operation: 'suspendDomain', target: uuid }),
    );
  }

  async resumeDomain(uuid: string): Promise<void> {
    await this.transition(uuid, 'resumeDomain', ['Running'], (dom) => this.conn.call(Procs.domainResume, { dom }, { operation: 'resumeDomain', target: uuid }));
  }

  async undefineDomain(uuid: string): Promise<void> {
    const dom = await this.lookupDomain(uuid, 'undefineDomain');
    await this.conn.call(Procs.domainUndefineFlags, { dom, flags: UNDEFINE_FLAGS }, { operation: 'undefineDomain', target: uuid });
    this.ownerCache.delete(normalizeUuid(uuid));
  }
}
