/** StoragePool (quantix.io/v1alpha1, cluster-scoped): a libvirt pool defined on its assigned nodes. */
import { child, fieldError, type FieldError } from '../field-errors.js';
import type { StoragePool } from '../generated/types.js';
import { formatBytesHuman } from '../quantity.js';
import { bool, conditions, DNS1123_SUBDOMAIN_PATTERN, int, resourceSchema, str, stringSet, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const SUPPORTED_POOL_TYPES = ['dir', 'nfs'] as const;

const PoolType = named('StoragePoolType', {
  type: 'string',
  enum: [...SUPPORTED_POOL_TYPES],
  description: 'Pool backend. dir: a directory on each assigned host. nfs: an NFS export mounted on each assigned host (libvirt netfs).',
} satisfies JSONSchema);

const Spec = named('StoragePoolSpec', {
  type: 'object',
  description: 'The desired pool.',
  required: ['type'],
  properties: {
    type: PoolType,
    dir: named('DirPoolSource', {
      type: 'object',
      description: 'Source of a dir pool (required when type is dir).',
      required: ['path'],
      properties: { path: str('Absolute directory path on each host, created if missing.') },
    } satisfies JSONSchema),
    nfs: named('NFSPoolSource', {
      type: 'object',
      description: 'Source of an nfs pool (required when type is nfs).',
      required: ['server', 'exportPath'],
      properties: {
        server: str('NFS server host name or IP address.'),
        exportPath: str('Absolute path of the export on the server.'),
        mountOptions: { type: 'array', description: 'Extra mount options, e.g. nfsvers=4.1.', items: { type: 'string' } },
      },
    } satisfies JSONSchema),
    assignedNodes: stringSet('Nodes the pool is defined on. Empty: defined on no node.', DNS1123_SUBDOMAIN_PATTERN),
    shared: bool(
      'The directory is the same storage on every assigned node (a cluster file system or a mount of one export): VMs whose disks are all on shared pools can be recovered on another node after theirs is fenced. nfs pools are always shared.',
    ),
  },
} satisfies JSONSchema);

const Health = named(
  'PoolHostHealth',
  {
    type: 'string',
    enum: ['HEALTHY', 'DEGRADED', 'ERROR', 'UNMOUNTED'],
    description: 'Health of the pool on one host, as reported by its agent.',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      HEALTHY: 'Pool active and writable.',
      DEGRADED: 'Pool usable with problems (e.g. nearly full, slow).',
      ERROR: 'Pool could not be defined or started; see message.',
      UNMOUNTED: 'Network pool not mounted (e.g. NFS server unreachable); see message.',
    },
  },
);

const Capacity = named('PoolCapacity', {
  type: 'object',
  description: 'Capacity in bytes.',
  properties: {
    totalBytes: int('Total bytes.', { minimum: 0 }),
    usedBytes: int('Used bytes.', { minimum: 0 }),
    availableBytes: int('Available bytes.', { minimum: 0 }),
  },
} satisfies JSONSchema);

const HostStatus = named('PoolHostStatus', {
  type: 'object',
  description: 'The pool as seen by one host.',
  properties: {
    health: Health,
    totalBytes: int('Total bytes on this host.', { minimum: 0 }),
    usedBytes: int('Used bytes on this host.', { minimum: 0 }),
    availableBytes: int('Available bytes on this host.', { minimum: 0 }),
    mountPath: str('Where the pool lives on the host.'),
    volumeCount: int('Volumes in the pool on this host.', { minimum: 0 }),
    lastReported: time('When the host last reported the pool.'),
    message: str('Details, e.g. the mount error.'),
  },
} satisfies JSONSchema);

const Phase = named(
  'StoragePoolPhase',
  {
    type: 'string',
    enum: ['Pending', 'Ready', 'Degraded', 'Error'],
    description: 'Aggregate phase, computed by the storagepool controller from status.hosts.',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'No assigned host has reported yet. Set by the storagepool controller.',
      Ready: 'Every assigned host reports HEALTHY. Set by the storagepool controller.',
      Degraded: 'Some hosts report a problem, at least one is HEALTHY. Set by the storagepool controller.',
      Error: 'No assigned host has the pool usable. Set by the storagepool controller.',
    },
  },
);

const Status = named('StoragePoolStatus', {
  type: 'object',
  description: 'The observed pool.',
  properties: {
    phase: Phase,
    capacity: Capacity,
    hosts: { type: 'object', description: 'Per-host pool state, by node name (written by the node gateway).', additionalProperties: HostStatus },
    conditions: conditions('Current conditions.'),
    observedGeneration: int('The metadata.generation this status reflects.', { minimum: 0 }),
  },
} satisfies JSONSchema);

function validateSpec(sp: StoragePool): FieldError[] {
  const spec = sp.spec as unknown;
  if (!spec || typeof spec !== 'object') return [];
  const s = spec as Record<string, unknown>;
  const errs: FieldError[] = [];
  const type = s.type;
  for (const t of SUPPORTED_POOL_TYPES) {
    if (type === t && s[t] === undefined) errs.push(fieldError.required(`spec.${t}`, `Required value: must be set when type is ${t}`));
    if (type !== t && s[t] !== undefined && (SUPPORTED_POOL_TYPES as readonly unknown[]).includes(type)) {
      errs.push(fieldError.forbidden(`spec.${t}`, `may not be set when type is ${String(type)}`));
    }
  }
  const dir = s.dir as Record<string, unknown> | undefined;
  if (dir && typeof dir === 'object' && typeof dir.path === 'string' && !dir.path.startsWith('/')) {
    errs.push(fieldError.invalid('spec.dir.path', dir.path, 'must be an absolute path'));
  }
  const nfs = s.nfs as Record<string, unknown> | undefined;
  if (nfs && typeof nfs === 'object') {
    if (typeof nfs.exportPath === 'string' && !nfs.exportPath.startsWith('/')) {
      errs.push(fieldError.invalid('spec.nfs.exportPath', nfs.exportPath, 'must be an absolute path'));
    }
    if (typeof nfs.server === 'string' && (nfs.server === '' || /[\s/]/.test(nfs.server))) {
      errs.push(fieldError.invalid('spec.nfs.server', nfs.server, 'must be a host name or IP address'));
    }
    if (Array.isArray(nfs.mountOptions)) {
      nfs.mountOptions.forEach((o, i) => {
        if (typeof o === 'string' && /[\s,]/.test(o)) {
          errs.push(fieldError.invalid(child('spec.nfs', `mountOptions[${i}]`), o, 'must be a single mount option without spaces or commas'));
        }
      });
    }
  }
  return errs;
}

function validateStatus(sp: StoragePool): FieldError[] {
  const hosts = (sp.status as Record<string, unknown> | undefined)?.hosts;
  if (!hosts || typeof hosts !== 'object') return [];
  const errs: FieldError[] = [];
  for (const name of Object.keys(hosts)) {
    if (!new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(name)) {
      errs.push(fieldError.invalid('status.hosts', name, 'keys must be node names (RFC 1123 subdomains)'));
    }
  }
  return errs;
}

function capacityCell(sp: StoragePool): string {
  const c = sp.status?.capacity;
  if (c?.totalBytes === undefined) return '';
  const used = c.usedBytes ?? (c.availableBytes !== undefined ? c.totalBytes - c.availableBytes : undefined);
  return used === undefined ? formatBytesHuman(c.totalBytes) : `${formatBytesHuman(used)}/${formatBytesHuman(c.totalBytes)}`;
}

function hostsCell(sp: StoragePool): string {
  const assigned = sp.spec?.assignedNodes ?? [];
  const healthy = Object.entries(sp.status?.hosts ?? {}).filter(([n, h]) => assigned.includes(n) && h.health === 'HEALTHY').length;
  return `${healthy}/${assigned.length}`;
}

export const storagePoolDefinition: ResourceDefinition<StoragePool> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'StoragePool',
  plural: 'storagepools',
  singular: 'storagepool',
  listKind: 'StoragePoolList',
  shortNames: ['sp'],
  categories: ['quantix'],
  namespaced: false,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema('A storage pool (dir or nfs) defined on the nodes it is assigned to.', { spec: Spec, status: Status }, ['spec']),
  printerColumns: [
    { name: 'Type', type: 'string', priority: 0, jsonPath: '.spec.type', description: 'Pool backend.', cell: (sp) => text(sp.spec?.type) },
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Aggregate phase.', cell: (sp) => text(sp.status?.phase) },
    {
      name: 'Capacity',
      type: 'string',
      priority: 0,
      jsonPath: '.status.capacity.totalBytes',
      description: 'Used/total bytes across hosts.',
      cell: capacityCell,
    },
    { name: 'Nodes', type: 'string', priority: 0, jsonPath: '.spec.assignedNodes', description: 'Healthy hosts / assigned nodes.', cell: hostsCell },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (sp, now) => since(sp.metadata.creationTimestamp, now),
    },
    {
      name: 'Source',
      type: 'string',
      priority: 1,
      jsonPath: '.spec.dir.path',
      description: 'Directory, or NFS server:export.',
      cell: (sp) => (sp.spec?.type === 'nfs' ? `${text(sp.spec.nfs?.server)}:${text(sp.spec.nfs?.exportPath)}` : text(sp.spec?.dir?.path)),
    },
    {
      name: 'Available',
      type: 'string',
      priority: 1,
      jsonPath: '.status.capacity.availableBytes',
      description: 'Available bytes.',
      cell: (sp) => (sp.status?.capacity?.availableBytes === undefined ? '' : formatBytesHuman(sp.status.capacity.availableBytes)),
    },
  ],
  selectableFields: [
    { path: 'spec.type', get: (o) => text((o as StoragePool).spec?.type) },
    { path: 'status.phase', get: (o) => text((o as StoragePool).status?.phase) },
  ],
  validateSpec,
  validateStatus,
};
