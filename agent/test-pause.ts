/**
 * A test-only pause point, for the crash-consistency suite (agent/crash.e2e.test.ts): with
 * `QX_TEST_PAUSE_AT=<step>` and `QX_TEST_PAUSE_FILE=<path>` in its environment, the agent
 * appends "paused at <step>" to the file when it reaches that step and then waits forever,
 * so a test can `kill -9` it exactly there — never a timer race. Without both variables
 * (always, outside that suite) it is a no-op. Read once, at start.
 *
 * Steps: 'vm:after-define' (domain defined, not started), 'vm:after-undefine' (domain
 * undefined, volumes not deleted), 'vm:before-delete-volumes' (a deletion's domain is gone,
 * its volumes about to be deleted), 'pool:after-define' (pool defined and recorded as the
 * agent's, not started).
 */
import { appendFileSync } from 'node:fs';

export type PauseStep = 'vm:after-define' | 'vm:after-undefine' | 'vm:before-delete-volumes' | 'pool:after-define';

const pauseAt = process.env.QX_TEST_PAUSE_AT;
const pauseFile = process.env.QX_TEST_PAUSE_FILE;

/** Resolves at once, unless a test asked to pause at `step`: then never. */
export function testPause(step: PauseStep): Promise<void> {
  if (!pauseAt || !pauseFile || pauseAt !== step) return Promise.resolve();
  appendFileSync(pauseFile, `paused at ${step}\n`);
  return new Promise<void>(() => undefined);
}
