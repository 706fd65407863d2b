/** `qxctl describe`: a readable page per object, with conditions and recent Events. */
import type { Event, Lease, Node, StoragePool, VirtualMachine } from '../../api-types/generated/types.js';
import type { KubeObject } from '../../api-types/meta.js';
import { eventDefinition, leaseDefinition, virtualMachineDefinition } from '../../api-types/registry.js';
import { GATEWAY_LEASE_NAMESPACE, gatewayLeaseName, NODE_LEASE_NAMESPACE, replicaOfHolder } from '../../api-types/node-lease.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import type { Client } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { flagBool, flagString, type Command, type Ctx } from '../command.js';
import { describeGeneric, describeNode, describePool, describeVm, type NodeLeases } from '../describe.js';
import { MultiError } from '../errors.js';
import { parseResourceArgs } from '../resources.js';

export const describeCommand: Command = {
  name: 'describe',
  summary: 'Show details of objects: spec, status, conditions and recent Events.',
  usage: 'describe TYPE [NAME...] | TYPE/NAME... [flags]',
  description: `
VMs: spec summary (run strategy, CPU, memory, disks, networks), status (phase, power
state, node, origin, managed), conditions and Events. Pools: source, assigned nodes,
aggregate capacity and a per-host table (health, capacity, mount path, message). Nodes:
addresses, node info, capacity, allocatable and allocated resources, the VMs on the node,
conditions and Events. Without a name, describes every object of the type (-l to filter).`,
  examples: ['qxctl describe vm web', 'qxctl describe sp local', 'qxctl describe qn $(hostname)', 'qxctl describe vm -l app=web'],
  flags: [
    { name: 'all-namespaces', short: 'A', type: 'boolean', description: 'Describe matching objects in every namespace.' },
    { name: 'selector', short: 'l', type: 'string', valueName: 'SELECTOR', description: 'Label selector.' },
    { name: 'show-events', type: 'boolean', default: true, description: 'Show Events.' },
  ],
  args: { min: 1 },
  run: runDescribe,
};

async function events(client: Client, def: ResourceDefinition, obj: KubeObject): Promise<Event[] | undefined> {
  const selector = [`involvedObject.name=${obj.metadata.name}`, `involvedObject.kind=${def.kind}`];
  if (def.namespaced) selector.push(`involvedObject.namespace=${obj.metadata.namespace}`);
  if (obj.metadata.uid) selector.push(`involvedObject.uid=${obj.metadata.uid}`);
  try {
    const list = await client.list<{ items: Event[] }>(resourcePath(eventDefinition, def.namespaced ? obj.metadata.namespace : undefined), {
      query: { fieldSelector: selector.join(',') },
    });
    return list.items;
  } catch {
    return undefined; // e.g. forbidden: describe still shows the object
  }
}

/** The node's Lease and the gateway replica Lease vouching for it (none when unreadable: describe still shows the node). */
async function nodeLeases(client: Client, node: string): Promise<NodeLeases> {
  const def = leaseDefinition as unknown as ResourceDefinition;
  try {
    const lease = await client.getObject<Lease>(def, NODE_LEASE_NAMESPACE, node);
    const replica = replicaOfHolder(lease?.spec?.holderIdentity);
    const holder = replica ? await client.getObject<Lease>(def, GATEWAY_LEASE_NAMESPACE, gatewayLeaseName(replica)) : undefined;
    return { lease, holder };
  } catch {
    return {};
  }
}

export async function describeObject(client: Client, def: ResourceDefinition, obj: KubeObject, showEvents: boolean): Promise<string> {
  const evs = showEvents ? await events(client, def, obj) : undefined;
  switch (def.kind) {
    case 'VirtualMachine':
      return describeVm(obj as VirtualMachine, showEvents ? evs : [], new Date());
    case 'StoragePool':
      return describePool(obj as StoragePool, showEvents ? evs : [], new Date());
    case 'Node': {
      let vms: VirtualMachine[] | undefined;
      try {
        vms = (
          await client.list<{ items: VirtualMachine[] }>(resourcePath(virtualMachineDefinition as unknown as ResourceDefinition), {
            query: { fieldSelector: `spec.nodeName=${obj.metadata.name}` },
          })
        ).items;
      } catch {
        vms = undefined;
      }
      return describeNode(obj as Node, vms, showEvents ? evs : [], new Date(), await nodeLeases(client, obj.metadata.name!));
    }
    default:
      return describeGeneric(obj, showEvents ? evs : undefined, def.namespaced, new Date());
  }
}

async function runDescribe(ctx: Ctx): Promise<void> {
  const targets = parseResourceArgs(ctx.args, ctx.command);
  const client = await ctx.client();
  const pages: string[] = [];
  const errors: unknown[] = [];
  const showEvents = ctx.flags['show-events'] !== false;
  for (const { def, names } of targets) {
    let objects: KubeObject[] = [];
    if (names) {
      for (const name of names) {
        try {
          objects.push(await client.get<KubeObject>(resourcePath(def, def.namespaced ? client.namespace : undefined, name)));
        } catch (err) {
          errors.push(err);
        }
      }
    } else {
      const namespace = def.namespaced && !flagBool(ctx, 'all-namespaces') ? client.namespace : undefined;
      objects = (await client.list<{ items: KubeObject[] }>(resourcePath(def, namespace), { query: { labelSelector: flagString(ctx, 'selector') } })).items;
    }
    for (const obj of objects) pages.push(await describeObject(client, def, obj, showEvents));
  }
  if (pages.length) ctx.io.out(pages.join('\n\n\n'));
  else if (errors.length === 0)
    ctx.io.err(`No resources found${targets.some((t) => t.def.namespaced) && !flagBool(ctx, 'all-namespaces') ? ` in ${client.namespace} namespace` : ''}.`);
  if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
}
