/**
 * Network (quantix.io/v1alpha1, cluster-scoped): a libvirt-managed network (nat or isolated)
 * defined and started on each assigned node by its agent, with per-host status, as pools are.
 */
import { fieldError, type FieldError } from '../field-errors.js';
import type { Network } from '../generated/types.js';
import { bool, conditions, DNS1123_SUBDOMAIN_PATTERN, int, resourceSchema, str, stringSet, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const IPV4_PATTERN = '^((25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\\.){3}(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])$';
/** Linux interface names: at most 15 characters, no '/' or whitespace. */
export const BRIDGE_NAME_PATTERN = '^[a-zA-Z0-9_.-]{1,15}$';

const Mode = named(
  'NetworkMode',
  { type: 'string', enum: ['nat', 'isolated'], default: 'nat', description: 'How guests reach the outside.' } satisfies JSONSchema,
  {
    enumDescriptions: {
      nat: 'Guests reach the host network through NAT (libvirt forward mode nat).',
      isolated: 'Guests reach only each other and the host.',
    },
  },
);

const IPv4 = named('NetworkIPv4', {
  type: 'object',
  description: 'The IPv4 subnet of the network: the host side address and prefix, and the DHCP range.',
  required: ['address', 'prefix'],
  properties: {
    address: str('Host-side address of the bridge, e.g. 192.168.150.1.', { pattern: IPV4_PATTERN }),
    prefix: int('Prefix length, e.g. 24.', { minimum: 8, maximum: 30 }),
    dhcpStart: str('First address handed out by DHCP.', { pattern: IPV4_PATTERN }),
    dhcpEnd: str('Last address handed out by DHCP.', { pattern: IPV4_PATTERN }),
  },
} satisfies JSONSchema);

const Spec = named('NetworkSpec', {
  type: 'object',
  description: 'The desired network.',
  properties: {
    mode: Mode,
    bridgeName: str('Host bridge libvirt creates; qx-<hash> when omitted.', { pattern: BRIDGE_NAME_PATTERN }),
    ipv4: IPv4,
    assignedNodes: stringSet('Nodes the network is defined on. Empty: defined on no node.', DNS1123_SUBDOMAIN_PATTERN),
  },
} satisfies JSONSchema);

const HostStatus = named('NetworkHostStatus', {
  type: 'object',
  description: 'The network as seen by one host.',
  properties: {
    defined: bool('libvirt has the network defined.'),
    active: bool('The network is started (its bridge exists).'),
    bridgeName: str('The bridge on the host.'),
    dhcpRange: str('DHCP range, start-end.'),
    message: str('Details, e.g. why defining or starting failed.'),
    lastReported: time('When the host last reported the network.'),
  },
} satisfies JSONSchema);

const Phase = named(
  'NetworkPhase',
  { type: 'string', enum: ['Pending', 'Ready', 'Degraded', 'Error'], description: 'Aggregate phase, computed by the network controller.' } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'No assigned host has reported yet.',
      Ready: 'Active on every assigned host.',
      Degraded: 'Active on some assigned hosts, not on others.',
      Error: 'Active on no assigned host.',
    },
  },
);

const Status = named('NetworkStatus', {
  type: 'object',
  description: 'The observed network.',
  properties: {
    phase: Phase,
    hosts: { type: 'object', description: 'Per-host state, by node name (written by the node gateway).', additionalProperties: HostStatus },
    conditions: conditions('Current conditions.'),
    observedGeneration: int('The metadata.generation this status reflects.', { minimum: 0 }),
  },
} satisfies JSONSchema);

function ipNumber(ip: string): number {
  return ip.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
}

function validateSpec(net: Network): FieldError[] {
  const spec = net.spec as unknown;
  if (!spec || typeof spec !== 'object') return [];
  const ipv4 = (spec as Record<string, unknown>).ipv4 as Record<string, unknown> | undefined;
  if (!ipv4 || typeof ipv4 !== 'object') return [];
  const errs: FieldError[] = [];
  const { address, prefix, dhcpStart, dhcpEnd } = ipv4;
  const ipRe = new RegExp(IPV4_PATTERN);
  if (typeof address !== 'string' || !ipRe.test(address) || typeof prefix !== 'number' || prefix < 8 || prefix > 30) return errs;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net0 = (ipNumber(address) & mask) >>> 0;
  const inSubnet = (ip: string): boolean => (ipNumber(ip) & mask) >>> 0 === net0;
  if ((dhcpStart === undefined) !== (dhcpEnd === undefined)) {
    errs.push(fieldError.required(dhcpStart === undefined ? 'spec.ipv4.dhcpStart' : 'spec.ipv4.dhcpEnd', 'Required value: give both ends of the DHCP range'));
  }
  for (const [field, v] of [
    ['dhcpStart', dhcpStart],
    ['dhcpEnd', dhcpEnd],
  ] as const) {
    if (typeof v === 'string' && ipRe.test(v) && !inSubnet(v)) errs.push(fieldError.invalid(`spec.ipv4.${field}`, v, `must be inside ${address}/${prefix}`));
  }
  if (typeof dhcpStart === 'string' && typeof dhcpEnd === 'string' && ipRe.test(dhcpStart) && ipRe.test(dhcpEnd) && ipNumber(dhcpStart) > ipNumber(dhcpEnd)) {
    errs.push(fieldError.invalid('spec.ipv4.dhcpEnd', dhcpEnd, `must not be below spec.ipv4.dhcpStart (${dhcpStart})`));
  }
  return errs;
}

function validateStatus(net: Network): FieldError[] {
  const hosts = (net.status as Record<string, unknown> | undefined)?.hosts;
  if (!hosts || typeof hosts !== 'object') return [];
  return Object.keys(hosts)
    .filter((n) => !new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(n))
    .map((n) => fieldError.invalid('status.hosts', n, 'keys must be node names (RFC 1123 subdomains)'));
}

function hostsCell(net: Network): string {
  const assigned = net.spec?.assignedNodes ?? [];
  const active = Object.entries(net.status?.hosts ?? {}).filter(([n, h]) => assigned.includes(n) && h.active).length;
  return `${active}/${assigned.length}`;
}

export const networkDefinition: ResourceDefinition<Network> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'Network',
  plural: 'networks',
  singular: 'network',
  listKind: 'NetworkList',
  shortNames: ['qnet'],
  categories: ['quantix'],
  namespaced: false,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema('A libvirt-managed network (nat or isolated) defined on the nodes it is assigned to.', { spec: Spec, status: Status }, ['spec']),
  printerColumns: [
    { name: 'Mode', type: 'string', priority: 0, jsonPath: '.spec.mode', description: 'nat or isolated.', cell: (n) => text(n.spec?.mode ?? 'nat') },
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Aggregate phase.', cell: (n) => text(n.status?.phase) },
    {
      name: 'Subnet',
      type: 'string',
      priority: 0,
      jsonPath: '.spec.ipv4.address',
      description: 'IPv4 subnet.',
      cell: (n) => (n.spec?.ipv4 ? `${n.spec.ipv4.address}/${n.spec.ipv4.prefix}` : ''),
    },
    { name: 'Nodes', type: 'string', priority: 0, jsonPath: '.spec.assignedNodes', description: 'Active hosts / assigned nodes.', cell: hostsCell },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (n, now) => since(n.metadata.creationTimestamp, now),
    },
  ],
  selectableFields: [{ path: 'status.phase', get: (o) => text((o as Network).status?.phase) }],
  validateSpec,
  validateStatus,
};
