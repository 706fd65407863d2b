/**
 * The pool file browser subresource:
 *   GET /apis/quantix.io/v1alpha1/storagepools/NAME/files?node=N&path=P
 * (served by the node gateway, which asks that node's agent). Entries are normalized so the
 * UI does not depend on the exact field names (`items`/`entries`, `modifiedTime`/`modifiedAt`).
 */
import type { ApiClient } from './client.js';
import { objectPath, StoragePools } from './resources.js';

export interface PoolFile {
  name: string;
  type: 'file' | 'dir' | 'symlink' | 'other' | string;
  sizeBytes: number;
  /** ISO time, when known. */
  modified?: string;
}

export interface PoolListing {
  path: string;
  mountPath?: string;
  entries: PoolFile[];
  truncated: boolean;
}

interface RawEntry {
  name: string;
  type?: string;
  sizeBytes?: number;
  modifiedTime?: string;
  modifiedAt?: string | number;
}

export function normalizeListing(
  raw: { path?: string; mountPath?: string; items?: RawEntry[]; entries?: RawEntry[]; truncated?: boolean },
  requested: string,
): PoolListing {
  const entries = (raw.items ?? raw.entries ?? []).map((e) => {
    const m = e.modifiedTime ?? e.modifiedAt;
    return {
      name: e.name,
      type: e.type ?? 'file',
      sizeBytes: e.sizeBytes ?? 0,
      modified: m === undefined ? undefined : typeof m === 'number' ? new Date(m).toISOString() : m,
    };
  });
  // Directories first, then by name: how file managers list.
  entries.sort((a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || a.name.localeCompare(b.name));
  return { path: raw.path ?? requested, mountPath: raw.mountPath, entries, truncated: raw.truncated ?? false };
}

export async function listPoolFiles(client: ApiClient, pool: string, node: string, path: string, signal?: AbortSignal): Promise<PoolListing> {
  const raw = await client.get<Parameters<typeof normalizeListing>[0]>(objectPath(StoragePools, undefined, pool, 'files'), { query: { node, path }, signal });
  return normalizeListing(raw, path);
}

/** `a/b/c` → [['a','a'], ['b','a/b'], ['c','a/b/c']] for breadcrumbs. */
export function breadcrumbs(path: string): [string, string][] {
  const parts = path.split('/').filter(Boolean);
  return parts.map((p, i) => [p, parts.slice(0, i + 1).join('/')]);
}

export function joinPath(dir: string, name: string): string {
  return dir ? `${dir.replace(/\/+$/, '')}/${name}` : name;
}
