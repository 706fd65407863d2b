/**
 * Consoles of running domains as byte streams: the serial console through libvirt's
 * DOMAIN_OPEN_CONSOLE stream (the libvirt console lock: one session at a time, shared with
 * `virsh console`; force takes it over), and the VNC display by connecting to the unix socket
 * libvirt gave QEMU (read from the live XML; the agent runs as root on the host, beside it).
 *
 * How a session ends: our close() is 'closed'; a Stopped/Undefined event of the domain, or
 * the stream ending while the domain is no longer running, is 'stopped'; libvirtd aborting a
 * serial stream of a running domain is 'taken' (libvirt drops the console of a live domain
 * only when another session opens it with force; it says just "stream had I/O failure"); a
 * lost libvirtd connection or a socket error is 'error'.
 *
 * QEMU closes its pty and sockets before libvirt records the stop, so a transport that ends
 * while the domain still looks active waits up to STOP_GRACE_MS for the Stopped event before
 * it is called 'taken' or 'error'. A forced open by this driver ends the sessions it
 * displaces as 'taken' at once.
 *
 * Limit (libvirt 9.0): libvirtd tells the old holder of a forced console only when none of
 * that stream's output is on its way to the client at the instant of the takeover; otherwise
 * the stream goes silent and later writes to it are never processed. A session taken by
 * another client (`virsh console --force`) in that instant stays open without output until it
 * is closed; nothing in libvirt's API tells it apart from a quiet console.
 */
import net from 'node:net';
import type { ConsoleChannel, ConsoleEndReason, ConsoleKind, ConsoleOpenOptions, PowerState } from '../driver.js';
import { HypervisorError } from '../errors.js';
import { normalizeUuid, uuidToBytes } from '../validate.js';
import type { LibvirtConnection } from './connection.js';
import { DomainStateNames, Procs, VIR_DOMAIN_CONSOLE_FORCE, VIR_DOMAIN_CONSOLE_SAFE, VirErr, type RemoteDomain } from './protocol.js';
import type { RpcStream, RpcStreamEnd } from './rpc.js';
import { vncListen } from './xml.js';

/** States in which a domain has a QEMU process (and so its consoles). */
const ACTIVE: readonly PowerState[] = ['Running', 'Blocked', 'Paused', 'ShuttingDown', 'PMSuspended'];

/** How long an unexplained end of a transport waits for the domain's Stopped event. */
const STOP_GRACE_MS = 3_000;

const TAKEN_MESSAGE = 'another session took the serial console over (forced)';

/** libvirt's answer when the console lock is held and force was not given (VIR_ERR_OPERATION_FAILED). */
const CONSOLE_HELD = /active console session exists/i;
/** libvirt's answers when the domain has no console pty (VIR_ERR_INTERNAL_ERROR). */
const NO_CONSOLE_DEVICE = /cannot find character device|is not using a PTY/i;

/**
 * One console session: listeners, data that arrives before the first onData listener, and
 * the single end. `shutdown` releases the transport (stream or socket).
 */
export class ConsoleSession implements ConsoleChannel {
  private endReason: { reason: ConsoleEndReason; message: string } | null = null;
  private readonly dataListeners: Array<(data: Buffer) => void> = [];
  /** Set when this driver forces the console away from this (serial) session. */
  displaced = false;
  private readonly closeListeners: Array<(reason: ConsoleEndReason, message: string) => void> = [];
  private early: Buffer[] = [];

  constructor(
    readonly uuid: string,
    readonly kind: ConsoleKind,
    private readonly transport: { write(data: Buffer): void; shutdown(): void },
    private readonly forget: (s: ConsoleSession) => void,
  ) {}

  get ended(): boolean {
    return this.endReason !== null;
  }

  write(data: Buffer): void {
    if (this.endReason || data.length === 0) return;
    this.transport.write(data);
  }

  close(): void {
    this.end('closed', 'the session was closed');
  }

  onData(listener: (data: Buffer) => void): void {
    this.dataListeners.push(listener);
    if (this.dataListeners.length === 1 && this.early.length > 0) {
      const early = this.early;
      this.early = [];
      for (const d of early) listener(d);
    }
  }

  onClose(listener: (reason: ConsoleEndReason, message: string) => void): void {
    if (this.endReason) listener(this.endReason.reason, this.endReason.message);
    else this.closeListeners.push(listener);
  }

  /** @internal Bytes from the console. */
  deliver(data: Buffer): void {
    if (this.endReason || data.length === 0) return;
    if (this.dataListeners.length === 0) this.early.push(data);
    else for (const l of [...this.dataListeners]) l(data);
  }

  /** @internal Ends the session once; later calls do nothing. */
  end(reason: ConsoleEndReason, message: string): void {
    if (this.endReason) return;
    this.endReason = { reason, message };
    this.early = [];
    this.forget(this);
    try {
      this.transport.shutdown();
    } catch {
      // the transport is gone already
    }
    for (const l of this.closeListeners.splice(0)) l(reason, message);
  }
}

export class LibvirtConsoles {
  private readonly sessions = new Set<ConsoleSession>();
  /** Waiters for a domain's Stopped/Undefined event, by UUID. */
  private readonly stopWaiters = new Map<string, Set<() => void>>();

  constructor(private readonly conn: LibvirtConnection) {
    conn.subscribe((ev) => {
      if (ev.kind !== 'domain' || (ev.type !== 'Stopped' && ev.type !== 'Undefined')) return;
      for (const s of [...this.sessions])
        if (s.uuid === ev.uuid) s.end('stopped', `the domain ${ev.type === 'Undefined' ? 'was undefined' : 'stopped'} (${ev.detail})`);
      for (const w of [...(this.stopWaiters.get(ev.uuid) ?? [])]) w();
    });
  }

  /** `stopped` resolves true when the domain's Stopped/Undefined event arrives within `ms`; cancel() resolves it false at once. */
  private stopAnnounced(uuid: string, ms: number): { stopped: Promise<boolean>; cancel(): void } {
    let done: (stopped: boolean) => void = () => {};
    const stopped = new Promise<boolean>((resolve) => {
      let waiters = this.stopWaiters.get(uuid);
      if (!waiters) this.stopWaiters.set(uuid, (waiters = new Set()));
      const onStop = (): void => done(true);
      const timer = setTimeout(() => done(false), ms);
      done = (value) => {
        clearTimeout(timer);
        waiters.delete(onStop);
        if (waiters.size === 0 && this.stopWaiters.get(uuid) === waiters) this.stopWaiters.delete(uuid);
        resolve(value);
      };
      waiters.add(onStop);
    });
    return { stopped, cancel: () => done(false) };
  }

  /** Open sessions (tests, diagnostics). */
  get openSessions(): number {
    return this.sessions.size;
  }

  /** Ends every session (the driver is closing). */
  closeAll(message: string): void {
    for (const s of [...this.sessions]) s.end('error', message);
  }

  async openConsole(uuid: string, kind: ConsoleKind, options: ConsoleOpenOptions = {}): Promise<ConsoleChannel> {
    if (kind !== 'serial' && kind !== 'vnc') {
      throw new HypervisorError('InvalidSpec', `unknown console kind "${String(kind)}" (serial, vnc)`, { operation: 'openConsole', target: uuid });
    }
    const u = normalizeUuid(uuid);
    const ctx = { operation: 'openConsole', target: u };
    const dom = await this.conn.call(Procs.domainLookupByUuid, { uuid: uuidToBytes(u) }, ctx);
    const state = await this.powerState(dom, ctx);
    if (!ACTIVE.includes(state)) {
      throw new HypervisorError('InvalidState', `domain ${dom.name} is not running (${state}): it has no ${kind} console`, ctx);
    }
    return kind === 'serial' ? this.openSerial(dom, u, options.force === true) : this.openVnc(dom, u);
  }

  private async powerState(dom: RemoteDomain, ctx: { operation: string; target: string }): Promise<PowerState> {
    const st = await this.conn.call(Procs.domainGetState, { dom, flags: 0 }, ctx);
    return DomainStateNames[st.state] ?? 'NoState';
  }

  /**
   * Why a transport ended on its own: 'stopped' when the domain is gone, no longer running, or
   * announces its stop within STOP_GRACE_MS; else `otherwise`.
   */
  private async endReasonFor(dom: RemoteDomain, uuid: string, otherwise: ConsoleEndReason): Promise<ConsoleEndReason> {
    const announced = this.stopAnnounced(uuid, STOP_GRACE_MS);
    const active = await this.stillActive(dom, uuid);
    if (active === false) {
      announced.cancel();
      return 'stopped';
    }
    if (await announced.stopped) return 'stopped';
    const again = await this.stillActive(dom, uuid);
    if (again === false) return 'stopped';
    // libvirtd unreachable: nothing tells a takeover from a failure.
    return again === undefined && otherwise === 'taken' ? 'error' : otherwise;
  }

  /** Whether the domain still has a QEMU process; undefined when libvirtd cannot say. */
  private async stillActive(dom: RemoteDomain, uuid: string): Promise<boolean | undefined> {
    try {
      return ACTIVE.includes(await this.powerState(dom, { operation: 'openConsole', target: uuid }));
    } catch (err) {
      return err instanceof HypervisorError && err.reason === 'DomainNotFound' ? false : undefined;
    }
  }

  private async openSerial(dom: RemoteDomain, uuid: string, force: boolean): Promise<ConsoleChannel> {
    const ctx = { operation: 'openConsole', target: uuid };
    let stream: RpcStream;
    // With force, libvirt aborts the stream of whoever holds the console; ours are known here.
    const displaced = force ? [...this.sessions].filter((s) => s.uuid === uuid && s.kind === 'serial' && !s.displaced) : [];
    for (const s of displaced) s.displaced = true;
    try {
      // SAFE: refuse rather than open a console libvirt cannot lock (then sessions could not be exclusive).
      const flags = VIR_DOMAIN_CONSOLE_SAFE | (force ? VIR_DOMAIN_CONSOLE_FORCE : 0);
      stream = await this.conn.openStream(Procs.domainOpenConsole, { dom, devName: null, flags }, ctx);
    } catch (err) {
      for (const s of displaced) s.displaced = false;
      throw consoleOpenError(err, dom.name);
    }
    const session = new ConsoleSession(
      uuid,
      'serial',
      {
        write: (d) => void stream.write(d),
        shutdown: () => void stream.finish().catch(() => undefined),
      },
      (s) => this.sessions.delete(s),
    );
    this.sessions.add(session);
    stream.onData((d) => session.deliver(d));
    stream.onEnd((end) => void this.serialEnded(session, dom, uuid, end));
    // libvirtd reports the abort of a displaced stream only when no data of it is in flight
    // at that instant (libvirt 9.0, remote_daemon_stream.c): end ours here, not on its word.
    for (const s of displaced) s.end('taken', TAKEN_MESSAGE);
    return session;
  }

  private async serialEnded(session: ConsoleSession, dom: RemoteDomain, uuid: string, end: RpcStreamEnd): Promise<void> {
    this.conn.log('debug', `serial console of ${dom.name}: stream ended (${end.kind}${'message' in end ? `: ${end.message}` : ''})`);
    if (session.ended) return;
    switch (end.kind) {
      case 'finished':
        session.end('closed', 'the session was closed');
        return;
      case 'closed':
        session.end('error', `libvirtd connection lost: ${end.message}`);
        return;
      case 'eof': {
        const reason = await this.endReasonFor(dom, uuid, 'error');
        session.end(reason, reason === 'stopped' ? 'the domain stopped' : 'libvirtd ended the console stream');
        return;
      }
      case 'error': {
        const reason = session.displaced ? 'taken' : await this.endReasonFor(dom, uuid, 'taken');
        const message = reason === 'taken' ? TAKEN_MESSAGE : reason === 'stopped' ? 'the domain stopped' : `the console stream failed: ${end.message}`;
        session.end(reason, message);
        return;
      }
    }
  }

  private async openVnc(dom: RemoteDomain, uuid: string): Promise<ConsoleChannel> {
    const ctx = { operation: 'openConsole', target: uuid };
    const xml = await this.conn.call(Procs.domainGetXmlDesc, { dom, flags: 0 }, ctx);
    const listen = vncListen(xml);
    if ('unavailable' in listen) throw new HypervisorError('ConsoleUnavailable', `domain ${dom.name}: ${listen.unavailable}`, ctx);
    const socket = await connectUnix(listen.socket).catch((err: Error) => {
      throw new HypervisorError('OperationFailed', `domain ${dom.name}: cannot connect to its VNC socket ${listen.socket}: ${err.message}`, ctx);
    });
    socket.setNoDelay(true);
    let socketError: string | null = null;
    const session = new ConsoleSession(uuid, 'vnc', { write: (d) => void socket.write(d), shutdown: () => socket.destroy() }, (s) => this.sessions.delete(s));
    this.sessions.add(session);
    socket.on('data', (d: Buffer) => session.deliver(d));
    socket.on('error', (err) => {
      socketError = err.message;
    });
    socket.on('close', () => {
      if (session.ended) return;
      void this.endReasonFor(dom, uuid, 'error').then((reason) =>
        session.end(reason, reason === 'stopped' ? 'the domain stopped' : `the VNC connection closed${socketError ? `: ${socketError}` : ''}`),
      );
    });
    return session;
  }
}

/** A connected unix socket, or the connect error. */
function connectUnix(path: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const socket = net.createConnection({ path });
    const onError = (err: Error): void => {
      socket.destroy();
      reject(err);
    };
    socket.once('error', onError);
    socket.once('connect', () => {
      socket.off('error', onError);
      resolve(socket);
    });
  });
}

/** libvirt's refusals of DOMAIN_OPEN_CONSOLE as console reasons. */
export function consoleOpenError(err: unknown, domainName: string): unknown {
  if (!(err instanceof HypervisorError)) return err;
  if (CONSOLE_HELD.test(err.message)) {
    return new HypervisorError(
      'ConsoleTaken',
      `the serial console of domain ${domainName} is in use by another session (Quantix or virsh console); force takes it over`,
      err.details,
    );
  }
  if (err.details.libvirtCode === VirErr.INTERNAL_ERROR && NO_CONSOLE_DEVICE.test(err.message)) {
    return new HypervisorError('ConsoleUnavailable', `domain ${domainName} has no serial console: ${err.message}`, err.details);
  }
  return err;
}
