/**
 * The log flags every long-running component takes (apiserver, controller-manager, agent):
 * `--log-level`, `--log-dir`, `--log-max-size`, `--log-max-files`. One definition, so the three
 * parse, default and describe them the same way.
 */
import { resolve } from 'node:path';
import { DEFAULT_LOG_MAX_FILES, parseByteSize, type RotatingFile } from './files.js';
import { setLogFile, setLogLevel } from './logger.js';

/** `parseArgs` options, spread into a component's own. */
export const LOG_FLAG_OPTIONS = {
  'log-level': { type: 'string' },
  'log-dir': { type: 'string' },
  'log-max-size': { type: 'string', default: '10Mi' },
  'log-max-files': { type: 'string', default: String(DEFAULT_LOG_MAX_FILES) },
} as const;

/** The help lines, aligned at `column` (the column where a component's descriptions start). */
export function logFlagsHelp(column: number): string {
  const line = (flag: string, text: string) => `  ${flag.padEnd(column - 3)} ${text}`;
  return [
    line('--log-level LEVEL', 'error | warn | info | debug (default info, or QUANTIX_LOG_LEVEL)'),
    line('--log-dir DIR', 'also write JSON log records to DIR/<component>.log, rotated by size;'),
    line('', 'stderr then gets errors only (default: stderr only)'),
    line('--log-max-size SIZE', 'rotate the log file at SIZE bytes, or Ki/Mi/Gi (default 10Mi)'),
    line('--log-max-files N', `rotated files kept: <component>.log.1 … .N (default ${DEFAULT_LOG_MAX_FILES})`),
  ].join('\n');
}

export interface LogFlagValues {
  'log-level'?: string;
  'log-dir'?: string;
  'log-max-size'?: string;
  'log-max-files'?: string;
}

export interface LogFlags {
  level?: string;
  dir?: string;
  maxBytes: number;
  maxFiles: number;
}

/** Checks the values; throws naming the flag. */
export function parseLogFlags(values: LogFlagValues): LogFlags {
  let maxBytes: number;
  try {
    maxBytes = parseByteSize(values['log-max-size'] ?? '10Mi');
  } catch (err) {
    throw new Error(`--log-max-size: ${(err as Error).message}`);
  }
  const filesText = (values['log-max-files'] ?? String(DEFAULT_LOG_MAX_FILES)).trim();
  const maxFiles = /^\d+$/.test(filesText) ? Number(filesText) : Number.NaN;
  if (!Number.isSafeInteger(maxFiles)) throw new Error(`--log-max-files: a whole number ≥ 0, got "${values['log-max-files']}"`);
  if (values['log-dir'] === '') throw new Error('--log-dir: an empty path');
  return { level: values['log-level'], dir: values['log-dir'] === undefined ? undefined : resolve(values['log-dir']), maxBytes, maxFiles };
}

/** Applies the flags to the process's logger: level, and the file `<dir>/<base>.log` when --log-dir is given. */
export function applyLogFlags(values: LogFlagValues, base: string): RotatingFile | undefined {
  const flags = parseLogFlags(values);
  if (flags.level) setLogLevel(flags.level);
  return flags.dir ? setLogFile({ dir: flags.dir, base, maxBytes: flags.maxBytes, maxFiles: flags.maxFiles }) : undefined;
}
