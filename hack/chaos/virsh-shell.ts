/**
 * One long-lived `virsh` shell for the chaos run's looks at libvirt: a virsh process costs
 * about 40 ms of CPU to start and connect, and the run looks several times a second, which on
 * a 2-core host took CPU from the agent it measures. Commands go to the shell's stdin one at
 * a time, each followed by `echo <marker>`; its answer is what virsh printed before the
 * marker (prompt lines left out; errors go to stderr, so a failed command answers nothing).
 * When libvirtd restarts or a command hangs, the shell is replaced by a new one.
 */
import { type ChildProcess, spawn } from 'node:child_process';

/** The printed part of one command's answer: the lines between its prompt line and the marker. */
export function answerBefore(buffer: string, marker: string): { answer: string; rest: string } | undefined {
  const at = buffer.indexOf(`\n${marker}\n`);
  if (at < 0) return undefined;
  const answer = buffer
    .slice(0, at)
    .split('\n')
    .filter((line) => !line.startsWith('virsh # '))
    .join('\n');
  return { answer, rest: buffer.slice(at + marker.length + 2) };
}

export class VirshShell {
  #child: ChildProcess | undefined;
  #buffer = '';
  #seq = 0;
  #queue: Promise<unknown> = Promise.resolve();
  #waiter: { marker: string; resolve: (answer: string) => void; reject: (err: Error) => void } | undefined;
  #closed = false;

  constructor(private readonly uri: string) {}

  /** Runs one command (no quoting: the run's names have no spaces); resolves with what it printed. */
  run(command: string, timeoutMs = 15_000): Promise<string> {
    if (this.#closed) return Promise.reject(new Error('the virsh shell is closed'));
    const next = this.#queue.then(() => this.#runNow(command, timeoutMs));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  /** Ends the shell; `reopen` lets the next command start a new one (after libvirtd went away). */
  close(reopen = false): void {
    this.#closed = !reopen;
    this.#child?.kill('SIGKILL');
    this.#child = undefined;
  }

  #shell(): ChildProcess {
    if (this.#child && this.#child.exitCode === null && this.#child.signalCode === null) return this.#child;
    const child = spawn('virsh', ['-c', this.uri], { stdio: ['pipe', 'pipe', 'ignore'] });
    this.#buffer = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      this.#buffer += chunk;
      const w = this.#waiter;
      const found = w && answerBefore(this.#buffer, w.marker);
      if (!w || !found) return;
      this.#buffer = found.rest;
      this.#waiter = undefined;
      w.resolve(found.answer);
    });
    child.once('exit', () => {
      if (this.#child === child) this.#child = undefined;
      const w = this.#waiter;
      this.#waiter = undefined;
      w?.reject(new Error('the virsh shell exited'));
    });
    // An exited shell's stdin may still be written to once: the exit handler reports it.
    child.stdin!.on('error', () => undefined);
    this.#child = child;
    return child;
  }

  async #runNow(command: string, timeoutMs: number): Promise<string> {
    const child = this.#shell();
    const marker = `__qx_chaos_${++this.#seq}__`;
    let timer: NodeJS.Timeout | undefined;
    try {
      return await new Promise<string>((resolve, reject) => {
        this.#waiter = { marker, resolve, reject };
        timer = setTimeout(() => {
          this.#waiter = undefined;
          // A shell that hangs (libvirtd gone mid-command) is replaced by the next command.
          child.kill('SIGKILL');
          reject(new Error(`virsh ${command}: no answer within ${timeoutMs} ms`));
        }, timeoutMs);
        child.stdin!.write(`${command}\necho ${marker}\n`);
      });
    } finally {
      clearTimeout(timer);
    }
  }
}
