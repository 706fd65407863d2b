/**
 * quantix-agent as a process of its own group (`tsx agent/main.ts`), for the suites that kill
 * it for real: SIGKILL to the whole group (tsx and node), never a timer race. Its log records
 * go to `agentLogPath(workDir)` (--log-dir: `<workDir>/agent.log`, or under the test run's log
 * dir with test-summary, where they are checked for secrets; appended across restarts), its
 * output (errors) to `<workDir>/agent.out`.
 */
import { testLogDir } from './test-logs.js';
import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import path from 'node:path';
import type { TestControlPlane } from './agent.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

export interface AgentProcessOptions {
  cp: TestControlPlane;
  /** Holds ca.crt, join-token and agent.log. */
  workDir: string;
  stateDir: string;
  hostname: string;
  /** More flags (e.g. --acceleration=tcg). */
  extraArgs?: string[];
  env?: NodeJS.ProcessEnv;
}

const logDirs = new Map<string, string>();

/** The agent's current log file (JSON records) for a work dir. */
export function agentLogPath(workDir: string): string {
  return path.join(logDirs.get(workDir) ?? workDir, 'agent.log');
}

export function startAgentProcess(o: AgentProcessOptions): ChildProcess {
  if (!logDirs.has(o.workDir)) logDirs.set(o.workDir, testLogDir(`agent-${o.hostname}`) ?? o.workDir);
  const log = openSync(path.join(o.workDir, 'agent.out'), 'a');
  const child = spawn(
    path.join(repoRoot, 'node_modules/.bin/tsx'),
    [
      'agent/main.ts',
      `--server=${o.cp.env.apiserver.url}`,
      `--gateway=${o.cp.gatewayAddress}`,
      `--ca-file=${path.join(o.workDir, 'ca.crt')}`,
      `--join-token-file=${path.join(o.workDir, 'join-token')}`,
      `--state-dir=${o.stateDir}`,
      '--driver=libvirt',
      `--hostname=${o.hostname}`,
      '--address=127.0.0.1',
      '--heartbeat-interval=1s',
      '--startup-jitter=0',
      '--safety-poll-interval=2s',
      '--shutdown-timeout=3s',
      `--log-dir=${logDirs.get(o.workDir)!}`,
      ...(o.extraArgs ?? []),
    ],
    { cwd: repoRoot, env: o.env ?? process.env, detached: true, stdio: ['ignore', log, log] },
  );
  closeSync(log);
  return child;
}

/** SIGKILL to the agent's whole process group; resolves once the process is gone. */
export async function killAgentProcess(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    process.kill(-child.pid!, 'SIGKILL');
  } catch {
    // already gone
  }
  await exited;
}
