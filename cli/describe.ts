/**
 * `describe` output, per kind, as pure functions from objects to text (unit-tested):
 * metadata, a spec summary, status, conditions, per-host pool tables, node capacity and
 * allocation, VMs on a node, and recent Events — laid out like `kubectl describe`.
 */
import type { Condition, Event, Lease, Node, NodeCondition, StoragePool, VirtualMachine } from '../api-types/generated/types.js';
import type { KubeObject } from '../api-types/meta.js';
import { humanDuration } from '../api-types/schema/printing.js';
import { formatBytesHuman, humanQuantity, tryParseBytes } from '../api-types/quantity.js';
import { formatRows } from './table.js';
import { toYaml, withoutManagedFields } from './output.js';

type Line = { kind: 'kv'; indent: number; key: string; value: string } | { kind: 'text'; indent: number; text: string };

/** Builds kubectl-describe-style text: runs of `Key: value` lines at one indent are aligned. */
export class Doc {
  readonly lines: Line[] = [];

  kv(key: string, value: unknown, indent = 0): this {
    this.lines.push({ kind: 'kv', indent, key, value: show(value) });
    return this;
  }

  /** A section heading (`Spec:`), its content indented below. */
  section(title: string, indent = 0): this {
    this.lines.push({ kind: 'text', indent, text: `${title}:` });
    return this;
  }

  text(text: string, indent = 0): this {
    for (const line of text.split('\n')) this.lines.push({ kind: 'text', indent, text: line });
    return this;
  }

  /** A table (headers as given, kubectl describe keeps their case), or `<none>`. */
  table(headers: string[], rows: string[][], indent = 2): this {
    if (rows.length === 0) return this.text('<none>', indent);
    const underline = headers.map((h) => '-'.repeat(h.length));
    for (const line of formatRows([headers, underline, ...rows])) this.text(line, indent);
    return this;
  }

  /** A string map (labels, annotations): first on the key's line, the rest aligned below. */
  map(key: string, map: Record<string, string> | undefined, indent = 0): this {
    const entries = Object.entries(map ?? {}).sort(([a], [b]) => a.localeCompare(b));
    if (entries.length === 0) return this.kv(key, '<none>', indent);
    entries.forEach(([k, v], i) => {
      this.lines.push({ kind: 'kv', indent, key: i === 0 ? key : '', value: `${k}=${v}` });
    });
    return this;
  }

  render(): string {
    const out: string[] = [];
    let i = 0;
    while (i < this.lines.length) {
      const line = this.lines[i]!;
      if (line.kind === 'text') {
        out.push(' '.repeat(line.indent) + line.text);
        i++;
        continue;
      }
      // A run of kv lines at the same indent: align values.
      let j = i;
      while (j < this.lines.length && this.lines[j]!.kind === 'kv' && this.lines[j]!.indent === line.indent) j++;
      const run = this.lines.slice(i, j) as Extract<Line, { kind: 'kv' }>[];
      const width = Math.max(...run.map((l) => (l.key ? l.key.length + 1 : 0))) + 2;
      for (const l of run) {
        const label = l.key ? `${l.key}:` : '';
        out.push((' '.repeat(l.indent) + label.padEnd(width) + l.value).trimEnd());
      }
      i = j;
    }
    return out.join('\n');
  }
}

function show(value: unknown): string {
  if (value === undefined || value === null || value === '') return '<none>';
  if (Array.isArray(value)) return value.length ? value.join(', ') : '<none>';
  return String(value);
}

function age(timestamp: string | undefined, now: Date): string {
  if (!timestamp) return '<unknown>';
  const t = Date.parse(timestamp);
  return Number.isNaN(t) ? '<unknown>' : humanDuration(now.getTime() - t);
}

function timeWithAge(timestamp: string | undefined, now: Date): string | undefined {
  return timestamp ? `${timestamp} (${age(timestamp, now)} ago)` : undefined;
}

function bytes(n: number | undefined): string | undefined {
  return n === undefined ? undefined : formatBytesHuman(n);
}

function percent(part: number | undefined, whole: number | undefined): string {
  if (part === undefined || !whole) return '';
  return ` (${Math.round((part / whole) * 100)}%)`;
}

function metadata(doc: Doc, obj: KubeObject, now: Date, namespaced: boolean): void {
  doc.kv('Name', obj.metadata.name);
  if (namespaced) doc.kv('Namespace', obj.metadata.namespace);
  doc.map('Labels', obj.metadata.labels);
  doc.map('Annotations', obj.metadata.annotations);
  doc.kv('Created', timeWithAge(obj.metadata.creationTimestamp, now));
  doc.kv('UID', obj.metadata.uid);
  if (obj.metadata.finalizers?.length) doc.kv('Finalizers', obj.metadata.finalizers);
  if (obj.metadata.deletionTimestamp) doc.kv('Deleting Since', timeWithAge(obj.metadata.deletionTimestamp, now));
}

function conditions(doc: Doc, list: readonly (Condition | NodeCondition)[] | undefined, now: Date): void {
  doc.section('Conditions');
  doc.table(
    ['Type', 'Status', 'Reason', 'Age', 'Message'],
    (list ?? []).map((c) => [c.type, c.status, c.reason ?? '', c.lastTransitionTime ? age(c.lastTransitionTime, now) : '', c.message ?? '']),
  );
}

/** The Events block (oldest first, as kubectl shows them). */
export function eventsBlock(doc: Doc, events: readonly Event[] | undefined, now: Date): void {
  if (events === undefined) {
    doc.kv('Events', '<unavailable>');
    return;
  }
  if (events.length === 0) {
    doc.kv('Events', '<none>');
    return;
  }
  doc.section('Events');
  const sorted = [...events].sort((a, b) => eventMs(a) - eventMs(b));
  doc.table(
    ['Type', 'Reason', 'Age', 'From', 'Message'],
    sorted.map((e) => {
      const count = e.count && e.count > 1 ? ` (x${e.count} over ${age(e.firstTimestamp, now)})` : '';
      return [e.type ?? 'Normal', e.reason ?? '', eventAge(e, now) + count, e.source?.component ?? e.reportingComponent ?? '', e.message ?? ''];
    }),
  );
}

function eventMs(e: Event): number {
  const t = e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? e.metadata.creationTimestamp;
  return t ? Date.parse(t) : 0;
}

function eventAge(e: Event, now: Date): string {
  const ms = eventMs(e);
  return ms ? humanDuration(now.getTime() - ms) : '<unknown>';
}

export function describeVm(vm: VirtualMachine, events: Event[] | undefined, now = new Date()): string {
  const doc = new Doc();
  metadata(doc, vm, now, true);
  const spec = vm.spec ?? ({} as VirtualMachine['spec']);
  doc.section('Spec');
  doc.kv('Run Strategy', spec.runStrategy ?? 'Always', 2);
  doc.kv('Paused', spec.paused ?? false, 2);
  doc.kv('CPU', spec.cpu ?? 1, 2);
  doc.kv('Memory', humanQuantity(spec.memory), 2);
  doc.kv('Node', spec.nodeName ?? '<scheduler>', 2);
  doc.map('Node Selector', spec.nodeSelector, 2);
  doc.section('Disks', 2);
  doc.table(
    ['Name', 'Pool', 'Size', 'Bus', 'Boot', 'Source Image'],
    (spec.disks ?? []).map((d) => [
      d.name,
      d.storagePool,
      humanQuantity(d.size),
      d.bus ?? spec.diskBus ?? 'virtio',
      d.bootOrder !== undefined ? String(d.bootOrder) : '',
      d.sourceImage ?? '',
    ]),
    4,
  );
  doc.section('Networks', 2);
  doc.table(
    ['Name', 'Type', 'Source', 'Model', 'MAC'],
    (spec.networks ?? []).map((n) => [n.name, n.type ?? 'user', n.source ?? '', n.model ?? 'virtio', n.macAddress ?? '']),
    4,
  );
  const st = vm.status ?? {};
  doc.section('Status');
  doc.kv('Phase', st.phase ?? '<unset>', 2);
  doc.kv('Power State', st.powerState, 2);
  doc.kv('Node', st.nodeName, 2);
  doc.kv('Origin', st.origin, 2);
  doc.kv('Managed', st.managed, 2);
  doc.kv('Domain', st.domainName || st.domainUUID ? `${st.domainName ?? ''}${st.domainUUID ? ` (${st.domainUUID})` : ''}`.trim() : undefined, 2);
  doc.kv('Last Seen', timeWithAge(st.lastSeen, now), 2);
  if (st.lostReason || st.lostAt) doc.kv('Lost', `${st.lostReason ?? ''}${st.lostAt ? ` (since ${st.lostAt})` : ''}`.trim(), 2);
  if (st.terminatedAt) doc.kv('Terminated At', st.terminatedAt, 2);
  doc.kv('Restart Count', st.restartCount ?? 0, 2);
  if (st.recovery?.count)
    doc.kv(
      'Recovered',
      `from ${st.recovery.recoveredFrom ?? '?'}${st.recovery.lastRecoveryTime ? ` at ${timeWithAge(st.recovery.lastRecoveryTime, now)}` : ''} (${st.recovery.count} ${st.recovery.count === 1 ? 'time' : 'times'})`,
      2,
    );
  doc.kv(
    'Observed Generation',
    st.observedGeneration !== undefined ? `${st.observedGeneration} (spec generation ${vm.metadata.generation ?? '?'})` : undefined,
    2,
  );
  if (st.interfaces?.length) {
    doc.section('Interfaces', 2);
    doc.table(
      ['Name', 'MAC', 'IP'],
      st.interfaces.map((i) => [i.name ?? '', i.macAddress ?? '', i.ipAddress ?? '']),
      4,
    );
  }
  if (st.volumes?.length) {
    doc.section('Volumes', 2);
    doc.table(
      ['Disk', 'Pool', 'Capacity', 'Path'],
      st.volumes.map((v) => [v.name ?? '', v.pool ?? '', bytes(v.capacityBytes) ?? '', v.path ?? '']),
      4,
    );
  }
  conditions(doc, st.conditions, now);
  eventsBlock(doc, events, now);
  return doc.render();
}

export function describePool(pool: StoragePool, events: Event[] | undefined, now = new Date()): string {
  const doc = new Doc();
  metadata(doc, pool, now, false);
  const spec = pool.spec ?? ({} as StoragePool['spec']);
  doc.section('Spec');
  doc.kv('Type', spec.type, 2);
  if (spec.type === 'nfs') {
    doc.kv('NFS Server', spec.nfs?.server, 2);
    doc.kv('Export Path', spec.nfs?.exportPath, 2);
    if (spec.nfs?.mountOptions?.length) doc.kv('Mount Options', spec.nfs.mountOptions.join(','), 2);
  } else {
    doc.kv('Path', spec.dir?.path, 2);
  }
  doc.kv('Assigned Nodes', spec.assignedNodes ?? [], 2);
  const st = pool.status ?? {};
  doc.section('Status');
  doc.kv('Phase', st.phase ?? '<unset>', 2);
  const c = st.capacity;
  if (c?.totalBytes !== undefined) {
    const used = c.usedBytes ?? (c.availableBytes !== undefined ? c.totalBytes - c.availableBytes : undefined);
    doc.kv('Capacity', `${bytes(used) ?? '?'} used of ${bytes(c.totalBytes)}${percent(used, c.totalBytes)}, ${bytes(c.availableBytes) ?? '?'} available`, 2);
  } else {
    doc.kv('Capacity', undefined, 2);
  }
  doc.section('Hosts');
  const assigned = spec.assignedNodes ?? [];
  const hosts = st.hosts ?? {};
  const names = [...new Set([...assigned, ...Object.keys(hosts)])];
  doc.table(
    ['Node', 'Health', 'Used', 'Total', 'Available', 'Volumes', 'Mount Path', 'Reported', 'Message'],
    names.map((node) => {
      const h = hosts[node];
      const assignedMark = assigned.includes(node) ? '' : ' (unassigned)';
      if (!h) return [node + assignedMark, 'NOT REPORTED', '', '', '', '', '', '', 'no report from this node yet'];
      return [
        node + assignedMark,
        h.health ?? '<unknown>',
        bytes(h.usedBytes) ?? '',
        bytes(h.totalBytes) ?? '',
        bytes(h.availableBytes) ?? '',
        h.volumeCount !== undefined ? String(h.volumeCount) : '',
        h.mountPath ?? '',
        h.lastReported ? `${age(h.lastReported, now)} ago` : '',
        h.message ?? '',
      ];
    }),
  );
  conditions(doc, st.conditions, now);
  eventsBlock(doc, events, now);
  return doc.render();
}

/** A node's liveness Lease (quantix-node-lease) and the gateway replica Lease vouching for it. */
export interface NodeLeases {
  lease?: Lease;
  holder?: Lease;
}

/** The latest of the times given (RFC 3339, whole seconds), or undefined. */
function latestTime(times: (string | undefined)[]): string | undefined {
  const ms = times.map((t) => Date.parse(t ?? '')).filter(Number.isFinite);
  return ms.length > 0 ? new Date(Math.max(...ms)).toISOString().replace(/\.\d{3}Z$/, 'Z') : undefined;
}

export function describeNode(node: Node, vms: VirtualMachine[] | undefined, events: Event[] | undefined, now = new Date(), leases: NodeLeases = {}): string {
  const doc = new Doc();
  metadata(doc, node, now, false);
  doc.kv('Unschedulable', node.spec?.unschedulable ?? false);
  doc.kv('Fenced', node.spec?.fenced ? 'true (an admin declared the host down: docs/fencing.md)' : 'false');
  const st = node.status ?? {};
  if (st.selfFencing) doc.kv('Self-Fencing', st.selfFencing.enabled ? `on, after ${st.selfFencing.timeoutSeconds ?? '?'}s without a heartbeat` : 'off');
  // Status is written when it changes (or every 5 min); the Leases say when the node was last seen alive.
  const vouched = leases.lease?.spec?.holderIdentity ? leases.holder?.spec?.renewTime : undefined;
  doc.kv('Last Heartbeat', timeWithAge(latestTime([st.lastHeartbeatTime, leases.lease?.spec?.renewTime, vouched]), now));
  if (leases.lease) {
    const spec = leases.lease.spec ?? {};
    doc.section('Lease');
    doc.kv('Holder Identity', spec.holderIdentity || '<none: released, the agent stopped heartbeating>', 2);
    doc.kv('Acquire Time', timeWithAge(latestTime([spec.acquireTime]), now), 2);
    doc.kv('Renew Time', timeWithAge(latestTime([spec.renewTime]), now), 2);
    if (vouched) doc.kv('Holder Renewed', timeWithAge(latestTime([vouched]), now), 2);
  }
  doc.section('Addresses');
  if (st.addresses?.length) for (const a of st.addresses) doc.kv(a.type, a.address, 2);
  else doc.text('<none>', 2);
  const info = st.nodeInfo ?? {};
  doc.section('Node Info');
  doc.kv('Hypervisor', info.hypervisor ? `${info.hypervisor}${info.hypervisorVersion ? ` ${info.hypervisorVersion}` : ''}` : undefined, 2);
  doc.kv('Libvirt Version', info.libvirtVersion, 2);
  doc.kv('Agent Version', info.agentVersion, 2);
  doc.kv('CPU Model', info.cpuModel, 2);
  doc.kv('Kernel Version', info.kernelVersion, 2);
  doc.kv('OS Image', info.osImage, 2);
  doc.kv('Machine ID', info.machineID, 2);
  doc.section('Capacity');
  doc.kv('CPU', st.capacity?.cpu, 2);
  doc.kv('Memory', bytes(st.capacity?.memoryBytes), 2);
  doc.section('Allocatable');
  doc.kv('CPU', st.allocatable?.cpu, 2);
  doc.kv('Memory', bytes(st.allocatable?.memoryBytes), 2);
  // Allocation: the controllers' figure when present, else the sum over the listed VMs.
  const fromVms = vms ? vmTotals(vms) : undefined;
  const allocCpu = st.allocated?.cpu ?? fromVms?.cpu;
  const allocMem = st.allocated?.memoryBytes ?? fromVms?.memoryBytes;
  doc.section('Allocated');
  doc.kv(
    'CPU',
    allocCpu !== undefined
      ? `${allocCpu}${st.allocatable?.cpu !== undefined ? ` of ${st.allocatable.cpu}` : ''}${percent(allocCpu, st.allocatable?.cpu)}`
      : undefined,
    2,
  );
  doc.kv(
    'Memory',
    allocMem !== undefined
      ? `${formatBytesHuman(allocMem)}${st.allocatable?.memoryBytes !== undefined ? ` of ${formatBytesHuman(st.allocatable.memoryBytes)}` : ''}${percent(allocMem, st.allocatable?.memoryBytes)}`
      : undefined,
    2,
  );
  doc.kv('VMs', st.allocated?.vmCount ?? vms?.length, 2);
  doc.kv('Assigned Pools', st.assignedPools ?? [], 0);
  doc.kv('State Hash', st.stateHash);
  conditions(doc, st.conditions, now);
  if (vms !== undefined) {
    doc.section('Virtual Machines');
    doc.table(
      ['Namespace', 'Name', 'Phase', 'CPU', 'Memory', 'Age'],
      vms.map((vm) => [
        vm.metadata.namespace ?? '',
        vm.metadata.name ?? '',
        vm.status?.phase ?? '',
        String(vm.spec?.cpu ?? 1),
        humanQuantity(vm.spec?.memory),
        age(vm.metadata.creationTimestamp, now),
      ]),
    );
  }
  eventsBlock(doc, events, now);
  return doc.render();
}

function vmTotals(vms: VirtualMachine[]): { cpu: number; memoryBytes: number } {
  let cpu = 0;
  let memoryBytes = 0;
  for (const vm of vms) {
    cpu += vm.spec?.cpu ?? 1;
    const m = tryParseBytes(vm.spec?.memory);
    if ('bytes' in m) memoryBytes += m.bytes;
  }
  return { cpu, memoryBytes };
}

/** Kinds without a describer (Event, Lease): metadata, then the rest as YAML. */
export function describeGeneric(obj: KubeObject, events: Event[] | undefined, namespaced: boolean, now = new Date()): string {
  const doc = new Doc();
  metadata(doc, obj, now, namespaced);
  const { metadata: _m, apiVersion: _a, kind: _k, ...rest } = withoutManagedFields(obj);
  if (Object.keys(rest).length) doc.text(toYaml(rest));
  if (events !== undefined) eventsBlock(doc, events, now);
  return doc.render();
}
