// Runs jest (arguments passed through) and ends the output with the counts CI reads:
//   Tests: 1595 passed, 0 failed
//   1595 passed, 0 failed
// Exits non-zero when a test failed, a suite failed outside its tests (import error, a
// throwing afterAll), no test ran, or jest left something running: a leaked handle is a
// failure here, not a hang (in band) and not a silently killed worker.
//
// --streams (what `make test` passes): the suites run in two jest processes side by side,
// those on the host's libvirtd in one, the others in the other (hack/test-streams.ts); the
// counts and checks above cover both.
//
// No secret in a log: the run gets a log dir (QX_TEST_LOG_DIR) where the test environment
// writes the components' log and audit files, and a 0600 file (QX_TEST_SECRETS_FILE) where
// it records the secrets it mints (tokens, keys, cloud-init user data; hack/testenv/test-logs.ts).
// After jest every file under the log dir is searched for every secret (as written, and
// JSON-escaped); a hit fails the run naming the file, never the secret.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { splitTestStreams } from './test-streams.js';
import { secretsInLogs, TEST_LOG_DIR_ENV, TEST_SECRETS_FILE_ENV } from './testenv/test-logs.js';

/** The parts of jest's --json result this script reads. */
interface JestJson {
  numPassedTests: number;
  numFailedTests: number;
  numPendingTests: number;
  numTodoTests: number;
  testResults: { name: string; status: string; assertionResults: { status: string }[] }[];
}

// How long jest may take to exit once it has written its results (coverage of nothing,
// reporters flushing). Past it, something a test opened is keeping the process alive.
const EXIT_GRACE_MS = 30_000;
// Printed by jest when it had to kill a worker that did not exit by itself (exit code 0).
const WORKER_LEAK = 'A worker process has failed to exit gracefully';

const tmp = mkdtempSync(path.join(tmpdir(), 'quantix-jest-'));
const logDir = path.join(tmp, 'logs');
const secretsFile = path.join(tmp, 'secrets');
mkdirSync(logDir);
writeFileSync(secretsFile, '', { mode: 0o600 });

// --streams (make test): two jest processes side by side, split by hack/test-streams.ts.
const STREAMS_FLAG = '--streams';
const jestArgs = process.argv.slice(2).filter((a) => a !== STREAMS_FLAG);
const jestBin = ['--experimental-vm-modules', 'node_modules/jest/bin/jest.js'];

interface StreamOutcome {
  name: string;
  exit: number;
  results: JestJson | undefined;
  hungAfterResults: boolean;
  workerLeaked: boolean;
  seconds: number;
}

/** One jest process: its results file, whether it hung after writing it, whether a worker leaked. */
async function runJest(name: string, args: string[]): Promise<StreamOutcome> {
  const started = Date.now();
  const resultsFile = path.join(tmp, `results-${name}.json`);
  const jest = spawn(process.execPath, [...jestBin, ...args, '--json', `--outputFile=${resultsFile}`], {
    stdio: ['inherit', 'inherit', 'pipe'],
    // stderr goes through this process; keep jest's colours when a person is watching.
    env: {
      ...process.env,
      ...(process.stderr.isTTY && !process.env.NO_COLOR ? { FORCE_COLOR: '1' } : {}),
      [TEST_LOG_DIR_ENV]: logDir,
      [TEST_SECRETS_FILE_ENV]: secretsFile,
    },
  });
  let workerLeaked = false;
  let stderrTail = '';
  jest.stderr!.on('data', (chunk: Buffer) => {
    process.stderr.write(chunk);
    // Keep a tail so a phrase split across two chunks is still found.
    stderrTail = (stderrTail + chunk.toString()).slice(-4096);
    if (stderrTail.includes(WORKER_LEAK)) workerLeaked = true;
  });
  let hungAfterResults = false;
  let killTimer: NodeJS.Timeout | undefined;
  const resultsPoll = setInterval(() => {
    if (!existsSync(resultsFile) || killTimer) return;
    clearInterval(resultsPoll);
    killTimer = setTimeout(() => {
      hungAfterResults = true;
      jest.kill('SIGKILL');
    }, EXIT_GRACE_MS);
  }, 500);
  const exit: number = await new Promise((resolve) => {
    jest.on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
  clearInterval(resultsPoll);
  clearTimeout(killTimer);
  let results: JestJson | undefined;
  try {
    results = JSON.parse(readFileSync(resultsFile, 'utf8')) as JestJson;
  } catch {
    results = undefined;
  }
  return { name, exit, results, hungAfterResults, workerLeaked, seconds: Math.round((Date.now() - started) / 1000) };
}

async function runStreams(): Promise<StreamOutcome[]> {
  if (!process.argv.includes(STREAMS_FLAG)) return [await runJest('all', jestArgs)];
  const listed = spawnSync(process.execPath, [...jestBin, ...jestArgs, '--listTests', '--json'], { encoding: 'utf8', maxBuffer: 64 << 20 });
  if (listed.status !== 0) throw new Error(`jest --listTests failed: ${listed.stderr}`);
  const streams = splitTestStreams(JSON.parse(listed.stdout) as string[], (file) => readFileSync(file, 'utf8'));
  console.log(`test-summary: ${streams.hostLibvirt.length} suites on the host's libvirtd in one stream, ${streams.other.length} in the other`);
  const run = (name: string, files: string[]) => (files.length ? runJest(name, [...jestArgs, '--runTestsByPath', ...files]) : undefined);
  return (await Promise.all([run('host-libvirt', streams.hostLibvirt), run('other', streams.other)])).filter((o): o is StreamOutcome => o !== undefined);
}

const outcomes = await runStreams();
const jestExit = outcomes.find((o) => o.exit !== 0)?.exit ?? 0;
const hungAfterResults = outcomes.some((o) => o.hungAfterResults);
const workerLeaked = outcomes.some((o) => o.workerLeaked);
const results: JestJson | undefined = outcomes.some((o) => !o.results)
  ? undefined
  : outcomes.reduce<JestJson>(
      (all, o) => ({
        numPassedTests: all.numPassedTests + o.results!.numPassedTests,
        numFailedTests: all.numFailedTests + o.results!.numFailedTests,
        numPendingTests: all.numPendingTests + o.results!.numPendingTests,
        numTodoTests: all.numTodoTests + o.results!.numTodoTests,
        testResults: [...all.testResults, ...o.results!.testResults],
      }),
      { numPassedTests: 0, numFailedTests: 0, numPendingTests: 0, numTodoTests: 0, testResults: [] },
    );
if (outcomes.length > 1) console.log(`test-summary: streams took ${outcomes.map((o) => `${o.name} ${o.seconds} s`).join(', ')}`);

const problems: string[] = [];
const leaks = secretsInLogs(logDir, secretsFile);
if (leaks.length) {
  problems.push(
    `a secret of this run was found in ${leaks.length} log file(s) (kept in ${logDir} for inspection; the secrets are in ${secretsFile}, 0600):\n` +
      leaks.map((l) => `  ${path.relative(logDir, l.file)}: secret #${l.index + 1} of the recorded list`).join('\n'),
  );
} else {
  const files = readdirSync(logDir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).length;
  const secrets = readFileSync(secretsFile, 'utf8').split('\n').filter(Boolean).length;
  console.log(`test-summary: none of the run's ${secrets} recorded secrets is in its ${files} log and audit files`);
  rmSync(tmp, { recursive: true, force: true });
}

let passed = 0;
let failed = 0;
if (!results) {
  problems.push(`jest wrote no results (exit code ${jestExit})`);
} else {
  passed = results.numPassedTests;
  failed = results.numFailedTests;
  // A suite that failed while none of its tests did (it did not load, or a hook threw):
  // its tests are not counted, so the suite counts as one failure.
  const brokenSuites = results.testResults.filter((s) => s.status === 'failed' && !s.assertionResults.some((a) => a.status === 'failed'));
  if (brokenSuites.length) {
    failed += brokenSuites.length;
    problems.push(
      `${brokenSuites.length} suite(s) failed outside their tests, each counted as one failure:\n` +
        brokenSuites.map((s) => `  ${path.relative(process.cwd(), s.name)}`).join('\n'),
    );
  }
  const notRun = results.numPendingTests + results.numTodoTests;
  if (notRun) problems.push(`${notRun} test(s) skipped or todo: not run, not counted as passed`);
  if (passed + failed === 0) problems.push('no test ran');
}
// A leak cannot be pinned on one test; it counts as one failure so the counts agree with the exit code.
if (hungAfterResults) {
  failed += 1;
  problems.push(
    `jest did not exit ${EXIT_GRACE_MS / 1000} s after the run: a test left a handle open (find it with --detectOpenHandles); killed, counted as one failure`,
  );
}
if (workerLeaked) {
  failed += 1;
  problems.push('a jest worker did not exit by itself: a test left a handle open (find it with --detectOpenHandles); counted as one failure');
}

const ok = jestExit === 0 && failed === 0 && passed > 0 && !hungAfterResults && !workerLeaked && results !== undefined && leaks.length === 0;
if (!ok && !problems.length && jestExit !== 0) problems.push(`jest exited with code ${jestExit}`);
console.log('');
for (const p of problems) console.log(`test-summary: ${p}`);
console.log(`Tests: ${passed} passed, ${failed} failed`);
console.log(`${passed} passed, ${failed} failed`);
process.exit(ok ? 0 : 1);
