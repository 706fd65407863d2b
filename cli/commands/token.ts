/**
 * Bootstrap tokens for joining hosts (apiserver/gateway/bootstrap-tokens.ts): create prints
 * the whole `quantix-agent join` command, with the CA pin the host checks before it trusts
 * the control plane. Admins only.
 */
import { flagString, OUTPUT_FLAG, type Command } from '../command.js';
import { MultiError, UsageError } from '../errors.js';
import { toJson } from '../output.js';
import { formatRows } from '../table.js';
import { formatDuration } from '../args.js';

const COLLECTION = '/apis/quantix.io/v1alpha1/bootstraptokens';
/** Seven days: the server's limit too. */
const MAX_TTL_MS = 7 * 24 * 3_600_000;

interface BootstrapToken {
  metadata: { name: string; creationTimestamp: string };
  spec: { description: string; expiration: string; singleUse: boolean };
  status: { usedBy?: string; usedAt?: string; token?: string; caCertHash?: string };
}

/** The command a host runs to join (printed by `token create`). */
export function joinCommand(server: string, token: string, caCertHash: string | undefined): string {
  return `quantix-agent join --server ${server} --token ${token}${caCertHash ? ` --ca-cert-hash ${caCertHash}` : ''}`;
}

/** "23h59m" from now, "expired" when past. */
export function timeLeft(expiration: string, now = Date.now()): string {
  const left = Date.parse(expiration) - now;
  if (left <= 0) return 'expired';
  return formatDuration(Math.ceil(left / 1000) * 1000);
}

const createCommand: Command = {
  name: 'token create',
  summary: 'Create a bootstrap token and print the command that joins a host with it',
  usage: 'token create [--ttl DURATION] [--description TEXT] [--single-use] [flags]',
  description: `
Creates a bootstrap token ([a-z0-9]{6}.[a-z0-9]{16}) that lets one or more hosts join until it
expires. Only a hash of its secret is stored: the token is shown once, here. The printed join
command pins the cluster CA (--ca-cert-hash), so the host trusts nothing it cannot check.`,
  examples: ['qxctl token create', 'qxctl token create --ttl 15m --single-use --description "rack 4, host 2"'],
  flags: [
    { name: 'ttl', type: 'duration', valueName: 'DURATION', default: 3_600_000, description: 'How long the token is valid (1s to 7 days; default 1h).' },
    { name: 'description', type: 'string', valueName: 'TEXT', description: 'What the token is for (shown by token list).' },
    { name: 'single-use', type: 'boolean', description: 'The token joins one host only.' },
    OUTPUT_FLAG(['json', 'token']),
  ],
  args: { max: 0 },
  async run(ctx) {
    const ttlMs = ctx.flags.ttl as number;
    if (ttlMs < 1000 || ttlMs > MAX_TTL_MS) throw new UsageError(`--ttl: from 1s to 168h (7 days), got ${formatDuration(ttlMs)}`);
    const client = await ctx.client();
    const description = flagString(ctx, 'description');
    const spec = { ttlSeconds: Math.round(ttlMs / 1000), singleUse: Boolean(ctx.flags['single-use']), ...(description ? { description } : {}) };
    const { body } = await client.request<BootstrapToken>('POST', COLLECTION, { body: { apiVersion: 'quantix.io/v1alpha1', kind: 'BootstrapToken', spec } });
    const output = flagString(ctx, 'output');
    if (output === 'json') return ctx.io.out(toJson(body));
    if (output === 'token') return ctx.io.out(body.status.token ?? '');
    ctx.io.out(`Bootstrap token ${body.metadata.name} created: valid for ${timeLeft(body.spec.expiration)}${body.spec.singleUse ? ', single use' : ''}.`);
    ctx.io.out('Join a host by running on it:');
    ctx.io.out('');
    ctx.io.out(`  ${joinCommand(client.server, body.status.token ?? '', body.status.caCertHash)}`);
    ctx.io.out('');
    ctx.io.out('The token is shown only now. Delete it early with: qxctl token delete ' + body.metadata.name);
  },
};

const listCommand: Command = {
  name: 'token list',
  summary: 'List bootstrap tokens (their ids; never their secrets)',
  usage: 'token list [flags]',
  examples: ['qxctl token list'],
  flags: [OUTPUT_FLAG(['json'])],
  args: { max: 0 },
  async run(ctx) {
    const client = await ctx.client();
    const list = await client.get<{ items: BootstrapToken[] }>(COLLECTION);
    if (flagString(ctx, 'output') === 'json') return ctx.io.out(toJson(list));
    if (list.items.length === 0) return ctx.io.err('No bootstrap tokens.');
    const rows = list.items.map((t) => [
      t.metadata.name,
      timeLeft(t.spec.expiration),
      t.spec.expiration,
      t.spec.singleUse ? (t.status.usedBy ? `used by ${t.status.usedBy}` : 'single use') : 'reusable',
      t.spec.description || '<none>',
    ]);
    for (const line of formatRows([['ID', 'TTL', 'EXPIRES', 'USAGE', 'DESCRIPTION'], ...rows])) ctx.io.out(line);
  },
};

const deleteCommand: Command = {
  name: 'token delete',
  summary: 'Delete bootstrap tokens: hosts presenting them are refused at once (TOKEN_REVOKED)',
  usage: 'token delete ID... [flags]',
  examples: ['qxctl token delete abcdef'],
  flags: [],
  args: { min: 1 },
  async run(ctx) {
    const client = await ctx.client();
    const failures: unknown[] = [];
    for (const arg of ctx.args) {
      const id = arg.split('.')[0]!; // a whole token names its id too (its secret is not sent)
      try {
        await client.request('DELETE', `${COLLECTION}/${encodeURIComponent(id)}`);
        ctx.io.out(`bootstrap token ${id} deleted`);
      } catch (err) {
        failures.push(err);
      }
    }
    if (failures.length) throw failures.length === 1 ? failures[0] : new MultiError(failures);
  },
};

export const tokenCommands: Command[] = [createCommand, listCommand, deleteCommand];
