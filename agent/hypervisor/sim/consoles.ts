/**
 * Consoles of simulated domains. The serial console behaves like a tiny terminal that echoes
 * what is written to it; it holds one session at a time, as libvirt does (a second open
 * without force is refused with ConsoleTaken; with force the first session ends 'taken').
 * The VNC console sends the RFB 3.8 greeting, then echoes. Sessions end 'stopped' when the
 * domain stops or disappears, and 'error' when the simulated hypervisor goes away.
 */
import type { ConsoleChannel, ConsoleEndReason, ConsoleKind, ConsoleOpenOptions } from '../driver.js';
import { HypervisorError } from '../errors.js';

/** What a VNC server sends first (RFB protocol version 3.8). */
export const RFB_GREETING = 'RFB 003.008\n';

export class SimConsoleChannel implements ConsoleChannel {
  readonly #dataListeners: ((data: Buffer) => void)[] = [];
  readonly #closeListeners: ((reason: ConsoleEndReason, message: string) => void)[] = [];
  #ended = false;

  constructor(
    readonly uuid: string,
    readonly kind: ConsoleKind,
    private readonly onEnded: (channel: SimConsoleChannel) => void,
  ) {}

  get ended(): boolean {
    return this.#ended;
  }

  write(data: Buffer): void {
    if (this.#ended) return;
    // The echo arrives asynchronously, like bytes read back off a pty.
    const copy = Buffer.from(data);
    setImmediate(() => this.emitData(copy));
  }

  close(): void {
    this.end('closed', 'the console session was closed');
  }

  onData(listener: (data: Buffer) => void): void {
    this.#dataListeners.push(listener);
  }

  onClose(listener: (reason: ConsoleEndReason, message: string) => void): void {
    this.#closeListeners.push(listener);
  }

  emitData(data: Buffer): void {
    if (this.#ended) return;
    for (const l of this.#dataListeners) l(data);
  }

  /** Ends the session once; later calls do nothing. */
  end(reason: ConsoleEndReason, message: string): void {
    if (this.#ended) return;
    this.#ended = true;
    this.onEnded(this);
    for (const l of this.#closeListeners) l(reason, message);
  }
}

export class SimConsoles {
  /** Open sessions per domain uuid. */
  readonly #sessions = new Map<string, Set<SimConsoleChannel>>();

  /** Open sessions of all domains (tests: nothing leaks). */
  get openCount(): number {
    let n = 0;
    for (const s of this.#sessions.values()) n += s.size;
    return n;
  }

  /** Opens a session of a running domain (the caller checked it exists and runs). */
  open(uuid: string, name: string, kind: ConsoleKind, options: ConsoleOpenOptions = {}): SimConsoleChannel {
    const sessions = this.#sessions.get(uuid) ?? new Set<SimConsoleChannel>();
    if (kind === 'serial') {
      const holder = [...sessions].find((s) => s.kind === 'serial');
      if (holder && !options.force) {
        throw new HypervisorError('ConsoleTaken', `operation failed: Active console session exists for domain '${name}'`, {
          operation: 'openConsole',
          target: uuid,
        });
      }
      holder?.end('taken', `another session took over the serial console of domain '${name}'`);
    }
    const channel = new SimConsoleChannel(uuid, kind, (c) => {
      const set = this.#sessions.get(uuid);
      set?.delete(c);
      if (set?.size === 0) this.#sessions.delete(uuid);
    });
    sessions.add(channel);
    this.#sessions.set(uuid, sessions);
    if (kind === 'vnc') setImmediate(() => channel.emitData(Buffer.from(RFB_GREETING)));
    return channel;
  }

  /** Ends every session of a domain (it stopped or went away). */
  endAll(uuid: string, reason: ConsoleEndReason, message: string): void {
    for (const s of [...(this.#sessions.get(uuid) ?? [])]) s.end(reason, message);
  }

  /** Ends every session of every domain (the hypervisor went away). */
  endEverything(reason: ConsoleEndReason, message: string): void {
    for (const uuid of [...this.#sessions.keys()]) this.endAll(uuid, reason, message);
  }
}
