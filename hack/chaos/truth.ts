/**
 * The truth checks of the chaos run (hack/chaos/runner.ts), as pure functions:
 *   - what libvirt says: `virsh list --all` and `virsh event --loop --timestamp` lines parsed,
 *     and the power state a lifecycle event leaves a domain in;
 *   - what the API says about a domain (a managed VM's status, or the host-discovered record);
 *   - compareSnapshot: the API against libvirt at one moment (wrong states, lost objects,
 *     duplicate domains);
 *   - eventLatencies: for each libvirt event, how long until the API showed libvirt's state.
 */
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { DISCOVERED_ON_LABEL, DOMAIN_UUID_LABEL } from '../../api-types/proto/contract.js';

/**
 * A domain's power state as the API spells it (status.powerState), or gone (not defined), or
 * starting: libvirt's "paused (starting up)" while a start is under way (QEMU runs with its
 * CPUs stopped until libvirt has set it up; seconds under TCG on a loaded host). No status
 * can say more than "not started yet" then: a starting domain is neither right nor wrong.
 */
export type Power = 'running' | 'blocked' | 'paused' | 'shutdown' | 'shutoff' | 'crashed' | 'pmsuspended' | 'nostate' | 'gone' | 'starting';

/** `virsh domstate --reason` wording → the API's, with a start under way as starting. */
export function powerFromDomstate(output: string): Power {
  const m = /^\s*(.+?)\s*(?:\((.*)\))?\s*$/.exec(output.trim().split('\n')[0] ?? '');
  if (!m) return 'nostate';
  const power = powerFromVirsh(m[1]!);
  return power === 'paused' && m[2] === 'starting up' ? 'starting' : power;
}

/** `virsh list` / `virsh domstate` wording → the API's. */
export function powerFromVirsh(state: string): Power {
  switch (state.trim()) {
    case 'running':
      return 'running';
    case 'idle':
    case 'blocked':
      return 'blocked';
    case 'paused':
      return 'paused';
    case 'in shutdown':
      return 'shutdown';
    case 'shut off':
      return 'shutoff';
    case 'crashed':
      return 'crashed';
    case 'pmsuspended':
      return 'pmsuspended';
    default:
      return 'nostate';
  }
}

/** The rows of `virsh list --all --uuid`-less table output: name → power state. */
export function parseVirshList(stdout: string): Map<string, Power> {
  const out = new Map<string, Power>();
  for (const line of stdout.split('\n')) {
    // " 4    name   shut off" or " -    name   shut off"
    const m = /^\s*(\d+|-)\s+(\S+)\s+(.+?)\s*$/.exec(line);
    if (!m || m[1] === 'Id') continue;
    out.set(m[2]!, powerFromVirsh(m[3]!));
  }
  return out;
}

export interface LifecycleEvent {
  /** ms since the epoch, as virsh stamped the event on receipt. */
  at: number;
  domain: string;
  event: string;
  detail: string;
}

/** One line of `virsh event --all --loop --timestamp`; undefined for other lines and other events. */
export function parseEventLine(line: string): LifecycleEvent | undefined {
  const m = /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})([+-]\d{4}): event 'lifecycle' for domain '([^']+)': (\S+)(?: (\S+))?/.exec(line.trim());
  if (!m) return undefined;
  const zone = `${m[3]!.slice(0, 3)}:${m[3]!.slice(3)}`;
  const at = Date.parse(`${m[1]}T${m[2]}${zone}`);
  if (Number.isNaN(at)) return undefined;
  return { at, domain: m[4]!, event: m[5]!, detail: m[6] ?? '' };
}

/**
 * The power state a lifecycle event leaves the domain in. An undefine of a running domain
 * leaves it running (transient), a (re)definition does not change a running one.
 */
export function powerAfterEvent(before: Power, event: LifecycleEvent): Power {
  switch (event.event) {
    case 'Defined':
      return before === 'gone' ? 'shutoff' : before;
    case 'Undefined':
      return before === 'shutoff' || before === 'crashed' || before === 'gone' ? 'gone' : before;
    case 'Started':
    case 'Resumed':
      return 'running';
    case 'Suspended':
      return 'paused';
    case 'Stopped':
      return 'shutoff';
    case 'Crashed':
      return 'crashed';
    case 'PMSuspended':
      return 'pmsuspended';
    default:
      // Shutdown (the guest asked; Stopped follows), and anything newer.
      return before;
  }
}

/** A domain's state as its events tell it, and whether it is transient (undefined while it ran). */
export interface EventState {
  power: Power;
  transient: boolean;
}

/**
 * powerAfterEvent, following persistence: a running domain undefined stays as a transient
 * one, which is gone (no Undefined event follows) once it stops; a definition makes it
 * persistent again.
 */
export function stateAfterEvent(before: EventState, event: LifecycleEvent): EventState {
  const power = powerAfterEvent(before.power, event);
  if (event.event === 'Defined') return { power, transient: false };
  if (event.event === 'Undefined') return { power, transient: power !== 'gone' };
  if (before.transient && (power === 'shutoff' || power === 'crashed')) return { power: 'gone', transient: false };
  return { power, transient: before.transient };
}

/** What a managed VM's status says about its domain: gone once Lost, else its powerState. */
export function apiPowerOfManaged(vm: VirtualMachine): Power | undefined {
  if (vm.status?.phase === 'Lost') return 'gone';
  return vm.status?.powerState as Power | undefined;
}

/** What a host-discovered record says: gone once Terminated. */
export function apiPowerOfDiscovered(vm: VirtualMachine): Power | undefined {
  if (vm.status?.phase === 'Terminated') return 'gone';
  return vm.status?.powerState as Power | undefined;
}

export function isDiscoveredOn(vm: VirtualMachine, node: string): boolean {
  return vm.status?.origin === 'host-discovered' && vm.metadata.labels?.[DISCOVERED_ON_LABEL] === node;
}

/**
 * The phases a VM may show beside a power state (the agent's phaseForPowerState, a stop under
 * way, a failed start or a crash); another is a wrong state even when powerState is right.
 */
export function phaseFits(power: Power, phase: string | undefined): boolean {
  switch (power) {
    case 'running':
    case 'blocked':
      return phase === 'Running' || phase === 'Stopping';
    case 'paused':
    case 'pmsuspended':
      return phase === 'Paused' || phase === 'Stopping';
    case 'shutdown':
      return phase === 'Stopping';
    case 'shutoff':
    case 'crashed':
      return phase === 'Stopped' || phase === 'Failed';
    case 'gone':
      return phase === 'Lost' || phase === 'Terminated';
    default:
      return true;
  }
}

export interface DomainView {
  /** Domain name → power state, for the domains of this run only. */
  libvirt: Map<string, Power>;
  /** Managed VMs of the run's namespace (the run never deletes one). */
  managed: VirtualMachine[];
  /** Host-discovered records on the run's node. */
  discovered: VirtualMachine[];
}

export interface SnapshotFindings {
  /** Domains in the middle of a start (not settled: neither right nor wrong). */
  transitional: string[];
  /** One line per domain whose API state differs from libvirt's. */
  wrong: string[];
  /** Objects the run made that the API no longer has, or a domain of the run with no API record. */
  lost: string[];
  /** More than one domain for one managed VM, or more than one live record for one domain. */
  duplicates: string[];
}

/**
 * The API against libvirt at one moment. `managedDomain` names a managed VM's domain
 * (`<namespace>_<name>`), `expectedVms` are the VMs the run created, `handDomains` the
 * domains it defined by hand (their records are the host-discovered ones).
 */
export function compareSnapshot(
  view: DomainView,
  o: { managedDomain(vm: VirtualMachine): string; expectedVms: readonly string[]; handDomains: ReadonlySet<string>; handUuids: ReadonlyMap<string, string> },
): SnapshotFindings {
  const transitional: string[] = [];
  const wrong: string[] = [];
  const lost: string[] = [];
  const duplicates: string[] = [];
  const byName = new Map(view.managed.map((vm) => [vm.metadata.name!, vm]));
  for (const name of o.expectedVms) if (!byName.has(name)) lost.push(`VirtualMachine ${name} is gone from the API`);

  const claimed = new Set<string>();
  for (const vm of view.managed) {
    const domain = o.managedDomain(vm);
    claimed.add(domain);
    const truth = view.libvirt.get(domain) ?? 'gone';
    const api = apiPowerOfManaged(vm);
    if (truth === 'starting') transitional.push(`${domain}: starting up`);
    else if (api !== truth || !phaseFits(truth, vm.status?.phase)) {
      wrong.push(`${domain}: libvirt ${truth}, API ${api ?? 'no powerState'} (phase ${vm.status?.phase ?? 'none'})`);
    }
    if (truth !== 'gone' && vm.status?.domainUUID !== undefined && vm.status.domainUUID !== vm.metadata.uid) {
      duplicates.push(`${domain}: status.domainUUID ${vm.status.domainUUID} is not the VM's uid ${vm.metadata.uid}`);
    }
  }
  // Per hand-made domain: its live records (not Terminated) on this node.
  const liveRecords = new Map<string, VirtualMachine[]>();
  for (const vm of view.discovered) {
    const uuid = vm.metadata.labels?.[DOMAIN_UUID_LABEL];
    if (!uuid || apiPowerOfDiscovered(vm) === 'gone') continue;
    liveRecords.set(uuid, [...(liveRecords.get(uuid) ?? []), vm]);
  }
  for (const domain of o.handDomains) {
    claimed.add(domain);
    const uuid = o.handUuids.get(domain);
    const truth = view.libvirt.get(domain) ?? 'gone';
    const records = uuid ? (liveRecords.get(uuid) ?? []) : [];
    if (records.length > 1) duplicates.push(`${domain}: ${records.length} live host-discovered records (${records.map((r) => r.metadata.name).join(', ')})`);
    const api = records.length === 0 ? 'gone' : apiPowerOfDiscovered(records[0]!);
    if (truth === 'starting') {
      transitional.push(`${domain}: starting up`);
      continue;
    }
    if (api === truth && (records.length === 0 || phaseFits(truth, records[0]!.status?.phase))) continue;
    if (truth !== 'gone' && records.length === 0) lost.push(`${domain}: defined in libvirt (${truth}), no record in the API`);
    else wrong.push(`${domain}: libvirt ${truth}, API ${api ?? 'no powerState'} (phase ${records[0]?.status?.phase ?? 'none'})`);
  }
  // A domain of the run that no VM names: a second domain for a VM, or a leftover.
  for (const [domain, power] of view.libvirt) if (!claimed.has(domain)) duplicates.push(`${domain}: ${power} in libvirt, no VM of the run names it`);
  return { transitional, wrong, lost, duplicates };
}

/** A piecewise-constant state over time: `[at, state]` in time order. */
export type Timeline = ReadonlyArray<readonly [number, Power | undefined]>;

function stateAt(timeline: Timeline, t: number): Power | undefined {
  let state: Power | undefined;
  for (const [at, s] of timeline) {
    if (at > t) break;
    state = s;
  }
  return state;
}

/**
 * For each event of a domain: the time from the event until the API first showed the state
 * libvirt was in at that moment (libvirt's state may have moved on: a suspend the agent
 * undoes at once counts as caught up once the API shows running again). An API change that
 * landed before virsh stamped the event counts as 0. Undefined when the API never caught up
 * within the timelines.
 */
export function eventLatency(eventAt: number, libvirt: Timeline, api: Timeline): number | undefined {
  const times = [eventAt, ...libvirt.map(([t]) => t), ...api.map(([t]) => t)].filter((t) => t >= eventAt).sort((a, b) => a - b);
  for (const t of times) {
    const truth = stateAt(libvirt, t);
    if (truth !== undefined && stateAt(api, t) === truth) return t - eventAt;
  }
  return undefined;
}

/** p50/p99/max (nearest rank) of samples in ms, rounded to 0.1 ms. */
export function latencySummary(samples: readonly number[]): { count: number; p50Ms: number | null; p99Ms: number | null; maxMs: number | null } {
  if (samples.length === 0) return { count: 0, p50Ms: null, p99Ms: null, maxMs: null };
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
  const round = (v: number) => Math.round(v * 10) / 10;
  return { count: sorted.length, p50Ms: round(rank(50)), p99Ms: round(rank(99)), maxMs: round(sorted.at(-1)!) };
}

/** A small seeded PRNG (mulberry32): a run is repeatable from its seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
