/** `qxctl delete`: by name, selector or manifest; waits until finalizers release the objects. */
import type { KubeObject } from '../../api-types/meta.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { qualifiedKind, type Client } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { flagBool, flagNumber, flagString, flagStrings, TIMEOUT_FLAG, type Command, type Ctx } from '../command.js';
import { goneConvergence } from '../converge.js';
import { MultiError, UsageError } from '../errors.js';
import { ApiError } from '../../lib/apimachinery/status-error.js';
import { readManifests } from '../manifests.js';
import { parseResourceArgs } from '../resources.js';
import { waitFor, type WaitTarget } from '../wait.js';

export const deleteCommand: Command = {
  name: 'delete',
  summary: 'Delete objects by name, label selector or manifest.',
  usage: 'delete (TYPE NAME... | TYPE/NAME... | TYPE -l SELECTOR | TYPE --all | -f FILENAME) [flags]',
  description: `
Deletes the objects, then waits until they are gone: a VM keeps a finalizer until its
agent has destroyed the domain and its volumes, so this waits for that cleanup (with a
progress line). --wait=false returns as soon as the deletion is accepted.`,
  examples: ['qxctl delete vm web', 'qxctl delete -f manifests/examples/', 'qxctl delete vm -l app=web --wait=false', 'qxctl delete sp/scratch'],
  flags: [
    { name: 'filename', short: 'f', type: 'strings', valueName: 'PATH', description: 'Delete the objects in these manifests (file, directory or -).' },
    { name: 'recursive', short: 'R', type: 'boolean', description: 'Recurse into directories.' },
    { name: 'selector', short: 'l', type: 'string', valueName: 'SELECTOR', description: 'Delete the objects matching this label selector.' },
    { name: 'all', type: 'boolean', description: 'Delete every object of the type (in the namespace).' },
    { name: 'wait', type: 'boolean', default: true, description: 'Wait until the objects are gone (finalizers done).' },
    TIMEOUT_FLAG(300_000, 'for the objects to disappear'),
    { name: 'ignore-not-found', type: 'boolean', description: 'Treat objects that do not exist as deleted.' },
    {
      name: 'dry-run',
      type: 'string',
      valueName: 'MODE',
      choices: ['none', 'server'],
      default: 'none',
      description: 'server: let the server check without deleting.',
    },
  ],
  run: runDelete,
};

interface Victim {
  def: ResourceDefinition;
  namespace?: string;
  name: string;
}

async function collect(ctx: Ctx, client: Client): Promise<Victim[]> {
  const files = flagStrings(ctx, 'filename');
  const selector = flagString(ctx, 'selector');
  const all = flagBool(ctx, 'all');
  if (files.length) {
    if (ctx.args.length) throw new UsageError('names cannot be combined with -f', ctx.command);
    const manifests = await readManifests(files, flagBool(ctx, 'recursive'), ctx.io.readStdin);
    return manifests.map((m) => ({
      def: m.def,
      namespace: m.def.namespaced ? m.object.metadata.namespace || client.namespace : undefined,
      name: m.object.metadata.name!,
    }));
  }
  if (ctx.args.length === 0) throw new UsageError('name the objects: TYPE NAME..., TYPE/NAME..., TYPE -l SELECTOR, TYPE --all or -f FILENAME', ctx.command);
  const targets = parseResourceArgs(ctx.args, ctx.command);
  const victims: Victim[] = [];
  for (const { def, names } of targets) {
    const namespace = def.namespaced ? client.namespace : undefined;
    if (names) {
      if (selector || all) throw new UsageError('names cannot be combined with -l or --all', ctx.command);
      victims.push(...names.map((name) => ({ def, namespace, name })));
      continue;
    }
    if (!selector && !all)
      throw new UsageError(`resource name(s) may not be empty: name the ${def.plural} to delete, or pass -l SELECTOR or --all`, ctx.command);
    const list = await client.list<{ items: KubeObject[] }>(resourcePath(def, namespace), { query: { labelSelector: selector } });
    victims.push(...list.items.map((o) => ({ def, namespace, name: o.metadata.name! })));
  }
  return victims;
}

async function runDelete(ctx: Ctx): Promise<void> {
  const client = await ctx.client();
  const victims = await collect(ctx, client);
  const dryRun = flagString(ctx, 'dry-run') === 'server';
  const errors: unknown[] = [];
  const pending: WaitTarget[] = [];
  if (victims.length === 0) {
    ctx.io.err('No resources found');
    return;
  }
  for (const v of victims) {
    const label = `${qualifiedKind(v.def)} "${v.name}"`;
    try {
      const res = await client.request<KubeObject>('DELETE', resourcePath(v.def, v.namespace, v.name), { query: { dryRun: dryRun ? 'All' : undefined } });
      const gone = res.status === 200 && !res.body?.metadata?.deletionTimestamp;
      if (dryRun) ctx.io.out(`${label} deleted (server dry run)`);
      else if (gone || !flagBool(ctx, 'wait')) ctx.io.out(`${label} deleted`);
      else pending.push({ def: v.def, namespace: v.namespace, name: v.name, label: `${qualifiedKind(v.def)}/${v.name}`, check: goneConvergence });
    } catch (err) {
      if (err instanceof ApiError && err.code === 404 && flagBool(ctx, 'ignore-not-found')) continue;
      errors.push(err);
    }
  }
  if (pending.length) {
    await waitFor(client, pending, {
      timeoutMs: flagNumber(ctx, 'timeout'),
      io: ctx.io,
      onDone: (t) => ctx.io.out(`${qualifiedKind(t.def)} "${t.name}" deleted`),
    });
  }
  if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
}
