/**
 * Table printing the way kubectl prints: upper-case headers, columns padded to the widest
 * cell and separated by three spaces, the last column unpadded, `<none>` for nil cells.
 * `printServerTable` renders a meta.k8s.io/v1 Table from the server (its column
 * definitions are the printer columns; priority 1 columns only with -o wide).
 */
import { humanDuration } from '../api-types/schema/printing.js';

export interface TableColumnDefinition {
  name: string;
  type: string;
  format?: string;
  description?: string;
  priority?: number;
}

export interface ServerTableRow {
  cells: unknown[];
  object?: { metadata?: { name?: string; namespace?: string; labels?: Record<string, string>; resourceVersion?: string } };
}

export interface ServerTable {
  kind: 'Table';
  apiVersion?: string;
  metadata?: { resourceVersion?: string; continue?: string };
  columnDefinitions: TableColumnDefinition[];
  rows: ServerTableRow[];
}

/**
 * kubectl's tabwriter has a minimum cell width of 6 with a padding of 3: a column's text is
 * padded to at least 3 characters (an IP column with no address yet prints `IP` + 4 spaces).
 */
const MIN_TEXT_WIDTH = 3;

/** Pads rows into aligned lines. `minWidths` keeps columns at least as wide (watch output). */
export function formatRows(rows: readonly (readonly string[])[], minWidths: readonly number[] = []): string[] {
  const widths: number[] = [...minWidths];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, displayWidth(cell), MIN_TEXT_WIDTH);
    });
  }
  return rows.map((row) =>
    row
      .map((cell, i) => (i === row.length - 1 ? cell : cell + ' '.repeat(Math.max(0, (widths[i] ?? 0) - displayWidth(cell)))))
      .join('   ')
      .trimEnd(),
  );
}

/** Column widths `formatRows` would use for these rows. */
export function columnWidths(rows: readonly (readonly string[])[]): number[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, displayWidth(cell), MIN_TEXT_WIDTH);
    });
  }
  return widths;
}

/** Characters on screen (code points; good enough for names, paths and messages). */
export function displayWidth(text: string): number {
  let n = 0;
  for (const _ of text) n++;
  return n;
}

/** A header plus rows, aligned; headers are upper-cased. */
export function renderTable(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  return formatRows([headers.map((h) => h.toUpperCase()), ...rows]).join('\n');
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

/** One cell as text: nil → `<none>`, dates (RFC 3339 in a date column) → age, lists joined. */
export function formatCell(value: unknown, column?: TableColumnDefinition, now = new Date()): string {
  if (value === null || value === undefined) return '<none>';
  if (typeof value === 'string') {
    if (column?.format === 'date' && RFC3339.test(value)) return humanDuration(now.getTime() - Date.parse(value));
    return value.replace(/\n/g, ' ');
  }
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.map((v) => formatCell(v, undefined, now)).join(',');
  return JSON.stringify(value);
}

export interface TablePrintOptions {
  /** Show priority > 0 columns. */
  wide?: boolean;
  /** Prepend a NAMESPACE column (from each row's object metadata). */
  withNamespace?: boolean;
  /** Append a LABELS column. */
  showLabels?: boolean;
  /** Prefix names with `kind.group/` (several resource types in one listing). */
  namePrefix?: string;
  /** Omit the header line. */
  noHeaders?: boolean;
}

/** Which server columns are shown, by index. */
export function visibleColumns(columns: readonly TableColumnDefinition[], wide = false): number[] {
  return columns.flatMap((c, i) => (wide || !c.priority ? [i] : []));
}

/** Turns a server Table into header + rows of text, per the options. */
export function tableToRows(
  table: ServerTable,
  opts: TablePrintOptions = {},
  columnsOverride?: TableColumnDefinition[],
): { header: string[]; rows: string[][] } {
  const columns = columnsOverride ?? table.columnDefinitions;
  const visible = visibleColumns(columns, opts.wide);
  const now = new Date();
  const header = [...(opts.withNamespace ? ['NAMESPACE'] : []), ...visible.map((i) => columns[i]!.name.toUpperCase()), ...(opts.showLabels ? ['LABELS'] : [])];
  const rows = table.rows.map((row) => {
    const cells = visible.map((i) => {
      const text = formatCell(row.cells[i], columns[i], now);
      return i === 0 && opts.namePrefix && columns[i]!.format === 'name' ? `${opts.namePrefix}${text}` : text;
    });
    const labels = row.object?.metadata?.labels;
    return [
      ...(opts.withNamespace ? [row.object?.metadata?.namespace ?? ''] : []),
      ...cells,
      ...(opts.showLabels
        ? [
            labels && Object.keys(labels).length
              ? Object.entries(labels)
                  .map(([k, v]) => `${k}=${v}`)
                  .join(',')
              : '<none>',
          ]
        : []),
    ];
  });
  return { header, rows };
}

/** Renders a server Table as text lines (header first unless noHeaders). */
export function printServerTable(table: ServerTable, opts: TablePrintOptions = {}): string[] {
  const { header, rows } = tableToRows(table, opts);
  return formatRows(opts.noHeaders ? rows : [header, ...rows]);
}
