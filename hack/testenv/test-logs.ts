/**
 * The test run's log files and secrets, for the check that no secret reaches a log
 * (issue 17: "no bearer token, certificate key or cloud-init user data appears in any log or
 * audit file after the full make test run").
 *
 * hack/test-summary.ts gives the run a log dir (QX_TEST_LOG_DIR) and a secrets file
 * (QX_TEST_SECRETS_FILE, 0600, outside that dir). The test environment then:
 * - writes the records of the components it runs in the test's process to a log file there
 *   (`startTestLogFile`, from startTestApiserver), and gives the components it spawns
 *   `--log-dir` there (`testLogDir`), or keeps their piped output there (`keepProcessOutput`);
 * - records every secret it mints or is given (tokens, bootstrap tokens, cloud-init user
 *   data: `recordTestSecrets`).
 * After jest, test-summary greps every file under the log dir for every recorded secret
 * and fails the run naming the file (never printing the secret).
 *
 * Audit: an apiserver started by the test environment (startTestApiserver) writes its audit
 * log to `testAuditLogPath()` at Request level (bodies in),
 * so the audit files are grepped too.
 *
 * Outside test-summary (one suite run by hand) the variables are unset and all of this does
 * nothing.
 */
import { appendFileSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { closeLogFile, setLogFile } from '../../lib/logging/logger.js';

export const TEST_LOG_DIR_ENV = 'QX_TEST_LOG_DIR';
export const TEST_SECRETS_FILE_ENV = 'QX_TEST_SECRETS_FILE';

/** A new directory for one component's logs under the run's log dir; undefined outside test-summary. */
export function testLogDir(name: string): string | undefined {
  const root = process.env[TEST_LOG_DIR_ENV];
  if (!root) return undefined;
  const dir = join(root, `${name.replace(/[^A-Za-z0-9._-]/g, '_')}-${process.pid}-${randomBytes(3).toString('hex')}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Where an apiserver of the test environment writes its audit log (the hook for --audit-log-path). */
export function testAuditLogPath(): string | undefined {
  const dir = testLogDir('audit');
  return dir && join(dir, 'audit.log');
}

/** Records secrets the run must never log (one per line; secrets hold no newline but user data, which is recorded line by line too). */
export function recordTestSecrets(...secrets: (string | undefined)[]): void {
  const file = process.env[TEST_SECRETS_FILE_ENV];
  if (!file) return;
  const lines = secrets.flatMap((s) =>
    s
      ? [
          s,
          ...s
            .split('\n')
            .map((line) => line.trim())
            .filter(isDistinctive),
        ]
      : [],
  );
  if (lines.length) appendFileSync(file, `${[...new Set(lines)].map((l) => JSON.stringify(l)).join('\n')}\n`, { mode: 0o600 });
}

/** A line of user data worth looking for on its own (`#cloud-config` or `packages: [nginx]` would match innocent text). */
function isDistinctive(line: string): boolean {
  return line.trim().length >= 16;
}

/**
 * For a suite that ran hack/up.sh with its own state dir (call after hack/down.sh, before the
 * dir is removed): the tokens of its tokens.csv, its prometheus.token and every key it made
 * become secrets of the run, and its logs (component records, audit, UI actions, process
 * output) are kept in the run's log dir, so the end-of-run check covers them too.
 */
export function keepUpStateLogs(stateDir: string, name: string): void {
  const dir = testLogDir(name);
  if (!dir) return;
  const readIf = (path: string) => (existsSync(path) ? readFileSync(path, 'utf8') : undefined);
  // tokens.csv: token,user,uid[,"groups"]
  const tokens = (readIf(join(stateDir, 'tokens.csv')) ?? '').split('\n').map((line) => line.split(',')[0]!.trim());
  const keys = readdirSync(stateDir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.key'))
    .map((e) => readFileSync(join(e.parentPath, e.name), 'utf8'));
  recordTestSecrets(...tokens.filter(Boolean), readIf(join(stateDir, 'prometheus.token'))?.trim(), ...keys);
  if (existsSync(join(stateDir, 'logs'))) cpSync(join(stateDir, 'logs'), dir, { recursive: true });
}

/**
 * For a process a suite spawned with its output piped (an agent whose log lines the test reads):
 * keeps what it printed in the run's log dir, so the end-of-run check covers it too.
 */
export function keepProcessOutput(name: string, output: string): void {
  const dir = testLogDir(name);
  if (dir) appendFileSync(join(dir, 'output.log'), output);
}

/**
 * Writes the records of everything logging in this test's process (its module registry:
 * one per test file) to a file under the run's log dir, until the returned function runs.
 * Nothing outside test-summary.
 */
export function startTestLogFile(name: string): () => Promise<void> {
  const dir = testLogDir(name);
  if (!dir) return async () => undefined;
  setLogFile({ dir, base: 'in-process' });
  return () => closeLogFile();
}

/** Every file under `dir` holding one of the recorded secrets (raw or JSON-escaped): file and the secret's index. */
export function secretsInLogs(dir: string, secretsPath: string): { file: string; index: number }[] {
  const secrets = readFileSync(secretsPath, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as string);
  if (secrets.length === 0) return [];
  const forms = secrets.map((s) => [s, JSON.stringify(s).slice(1, -1)]);
  const hits: { file: string; index: number }[] = [];
  for (const file of filesUnder(dir)) {
    const text = readFileSync(file, 'utf8');
    const index = forms.findIndex((f) => f.some((form) => text.includes(form)));
    if (index >= 0) hits.push({ file, index });
  }
  return hits;
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const full = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(full) : entry.isFile() ? [full] : [];
  });
}
