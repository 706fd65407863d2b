/**
 * HostJoin (quantix.io/v1alpha1, cluster-scoped): one "Add host" attempt (issue 16, point 3).
 * The admin (qxctl node add, the web UI) creates it with the host's registration API URL,
 * the host token and the certificate fingerprint; the hostjoin controller runs the phases
 * Ping → ValidateToken → Discover → Complete and writes each to status as it runs, ending
 * Succeeded (the host joined as a Node) or Failed with a host-join error code
 * (lib/host-join/codes.ts) and guidance. Watch it to follow the flow.
 *
 * The host token is a secret: it sits in spec.hostToken only while the flow runs (the
 * controller removes it when the flow ends), viewers never see it (the authorizer gives them
 * a view without it), and status never holds it.
 */
import { fieldError, type FieldError } from '../field-errors.js';
import type { HostJoin } from '../generated/types.js';
import { bool, conditions, int, resourceSchema, str, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const FINGERPRINT_PATTERN = '^(sha256:)?([0-9A-Fa-f]{2}:?){31}[0-9A-Fa-f]{2}$';

const Spec = named('HostJoinSpec', {
  type: 'object',
  description: 'The host to add.',
  required: ['url'],
  properties: {
    url: str('The registration API of the host: https://HOST:PORT (quantix-agent without credentials serves it, default port 9443).', {
      pattern: '^https://[^/?#\\s]+/?$',
    }),
    hostToken: str('The host token (`quantix-agent token` on the host). Kept only while the flow runs; never shown to viewers.'),
    fingerprint: str(
      'SHA-256 fingerprint of the host’s registration certificate (sha256:AB:CD:…), as the admin confirmed it. Without it the flow stops after Ping and reports the presented one.',
      {
        pattern: FINGERPRINT_PATTERN,
      },
    ),
  },
} satisfies JSONSchema);

const Phase = named(
  'HostJoinPhase',
  {
    type: 'string',
    enum: ['Ping', 'ValidateToken', 'Discover', 'Complete', 'Succeeded', 'Failed'],
    description: 'The phase running now, or how the flow ended.',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      Ping: 'Reaching the host’s registration API (no token) and checking its version and certificate.',
      ValidateToken: 'Checking the host token with the host.',
      Discover: 'Reading the host’s hardware.',
      Complete: 'Handing the host a bootstrap token and the CA hash; the host joins.',
      Succeeded: 'The host joined as status.nodeName.',
      Failed: 'Stopped: status.errorCode and status.message say why, status.guidance what to do.',
    },
  },
);

const Disk = named('HostJoinDisk', {
  type: 'object',
  description: 'A whole disk of the host.',
  properties: {
    name: str('Kernel name, e.g. sda.'),
    sizeBytes: int('Size in bytes.', { minimum: 0 }),
    model: str('Model.'),
    rotational: bool('A spinning disk.'),
  },
} satisfies JSONSchema);

const Nic = named('HostJoinNic', {
  type: 'object',
  description: 'A network interface of the host.',
  properties: {
    name: str('Interface name.'),
    mac: str('MAC address.'),
    addresses: { type: 'array', description: 'IP addresses.', items: { type: 'string' } },
    state: str('operstate, e.g. up.'),
    speedMbps: int('Link speed.', { minimum: 0 }),
  },
} satisfies JSONSchema);

const Hardware = named('HostJoinHardware', {
  type: 'object',
  description: 'What the host reported in the Discover phase.',
  properties: {
    hostname: str('The host’s name (its Node’s name once joined).'),
    agentVersion: str('quantix-agent version.'),
    cpu: {
      type: 'object',
      description: 'CPU.',
      properties: { model: str('CPU model.'), count: int('Logical CPUs.', { minimum: 0 }), arch: str('Architecture.') },
    },
    memoryBytes: int('Memory in bytes.', { minimum: 0 }),
    disks: { type: 'array', description: 'Whole disks.', items: Disk },
    nics: { type: 'array', description: 'Network interfaces.', items: Nic },
    libvirtVersion: str('libvirt version.'),
    hypervisorVersion: str('QEMU version.'),
    kvm: bool('/dev/kvm exists.'),
  },
} satisfies JSONSchema);

const Status = named('HostJoinStatus', {
  type: 'object',
  description: 'The flow as it runs.',
  properties: {
    phase: Phase,
    conditions: conditions('One condition per phase (Ping, ValidateToken, Discover, Complete): True once passed, False when it failed.'),
    presentedFingerprint: str('The fingerprint of the certificate the host presented.'),
    agentVersion: str('The agent version the host reported in Ping.'),
    hostname: str('The host name reported in Ping.'),
    hardware: Hardware,
    nodeName: str('The Node the host joined as.'),
    errorCode: str('On failure: the host-join error code (HOST_CONNECTION_FAILED, TOKEN_EXPIRED, …).', { pattern: '^[A-Z][A-Z_]*$' }),
    message: str('What happened (on failure: what failed and how).'),
    guidance: str('On failure: what the admin should do.'),
    startTime: time('When the flow started.'),
    completionTime: time('When it ended.'),
    observedGeneration: int('The metadata.generation this status reflects.', { minimum: 0 }),
  },
} satisfies JSONSchema);

function validateUpdate(obj: HostJoin, old: HostJoin): FieldError[] {
  const errs: FieldError[] = [];
  // One attempt per object: a different host or certificate is a new HostJoin.
  for (const field of ['url', 'fingerprint'] as const) {
    if (obj.spec?.[field] !== old.spec?.[field]) errs.push(fieldError.invalid(`spec.${field}`, obj.spec?.[field] ?? null, 'field is immutable'));
  }
  if (obj.spec?.hostToken !== undefined && obj.spec.hostToken !== old.spec?.hostToken) {
    errs.push(fieldError.invalid('spec.hostToken', '<redacted>', 'may only be removed, not changed'));
  }
  return errs;
}

export const hostJoinDefinition: ResourceDefinition<HostJoin> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'HostJoin',
  plural: 'hostjoins',
  singular: 'hostjoin',
  listKind: 'HostJoinList',
  shortNames: ['hj'],
  categories: ['quantix'],
  namespaced: false,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema(
    'One "Add host" attempt: the control plane probes a host’s registration API in phases and has it join.',
    { spec: Spec, status: Status },
    ['spec'],
  ),
  printerColumns: [
    { name: 'URL', type: 'string', priority: 0, jsonPath: '.spec.url', description: 'Registration API.', cell: (h) => text(h.spec?.url) },
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Phase.', cell: (h) => text(h.status?.phase) },
    { name: 'Error', type: 'string', priority: 0, jsonPath: '.status.errorCode', description: 'Error code.', cell: (h) => text(h.status?.errorCode) },
    { name: 'Node', type: 'string', priority: 0, jsonPath: '.status.nodeName', description: 'Joined as.', cell: (h) => text(h.status?.nodeName) },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (h, now) => since(h.metadata.creationTimestamp, now),
    },
  ],
  selectableFields: [{ path: 'status.phase', get: (o) => text((o as HostJoin).status?.phase) }],
  validateUpdate,
};
