/**
 * The one persistent connection to libvirtd: handshake (auth, CONNECT_OPEN, event
 * callbacks — events.ts), a reconnect loop with capped exponential backoff that announces
 * `connection lost` / `restored` to subscribers, and `call`, which maps libvirt's errors
 * to HypervisorErrors with stable reasons.
 *
 * Every call is logged (`libvirt call`, with procedure, the domain / pool / network it acts
 * on, durationMs and result `ok` or the error): those that change the host at info, read-only
 * ones at debug. The agent's workers run a VM's work under the correlation id of its desired
 * object (workers.ts), so the line of the DOMAIN_SHUTDOWN_FLAGS a Stop caused carries the id of
 * the write that asked for it.
 */
import { performance } from 'node:perf_hooks';
import { createLogger, type Logger } from '../../../lib/logging/logger.js';
import type { ConnectionState, HypervisorEvent, HypervisorEventListener, Unsubscribe } from '../driver.js';
import { HypervisorError, type HypervisorErrorReason } from '../errors.js';
import { eventFromMessage, newEventSession, registerEvents } from './events.js';
import { Procs, VirErr, type ProcDef } from './protocol.js';
import { RpcClient, RpcError, type RpcStream } from './rpc.js';

export interface LibvirtConnectionOptions {
  /** Default qemu:///system. */
  uri?: string;
  /** Default /var/run/libvirt/libvirt-sock. */
  socketPath?: string;
  /** Default per-call timeout, ms (default 60 s). */
  callTimeoutMs?: number;
  /** Reconnect backoff: first delay and cap, ms (defaults 100 and 5000). */
  reconnectInitialDelayMs?: number;
  reconnectMaxDelayMs?: number;
  /** How long connect() waits for the first connection before throwing (default 10 s). */
  connectTimeoutMs?: number;
  /**
   * Every call's procedure (libvirt's name without REMOTE_PROC_), duration and outcome
   * (`ok` or the HypervisorError reason), for the agent's latency metrics.
   */
  onCall?: (procedure: string, durationMs: number, result: string) => void;
  /** Diagnostics. */
  log?: (level: 'debug' | 'info' | 'warn' | 'error', message: string) => void;
  /** Where each call is logged (default the agent's logger, subsystem libvirt). */
  callLog?: Logger;
}

/** Procedures that change nothing on the host (logged at debug); every other one changes something (info). */
const READ_ONLY_PROCEDURE =
  /^(AUTH_|NODE_GET_|CONNECT_(OPEN|CLOSE|GET_|LIST_|DOMAIN_EVENT_|STORAGE_POOL_EVENT_|NETWORK_EVENT_))|_(GET|LOOKUP|LIST|IS|NUM_OF)_|_REFRESH$/;

export function isReadOnlyCall(procedure: string, args: unknown): boolean {
  if (procedure === 'QEMU_DOMAIN_MONITOR_COMMAND') return qmpCommandOf(args)?.startsWith('query-') ?? false;
  return READ_ONLY_PROCEDURE.test(procedure);
}

function qmpCommandOf(args: unknown): string | undefined {
  const cmd = (args as { cmd?: unknown } | null)?.cmd;
  if (typeof cmd !== 'string') return undefined;
  try {
    const execute = (JSON.parse(cmd) as { execute?: unknown }).execute;
    return typeof execute === 'string' ? execute : undefined;
  } catch {
    return undefined;
  }
}

/** What a call acts on, by name (never its XML or other arguments, which may hold user data). */
export function callSubject(procedure: string, args: unknown, result: unknown): Record<string, string> {
  const a = (args ?? {}) as { dom?: { name?: unknown } | null; pool?: { name?: unknown }; net?: { name?: unknown }; vol?: { name?: unknown; pool?: unknown } };
  const subject: Record<string, string> = {};
  const created = (result ?? {}) as { name?: unknown; uuid?: unknown };
  const domain = a.dom?.name ?? (procedure.startsWith('DOMAIN_') && Buffer.isBuffer(created.uuid) ? created.name : undefined);
  if (typeof domain === 'string') subject.domain = domain;
  if (typeof a.pool?.name === 'string') subject.pool = a.pool.name;
  if (typeof a.net?.name === 'string') subject.network = a.net.name;
  if (typeof a.vol?.name === 'string') subject.volume = a.vol.name;
  const qmp = procedure === 'QEMU_DOMAIN_MONITOR_COMMAND' ? qmpCommandOf(args) : undefined;
  if (qmp) subject.command = qmp;
  return subject;
}

/** Where a call came from, for error details. */
export interface CallContext {
  operation: string;
  target?: string;
  timeoutMs?: number;
}

export class LibvirtConnection {
  readonly uri: string;
  readonly socketPath: string;
  readonly log: NonNullable<LibvirtConnectionOptions['log']>;
  readonly #callLog: Logger;
  private readonly opts: Required<Pick<LibvirtConnectionOptions, 'callTimeoutMs' | 'reconnectInitialDelayMs' | 'reconnectMaxDelayMs' | 'connectTimeoutMs'>>;

  private client: RpcClient | null = null;
  private state: ConnectionState = 'disconnected';
  private attempt = 0;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private announcedLost = false;
  private readonly listeners = new Set<HypervisorEventListener>();
  private readonly stateWaiters = new Set<() => void>();
  private readonly onCall: LibvirtConnectionOptions['onCall'];

  constructor(options: LibvirtConnectionOptions = {}) {
    this.uri = options.uri ?? 'qemu:///system';
    this.socketPath = options.socketPath ?? '/var/run/libvirt/libvirt-sock';
    this.opts = {
      callTimeoutMs: options.callTimeoutMs ?? 60_000,
      reconnectInitialDelayMs: options.reconnectInitialDelayMs ?? 100,
      reconnectMaxDelayMs: options.reconnectMaxDelayMs ?? 5_000,
      connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    };
    this.log = options.log ?? (() => {});
    this.#callLog = options.callLog ?? createLogger('agent').child({ subsystem: 'libvirt' });
    this.onCall = options.onCall;
  }

  #logCall(def: ProcDef<unknown, unknown>, args: unknown, started: number, result: unknown, error: unknown): void {
    const readOnly = isReadOnlyCall(def.name, args);
    if (readOnly && !this.#callLog.isDebugEnabled()) return;
    const fields = {
      procedure: def.name,
      ...callSubject(def.name, args, result),
      durationMs: Math.round((performance.now() - started) * 10) / 10,
      result: error === undefined ? 'ok' : error instanceof Error ? error.message : String(error),
    };
    if (readOnly) this.#callLog.debug('libvirt call', fields);
    else this.#callLog.info('libvirt call', fields);
  }

  connectionState(): ConnectionState {
    return this.state;
  }

  async connect(): Promise<void> {
    if (this.connectionState() === 'closed') throw new HypervisorError('HypervisorUnavailable', 'driver is closed');
    if (this.connectionState() === 'connected') return;
    if (this.connectionState() === 'disconnected') {
      this.setState('connecting');
      void this.tryConnect();
    }
    const deadline = Date.now() + this.opts.connectTimeoutMs;
    while (this.connectionState() !== 'connected') {
      const left = deadline - Date.now();
      if (left <= 0 || this.connectionState() === 'closed') {
        throw new HypervisorError('HypervisorUnavailable', `cannot connect to libvirtd at ${this.socketPath} (${this.uri}); still retrying in the background`, {
          operation: 'connect',
        });
      }
      await this.waitForStateChange(left);
    }
  }

  async close(): Promise<void> {
    if (this.connectionState() === 'closed') return;
    this.setState('closed');
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const c = this.client;
    this.client = null;
    if (c && !c.closed) {
      try {
        await c.call(Procs.connectClose, undefined, { timeoutMs: 2_000 });
      } catch {
        // closing anyway
      }
      c.close();
    }
  }

  /** Listeners are called in subscription order. */
  subscribe(listener: HypervisorEventListener): Unsubscribe {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  private setState(s: ConnectionState): void {
    this.state = s;
    for (const w of [...this.stateWaiters]) w();
  }

  private waitForStateChange(timeoutMs: number): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.stateWaiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      this.stateWaiters.add(done);
    });
  }

  private emit(ev: HypervisorEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(ev);
      } catch (err) {
        this.log('error', `event listener threw: ${(err as Error).message}`);
      }
    }
  }

  private async tryConnect(): Promise<void> {
    if (this.connectionState() === 'closed') return;
    let client: RpcClient | null = null;
    // Callback ids of this connection; events may arrive before the registration replies.
    const session = newEventSession();
    try {
      client = await RpcClient.connect(this.socketPath, {
        callTimeoutMs: this.opts.callTimeoutMs,
        onMessage: (proc, body) => {
          if (this.connectionState() === 'closed') return;
          try {
            const ev = eventFromMessage(session, proc, body, Date.now());
            if (ev) this.emit(ev);
          } catch (err) {
            this.log('warn', `cannot decode event ${proc}: ${(err as Error).message}`);
          }
        },
        onClose: (reason) => this.onClientClosed(client, reason),
      });
      const auth = await client.call(Procs.authList, undefined, { timeoutMs: 10_000 });
      if (auth.length > 0 && !auth.includes(0)) {
        if (!auth.includes(2)) throw new Error(`libvirtd requires an unsupported authentication method (${auth.join(',')})`);
        await client.call(Procs.authPolkit, undefined, { timeoutMs: 10_000 });
      }
      await client.call(Procs.connectOpen, { name: this.uri, flags: 0 }, { timeoutMs: 10_000 });
      await registerEvents(client, session, this.log);
      if (this.connectionState() === 'closed' || client.closed) {
        client.close();
        if (this.connectionState() !== 'closed') this.scheduleReconnect('connection closed during setup');
        return;
      }
      this.client = client;
      this.attempt = 0;
      const wasLost = this.announcedLost;
      this.announcedLost = false;
      this.setState('connected');
      this.log('info', `connected to libvirtd (${this.uri})`);
      if (wasLost) this.emit({ kind: 'connection', state: 'restored', timestamp: Date.now() });
    } catch (err) {
      client?.close();
      if (this.connectionState() === 'closed') return;
      this.scheduleReconnect((err as Error).message);
    }
  }

  private onClientClosed(client: RpcClient | null, reason: string): void {
    if (client !== this.client) return; // a client that never became current
    this.client = null;
    if (this.connectionState() === 'closed') return;
    this.log('warn', `libvirtd connection lost: ${reason}`);
    this.scheduleReconnect(reason);
  }

  private scheduleReconnect(reason: string): void {
    if (this.connectionState() === 'closed') return;
    this.setState('connecting');
    if (!this.announcedLost) {
      this.announcedLost = true;
      this.emit({ kind: 'connection', state: 'lost', message: reason, timestamp: Date.now() });
    }
    const base = Math.min(this.opts.reconnectMaxDelayMs, this.opts.reconnectInitialDelayMs * 2 ** this.attempt);
    const delay = Math.round(base * (0.8 + Math.random() * 0.4));
    this.attempt = Math.min(this.attempt + 1, 30);
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      void this.tryConnect();
    }, delay);
    this.reconnectTimer.unref?.();
  }

  // ---- calls and error mapping -----------------------------------------------------------------

  async call<A, R>(def: ProcDef<A, R>, args: A, ctx: CallContext): Promise<R> {
    const c = this.client;
    if (!c || this.connectionState() !== 'connected') {
      throw new HypervisorError('HypervisorUnavailable', `not connected to libvirtd (${this.state})`, {
        operation: ctx.operation,
        ...(ctx.target ? { target: ctx.target } : {}),
      });
    }
    const started = performance.now();
    try {
      const result = await c.call(def, args, ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {});
      this.#logCall(def as ProcDef<unknown, unknown>, args, started, result, undefined);
      this.onCall?.(def.name, performance.now() - started, 'ok');
      return result;
    } catch (err) {
      const mapped = this.mapError(err, ctx.operation, ctx.target);
      this.#logCall(def as ProcDef<unknown, unknown>, args, started, undefined, mapped);
      this.onCall?.(def.name, performance.now() - started, mapped.reason);
      throw mapped;
    }
  }

  /** Calls a stream-opening procedure on the current connection; the stream ends when that connection does. */
  async openStream<A>(def: ProcDef<A, void>, args: A, ctx: CallContext): Promise<RpcStream> {
    const c = this.client;
    if (!c || this.connectionState() !== 'connected') {
      throw new HypervisorError('HypervisorUnavailable', `not connected to libvirtd (${this.state})`, {
        operation: ctx.operation,
        ...(ctx.target ? { target: ctx.target } : {}),
      });
    }
    const started = performance.now();
    try {
      const stream = await c.openStream(def, args, ctx.timeoutMs !== undefined ? { timeoutMs: ctx.timeoutMs } : {});
      this.#logCall(def as ProcDef<unknown, unknown>, args, started, undefined, undefined);
      return stream;
    } catch (err) {
      const mapped = this.mapError(err, ctx.operation, ctx.target);
      this.#logCall(def as ProcDef<unknown, unknown>, args, started, undefined, mapped);
      throw mapped;
    }
  }

  private mapError(err: unknown, operation: string, target?: string): HypervisorError {
    if (err instanceof HypervisorError) return err;
    const base = { operation, ...(target !== undefined ? { target } : {}) };
    if (!(err instanceof RpcError)) return new HypervisorError('OperationFailed', (err as Error)?.message ?? String(err), base);
    if (err.kind === 'closed') return new HypervisorError('HypervisorUnavailable', `libvirtd connection lost: ${err.message}`, base);
    if (err.kind === 'timeout') return new HypervisorError('Timeout', err.message, base);
    if (err.kind === 'protocol' || !err.remote) return new HypervisorError('OperationFailed', err.message, base);
    const code = err.remote.code;
    const details = { ...base, libvirtCode: code, libvirtDomain: err.remote.domain };
    const msg = err.remote.message ?? err.message;
    let reason: HypervisorErrorReason = 'OperationFailed';
    switch (code) {
      case VirErr.NO_DOMAIN:
        reason = 'DomainNotFound';
        break;
      case VirErr.NO_STORAGE_POOL:
        reason = 'PoolNotFound';
        break;
      case VirErr.NO_STORAGE_VOL:
        reason = 'VolumeNotFound';
        break;
      case VirErr.NO_NETWORK:
        reason = 'NetworkNotFound';
        break;
      case VirErr.NETWORK_EXIST:
        reason = 'NetworkExists';
        break;
      case VirErr.AGENT_UNRESPONSIVE:
      case VirErr.AGENT_UNSYNCED:
      case VirErr.AGENT_COMMAND_TIMEOUT:
        reason = 'GuestAgentUnavailable';
        break;
      case VirErr.STORAGE_VOL_EXIST:
        reason = 'VolumeExists';
        break;
      case VirErr.DOM_EXIST:
        reason = 'DomainExists';
        break;
      case VirErr.OPERATION_INVALID:
        reason = 'InvalidState';
        break;
      case VirErr.XML_ERROR:
      case VirErr.CONFIG_UNSUPPORTED:
      case VirErr.INVALID_ARG:
        reason = 'InvalidSpec';
        break;
      case VirErr.NO_SUPPORT:
      case VirErr.OPERATION_UNSUPPORTED:
        reason = 'Unsupported';
        break;
      case VirErr.OPERATION_TIMEOUT:
        reason = 'Timeout';
        break;
      default:
        if (/already (exists|defined)/i.test(msg)) reason = existsReason(operation);
    }
    return new HypervisorError(reason, msg, details);
  }
}

/** Which "already exists" a libvirt message means, by the operation that got it. */
function existsReason(operation: string): HypervisorErrorReason {
  if (operation.includes('Pool')) return 'PoolExists';
  if (operation.includes('Volume')) return 'VolumeExists';
  if (operation.includes('Network')) return 'NetworkExists';
  return 'DomainExists';
}
