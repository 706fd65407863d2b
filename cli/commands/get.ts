/** `qxctl get`: tables from the server's printer columns, -o yaml|json|wide|name, -l, -A, -w. */
import type { KubeObject } from '../../api-types/meta.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { qualifiedKind, TABLE_ACCEPT, type Client } from '../client.js';
import { apiVersionOf, resourcePath } from '../../api-types/group-version.js';
import type { Query } from '../../lib/apiclient/request.js';
import { flagBool, flagNumber, flagString, OUTPUT_FLAG, type Command, type Ctx } from '../command.js';
import { DEFAULT_CHUNK_SIZE } from '../list-pages.js';
import { MultiError, UsageError } from '../errors.js';
import { objectName, renderObjects } from '../output.js';
import { parseResourceArgs, type ResourceTarget } from '../resources.js';
import { columnWidths, formatRows, tableToRows, type ServerTable, type TableColumnDefinition, type TablePrintOptions } from '../table.js';
import { listWatch } from '../watch.js';

const FORMATS = ['wide', 'yaml', 'json', 'name'] as const;

export const getCommand: Command = {
  name: 'get',
  summary: 'Display one or many objects.',
  usage: 'get TYPE[,TYPE...] [NAME...] | TYPE/NAME... [flags]',
  description: `
Prints a table with the server's printer columns (priority-1 columns with -o wide),
or the objects as YAML, JSON or TYPE/NAME. Types: virtualmachines (vm), storagepools (sp),
nodes (qn), events (ev), leases; categories: quantix, all.
With -w, keeps watching and prints every change (re-connecting when the connection drops).`,
  examples: [
    'qxctl get vm',
    'qxctl get vm web -o yaml',
    'qxctl get vm -A -l app=web -o wide',
    'qxctl get vm --field-selector status.phase=Running',
    'qxctl get sp,qn',
    'qxctl get vm -w',
  ],
  flags: [
    OUTPUT_FLAG(FORMATS),
    { name: 'all-namespaces', short: 'A', type: 'boolean', description: 'List across all namespaces.' },
    { name: 'selector', short: 'l', type: 'string', valueName: 'SELECTOR', description: 'Label selector, e.g. app=web,tier!=db.' },
    { name: 'field-selector', type: 'string', valueName: 'SELECTOR', description: 'Field selector, e.g. spec.nodeName=n1, status.phase=Running.' },
    { name: 'watch', short: 'w', type: 'boolean', description: 'After listing, watch for changes.' },
    { name: 'watch-only', type: 'boolean', description: 'Watch for changes without listing first.' },
    { name: 'show-labels', type: 'boolean', description: 'Add a LABELS column.' },
    { name: 'no-headers', type: 'boolean', description: 'Omit the table header.' },
    { name: 'show-managed-fields', type: 'boolean', description: 'Keep metadata.managedFields in yaml/json output.' },
    {
      name: 'chunk-size',
      type: 'int',
      valueName: 'N',
      default: DEFAULT_CHUNK_SIZE,
      description: 'List in pages of N objects, as kubectl does (0: one request for the whole collection).',
    },
  ],
  args: { min: 1 },
  run: runGet,
};

interface Fetched {
  target: ResourceTarget;
  table?: ServerTable;
  objects?: KubeObject[];
}

function chunkSize(ctx: Ctx): number {
  const n = flagNumber(ctx, 'chunk-size');
  if (n < 0) throw new UsageError(`invalid value "${n}" for --chunk-size: expected 0 (no paging) or a positive number of objects`, ctx.command);
  return n;
}

function listQuery(ctx: Ctx): Query {
  return { labelSelector: flagString(ctx, 'selector'), fieldSelector: flagString(ctx, 'field-selector') };
}

async function fetchTarget(client: Client, ctx: Ctx, target: ResourceTarget, asTable: boolean, errors: unknown[]): Promise<Fetched> {
  const { def } = target;
  const allNamespaces = flagBool(ctx, 'all-namespaces');
  const namespace = def.namespaced && !allNamespaces ? client.namespace : undefined;
  const accept = asTable ? TABLE_ACCEPT : 'application/json';
  if (target.names) {
    const tables: ServerTable[] = [];
    const objects: KubeObject[] = [];
    for (const name of target.names) {
      try {
        const body = await client.get<ServerTable | KubeObject>(resourcePath(def, def.namespaced ? client.namespace : undefined, name), { accept });
        if (asTable) tables.push(body as ServerTable);
        else objects.push(body as KubeObject);
      } catch (err) {
        errors.push(err);
      }
    }
    if (!asTable) return { target, objects };
    const first = tables[0];
    return { target, table: first ? { ...first, rows: tables.flatMap((t) => t.rows) } : undefined };
  }
  const body = await client.list<ServerTable | { items: KubeObject[] }>(resourcePath(def, namespace), {
    accept,
    query: listQuery(ctx),
    chunkSize: chunkSize(ctx),
  });
  if (asTable) return { target, table: body as ServerTable };
  const list = body as { items: KubeObject[]; apiVersion?: string };
  // List items may omit apiVersion/kind; fill them in as kubectl does.
  const apiVersion = apiVersionOf(def);
  return { target, objects: list.items.map((o) => ({ apiVersion, kind: def.kind, ...o })) };
}

function printOptions(ctx: Ctx, def: ResourceDefinition, multiType: boolean): TablePrintOptions {
  return {
    wide: flagString(ctx, 'output') === 'wide',
    withNamespace: def.namespaced && flagBool(ctx, 'all-namespaces'),
    showLabels: flagBool(ctx, 'show-labels'),
    namePrefix: multiType ? `${qualifiedKind(def)}/` : undefined,
    noHeaders: flagBool(ctx, 'no-headers'),
  };
}

async function runGet(ctx: Ctx): Promise<number | void> {
  const targets = parseResourceArgs(ctx.args, ctx.command);
  const output = flagString(ctx, 'output');
  const watching = flagBool(ctx, 'watch') || flagBool(ctx, 'watch-only');
  if (watching) {
    if (targets.length !== 1) throw new UsageError('watch needs exactly one resource type', ctx.command);
    if ((targets[0]!.names?.length ?? 0) > 1) throw new UsageError('watch takes at most one name', ctx.command);
  }
  if (targets.some((t) => t.names) && (flagString(ctx, 'selector') || flagString(ctx, 'field-selector'))) {
    throw new UsageError('names and selectors (-l, --field-selector) cannot be combined', ctx.command);
  }
  const client = await ctx.client();
  if (watching) return runWatch(ctx, client, targets[0]!);

  const asTable = output === undefined || output === 'wide';
  const errors: unknown[] = [];
  const fetched: Fetched[] = [];
  for (const target of targets) fetched.push(await fetchTarget(client, ctx, target, asTable, errors));
  const multiType = targets.length > 1;

  if (asTable) {
    const blocks: string[] = [];
    for (const f of fetched) {
      if (!f.table || f.table.rows.length === 0) continue;
      const { header, rows } = tableToRows(f.table, printOptions(ctx, f.target.def, multiType));
      blocks.push(formatRows(flagBool(ctx, 'no-headers') ? rows : [header, ...rows]).join('\n'));
    }
    if (blocks.length) ctx.io.out(blocks.join('\n\n'));
    else if (errors.length === 0) ctx.io.err(noResourcesMessage(client, targets, flagBool(ctx, 'all-namespaces')));
  } else {
    const objects = fetched.flatMap((f) => f.objects ?? []);
    if (output === 'name') {
      if (objects.length) ctx.io.out(objects.map((o) => objectName(o)).join('\n'));
    } else {
      const single = targets.length === 1 && targets[0]!.names?.length === 1;
      if (single && objects.length === 1) ctx.io.out(renderObjects(objects, output as 'yaml' | 'json', false, flagBool(ctx, 'show-managed-fields')));
      else if (objects.length || errors.length === 0) ctx.io.out(renderObjects(objects, output as 'yaml' | 'json', true, flagBool(ctx, 'show-managed-fields')));
    }
    if (objects.length === 0 && errors.length === 0 && output === 'name') ctx.io.err(noResourcesMessage(client, targets, flagBool(ctx, 'all-namespaces')));
  }
  if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
}

function noResourcesMessage(client: Client, targets: ResourceTarget[], allNamespaces: boolean): string {
  const namespaced = targets.some((t) => t.def.namespaced);
  if (namespaced && !allNamespaces) return `No resources found in ${client.namespace} namespace.`;
  return 'No resources found';
}

async function runWatch(ctx: Ctx, client: Client, target: ResourceTarget): Promise<void> {
  const { def } = target;
  const output = flagString(ctx, 'output');
  const allNamespaces = flagBool(ctx, 'all-namespaces');
  const namespace = def.namespaced && !allNamespaces ? client.namespace : undefined;
  const query: Query = listQuery(ctx);
  const name = target.names?.[0];
  if (name) query.fieldSelector = `metadata.name=${name}`;
  const asTable = output === undefined || output === 'wide';
  const opts = printOptions(ctx, def, false);
  const watchOnly = flagBool(ctx, 'watch-only');
  let columns: TableColumnDefinition[] | undefined;
  let widths: number[] = [];
  let headerPrinted = false;

  const printTable = (table: ServerTable, withHeader: boolean) => {
    if (table.columnDefinitions?.length) columns = table.columnDefinitions;
    if (!columns) return;
    const { header, rows } = tableToRows(table, opts, columns);
    const showHeader = withHeader && !headerPrinted && !opts.noHeaders;
    const all = showHeader ? [header, ...rows] : rows;
    if (showHeader) headerPrinted = true;
    widths = columnWidths(all).map((w, i) => Math.max(w, widths[i] ?? 0));
    if (all.length) ctx.io.out(formatRows(all, widths).join('\n'));
  };
  const printObject = (obj: KubeObject) => {
    const withKind = { apiVersion: apiVersionOf(def), kind: def.kind, ...obj };
    if (output === 'name') ctx.io.out(objectName(withKind, def));
    else {
      const text = renderObjects([withKind], output as 'yaml' | 'json', false, flagBool(ctx, 'show-managed-fields'));
      ctx.io.out(output === 'yaml' ? `---\n${text}` : text);
    }
  };

  let first = true;
  // Stops on Ctrl-C; the process exits 0.
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  await listWatch<ServerTable | { items: KubeObject[] }, ServerTable | KubeObject>(
    client,
    resourcePath(def, namespace),
    query,
    {
      onList: (list, relist) => {
        const skip = first && watchOnly;
        first = false;
        if (asTable) {
          const table = list as ServerTable;
          if (table.columnDefinitions?.length) columns = table.columnDefinitions;
          if (skip) return;
          if (table.rows.length === 0 && !relist) {
            ctx.io.err(noResourcesMessage(client, [target], allNamespaces));
            return;
          }
          printTable(table, true);
        } else if (!skip) {
          for (const obj of (list as { items: KubeObject[] }).items) printObject(obj);
        }
      },
      onEvent: (event) => {
        if (asTable) printTable(event.object as ServerTable, true);
        else printObject(event.object as KubeObject);
      },
      onReconnect: (reason) => ctx.io.err(`(watch: ${reason})`),
    },
    { accept: asTable ? TABLE_ACCEPT : 'application/json', signal: controller.signal, chunkSize: chunkSize(ctx) },
  );
}
