/**
 * The command framework: what a verb declares (usage, flags, examples) and what it gets
 * when it runs (parsed flags, positionals, output streams, a lazily created client).
 */
import type { FlagSpec, FlagValue } from './args.js';
import type { Client } from './client.js';
import type { TerminalInput } from './console.js';
import { formatRows } from './table.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
  /** Whether stderr is a terminal (progress lines redraw in place). */
  isTTY: boolean;
  /** stdin, for `-f -`. */
  readStdin(): Promise<string>;
  /** The terminal streams `console` attaches (process.stdin/stdout when absent). */
  terminalIn?: TerminalInput;
  terminalOut?: NodeJS.WritableStream;
}

export interface Ctx {
  /** `qxctl get`, `qxctl vm start` — for messages. */
  command: string;
  flags: Record<string, FlagValue>;
  explicit: Set<string>;
  args: string[];
  io: Io;
  client(): Promise<Client>;
}

export interface Command {
  /** `get`, or `vm start` for group verbs. */
  name: string;
  summary: string;
  /** Usage line after `qxctl `, e.g. `get TYPE [NAME...] [flags]`. */
  usage: string;
  description?: string;
  examples?: string[];
  flags: FlagSpec[];
  /** Positional argument count bounds (checked before run). */
  args?: { min?: number; max?: number };
  run(ctx: Ctx): Promise<number | void>;
}

export const GLOBAL_FLAGS: FlagSpec[] = [
  { name: 'kubeconfig', type: 'string', valueName: 'PATH', description: 'Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).' },
  { name: 'context', type: 'string', valueName: 'NAME', description: 'The kubeconfig context to use.' },
  { name: 'namespace', short: 'n', type: 'string', valueName: 'NS', description: "Namespace for namespaced objects (default: the context's, else default)." },
  {
    name: 'request-timeout',
    type: 'duration',
    valueName: 'DURATION',
    default: 30_000,
    description: 'Timeout of each API request (not of waits or watches), e.g. 30s.',
  },
  {
    name: 'verbose',
    short: 'v',
    type: 'boolean',
    description: "Print the command's request id (X-Request-Id, the correlation id of what it changes) on stderr.",
  },
  { name: 'help', short: 'h', type: 'boolean', description: 'Show help for the command.' },
];

export const OUTPUT_FLAG = (choices: readonly string[]): FlagSpec => ({
  name: 'output',
  short: 'o',
  type: 'string',
  valueName: 'FORMAT',
  choices,
  description: `Output format: ${choices.join('|')}.`,
});

export const TIMEOUT_FLAG = (defaultMs: number, what: string): FlagSpec => ({
  name: 'timeout',
  type: 'duration',
  valueName: 'DURATION',
  default: defaultMs,
  description: `How long to wait ${what} (e.g. 90s, 5m).`,
});

function flagLine(f: FlagSpec): [string, string] {
  const value = f.type === 'boolean' ? '' : ` ${f.valueName ?? (f.type === 'duration' ? 'DURATION' : f.type === 'int' ? 'N' : 'VALUE')}`;
  const names = f.short ? `-${f.short}, --${f.name}${value}` : `    --${f.name}${value}`;
  let description = f.description;
  if (f.default !== undefined && f.type !== 'boolean') {
    const shown = f.type === 'duration' && typeof f.default === 'number' ? formatMs(f.default) : String(f.default);
    if (!description.includes('default')) description += ` (default ${shown})`;
  } else if (f.type === 'boolean' && f.default === true) {
    description += ' (default true; --' + f.name + '=false or --no-' + f.name + ' to turn off)';
  }
  return [`  ${names}`, description];
}

function formatMs(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The --help text of a command. */
export function commandHelp(cmd: Command): string {
  const lines: string[] = [cmd.summary, ''];
  if (cmd.description) lines.push(cmd.description.trim(), '');
  lines.push('Usage:', `  qxctl ${cmd.usage}`, '');
  if (cmd.examples?.length) {
    lines.push('Examples:', ...cmd.examples.map((e) => `  ${e}`), '');
  }
  const own = cmd.flags.filter((f) => !f.hidden);
  if (own.length) lines.push('Flags:', ...formatRows(own.map(flagLine)), '');
  lines.push('Global flags:', ...formatRows(GLOBAL_FLAGS.map(flagLine)), '');
  return lines.join('\n');
}

export function flagString(ctx: Ctx, name: string): string | undefined {
  const v = ctx.flags[name];
  return typeof v === 'string' && v !== '' ? v : undefined;
}

export function flagBool(ctx: Ctx, name: string): boolean {
  return ctx.flags[name] === true;
}

export function flagNumber(ctx: Ctx, name: string): number {
  return ctx.flags[name] as number;
}

export function flagStrings(ctx: Ctx, name: string): string[] {
  const v = ctx.flags[name];
  return Array.isArray(v) ? v.flatMap((s) => s.split(',')).filter(Boolean) : [];
}
