/**
 * A small command-line parser with kubectl's conventions:
 *   --flag value, --flag=value, -f value, -fvalue, -f=value
 *   boolean flags: --wait, --wait=false, --no-wait; grouped short booleans (-Aw)
 *   flags anywhere among the positionals; `--` ends the flags
 *   repeatable flags collect every value (-f a -f b, and -f a,b for list flags)
 */
import { UsageError } from './errors.js';

export type FlagType = 'boolean' | 'string' | 'strings' | 'duration' | 'int';

export interface FlagSpec {
  /** Long name without dashes, e.g. `namespace`. */
  name: string;
  /** One-letter alias without the dash, e.g. `n`. */
  short?: string;
  type: FlagType;
  description: string;
  /** Placeholder shown in help (`--namespace NAME`). */
  valueName?: string;
  default?: boolean | string | number | string[];
  /** Accepted values (string flags), checked while parsing. */
  choices?: readonly string[];
  /** Hidden from help. */
  hidden?: boolean;
}

export type FlagValue = boolean | string | number | string[] | undefined;

export interface ParsedArgs {
  flags: Record<string, FlagValue>;
  positionals: string[];
  /** Names of the flags set explicitly on the command line. */
  explicit: Set<string>;
}

/** Parses a duration: `30s`, `5m`, `1h30m`, `1500ms`, or a bare number of seconds. Returns milliseconds. */
export function parseDuration(text: string): number {
  const t = text.trim();
  if (/^\d+(\.\d+)?$/.test(t)) return Math.round(Number(t) * 1000);
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  let match: RegExpExecArray | null;
  while ((match = re.exec(t)) !== null) {
    const n = Number(match[1]);
    total += n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[match[2] as 'ms' | 's' | 'm' | 'h'];
    consumed = re.lastIndex;
  }
  if (!t || consumed !== t.length) throw new Error(`invalid duration "${text}" (use e.g. 30s, 5m, 1h30m)`);
  return Math.round(total);
}

/** Formats milliseconds the way durations are written on the command line: 2m0s, 45s, 1h5m0s. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.max(0, Math.round(ms))}ms`;
  const totalSeconds = Math.round(ms / 1000);
  const h = Math.floor(totalSeconds / 3600);
  const m = Math.floor((totalSeconds % 3600) / 60);
  const s = totalSeconds % 60;
  if (h) return `${h}h${m}m${s}s`;
  if (m) return `${m}m${s}s`;
  return `${s}s`;
}

function parseBool(name: string, text: string, command?: string): boolean {
  if (/^(true|t|1|yes)$/i.test(text)) return true;
  if (/^(false|f|0|no)$/i.test(text)) return false;
  throw new UsageError(`invalid value "${text}" for --${name}: expected true or false`, command);
}

function convert(spec: FlagSpec, raw: string, command?: string): FlagValue {
  switch (spec.type) {
    case 'boolean':
      return parseBool(spec.name, raw, command);
    case 'int': {
      if (!/^-?\d+$/.test(raw)) throw new UsageError(`invalid value "${raw}" for --${spec.name}: expected an integer`, command);
      return Number(raw);
    }
    case 'duration':
      try {
        return parseDuration(raw);
      } catch (err) {
        throw new UsageError(`--${spec.name}: ${(err as Error).message}`, command);
      }
    case 'string':
      if (spec.choices && !spec.choices.includes(raw)) {
        throw new UsageError(`invalid value "${raw}" for --${spec.name}: must be one of ${spec.choices.join(', ')}`, command);
      }
      return raw;
    case 'strings':
      return [raw];
  }
}

/**
 * Parses `argv` against `specs`. Unknown flags are usage errors naming the command.
 * String flags with choices accept `name=...` suffixes only when a choice ends with `=`
 * (not used yet); values are otherwise taken verbatim.
 */
export function parseArgs(argv: readonly string[], specs: readonly FlagSpec[], command?: string): ParsedArgs {
  const byLong = new Map(specs.map((s) => [s.name, s]));
  const byShort = new Map(specs.filter((s) => s.short).map((s) => [s.short!, s]));
  const flags: Record<string, FlagValue> = {};
  const explicit = new Set<string>();
  const positionals: string[] = [];
  for (const spec of specs) {
    if (spec.default !== undefined) flags[spec.name] = Array.isArray(spec.default) ? [...spec.default] : spec.default;
    else if (spec.type === 'strings') flags[spec.name] = [];
    else if (spec.type === 'boolean') flags[spec.name] = false;
  }
  const set = (spec: FlagSpec, value: FlagValue) => {
    if (spec.type === 'strings') {
      const prior = explicit.has(spec.name) ? ((flags[spec.name] as string[]) ?? []) : [];
      flags[spec.name] = [...prior, ...(value as string[])];
    } else {
      flags[spec.name] = value;
    }
    explicit.add(spec.name);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith('--')) {
      const body = arg.slice(2);
      const eq = body.indexOf('=');
      const name = eq >= 0 ? body.slice(0, eq) : body;
      const inline = eq >= 0 ? body.slice(eq + 1) : undefined;
      const spec = byLong.get(name);
      if (!spec && name.startsWith('no-')) {
        const negated = byLong.get(name.slice(3));
        if (negated && negated.type === 'boolean' && inline === undefined) {
          set(negated, false);
          continue;
        }
      }
      if (!spec) throw new UsageError(`unknown flag: --${name}`, command);
      if (spec.type === 'boolean') {
        set(spec, inline === undefined ? true : convert(spec, inline, command));
        continue;
      }
      let raw = inline;
      if (raw === undefined) {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: --${name}`, command);
        raw = argv[++i]!;
      }
      set(spec, convert(spec, raw, command));
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1 && !/^-\d/.test(arg)) {
      const letters = arg.slice(1);
      const first = byShort.get(letters[0]!);
      if (!first) throw new UsageError(`unknown shorthand flag: '${letters[0]}' in ${arg}`, command);
      if (first.type === 'boolean') {
        if (letters[1] === '=') {
          set(first, convert(first, letters.slice(2), command));
          continue;
        }
        // Grouped booleans: -Aw
        for (const letter of letters) {
          const spec = byShort.get(letter);
          if (!spec) throw new UsageError(`unknown shorthand flag: '${letter}' in ${arg}`, command);
          if (spec.type !== 'boolean') throw new UsageError(`flag -${letter} needs an argument and cannot be grouped in ${arg}`, command);
          set(spec, true);
        }
        continue;
      }
      let raw: string;
      if (letters.length > 1) raw = letters[1] === '=' ? letters.slice(2) : letters.slice(1);
      else {
        if (i + 1 >= argv.length) throw new UsageError(`flag needs an argument: '${letters[0]}' in -${letters[0]}`, command);
        raw = argv[++i]!;
      }
      set(first, convert(first, raw, command));
      continue;
    }
    positionals.push(arg);
  }
  return { flags, positionals, explicit };
}

/**
 * Finds the command words (verb, and sub-verb for groups) in argv without knowing every
 * command's flags: skips global flags and their values. Returns the words and the
 * remaining arguments, in order.
 */
export function splitCommand(
  argv: readonly string[],
  globalSpecs: readonly FlagSpec[],
  isGroup: (word: string) => boolean,
): { words: string[]; rest: string[] } {
  const takesValue = new Set<string>();
  for (const s of globalSpecs) {
    if (s.type !== 'boolean') {
      takesValue.add(`--${s.name}`);
      if (s.short) takesValue.add(`-${s.short}`);
    }
  }
  const words: string[] = [];
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--') {
      rest.push(...argv.slice(i));
      break;
    }
    const wantWord = words.length === 0 || (words.length === 1 && isGroup(words[0]!));
    if (wantWord && !arg.startsWith('-')) {
      words.push(arg);
      continue;
    }
    rest.push(arg);
    if (wantWord && takesValue.has(arg) && i + 1 < argv.length) rest.push(argv[++i]!);
  }
  return { words, rest };
}
