/**
 * Logging in as root on a guest's serial console, for the tests and the console benchmark.
 *
 * The state is read from the latest prompt in the output, not from its last characters: the
 * kernel writes to the same console and can print a line right after a prompt (a clocksource
 * warning under TCG did, and a login that had succeeded was taken for a failure).
 */
import { eventually } from './eventually.js';

/** What a login needs from a console session: all it printed so far, and a way to type. */
export interface SerialTerminal {
  output(): string;
  send(keys: string): void;
}

/** bash's default root prompt, e.g. `root@qxtest-convm-3be09c8d:~# `. */
export const ROOT_SHELL_PROMPT = /root@[\w.-]+:[^\r\n#]*# /g;
const LOGIN_PROMPT = /login: /g;
const PASSWORD_PROMPT = /Password: /g;

export type ConsoleState = 'shell' | 'login' | 'password' | 'unknown';

/** The prompt printed last at or after `from`, and where it starts (-1 when there is none). */
export function consoleState(text: string, from = 0): { state: ConsoleState; at: number } {
  const candidates: Array<[ConsoleState, RegExp]> = [
    ['shell', ROOT_SHELL_PROMPT],
    ['login', LOGIN_PROMPT],
    ['password', PASSWORD_PROMPT],
  ];
  let latest: { state: ConsoleState; at: number } = { state: 'unknown', at: -1 };
  for (const [state, pattern] of candidates) {
    pattern.lastIndex = from;
    for (let m = pattern.exec(text); m; m = pattern.exec(text)) {
      if (m.index > latest.at) latest = { state, at: m.index };
    }
  }
  return latest;
}

/**
 * Answers each new prompt after `from` (user name, then password) until a root shell prompt is
 * the latest thing printed. A refused login (cloud-init may set the password after getty
 * starts) brings a new login prompt, which is answered again. When no new prompt comes for
 * `idleMs`, Enter is pressed: a quiet serial console shows nothing by itself.
 */
export async function logInAsRoot(
  term: SerialTerminal,
  password: string,
  { from = 0, timeoutMs, idleMs = 15_000, pollMs = 1_000 }: { from?: number; timeoutMs: number; idleMs?: number; pollMs?: number },
): Promise<void> {
  let answered = -1;
  let lastKeysAt = 0;
  await eventually(
    () => {
      const { state, at } = consoleState(term.output(), from);
      if (state === 'shell') return true;
      if (state !== 'unknown' && at > answered) {
        answered = at;
        term.send(state === 'password' ? `${password}\r` : 'root\r');
        lastKeysAt = Date.now();
      } else if (Date.now() - lastKeysAt >= idleMs) {
        term.send('\r');
        lastKeysAt = Date.now();
      }
      throw new Error(`the latest prompt is ${state}; the output ends ${JSON.stringify(term.output().slice(-300))}`);
    },
    { timeoutMs, intervalMs: pollMs, message: 'root login on the serial console' },
  );
}
