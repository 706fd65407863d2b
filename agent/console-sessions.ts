/**
 * The agent's end of console sessions. The gateway asks for one on the tunnel
 * (TunnelRequest.open_console); the agent opens the domain's console with the driver, then
 * opens a ConsoleSession stream of its own tagged with the session id, so each session has
 * its own HTTP/2 flow control and a slow viewer never holds up the tunnel or another
 * session. The stream ending closes the driver's channel; the channel ending (VM stopped,
 * console taken, stream failure) sends the reason as the last frame and ends the stream.
 *
 * Only VMs bound to this node and known to the agent's desired state are served, and only
 * their own domain: the gateway names the domain uuid it saw in the VM's status, which must
 * be the VM's.
 */
import type { ClientDuplexStream } from '@grpc/grpc-js';
import type { VirtualMachine } from '../api-types/generated/types.js';
import type { ConsoleFrame, OpenConsoleRequest, TunnelError } from '../api-types/proto/types.js';
import type { Logger } from '../lib/logging/logger.js';
import type { ConsoleChannel, ConsoleEndReason, HypervisorDriver } from './hypervisor/driver.js';
import { isHypervisorError } from './hypervisor/errors.js';
import type { GatewayClient } from './gateway-client.js';

/** The most console bytes in one ConsoleFrame (the gateway's request limit is above it). */
export const MAX_CONSOLE_FRAME_BYTES = 64 * 1024;
/**
 * Console bytes held for one session that the gateway has not taken yet (its reader is slower
 * than the console writes, e.g. a VNC viewer on a slow link). A driver's channel cannot be
 * paused, so past this the session ends with `Error` rather than growing without bound.
 */
export const MAX_QUEUED_CONSOLE_BYTES = 16 * 1024 * 1024;

/** The driver's end reason as the wire's (ConsoleEnd.reason), which the apiserver turns into a close code. */
export function consoleEndReason(reason: ConsoleEndReason): string {
  switch (reason) {
    case 'stopped':
      return 'VMStopped';
    case 'taken':
      return 'ConsoleTaken';
    case 'closed':
      return 'Closed';
    default:
      return 'Error';
  }
}

interface OpenSession {
  channel: ConsoleChannel;
  stream: ClientDuplexStream<ConsoleFrame, ConsoleFrame>;
}

export class ConsoleSessions {
  readonly #open = new Map<string, OpenSession>();

  constructor(
    private readonly client: GatewayClient,
    private readonly driver: HypervisorDriver,
    /** The VM namespace/name as this agent's desired state holds it (only VMs bound to this node), or undefined. */
    private readonly vmOf: (namespace: string, name: string) => VirtualMachine | undefined,
    private readonly nodeName: () => string,
    private readonly log: Logger,
  ) {}

  /** Open sessions (tests: a session that ended left nothing behind). */
  get count(): number {
    return this.#open.size;
  }

  /** Opens a session; undefined once its stream is open, else the refusal to answer on the tunnel. */
  async open(req: OpenConsoleRequest): Promise<TunnelError | undefined> {
    const vmName = `${req.namespace}/${req.name}`;
    if (req.kind !== 'serial' && req.kind !== 'vnc') return { reason: 'InvalidSpec', message: `unknown console kind "${req.kind}" (serial, vnc)` };
    if (!req.sessionId || this.#open.has(req.sessionId)) return { reason: 'InvalidSpec', message: 'a console session needs a new session id' };
    const vm = this.vmOf(req.namespace, req.name);
    if (!vm) return { reason: 'VMNotFound', message: `VM ${vmName} is not bound to node ${this.nodeName()}` };
    const uuids = [vm.metadata.uid, vm.status?.domainUUID].filter(Boolean);
    if (!uuids.includes(req.domainUuid)) return { reason: 'DomainNotFound', message: `domain ${req.domainUuid} is not the domain of VM ${vmName}` };
    let channel: ConsoleChannel;
    try {
      channel = await this.driver.openConsole(req.domainUuid, req.kind, { force: req.force });
    } catch (err) {
      const reason = isHypervisorError(err) ? err.reason : 'InternalError';
      this.log.debug('console refused', { vm: vmName, kind: req.kind, reason });
      return { reason, message: err instanceof Error ? err.message : String(err) };
    }
    const stream = this.client.consoleSession();
    const session: OpenSession = { channel, stream };
    this.#open.set(req.sessionId, session);
    let streamEnded = false;
    const forget = () => {
      if (this.#open.get(req.sessionId) === session) this.#open.delete(req.sessionId);
    };
    stream.write({ sessionId: req.sessionId } as ConsoleFrame);
    let queued = 0;
    let overflow: string | undefined;
    channel.onData((data) => {
      if (streamEnded || overflow) return;
      for (let at = 0; at < data.length; at += MAX_CONSOLE_FRAME_BYTES) {
        const chunk = data.subarray(at, at + MAX_CONSOLE_FRAME_BYTES);
        queued += chunk.length;
        stream.write({ data: chunk } as ConsoleFrame, () => {
          queued -= chunk.length;
        });
      }
      if (queued > MAX_QUEUED_CONSOLE_BYTES) {
        overflow = `the client reads more slowly than the console writes: over ${MAX_QUEUED_CONSOLE_BYTES} bytes queued`;
        channel.close();
      }
    });
    channel.onClose((reason, message) => {
      forget();
      this.log.debug('console session ended', { vm: vmName, kind: req.kind, reason, ...(overflow ? { overflow } : {}) });
      if (streamEnded) return;
      streamEnded = true;
      stream.write({ end: overflow ? { reason: 'Error', message: overflow } : { reason: consoleEndReason(reason), message } } as ConsoleFrame);
      stream.end();
    });
    stream.on('data', (frame: ConsoleFrame) => {
      if (frame.data?.length) channel.write(frame.data);
    });
    const streamGone = () => {
      if (streamEnded) return;
      streamEnded = true;
      forget();
      channel.close();
    };
    stream.on('end', streamGone);
    stream.on('error', streamGone);
    stream.on('close', streamGone);
    this.log.debug('console session open', { vm: vmName, kind: req.kind });
    return undefined;
  }

  /** Ends every session (the agent stops): the gateway sees the streams cancelled. */
  closeAll(): void {
    for (const { channel, stream } of [...this.#open.values()]) {
      stream.cancel();
      channel.close();
    }
    this.#open.clear();
  }
}
