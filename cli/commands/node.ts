/** Node verbs: cordon / uncordon (spec.unschedulable), fence / unfence (spec.fenced), and the read-only orphan check. */
import type { Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import { nodeDefinition, storagePoolDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { qualifiedKind } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { flagString, OUTPUT_FLAG, type Command, type Ctx } from '../command.js';
import { CliError, ExitCode, MultiError } from '../errors.js';
import { findOrphans, type PoolFiles } from '../orphans.js';
import { toJson } from '../output.js';
import { formatRows } from '../table.js';
import { normalizeListing } from './pool.js';

const QN = nodeDefinition as unknown as ResourceDefinition;
const SP = storagePoolDefinition as unknown as ResourceDefinition;
const VM = virtualMachineDefinition as unknown as ResourceDefinition;
/** The files route's maximum (apiserver/gateway/files-route.ts): a truncated root is an error. */
const FILES_LIMIT = 10_000;

/**
 * Sets a boolean spec field on each named node (the cordon and fence verbs): already set is
 * said, not written; every node is tried and the errors are thrown together. `after` runs
 * once a node was written (a warning, say).
 */
async function setNodeFlags(ctx: Ctx, field: 'unschedulable' | 'fenced', value: boolean, words: { done: string }, after?: (node: Node) => void): Promise<void> {
  const client = await ctx.client();
  const errors: unknown[] = [];
  for (const name of ctx.args) {
    const label = `${qualifiedKind(QN)}/${name}`;
    try {
      const node = await client.get<Node>(resourcePath(QN, undefined, name));
      if ((node.spec?.[field] ?? false) === value) {
        ctx.io.out(`${label} already ${words.done}`);
        continue;
      }
      await client.mergePatch(QN, undefined, name, { spec: { [field]: value } });
      ctx.io.out(`${label} ${words.done}`);
      after?.(node);
    } catch (err) {
      errors.push(err);
    }
  }
  if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
}

function cordonCommand(cordon: boolean): Command {
  const verb = cordon ? 'cordon' : 'uncordon';
  return {
    name: `node ${verb}`,
    summary: cordon ? 'Mark nodes unschedulable: no new VMs are placed on them.' : 'Mark nodes schedulable again.',
    usage: `node ${verb} NAME... [flags]`,
    description: `Sets spec.unschedulable to ${cordon}. VMs already on the node keep running${cordon ? ' (cordoning moves nothing)' : ''}.`,
    examples: [`qxctl node ${verb} node-1`],
    flags: [],
    args: { min: 1 },
    run: (ctx) => setNodeFlags(ctx, 'unschedulable', cordon, { done: `${verb}ed` }),
  };
}

function fenceCommand(fence: boolean): Command {
  const verb = fence ? 'fence' : 'unfence';
  return {
    name: `node ${verb}`,
    summary: fence
      ? 'Declare nodes down (powered off or isolated): their VMs may be recovered on other nodes.'
      : 'Withdraw the fence: the node may run VMs and be scheduled to again.',
    usage: `node ${verb} NAME... [flags]`,
    description: fence
      ? `
Sets spec.fenced to true: the admin's word that the node does not run its VMs any more and
will not until it is unfenced (Kubernetes' node.kubernetes.io/out-of-service taint). Once the
node is not heartbeating, each of its runStrategy Always VMs whose disks are all on shared
storage (nfs pools, dir pools with spec.shared) is recovered: unbound and started on another
node. Fence a node only when it is down: a node that still runs a VM would run it twice.
A heartbeating node is never treated as fenced; a fenced node gets no new VMs. See
docs/fencing.md.`
      : `Sets spec.fenced to false. VMs recovered from the node stay where they run now.`,
    examples: [`qxctl node ${verb} node-1`],
    flags: [],
    args: { min: 1 },
    run: (ctx) =>
      setNodeFlags(ctx, 'fenced', fence, { done: `${verb}d` }, (node) => {
        const ready = node.status?.conditions?.find((c) => c.type === 'Ready')?.status;
        if (fence && ready !== 'Unknown') {
          ctx.io.err(`warning: node ${node.metadata.name} is heartbeating (Ready=${ready ?? 'none'}): its VMs are recovered only once it stops`);
        }
      }),
  };
}

/** The pools a node has: assigned to it, or still reported by it (an unassignment in progress). */
export function poolsOfNode(pools: readonly StoragePool[], node: string): string[] {
  return pools
    .filter((p) => (p.spec?.assignedNodes ?? []).includes(node) || Object.hasOwn(p.status?.hosts ?? {}, node))
    .map((p) => p.metadata.name!)
    .sort();
}

const checkCommand: Command = {
  name: 'node check',
  summary: 'List what no VM owns on a node: orphan volumes in its pools, orphan Quantix domains. Deletes nothing.',
  usage: 'node check NAME [flags]',
  description: `
Read-only. Lists
  volume  a file at the root of one of the node's pools, named as the agent names volumes
          (<vm>_<disk>_<uid8>.qcow2), that no VM owns (any VM, on any node: neither in its
          status.volumes nor by the naming rule for its disks). Other files (images, ISOs,
          user files) are not Quantix volumes and are not listed.
  domain  a domain on the node whose Quantix owner metadata names a VM that does not exist
          (recorded by the gateway as a host-discovered VM annotated quantix.io/former-owner).
Exits 0 when it finds nothing ("no orphans"), 9 when it lists anything; any other code is
a failure of the check itself (e.g. a pool not listable on the node).`,
  examples: ['qxctl node check node-1', 'qxctl node check node-1 -o json'],
  flags: [OUTPUT_FLAG(['json'])],
  args: { min: 1, max: 1 },
  async run(ctx) {
    const node = ctx.args[0]!;
    const client = await ctx.client();
    await client.get<Node>(resourcePath(QN, undefined, node)); // NotFound (exit 3) for an unknown node
    const [pools, vms] = await Promise.all([
      client.list<{ items: StoragePool[] }>(resourcePath(SP)),
      client.list<{ items: VirtualMachine[] }>(resourcePath(VM)),
    ]);
    const listings: PoolFiles[] = [];
    const errors: unknown[] = [];
    for (const pool of poolsOfNode(pools.items, node)) {
      try {
        const body = await client.get<unknown>(`${resourcePath(SP, undefined, pool)}/files`, { query: { node, limit: FILES_LIMIT } });
        const listing = normalizeListing(body);
        if (listing.truncated) throw new CliError(`pool ${pool}: more than ${FILES_LIMIT} files at the root; not checked`);
        listings.push({ pool, entries: listing.entries });
      } catch (err) {
        errors.push(err);
      }
    }
    const findings = findOrphans(node, listings, vms.items);
    if (flagString(ctx, 'output') === 'json') {
      ctx.io.out(toJson({ node, pools: listings.map((l) => l.pool), findings }));
    } else if (findings.length) {
      ctx.io.out(formatRows([['KIND', 'NAME', 'POOL/DOMAIN', 'REASON'], ...findings.map((f) => [f.kind, f.name, f.where, f.reason])]).join('\n'));
    } else if (!errors.length) {
      ctx.io.out(`no orphans on ${node} (pools checked: ${listings.map((l) => l.pool).join(', ') || 'none'})`);
    }
    // An incomplete check is not a clean one: a failure to list a pool wins over "nothing found".
    if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
    return findings.length ? ExitCode.Findings : ExitCode.OK;
  },
};

const revokeCommand: Command = {
  name: 'node revoke',
  summary: "Revoke a node's credentials at once: its certificate stops working; it must join again",
  usage: 'node revoke NAME... [flags]',
  description: `
Strikes the node's client certificates (and any bearer credential) from its record: every
call it makes is refused from now on (other apiserver replicas within seconds), and it cannot
recreate its Node with them. The Node object stays (delete it as well to remove the host);
its VMs keep running on the host. The host joins again only with a new bootstrap token
(qxctl token create). Deleting a Node revokes its credentials as well.`,
  examples: ['qxctl node revoke node-3'],
  flags: [],
  args: { min: 1 },
  async run(ctx) {
    const client = await ctx.client();
    const failures: unknown[] = [];
    for (const name of ctx.args) {
      try {
        await client.request('POST', `${resourcePath(QN, undefined, name)}/revoke`);
        ctx.io.out(`${qualifiedKind(QN)}/${name} revoked`);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length) throw failures.length === 1 ? failures[0] : new MultiError(failures);
  },
};

/** apiserver/gateway/registration.ts APPROVAL_ANNOTATION. */
const APPROVAL_ANNOTATION = 'quantix.io/approval';

const approveCommand: Command = {
  name: 'node approve',
  summary: 'Approve nodes that joined under manual approval: they take VMs from now on',
  usage: 'node approve NAME... [flags]',
  description: `
With the apiserver's --node-approval manual, a newly joined Node is unschedulable and annotated
${APPROVAL_ANNOTATION}=pending. Approving removes the annotation and makes it schedulable.`,
  examples: ['qxctl node approve node-4'],
  flags: [],
  args: { min: 1 },
  async run(ctx) {
    const client = await ctx.client();
    const failures: unknown[] = [];
    for (const name of ctx.args) {
      const label = `${qualifiedKind(QN)}/${name}`;
      try {
        const node = await client.get<Node>(resourcePath(QN, undefined, name));
        if (node.metadata.annotations?.[APPROVAL_ANNOTATION] !== 'pending') {
          ctx.io.out(`${label} is not waiting for approval`);
          continue;
        }
        await client.mergePatch(QN, undefined, name, { metadata: { annotations: { [APPROVAL_ANNOTATION]: null } }, spec: { unschedulable: false } });
        ctx.io.out(`${label} approved`);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length) throw failures.length === 1 ? failures[0] : new MultiError(failures);
  },
};

export const nodeCommands: Command[] = [
  cordonCommand(true),
  cordonCommand(false),
  fenceCommand(true),
  fenceCommand(false),
  checkCommand,
  revokeCommand,
  approveCommand,
];
