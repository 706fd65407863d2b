/** Image (quantix.io/v1alpha1, cluster-scoped): a disk image VMs boot from, cached per node. */
import { fieldError, type FieldError } from '../field-errors.js';
import type { Image } from '../generated/types.js';
import { redactUrl } from '../url-redaction.js';
import { formatBytesHuman } from '../quantity.js';
import { conditions, DNS1123_SUBDOMAIN_PATTERN, int, resourceSchema, str, stringSet, time } from './common.js';
import { since, text } from './printing.js';
import { named, type JSONSchema, type ResourceDefinition } from './types.js';

export const SHA256_PATTERN = '^[0-9a-f]{64}$';

const Format = named('ImageFormat', {
  type: 'string',
  enum: ['qcow2', 'raw'],
  description: 'Format of the source file; detected (qemu-img info) when omitted. Cached copies are always qcow2.',
} satisfies JSONSchema);

const Source = named('ImageSource', {
  type: 'object',
  description: 'Where the image comes from: an http(s) URL, or a file already in a storage pool (pool and path). Exactly one.',
  properties: {
    url: str('http or https URL of the image file. Downloads resume after an interruption when the server supports ranges.'),
    sha256: str('Expected SHA-256 of the source file (64 lower-case hex digits); an import whose bytes differ fails.', { pattern: SHA256_PATTERN }),
    pool: str('StoragePool holding the source file (with path).', { pattern: DNS1123_SUBDOMAIN_PATTERN }),
    path: str('Path of the source file relative to the pool root (with pool).'),
  },
} satisfies JSONSchema);

const Spec = named('ImageSpec', {
  type: 'object',
  description: 'The desired image.',
  required: ['source'],
  properties: {
    source: Source,
    format: Format,
    storagePool: str('StoragePool the cached copy lives in on each node. When omitted, the pool of the disk that first needs the image on that node.', {
      pattern: DNS1123_SUBDOMAIN_PATTERN,
    }),
    nodeNames: stringSet(
      'Nodes to import the image to ahead of time (needs storagePool). Other nodes import it when a VM bound there needs it.',
      DNS1123_SUBDOMAIN_PATTERN,
    ),
  },
} satisfies JSONSchema);

export const IMAGE_NODE_PHASES = ['Pending', 'Importing', 'Ready', 'Failed'] as const;

const NodePhase = named(
  'ImageNodePhase',
  { type: 'string', enum: [...IMAGE_NODE_PHASES], description: 'Import state on one node, as reported by its agent.' } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'Wanted on the node, not started yet (e.g. the pool is not ready there).',
      Importing: 'Downloading, verifying or converting; see progress.',
      Ready: 'The cached copy is complete and verified.',
      Failed: 'The import failed; see message. Retried with backoff.',
    },
  },
);

const Progress = named('ImageImportProgress', {
  type: 'object',
  description: 'Progress of an import on one node.',
  properties: {
    step: str('Downloading, Verifying or Converting.'),
    bytesDone: int('Bytes of the source done in this step.', { minimum: 0 }),
    bytesTotal: int('Bytes of the source in all, when known.', { minimum: 0 }),
    percent: int('Percent done (0-100), when the total is known.', { minimum: 0, maximum: 100 }),
  },
} satisfies JSONSchema);

const NodeStatus = named('ImageNodeStatus', {
  type: 'object',
  description: 'The image on one node.',
  properties: {
    phase: NodePhase,
    progress: Progress,
    pool: str('StoragePool the cached copy is in.'),
    path: str('Path of the cached copy on the node.'),
    virtualSizeBytes: int('Virtual disk size of the image (what a disk from it needs at least).', { minimum: 0 }),
    fileBytes: int('Size of the cached file on the node.', { minimum: 0 }),
    sourceFormat: str('Format the source was detected as (qcow2 or raw).'),
    sha256: str('SHA-256 of the source bytes as imported (verified when spec.source.sha256 is set).'),
    verified: { type: 'boolean', description: 'Whether the checksum was checked against spec.source.sha256.' },
    message: str('Details, e.g. why the import failed.'),
    reason: str('Machine-readable reason of a failure, e.g. HTTPError, ChecksumMismatch, NotADiskImage, NoSpace.'),
    lastUpdated: time('When the node last reported the image.'),
  },
} satisfies JSONSchema);

const Phase = named(
  'ImagePhase',
  {
    type: 'string',
    enum: ['Pending', 'Importing', 'Ready', 'Failed'],
    description: 'Aggregate phase over the nodes, computed by the image controller.',
  } satisfies JSONSchema,
  {
    enumDescriptions: {
      Pending: 'No node has started an import.',
      Importing: 'At least one node is importing and none is Ready.',
      Ready: 'At least one node has a Ready copy and none has failed.',
      Failed: 'A node failed to import it; see status.nodes.',
    },
  },
);

const Status = named('ImageStatus', {
  type: 'object',
  description: 'The observed image.',
  properties: {
    phase: Phase,
    virtualSizeBytes: int('Virtual disk size, once any node imported it.', { minimum: 0 }),
    sha256: str('SHA-256 of the source, once any node imported it.'),
    nodes: { type: 'object', description: 'Per-node import state, by node name (written by the node gateway).', additionalProperties: NodeStatus },
    usedBy: stringSet('VMs (namespace/name) with a disk from this image, maintained by the image controller.'),
    conditions: conditions('Current conditions.'),
    observedGeneration: int('The metadata.generation this status reflects.', { minimum: 0 }),
  },
} satisfies JSONSchema);

function validateSpec(img: Image): FieldError[] {
  const spec = img.spec as unknown;
  if (!spec || typeof spec !== 'object') return [];
  const s = spec as Record<string, unknown>;
  const errs: FieldError[] = [];
  const src = s.source as Record<string, unknown> | undefined;
  if (src && typeof src === 'object') {
    const hasUrl = src.url !== undefined;
    const hasFile = src.pool !== undefined || src.path !== undefined;
    if (hasUrl && hasFile) errs.push(fieldError.forbidden('spec.source.pool', 'may not be set together with spec.source.url'));
    if (!hasUrl && !hasFile) errs.push(fieldError.required('spec.source', 'Required value: set url, or pool and path'));
    if (typeof src.url === 'string') {
      let ok = false;
      try {
        const u = new URL(src.url);
        ok = (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
      } catch {
        ok = false;
      }
      if (!ok) errs.push(fieldError.invalid('spec.source.url', redactUrl(src.url), 'must be an http or https URL'));
    }
    if (hasFile) {
      if (typeof src.pool !== 'string' || src.pool === '')
        errs.push(fieldError.required('spec.source.pool', 'Required value: the pool holding spec.source.path'));
      if (typeof src.path !== 'string' || src.path === '')
        errs.push(fieldError.required('spec.source.path', 'Required value: the file inside spec.source.pool'));
      else if (src.path.startsWith('/') || src.path.split('/').includes('..')) {
        errs.push(fieldError.invalid('spec.source.path', src.path, 'must be a path inside the pool (relative, without ..)'));
      }
    }
  }
  if (Array.isArray(s.nodeNames) && s.nodeNames.length > 0 && (typeof s.storagePool !== 'string' || s.storagePool === '')) {
    errs.push(fieldError.required('spec.storagePool', 'Required value: importing ahead of time to spec.nodeNames needs the pool to import into'));
  }
  return errs;
}

function validateStatus(img: Image): FieldError[] {
  const nodes = (img.status as Record<string, unknown> | undefined)?.nodes;
  if (!nodes || typeof nodes !== 'object') return [];
  return Object.keys(nodes)
    .filter((n) => !new RegExp(DNS1123_SUBDOMAIN_PATTERN).test(n))
    .map((n) => fieldError.invalid('status.nodes', n, 'keys must be node names (RFC 1123 subdomains)'));
}

/**
 * What an Image is may not change: overlay disks read the nodes' cached copies, so a new
 * source would change the disks under running VMs. Create a new Image instead. Only
 * spec.nodeNames (where to import ahead of time) may change.
 */
function validateUpdate(img: Image, old: Image): FieldError[] {
  const errs: FieldError[] = [];
  const now = (img.spec ?? {}) as unknown as Record<string, unknown>;
  const before = (old.spec ?? {}) as unknown as Record<string, unknown>;
  for (const field of ['source', 'format', 'storagePool'] as const) {
    if (JSON.stringify(now[field]) !== JSON.stringify(before[field])) {
      errs.push(
        fieldError.invalid(
          `spec.${field}`,
          field === 'source' ? '(changed)' : (now[field] ?? ''),
          'is immutable: create a new Image instead (VM disks are made from the cached copies of this one)',
        ),
      );
    }
  }
  return errs;
}

/** The busiest node's progress: "37%" while importing, else the Ready/total count. */
function progressCell(img: Image): string {
  const nodes = Object.values(img.status?.nodes ?? {});
  const importing = nodes.filter((n) => n.phase === 'Importing');
  if (importing.length > 0) {
    const p = Math.min(...importing.map((n) => n.progress?.percent ?? 0));
    return `${p}%`;
  }
  if (nodes.length === 0) return '';
  return `${nodes.filter((n) => n.phase === 'Ready').length}/${nodes.length} nodes`;
}

export const imageDefinition: ResourceDefinition<Image> = {
  group: 'quantix.io',
  version: 'v1alpha1',
  kind: 'Image',
  plural: 'images',
  singular: 'image',
  listKind: 'ImageList',
  shortNames: ['img'],
  categories: ['quantix'],
  namespaced: false,
  hasStatus: true,
  crd: true,
  nameRule: 'dns1123Subdomain',
  schema: resourceSchema('A disk image (qcow2 or raw) that VM disks are created from; imported and cached per node.', { spec: Spec, status: Status }, ['spec']),
  printerColumns: [
    { name: 'Phase', type: 'string', priority: 0, jsonPath: '.status.phase', description: 'Aggregate phase.', cell: (i) => text(i.status?.phase) },
    { name: 'Progress', type: 'string', priority: 0, jsonPath: '.status.nodes', description: 'Import progress, or Ready nodes.', cell: progressCell },
    {
      name: 'Size',
      type: 'string',
      priority: 0,
      jsonPath: '.status.virtualSizeBytes',
      description: 'Virtual disk size.',
      cell: (i) => (i.status?.virtualSizeBytes === undefined ? '' : formatBytesHuman(i.status.virtualSizeBytes)),
    },
    {
      name: 'Age',
      type: 'date',
      priority: 0,
      jsonPath: '.metadata.creationTimestamp',
      description: 'Time since creation.',
      cell: (i, now) => since(i.metadata.creationTimestamp, now),
    },
    {
      name: 'Source',
      type: 'string',
      priority: 1,
      jsonPath: '.spec.source.url',
      description: 'URL (without credentials), or pool:path.',
      cell: (i) => (i.spec?.source?.url ? redactUrl(i.spec.source.url) : `${text(i.spec?.source?.pool)}:${text(i.spec?.source?.path)}`),
    },
  ],
  selectableFields: [{ path: 'status.phase', get: (o) => text((o as Image).status?.phase) }],
  validateSpec,
  validateStatus,
  validateUpdate,
};
