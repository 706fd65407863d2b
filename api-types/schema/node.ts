/** Node (quantix.io/v1alpha1, cluster-scoped, name = hostname): one hypervisor host and its agent. */
import { fieldError, type FieldError } from '../field-errors.js';
import type { Node } from '../generated/types.js';
import { isIPAddress } from '../names.js';
import { formatBytesHuman } from '../quantity.js';
import { bool, ConditionStatus, conditions, DNS1123_SUBDOMAIN_PATTERN, int, resourceSchema, str, stringSet, time } from './common.js';
import { conditionStatus, since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

const NodeCondition = named('NodeCondition', {
  type: 'object',
  description: 'A node condition (core/v1 NodeCondition): Ready True/False/Unknown.',
  required: ['type', 'status'],
  properties: {
    type: str('Condition type, e.g. Ready.'),
    status: ConditionStatus,
    reason: str('Machine-readable CamelCase reason for the last transition.'),
    message: str('Human-readable details.'),
    lastHeartbeatTime: time('Last time the condition was probed.'),
    lastTransitionTime: time('When the status last changed.'),
  },
} satisfies JSONSchema);

const Resources = named('NodeResources', {
  type: 'object',
  description: 'CPU cores and memory bytes.',
  properties: {
    cpu: int('CPU cores.', { minimum: 0 }),
    memoryBytes: int('Memory in bytes.', { minimum: 0 }),
  },
} satisfies JSONSchema);

const Status = named('NodeStatus', {
  type: 'object',
  description: 'The observed host.',
  properties: {
    conditions: conditions(
      'Ready: True (heartbeating), False (agent reports a problem), Unknown (heartbeats stopped; set by the node-lifecycle controller).',
      NodeCondition,
    ),
    lastHeartbeatTime: time('When the agent last heartbeated.'),
    addresses: {
      type: 'array',
      description: 'Management addresses (an IP never carries a port).',
      items: named('NodeAddress', {
        type: 'object',
        required: ['type', 'address'],
        properties: {
          type: named('NodeAddressType', { type: 'string', enum: ['InternalIP', 'Hostname'], description: 'Address kind.' } satisfies JSONSchema),
          address: str('The address: an IP without port (InternalIP) or a host name.'),
        },
      } satisfies JSONSchema),
    },
    capacity: Resources,
    allocatable: Resources,
    allocated: named('NodeAllocated', {
      type: 'object',
      description: 'Resources taken by the VMs bound to the node (written by controllers).',
      properties: {
        cpu: int('CPU cores allocated.', { minimum: 0 }),
        memoryBytes: int('Memory bytes allocated.', { minimum: 0 }),
        vmCount: int('VMs bound to the node.', { minimum: 0 }),
      },
    } satisfies JSONSchema),
    nodeInfo: named('NodeInfo', {
      type: 'object',
      description: 'Host software and hardware, reported by the agent.',
      properties: {
        hypervisor: str('Hypervisor driver: kvm, qemu or sim.'),
        hypervisorVersion: str('Hypervisor (QEMU) version.'),
        libvirtVersion: str('libvirt version.'),
        agentVersion: str('quantix-agent version.'),
        cpuModel: str('Host CPU model.'),
        kernelVersion: str('Kernel version.'),
        osImage: str('Operating system.'),
        machineID: str(
          "Fingerprint of the agent's machine id (sha256: and 16 hex digits). The id itself proves the machine owns its hostname and is never shown.",
        ),
      },
    } satisfies JSONSchema),
    acceleration: named(
      'NodeAcceleration',
      { type: 'string', enum: ['kvm', 'tcg'], description: 'How the node runs guests, as its agent uses it.' } satisfies JSONSchema,
      {
        enumDescriptions: {
          kvm: 'Hardware virtualization (/dev/kvm): libvirt domain type kvm.',
          tcg: "QEMU's software emulation (TCG): libvirt domain type qemu; boots the same guests, several times slower.",
        },
      },
    ),
    accelerationSource: str('Why the agent uses this acceleration: flag (set by --acceleration) or probe (what it found the host can boot).'),
    bridges: stringSet('Linux bridges on the host that VM networks of type bridge can attach to.'),
    telemetry: named('NodeTelemetry', {
      type: 'object',
      description:
        'Current use of the host, sampled by the agent at a modest interval (its heartbeats) and written only when it changed meaningfully (or grew stale): CPU over the last interval, memory, and the disk holding the agent state and pools.',
      properties: {
        sampleTime: time('When the agent took this sample.'),
        cpuPercent: int('Host CPU use over the sampling interval, in whole percent of all cores (0-100).', { minimum: 0, maximum: 100 }),
        cpuCores: int('Host CPU cores the percentage is of.', { minimum: 0 }),
        memoryUsedBytes: int('Host memory in use (total minus available), bytes.', { minimum: 0 }),
        memoryTotalBytes: int('Host memory, bytes.', { minimum: 0 }),
        diskPath: str('The filesystem measured: the one holding this path (the agent state dir).'),
        diskUsedBytes: int('Bytes used on that filesystem.', { minimum: 0 }),
        diskTotalBytes: int('Size of that filesystem, bytes.', { minimum: 0 }),
      },
    } satisfies JSONSchema),
    selfFencing: named('NodeSelfFencing', {
      type: 'object',
      description:
        'Self-fencing as the agent reports it: when enabled, an agent that cannot renew its heartbeat for timeoutSeconds force-stops its managed domains, and the control plane treats the node as fenced once that long (plus a margin) has passed since the last heartbeat it saw.',
      properties: {
        enabled: bool('Whether the agent self-fences (--self-fence-timeout above 0).'),
        timeoutSeconds: int('Seconds without a renewed heartbeat after which the agent stops its domains.', { minimum: 0 }),
      },
    } satisfies JSONSchema),
    stateHash: str('Hash of the agent-observed VM states; a mismatch triggers a full sync.'),
    assignedPools: stringSet('StoragePools assigned to this node.'),
  },
} satisfies JSONSchema);

function validateStatus(node: Node): FieldError[] {
  const addrs = (node.status as Record<string, unknown> | undefined)?.addresses;
  if (!Array.isArray(addrs)) return [];
  const errs: FieldError[] = [];
  addrs.forEach((a: unknown, i) => {
    if (!a || typeof a !== 'object') return;
    const { type, address } = a as { type?: unknown; address?: unknown };
    if (typeof address !== 'string') return;
    if (type === 'InternalIP') for (const m of isIPAddress(address)) errs.push(fieldError.invalid(`status.addresses[${i}].address`, address, m));
    if (type === 'Hostname' && !new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(address.toLowerCase())) {
      errs.push(fieldError.invalid(`status.addresses[${i}].address`, address, 'must be a host name (no port)'));
    }
  });
  return errs;
}

function statusCell(node: Node): string {
  const ready = conditionStatus(node.status?.conditions, 'Ready');
  const s = ready === 'True' ? 'Ready' : ready === 'False' ? 'NotReady' : 'Unknown';
  const fenced = node.spec?.fenced ? `${s},Fenced` : s;
  return node.spec?.unschedulable ? `${fenced},SchedulingDisabled` : fenced;
}

function ratio(used: number | undefined, total: number | undefined, fmt: (n: number) => string): string {
  if (total === undefined) return '';
  return `${fmt(used ?? 0)}/${fmt(total)}`;
}

export const nodeDefinition: ResourceDefinition<Node> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'Node',
  plural: 'nodes',
  singular: 'node',
  listKind: 'NodeList',
  // `no` and `node` would shadow core/v1 nodes in kubectl.
  shortNames: ['qn'],
  categories: ['quantix'],
  namespaced: false,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema('A hypervisor host running quantix-agent. The name is the host name.', {
    spec: named('NodeSpec', {
      type: 'object',
      description: 'The desired node.',
      properties: {
        unschedulable: bool('Keep new VMs off the node (cordon).', { default: false }),
        fenced: bool(
          "An admin's word that the node is down and stays down (powered off, isolated): the equivalent of Kubernetes' node.kubernetes.io/out-of-service taint. Once the node is not heartbeating, its runStrategy Always VMs on shared storage are recovered on other nodes. Set with qxctl node fence.",
        ),
      },
    } satisfies JSONSchema),
    status: Status,
  }),
  printerColumns: [
    {
      name: 'Status',
      type: 'string',
      priority: 0,
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Ready condition.',
      cell: statusCell,
    },
    {
      name: 'VMs',
      type: 'integer',
      priority: 0,
      jsonPath: '.status.allocated.vmCount',
      description: 'VMs bound to the node.',
      cell: (n) => n.status?.allocated?.vmCount ?? 0,
    },
    {
      name: 'CPU',
      type: 'string',
      priority: 0,
      jsonPath: '.status.allocatable.cpu',
      description: 'Allocated/allocatable CPU cores.',
      cell: (n) => ratio(n.status?.allocated?.cpu, n.status?.allocatable?.cpu, String),
    },
    {
      name: 'Memory',
      type: 'string',
      priority: 0,
      jsonPath: '.status.allocatable.memoryBytes',
      description: 'Allocated/allocatable memory.',
      cell: (n) => ratio(n.status?.allocated?.memoryBytes, n.status?.allocatable?.memoryBytes, formatBytesHuman),
    },
    {
      name: 'Accel',
      type: 'string',
      priority: 0,
      jsonPath: '.status.acceleration',
      description: 'kvm or tcg (software emulation).',
      cell: (n) => text(n.status?.acceleration),
    },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since registration.',
      cell: (n, now) => since(n.metadata.creationTimestamp, now),
    },
    {
      name: 'Internal-IP',
      type: 'string',
      priority: 1,
      jsonPath: '.status.addresses[?(@.type=="InternalIP")].address',
      description: 'Management IP.',
      cell: (n) => text(n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address),
    },
    {
      name: 'Hypervisor',
      type: 'string',
      priority: 1,
      jsonPath: '.status.nodeInfo.hypervisor',
      description: 'Hypervisor driver.',
      cell: (n) => text(n.status?.nodeInfo?.hypervisor),
    },
    {
      name: 'Libvirt',
      type: 'string',
      priority: 1,
      jsonPath: '.status.nodeInfo.libvirtVersion',
      description: 'libvirt version.',
      cell: (n) => text(n.status?.nodeInfo?.libvirtVersion),
    },
    {
      name: 'Agent',
      type: 'string',
      priority: 1,
      jsonPath: '.status.nodeInfo.agentVersion',
      description: 'Agent version.',
      cell: (n) => text(n.status?.nodeInfo?.agentVersion),
    },
    {
      name: 'Kernel',
      type: 'string',
      priority: 1,
      jsonPath: '.status.nodeInfo.kernelVersion',
      description: 'Kernel version.',
      cell: (n) => text(n.status?.nodeInfo?.kernelVersion),
    },
  ],
  selectableFields: [{ path: 'spec.unschedulable', get: (o) => String((o as Node).spec?.unschedulable === true) }],
  validateStatus,
};
