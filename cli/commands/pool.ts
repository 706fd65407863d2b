/** Pool verbs: assign / unassign a pool to nodes (merge-safe), and browse its files. */
import type { StoragePool } from '../../api-types/generated/types.js';
import { formatBytesHuman } from '../../api-types/quantity.js';
import { storagePoolDefinition } from '../../api-types/registry.js';
import { humanDuration } from '../../api-types/schema/printing.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { qualifiedKind, type Client } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { flagBool, flagNumber, flagString, OUTPUT_FLAG, TIMEOUT_FLAG, type Command, type Ctx } from '../command.js';
import { poolConvergence } from '../converge.js';
import { UsageError } from '../errors.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import { toJson, toYaml } from '../output.js';
import { formatRows } from '../table.js';
import { waitFor } from '../wait.js';

const SP = storagePoolDefinition as unknown as ResourceDefinition;
const MAX_ATTEMPTS = 8;

/** The new assignedNodes list, or undefined when nothing changes. */
export function editAssignment(current: readonly string[], nodes: readonly string[], assign: boolean): string[] | undefined {
  if (assign) {
    const missing = nodes.filter((n) => !current.includes(n));
    return missing.length ? [...current, ...[...new Set(missing)]] : undefined;
  }
  const next = current.filter((n) => !nodes.includes(n));
  return next.length === current.length ? undefined : next;
}

/**
 * Read–modify–write of spec.assignedNodes with a resourceVersion precondition: a
 * concurrent edit makes the server answer 409 Conflict, and the edit is redone on the
 * fresh object, so no one's assignment is lost.
 */
export async function updateAssignment(client: Client, pool: string, nodes: string[], assign: boolean): Promise<{ changed: boolean; pool: StoragePool }> {
  for (let attempt = 1; ; attempt++) {
    const current = await client.get<StoragePool>(resourcePath(SP, undefined, pool));
    const next = editAssignment(current.spec.assignedNodes ?? [], nodes, assign);
    if (!next) return { changed: false, pool: current };
    try {
      const updated = await client.mergePatch<StoragePool>(SP, undefined, pool, {
        metadata: { resourceVersion: current.metadata.resourceVersion },
        spec: { assignedNodes: next },
      });
      return { changed: true, pool: updated };
    } catch (err) {
      if (err instanceof ApiError && err.reason === 'Conflict' && attempt < MAX_ATTEMPTS) continue;
      throw err;
    }
  }
}

function assignmentCommand(assign: boolean): Command {
  const verb = assign ? 'assign' : 'unassign';
  return {
    name: `pool ${verb}`,
    summary: assign ? 'Assign a storage pool to nodes (their agents define and start it).' : 'Remove a storage pool from nodes.',
    usage: `pool ${verb} POOL NODE... [flags]`,
    description: `
Edits spec.assignedNodes ${assign ? 'adding' : 'removing'} the nodes. Safe against concurrent edits: the
update carries the resourceVersion it was computed from and is redone on a conflict.${assign ? '\nWith --wait, waits until the pool is Ready on every assigned node.' : ''}`,
    examples: [`qxctl pool ${verb} local node-1`, `qxctl pool ${verb} shared node-1 node-2`],
    flags: assign ? [{ name: 'wait', type: 'boolean', description: 'Wait until the pool is Ready.' }, TIMEOUT_FLAG(120_000, 'with --wait')] : [],
    args: { min: 2 },
    async run(ctx) {
      const [pool, ...nodes] = ctx.args as [string, ...string[]];
      const client = await ctx.client();
      const { changed, pool: updated } = await updateAssignment(client, pool, nodes, assign);
      const label = `${qualifiedKind(SP)}/${pool}`;
      if (changed)
        ctx.io.out(
          `${label} ${assign ? 'assigned to' : 'unassigned from'} ${nodes.join(', ')} (assigned: ${(updated.spec.assignedNodes ?? []).join(', ') || 'none'})`,
        );
      else
        ctx.io.out(
          `${label} ${assign ? 'already assigned to' : 'not assigned to'} ${nodes.join(', ')} (assigned: ${(updated.spec.assignedNodes ?? []).join(', ') || 'none'})`,
        );
      if (assign && flagBool(ctx, 'wait')) {
        await waitFor(client, [{ def: SP, name: pool, label, check: (o) => poolConvergence(o as StoragePool | undefined) }], {
          timeoutMs: flagNumber(ctx, 'timeout'),
          io: ctx.io,
        });
      }
    },
  };
}

export interface FileEntry {
  name: string;
  type: string;
  sizeBytes?: number;
  modified?: string;
}

export interface FileListing {
  path: string;
  node?: string;
  mountPath?: string;
  entries: FileEntry[];
  truncated: boolean;
}

/** Accepts the server's StoragePoolFileList (items/modifiedTime) and the {entries, modifiedAt} shape. */
export function normalizeListing(body: unknown): FileListing {
  const b = (body ?? {}) as {
    path?: string;
    node?: string;
    mountPath?: string;
    truncated?: boolean;
    items?: { name: string; type: string; sizeBytes?: number; modifiedTime?: string; modifiedAt?: string | number }[];
    entries?: { name: string; type: string; sizeBytes?: number; modifiedTime?: string; modifiedAt?: string | number }[];
  };
  const raw = b.items ?? b.entries ?? [];
  return {
    path: b.path ?? '',
    node: b.node,
    mountPath: b.mountPath,
    truncated: Boolean(b.truncated),
    entries: raw.map((e) => {
      const m = e.modifiedTime ?? e.modifiedAt;
      const t = m === undefined ? NaN : typeof m === 'number' ? m : Date.parse(m);
      return { name: e.name, type: e.type, sizeBytes: e.sizeBytes, modified: Number.isNaN(t) ? undefined : new Date(t).toISOString() };
    }),
  };
}

/** The listing as a table: NAME TYPE SIZE MODIFIED (directories first, then by name). */
export function fileTable(listing: FileListing, now = new Date(), wide = false): string {
  const entries = [...listing.entries].sort((a, b) => Number(b.type === 'dir') - Number(a.type === 'dir') || a.name.localeCompare(b.name));
  const rows = entries.map((e) => {
    const size = e.type === 'dir' ? '-' : e.sizeBytes !== undefined ? formatBytesHuman(e.sizeBytes) : '';
    const modified = e.modified ? humanDuration(now.getTime() - Date.parse(e.modified)) : '';
    return [
      e.type === 'dir' ? `${e.name}/` : e.name,
      e.type,
      size,
      ...(wide ? [e.sizeBytes !== undefined ? String(e.sizeBytes) : '', e.modified ?? ''] : [modified]),
    ];
  });
  const header = ['NAME', 'TYPE', 'SIZE', ...(wide ? ['BYTES', 'MODIFIED'] : ['MODIFIED'])];
  return formatRows([header, ...rows]).join('\n');
}

const filesCommand: Command = {
  name: 'pool files',
  summary: "Browse a storage pool's files as one node sees them.",
  usage: 'pool files POOL [PATH] [--node NODE] [flags]',
  description: `
Lists the directory PATH (relative to the pool root; default the root) of POOL on NODE,
asked of that node's agent. --node may be left out when the pool is assigned to exactly
one node.`,
  examples: ['qxctl pool files local --node node-1', 'qxctl pool files local images --node node-1 -o json'],
  flags: [
    { name: 'node', type: 'string', valueName: 'NODE', description: 'The node whose view of the pool to list.' },
    { name: 'limit', type: 'int', valueName: 'N', description: 'At most N entries (server default 1000).' },
    OUTPUT_FLAG(['wide', 'json', 'yaml']),
  ],
  args: { min: 1, max: 2 },
  async run(ctx: Ctx) {
    const [pool, path] = ctx.args as [string, string | undefined];
    const client = await ctx.client();
    let node = flagString(ctx, 'node');
    if (!node) {
      const sp = await client.get<StoragePool>(resourcePath(SP, undefined, pool));
      const assigned = sp.spec.assignedNodes ?? [];
      if (assigned.length !== 1) {
        throw new UsageError(
          `--node is required: pool "${pool}" is assigned to ${assigned.length ? `several nodes (${assigned.join(', ')})` : 'no node'}`,
          ctx.command,
        );
      }
      node = assigned[0]!;
    }
    const limit = ctx.explicit.has('limit') ? flagNumber(ctx, 'limit') : undefined;
    const body = await client.get<unknown>(`${resourcePath(SP, undefined, pool)}/files`, { query: { node, path: path ?? undefined, limit } });
    const listing = normalizeListing(body);
    const output = flagString(ctx, 'output');
    if (output === 'json') return void ctx.io.out(toJson(body));
    if (output === 'yaml') return void ctx.io.out(toYaml(body));
    const where = `${pool}:/${listing.path.replace(/^\/+/, '')}`;
    if (listing.entries.length === 0) ctx.io.err(`${where} on ${node} is empty`);
    else ctx.io.out(fileTable(listing, new Date(), output === 'wide'));
    if (listing.truncated) ctx.io.err(`(listing of ${where} truncated at ${listing.entries.length} entries; use --limit)`);
  },
};

export const poolCommands: Command[] = [assignmentCommand(true), assignmentCommand(false), filesCommand];
