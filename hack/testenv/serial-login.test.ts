import { consoleState, logInAsRoot, type SerialTerminal } from './serial-login.js';

/** A guest's getty and bash, scripted: refuses the first `refusals` passwords. */
function scriptedGuest({ refusals = 0, kernelNoise = '' } = {}) {
  let out = '[    1.0] booting\r\n';
  const typed: string[] = [];
  let awaiting: 'nothing' | 'user' | 'password' | 'command' = 'nothing';
  const term: SerialTerminal = {
    output: () => out,
    send(keys) {
      typed.push(keys);
      if (awaiting === 'nothing' || (awaiting === 'user' && keys === '\r')) {
        out += '\r\nDebian GNU/Linux 12 vm ttyS0\r\n\r\nvm login: ';
        awaiting = 'user';
      } else if (awaiting === 'user') {
        out += `${keys.trim()}\r\nPassword: `;
        awaiting = 'password';
      } else if (awaiting === 'password') {
        if (refusals-- > 0) {
          out += '\r\nLogin incorrect\r\nvm login: ';
          awaiting = 'user';
        } else {
          out += `\r\nLinux vm 6.1.0\r\n\u001b[?2004hroot@vm:~# ${kernelNoise}`;
          awaiting = 'command';
        }
      } else {
        out += `${keys.trim()}\r\n-bash: ${keys.trim()}: command not found\r\nroot@vm:~# `;
      }
    },
  };
  return { term, typed };
}

describe('consoleState', () => {
  it('names the prompt printed last, even when kernel lines follow it', () => {
    expect(consoleState('vm login: ')).toEqual({ state: 'login', at: 3 });
    expect(consoleState('vm login: root\r\nPassword: ').state).toBe('password');
    const noisy = 'vm login: root\r\nPassword: \r\nroot@qxtest-convm-3be09c8d:~# [  288.027187] clocksource: timekeeping watchdog\r\n';
    expect(consoleState(noisy).state).toBe('shell');
    expect(consoleState('root@vm:~# exit\r\nlogout\r\n\r\nvm login: ').state).toBe('login');
    expect(consoleState('[ 1.0] booting')).toEqual({ state: 'unknown', at: -1 });
  });

  it('looks only at the output from the given offset', () => {
    const text = 'root@vm:~# exit\r\nvm login: ';
    expect(consoleState(text, text.indexOf('vm login')).state).toBe('login');
    expect(consoleState(text, text.length).state).toBe('unknown');
  });
});

describe('logInAsRoot', () => {
  it('presses Enter until getty prompts, then answers the user name and the password once each', async () => {
    const guest = scriptedGuest();
    await logInAsRoot(guest.term, 'pw', { timeoutMs: 5_000, pollMs: 5 });
    expect(guest.typed).toEqual(['\r', 'root\r', 'pw\r']);
  });

  it('logs in again after a refusal (cloud-init had not set the password yet)', async () => {
    const guest = scriptedGuest({ refusals: 2 });
    await logInAsRoot(guest.term, 'pw', { timeoutMs: 5_000, pollMs: 5 });
    expect(guest.typed).toEqual(['\r', 'root\r', 'pw\r', 'root\r', 'pw\r', 'root\r', 'pw\r']);
  });

  it('takes a shell prompt followed by a kernel message for a successful login and types nothing more', async () => {
    const guest = scriptedGuest({ kernelNoise: '[  288.0] clocksource: wd-tsc-wd read-back delay\r\n' });
    await logInAsRoot(guest.term, 'pw', { timeoutMs: 5_000, pollMs: 5 });
    expect(guest.typed).toEqual(['\r', 'root\r', 'pw\r']);
    expect(guest.term.output()).not.toContain('command not found');
  });

  it('fails at the deadline naming the latest prompt and the output', async () => {
    const silent: SerialTerminal = { output: () => 'vm login: root\r\nPassword: ', send: () => undefined };
    await expect(logInAsRoot(silent, 'pw', { timeoutMs: 50, pollMs: 5, idleMs: 10 })).rejects.toThrow(
      /root login on the serial console within 50 ms: the latest prompt is password; the output ends "vm login: root\\r\\nPassword: "/,
    );
  });
});
