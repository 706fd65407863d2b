/**
 * The Image create form: its state, the Image it makes, the server's field paths mapped
 * back to its inputs, and the few checks made before sending (the server checks the rest,
 * and its messages are shown next to the same inputs).
 */
import type { Image, ImageFormat } from '../../../api-types/generated/types.js';

export interface ImageForm {
  name: string;
  /** An http(s) download, or a file already in a storage pool. */
  sourceKind: 'url' | 'pool';
  url: string;
  sha256: string;
  pool: string;
  path: string;
  /** '' detects it (qemu-img info). */
  format: '' | ImageFormat;
  /** '' caches it in the pool of the first disk that needs it on each node. */
  storagePool: string;
  nodeNames: string[];
}

export const emptyImageForm = (): ImageForm => ({
  name: '',
  sourceKind: 'url',
  url: '',
  sha256: '',
  pool: '',
  path: '',
  format: '',
  storagePool: '',
  nodeNames: [],
});

export function imageFromForm(f: ImageForm): Image {
  const sha256 = f.sha256.trim().toLowerCase(); // hex; the API takes lower case only
  const source = f.sourceKind === 'url' ? { url: f.url.trim(), ...(sha256 ? { sha256 } : {}) } : { pool: f.pool, path: f.path.trim().replace(/^\/+/, '') };
  return {
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'Image',
    metadata: { name: f.name.trim() },
    spec: {
      source,
      ...(f.format ? { format: f.format } : {}),
      ...(f.storagePool ? { storagePool: f.storagePool } : {}),
      ...(f.nodeNames.length ? { nodeNames: [...f.nodeNames].sort() } : {}),
    },
  };
}

/** Form input ids by server field path: `spec.source.sha256` → `sha256`. */
export function imageInputForField(field: string): string {
  if (field === 'metadata.name' || field === 'metadata.generateName') return 'name';
  const source = /^spec\.source\.(url|sha256|pool|path)\b/.exec(field);
  if (source) return source[1]!;
  if (field === 'spec.source') return 'source';
  const spec = /^spec\.(format|storagePool|nodeNames)\b/.exec(field);
  if (spec) return spec[1]!;
  return 'form';
}

/** Required values, and a checksum's shape while it is typed; the server checks the rest. */
export function imageLocalErrors(f: ImageForm): Record<string, string> {
  const out: Record<string, string> = {};
  if (!f.name.trim()) out.name = 'Required';
  if (f.sourceKind === 'url') {
    if (!f.url.trim()) out.url = 'Required: the http(s) URL of the image file';
    const sha = f.sha256.trim();
    if (sha && !/^[0-9a-fA-F]{64}$/.test(sha)) out.sha256 = `64 hex digits (this has ${sha.length} characters)`;
  } else {
    if (!f.pool) out.pool = 'Choose the pool holding the file';
    if (!f.path.trim()) out.path = 'Required: the file inside the pool';
  }
  if (f.nodeNames.length > 0 && !f.storagePool) out.storagePool = 'Importing ahead of time needs the pool to import into';
  return out;
}
