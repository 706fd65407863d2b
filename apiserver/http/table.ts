/**
 * meta.k8s.io/v1 Table output: what kubectl prints for `get`. Cells come from each
 * kind's printer columns in api-types (one source for the CRDs' additionalPrinterColumns
 * and this server's tables). Rows carry PartialObjectMetadata, as kubectl expects.
 */
import type { KubeObject } from '../../api-types/meta.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';

export interface TableColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface Table {
  kind: 'Table';
  apiVersion: 'meta.k8s.io/v1';
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: TableColumnDefinition[];
  rows: { cells: unknown[]; object: KubeObject }[];
}

export function partialObjectMetadata(obj: KubeObject, apiVersion = 'meta.k8s.io/v1'): KubeObject {
  return { kind: 'PartialObjectMetadata', apiVersion, metadata: obj.metadata };
}

/** Age as kubectl shows it: 5s, 3m, 2h, 4d, 1y (up to two units below a day). */
export function humanAge(timestamp: string | undefined, now: Date): string {
  if (!timestamp) return '<unknown>';
  const seconds = Math.max(0, Math.floor((now.getTime() - Date.parse(timestamp)) / 1000));
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return `${minutes}m${seconds % 60 ? `${seconds % 60}s` : ''}`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return `${hours}h${minutes % 60 ? `${minutes % 60}m` : ''}`;
  if (hours < 48) return `${hours}h`;
  const days = Math.floor(hours / 24);
  if (days < 8) return `${days}d${hours % 24 ? `${hours % 24}h` : ''}`;
  if (days < 365 * 2) return `${days}d`;
  return `${Math.floor(days / 365)}y`;
}

export function columnDefinitions(def: ResourceDefinition): TableColumnDefinition[] {
  return [
    { name: 'Name', type: 'string', format: 'name', description: 'Name must be unique within a namespace.', priority: 0 },
    ...def.printerColumns.map((column) => ({
      name: column.name,
      type: column.type === 'date' ? 'string' : column.type,
      format: column.format ?? (column.type === 'date' ? 'date' : ''),
      description: column.description,
      priority: column.priority,
    })),
  ];
}

export function tableRow(def: ResourceDefinition, obj: KubeObject, now: Date) {
  const cells: unknown[] = [obj.metadata.name ?? ''];
  for (const column of def.printerColumns) {
    let value: unknown;
    try {
      value = column.cell(obj, now);
    } catch {
      value = null;
    }
    cells.push(value ?? (column.type === 'string' ? '' : null));
  }
  return { cells, object: partialObjectMetadata(obj) };
}

/** A Table for a list (or, with one item and no list metadata, for a single object or a watch event). */
export function toTable(
  def: ResourceDefinition,
  items: KubeObject[],
  listMeta: Table['metadata'] = {},
  { includeColumns = true }: { includeColumns?: boolean } = {},
): Table {
  const now = new Date();
  return {
    kind: 'Table',
    apiVersion: 'meta.k8s.io/v1',
    metadata: listMeta,
    columnDefinitions: includeColumns ? columnDefinitions(def) : [],
    rows: items.map((item) => tableRow(def, item, now)),
  };
}
