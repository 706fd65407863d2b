/**
 * `qxctl apply -f`: server-side apply (field manager `qxctl`) of every object in the
 * given files, directories (-R) or stdin; prints created / configured / unchanged per
 * object; --wait waits for VMs, pools and images to converge.
 */
import { stringify } from 'yaml';
import type { KubeObject } from '../../api-types/meta.js';
import { FIELD_MANAGER, qualifiedKind, type Client } from '../client.js';
import { resourcePath } from '../../api-types/group-version.js';
import { flagBool, flagNumber, flagString, flagStrings, OUTPUT_FLAG, TIMEOUT_FLAG, type Command, type Ctx } from '../command.js';
import { convergenceFor } from '../converge.js';
import { CliError, ExitCode, exitCodeOf, formatError, MultiError } from '../errors.js';
import { readManifests, type Manifest } from '../manifests.js';
import { objectName, renderObjects } from '../output.js';
import { waitFor, type WaitTarget } from '../wait.js';

export type ApplyResult = 'created' | 'configured' | 'unchanged';

export const applyCommand: Command = {
  name: 'apply',
  summary: 'Create or update objects from manifests (server-side apply).',
  usage: 'apply -f FILENAME|DIR|- [-R] [--wait] [flags]',
  description: `
Applies every object in the given YAML/JSON files (multi-document YAML and kind: List
work), directories (manifest files in them; -R recurses) or stdin (-f -), with
server-side apply as field manager "qxctl". Prints, per object, whether it was created,
configured or unchanged. Namespaced objects without a namespace go to -n / the context's
namespace. With --wait, waits until VMs reach their runStrategy's phase (Running, or
Stopped when Halted), pools are Ready and images are imported (a progress bar per
node), showing progress; on timeout it names what did
not converge and why.`,
  examples: ['qxctl apply -f manifests/examples/', 'qxctl apply -f vm.yaml --wait --timeout 3m', 'cat vm.yaml | qxctl apply -f -'],
  flags: [
    { name: 'filename', short: 'f', type: 'strings', valueName: 'PATH', description: 'File, directory or - (stdin); repeatable.' },
    { name: 'recursive', short: 'R', type: 'boolean', description: 'Recurse into directories.' },
    { name: 'wait', type: 'boolean', description: 'Wait for VMs, pools and images to converge (images: a progress bar per node).' },
    TIMEOUT_FLAG(300_000, 'with --wait'),
    { name: 'force-conflicts', type: 'boolean', description: 'Take over fields other managers own (server-side apply force).' },
    {
      name: 'dry-run',
      type: 'string',
      valueName: 'MODE',
      choices: ['none', 'server'],
      default: 'none',
      description: 'server: let the server validate without persisting.',
    },
    OUTPUT_FLAG(['yaml', 'json', 'name']),
  ],
  args: { max: 0 },
  run: runApply,
};

/** How an apply came out: 201 → created; same resourceVersion as before → unchanged. */
export function applyOutcome(httpStatus: number, before: string | undefined, after: string | undefined): ApplyResult {
  if (httpStatus === 201 || before === undefined) return 'created';
  return before === after ? 'unchanged' : 'configured';
}

/** The object without what changes on every write (for dry runs, where resourceVersion never moves). */
function comparable(obj: KubeObject): unknown {
  const { managedFields: _mf, resourceVersion: _rv, generation: _g, ...metadata } = obj.metadata;
  const { status: _s, ...rest } = obj as KubeObject & { status?: unknown };
  return { ...rest, metadata };
}

/** Dry run: configured when the would-be object differs from the live one. */
export function dryRunOutcome(httpStatus: number, before: KubeObject | undefined, after: KubeObject): ApplyResult {
  if (httpStatus === 201 || !before) return 'created';
  return JSON.stringify(comparable(before)) === JSON.stringify(comparable(after)) ? 'unchanged' : 'configured';
}

/** The apply body: the manifest minus server-owned metadata (resourceVersion, uid…), status dropped. */
export function applyBody(obj: KubeObject, namespace: string | undefined): KubeObject {
  const { resourceVersion: _rv, uid: _uid, creationTimestamp: _ct, generation: _g, managedFields: _mf, deletionTimestamp: _dt, ...metadata } = obj.metadata;
  const { status: _status, ...rest } = obj as KubeObject & { status?: unknown };
  return { ...rest, metadata: { ...metadata, ...(namespace ? { namespace } : {}) } };
}

export async function applyOne(
  client: Client,
  m: Manifest,
  namespace: string | undefined,
  opts: { force: boolean; dryRun: boolean },
): Promise<{ result: ApplyResult; object: KubeObject }> {
  const name = m.object.metadata.name!;
  const before = await client.getObject(m.def, namespace, name);
  const res = await client.request<KubeObject>('PATCH', resourcePath(m.def, namespace, name), {
    body: stringify(applyBody(m.object, namespace)),
    contentType: 'application/apply-patch+yaml',
    query: { fieldManager: FIELD_MANAGER, force: opts.force || undefined, dryRun: opts.dryRun ? 'All' : undefined },
  });
  const result = opts.dryRun
    ? dryRunOutcome(res.status, before, res.body)
    : applyOutcome(res.status, before?.metadata.resourceVersion, res.body.metadata?.resourceVersion);
  return { result, object: res.body };
}

async function runApply(ctx: Ctx): Promise<void> {
  const manifests = await readManifests(flagStrings(ctx, 'filename'), flagBool(ctx, 'recursive'), ctx.io.readStdin);
  const client = await ctx.client();
  const explicitNs = ctx.explicit.has('namespace') ? flagString(ctx, 'namespace') : undefined;
  const dryRun = flagString(ctx, 'dry-run') === 'server';
  const output = flagString(ctx, 'output');
  const errors: unknown[] = [];
  const applied: { m: Manifest; namespace?: string; object: KubeObject }[] = [];
  for (const m of manifests) {
    const own = m.object.metadata.namespace;
    if (!m.def.namespaced && own) {
      errors.push(
        new CliError(`${m.source}: ${m.def.kind} "${m.object.metadata.name}" is cluster-scoped and cannot have a namespace (got "${own}")`, ExitCode.Invalid),
      );
      continue;
    }
    if (m.def.namespaced && own && explicitNs && own !== explicitNs) {
      errors.push(new CliError(`${m.source}: the namespace from the object ("${own}") does not match --namespace "${explicitNs}"`, ExitCode.Usage));
      continue;
    }
    const namespace = m.def.namespaced ? own || client.namespace : undefined;
    try {
      const { result, object } = await applyOne(client, m, namespace, { force: flagBool(ctx, 'force-conflicts'), dryRun });
      applied.push({ m, namespace, object });
      if (!output) ctx.io.out(`${qualifiedKind(m.def)}/${m.object.metadata.name} ${result}${dryRun ? ' (server dry run)' : ''}`);
    } catch (err) {
      errors.push(err);
    }
  }
  if (output === 'name') ctx.io.out(applied.map((a) => objectName(a.object, a.m.def)).join('\n'));
  else if (output)
    ctx.io.out(
      renderObjects(
        applied.map((a) => a.object),
        output as 'yaml' | 'json',
        applied.length !== 1,
      ),
    );

  if (flagBool(ctx, 'wait') && !dryRun) {
    // Print what failed to apply before waiting for the rest.
    if (errors.length) {
      for (const e of errors) ctx.io.err(formatError(e));
    }
    const targets: WaitTarget[] = [];
    for (const a of applied) {
      const check = convergenceFor(a.m.def.kind);
      if (!check) continue;
      targets.push({
        def: a.m.def,
        namespace: a.namespace,
        name: a.object.metadata.name!,
        label: `${qualifiedKind(a.m.def)}/${a.object.metadata.name}`,
        check,
      });
    }
    await waitFor(client, targets, { timeoutMs: flagNumber(ctx, 'timeout'), io: ctx.io });
    if (errors.length) throw new CliError(`${errors.length} of ${manifests.length} objects could not be applied (see above)`, exitCodeOf(errors[0]));
    return;
  }
  if (errors.length) throw errors.length === 1 ? errors[0] : new MultiError(errors);
}
