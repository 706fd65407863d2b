/**
 * quantix-agent as a process of its own group (`tsx agent/main.ts`), for the suites that kill
 * it for real: SIGKILL to the whole group (tsx and node), never a timer race. Output goes to
 * `<workDir>/agent.log` (appended across restarts).
 */
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

export function startAgentProcess(o: AgentProcessOptions): ChildProcess {
  const log = openSync(path.join(o.workDir, 'agent.log'), 'a');
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
