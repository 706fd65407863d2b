/**
 * qxctl's dispatcher: finds the verb, parses its flags, prints help, runs it, and turns
 * every error into a message and an exit code (see errors.ts). Command modules are
 * imported only when their verb runs (or its help is asked for), so `qxctl version
 * --client` and `--help` start fast.
 *
 * Each command is one user action: all its API requests carry one new X-Request-Id, the
 * correlation id the apiserver records on what the command changes (docs/logging.md). `-v`
 * prints it on stderr; an error from the server shows it, so its log lines can be found.
 */
import { randomUUID } from 'node:crypto';
import { parseArgs, splitCommand } from './args.js';
import type { Client } from './client.js';
import { commandHelp, GLOBAL_FLAGS, type Command, type Ctx, type Io } from './command.js';
import { ApiError } from '../lib/apimachinery/status-error.js';
import { ExitCode, exitCodeOf, formatError, MultiError, UsageError } from './errors.js';

interface Entry {
  name: string;
  summary: string;
  load(): Promise<Command>;
}

const pick = (name: string) => (cmds: Command[]) => cmds.find((c) => c.name === name)!;

/** Every verb, in help order. */
export const ENTRIES: Entry[] = [
  {
    name: 'apply',
    summary: 'Create or update objects from manifests (server-side apply; --wait)',
    load: () => import('./commands/apply.js').then((m) => m.applyCommand),
  },
  {
    name: 'get',
    summary: 'Display one or many objects (tables, -o yaml|json|wide|name, -w)',
    load: () => import('./commands/get.js').then((m) => m.getCommand),
  },
  {
    name: 'describe',
    summary: 'Show details of objects, their conditions and Events',
    load: () => import('./commands/describe.js').then((m) => m.describeCommand),
  },
  { name: 'delete', summary: 'Delete objects and wait for their cleanup', load: () => import('./commands/delete.js').then((m) => m.deleteCommand) },
  ...['start', 'stop', 'restart', 'pause', 'resume'].map((verb) => ({
    name: `vm ${verb}`,
    summary: {
      start: 'Start a VM and wait until Running',
      stop: 'Stop a VM and wait until Stopped',
      restart: 'Restart a VM and wait until it runs again',
      pause: 'Pause a VM and wait until Paused',
      resume: 'Resume a paused VM and wait until Running',
    }[verb]!,
    load: () => import('./commands/vm.js').then((m) => pick(`vm ${verb}`)(m.vmCommands)),
  })),
  { name: 'vm clone', summary: 'Clone a stopped VM with copies of its disks', load: () => import('./commands/vm.js').then((m) => m.cloneCommand) },
  {
    name: 'vm snapshot',
    summary: "Snapshot a VM's disks and wait until Ready",
    load: () => import('./commands/snapshot.js').then((m) => pick('vm snapshot')(m.snapshotCommands)),
  },
  {
    name: 'vm restore',
    summary: 'Restore a stopped VM from a snapshot and wait',
    load: () => import('./commands/snapshot.js').then((m) => pick('vm restore')(m.snapshotCommands)),
  },
  { name: 'console', summary: "Attach the terminal to a VM's serial console", load: () => import('./commands/console.js').then((m) => m.consoleCommand) },
  { name: 'vnc', summary: "Open a VM's graphical console on a local port", load: () => import('./commands/console.js').then((m) => m.vncCommand) },
  { name: 'pool assign', summary: 'Assign a storage pool to nodes', load: () => import('./commands/pool.js').then((m) => pick('pool assign')(m.poolCommands)) },
  {
    name: 'pool unassign',
    summary: 'Remove a storage pool from nodes',
    load: () => import('./commands/pool.js').then((m) => pick('pool unassign')(m.poolCommands)),
  },
  { name: 'pool files', summary: "Browse a pool's files on a node", load: () => import('./commands/pool.js').then((m) => pick('pool files')(m.poolCommands)) },
  { name: 'node add', summary: 'Add a host: checked in phases, then joined', load: () => import('./commands/node-add.js').then((m) => m.nodeAddCommand) },
  { name: 'node cordon', summary: 'Mark nodes unschedulable', load: () => import('./commands/node.js').then((m) => pick('node cordon')(m.nodeCommands)) },
  { name: 'node uncordon', summary: 'Mark nodes schedulable', load: () => import('./commands/node.js').then((m) => pick('node uncordon')(m.nodeCommands)) },
  {
    name: 'node fence',
    summary: 'Declare nodes down: their VMs may be recovered elsewhere',
    load: () => import('./commands/node.js').then((m) => pick('node fence')(m.nodeCommands)),
  },
  { name: 'node unfence', summary: 'Withdraw a fence', load: () => import('./commands/node.js').then((m) => pick('node unfence')(m.nodeCommands)) },
  {
    name: 'node approve',
    summary: 'Approve nodes that joined under manual approval',
    load: () => import('./commands/node.js').then((m) => pick('node approve')(m.nodeCommands)),
  },
  {
    name: 'node revoke',
    summary: "Revoke a node's credentials at once",
    load: () => import('./commands/node.js').then((m) => pick('node revoke')(m.nodeCommands)),
  },
  {
    name: 'node check',
    summary: 'List orphan volumes and domains on a node (read-only)',
    load: () => import('./commands/node.js').then((m) => pick('node check')(m.nodeCommands)),
  },
  ...['create', 'list', 'delete'].map((verb) => ({
    name: `token ${verb}`,
    summary: {
      create: 'Create a bootstrap token and print the host join command',
      list: 'List bootstrap tokens',
      delete: 'Delete bootstrap tokens (hosts presenting them are refused)',
    }[verb]!,
    load: () => import('./commands/token.js').then((m) => pick(`token ${verb}`)(m.tokenCommands)),
  })),
  { name: 'logs', summary: 'Read the log records of every component and host', load: () => import('./commands/logs.js').then((m) => m.logsCommand) },
  { name: 'version', summary: 'Print the client and server versions', load: () => import('./commands/version.js').then((m) => m.versionCommand) },
  { name: 'completion', summary: 'Print a bash or zsh completion script', load: () => import('./commands/completion.js').then((m) => m.completionCommand) },
];

const GROUPS: Record<string, string> = {
  vm: 'VirtualMachine intent verbs: patch the spec, then wait for the phase.',
  pool: 'StoragePool verbs.',
  node: 'Node verbs.',
  token: 'Bootstrap tokens: how hosts join.',
};

export const isGroup = (word: string): boolean => word in GROUPS;

export const TOP_LEVEL = ['apply', 'get', 'describe', 'delete', 'vm', 'console', 'vnc', 'pool', 'node', 'token', 'logs', 'version', 'completion', 'help'];

export const EXIT_CODES_HELP = `Exit codes:
  0  success
  1  other error (server error, unexpected failure)
  2  usage: bad flags or arguments, unreadable manifest, no kubeconfig
  3  not found
  4  conflict or already exists
  5  invalid: the server rejected the object or request
  6  unauthorized or forbidden
  7  timeout: a wait did not converge in time
  8  the server is unreachable or unavailable
  9  node check found orphans
 20–33  node add: the host-join error code (docs/adding-a-host.md)`;

export function topHelp(): string {
  const rows = (names: string[]) =>
    names.map((n) => {
      const e = ENTRIES.find((x) => x.name === n)!;
      return `  ${n.padEnd(16)}${e.summary}`;
    });
  return [
    'qxctl controls Quantix: virtual machines, storage pools and nodes, declaratively.',
    'It reads the same kubeconfig as kubectl (KUBECONFIG, --kubeconfig, --context).',
    '',
    'Basic commands:',
    ...rows(['apply', 'get', 'describe', 'delete']),
    '',
    'VM commands:',
    ...rows(['vm start', 'vm stop', 'vm restart', 'vm pause', 'vm resume', 'vm clone', 'vm snapshot', 'vm restore', 'console', 'vnc']),
    '',
    'Pool and node commands:',
    ...rows(['pool assign', 'pool unassign', 'pool files', 'node cordon', 'node uncordon', 'node fence', 'node unfence', 'node check']),
    '',
    'Joining hosts:',
    ...rows(['node add', 'node approve', 'node revoke', 'token create', 'token list', 'token delete']),
    '',
    'Troubleshooting:',
    ...rows(['logs']),
    '',
    'Other:',
    ...rows(['version', 'completion']),
    '',
    'Usage:',
    '  qxctl [global flags] COMMAND [args] [flags]',
    '',
    EXIT_CODES_HELP,
    '',
    'Use "qxctl COMMAND --help" for more about a command (e.g. qxctl vm start --help).',
  ].join('\n');
}

export function groupHelp(group: string): string {
  const entries = ENTRIES.filter((e) => e.name.startsWith(`${group} `));
  return [
    GROUPS[group],
    '',
    'Usage:',
    `  qxctl ${group} COMMAND NAME... [flags]`,
    '',
    'Commands:',
    ...entries.map((e) => `  ${e.name.split(' ')[1]!.padEnd(12)}${e.summary}`),
    '',
    `Use "qxctl ${group} COMMAND --help" for more about a command.`,
  ].join('\n');
}

function suggest(word: string, candidates: string[]): string {
  const close = candidates.filter((c) => c.startsWith(word.slice(0, 2)) || levenshtein(c, word) <= 2);
  return close.length ? `\nDid you mean this?\n${close.map((c) => `\t${c}`).join('\n')}` : '';
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  return d[a.length]![b.length]!;
}

/** Loads every command (help tests, completion). */
export async function allCommands(): Promise<Command[]> {
  return Promise.all(ENTRIES.map((e) => e.load()));
}

export interface RunOptions {
  io: Io;
  /** Replaces the real client (unit tests). */
  clientFactory?: (opts: { kubeconfig?: string; context?: string; namespace?: string; requestTimeoutMs?: number; requestId?: string }) => Promise<Client>;
}

/** Whether the server answered (so the request id names its log and audit lines). */
function fromServer(err: unknown): boolean {
  return err instanceof ApiError || (err instanceof MultiError && err.errors.some(fromServer));
}

/** Runs qxctl with `argv` (the words after `qxctl`); resolves to the exit code. */
export async function run(argv: string[], opts: RunOptions): Promise<number> {
  const { io } = opts;
  const requestId = randomUUID();
  try {
    const completeAt = argv.indexOf('__complete');
    if (completeAt === 0) return await runComplete(argv.slice(1), opts);
    const { words, rest } = splitCommand(argv, GLOBAL_FLAGS, isGroup);
    const wantsHelp = rest.includes('--help') || rest.includes('-h');
    if (words.length === 0) {
      if (wantsHelp || rest.length === 0) {
        io.out(topHelp());
        return ExitCode.OK;
      }
      // Only flags: validate them (unknown flag → usage error), then ask for a command.
      parseArgs(rest, GLOBAL_FLAGS, 'qxctl');
      throw new UsageError('no command given', 'qxctl');
    }
    if (words[0] === 'help') {
      const topic = [...words.slice(1), ...rest.filter((r) => !r.startsWith('-'))];
      if (topic.length === 0) io.out(topHelp());
      else if (topic.length === 1 && isGroup(topic[0]!)) io.out(groupHelp(topic[0]!));
      else {
        const entry = ENTRIES.find((e) => e.name === topic.join(' '));
        if (!entry) throw new UsageError(`unknown help topic "${topic.join(' ')}"`, 'qxctl');
        io.out(commandHelp(await entry.load()));
      }
      return ExitCode.OK;
    }
    if (words.length === 1 && isGroup(words[0]!)) {
      if (wantsHelp) {
        io.out(groupHelp(words[0]!));
        return ExitCode.OK;
      }
      const verbs = ENTRIES.filter((e) => e.name.startsWith(`${words[0]} `)).map((e) => e.name.split(' ')[1]);
      throw new UsageError(`"qxctl ${words[0]}" needs a command: ${verbs.join(', ')}`, `qxctl ${words[0]}`);
    }
    const name = words.join(' ');
    const entry = ENTRIES.find((e) => e.name === name);
    if (!entry) {
      if (isGroup(words[0]!)) {
        const verbs = ENTRIES.filter((e) => e.name.startsWith(`${words[0]} `)).map((e) => e.name.split(' ')[1]!);
        throw new UsageError(
          `unknown command "${words[1]}" for "qxctl ${words[0]}" (commands: ${verbs.join(', ')})${suggest(words[1]!, verbs)}`,
          `qxctl ${words[0]}`,
        );
      }
      throw new UsageError(`unknown command "${words[0]}" for "qxctl"${suggest(words[0]!, TOP_LEVEL)}`, 'qxctl');
    }
    const cmd = await entry.load();
    const command = `qxctl ${cmd.name}`;
    if (wantsHelp) {
      io.out(commandHelp(cmd));
      return ExitCode.OK;
    }
    const parsed = parseArgs(rest, [...cmd.flags, ...GLOBAL_FLAGS], command);
    const { min = 0, max = Infinity } = cmd.args ?? {};
    if (parsed.positionals.length < min)
      throw new UsageError(`${min === 1 ? 'an argument is' : `at least ${min} arguments are`} required: qxctl ${cmd.usage}`, command);
    if (parsed.positionals.length > max) {
      throw new UsageError(
        max === 0 ? `unexpected arguments: ${parsed.positionals.join(' ')}` : `too many arguments (at most ${max}): ${parsed.positionals.join(' ')}`,
        command,
      );
    }
    let client: Promise<Client> | undefined;
    const clientOptions = {
      kubeconfig: parsed.flags.kubeconfig as string | undefined,
      context: parsed.flags.context as string | undefined,
      namespace: parsed.flags.namespace as string | undefined,
      requestTimeoutMs: parsed.flags['request-timeout'] as number,
      requestId,
    };
    const verbose = parsed.flags.verbose === true;
    const ctx: Ctx = {
      command,
      flags: parsed.flags,
      explicit: parsed.explicit,
      args: parsed.positionals,
      io,
      client: () => {
        if (!client && verbose) io.err(`request id: ${requestId}`);
        return (client ??= opts.clientFactory ? opts.clientFactory(clientOptions) : import('./client.js').then(({ Client }) => Client.create(clientOptions)));
      },
    };
    const code = await cmd.run(ctx);
    return typeof code === 'number' ? code : ExitCode.OK;
  } catch (err) {
    const message = formatError(err, { debug: Boolean(process.env.QXCTL_DEBUG) });
    io.err(fromServer(err) ? `${message}\nrequest id: ${requestId}` : message);
    return exitCodeOf(err);
  }
}

async function runComplete(words: string[], opts: RunOptions): Promise<number> {
  const { complete, namesFromServer } = await import('./commands/completion.js');
  const commands = await allCommands();
  let client: Promise<Client | undefined> | undefined;
  const candidates = await complete(words, {
    commands,
    topLevel: TOP_LEVEL,
    isGroup,
    names: async (type, namespace) => {
      client ??= (async () => {
        try {
          const kubeconfig = flagValue(words, '--kubeconfig');
          const context = flagValue(words, '--context');
          return opts.clientFactory
            ? await opts.clientFactory({ kubeconfig, context })
            : await (await import('./client.js')).Client.create({ kubeconfig, context });
        } catch {
          return undefined;
        }
      })();
      const c = await client;
      return c ? namesFromServer(c, type, namespace) : [];
    },
  });
  if (candidates.length) opts.io.out(candidates.join('\n'));
  return ExitCode.OK;
}

function flagValue(words: string[], flag: string): string | undefined {
  for (let i = 0; i < words.length; i++) {
    if (words[i] === flag) return words[i + 1];
    if (words[i]!.startsWith(`${flag}=`)) return words[i]!.slice(flag.length + 1);
  }
  return undefined;
}
