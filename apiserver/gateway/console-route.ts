/**
 * The console subresources, upgraded to WebSocket as Kubernetes does for exec:
 *
 *   GET /apis/quantix.io/v1alpha1/namespaces/NS/virtualmachines/NAME/console[?force=true]
 *   GET /apis/quantix.io/v1alpha1/namespaces/NS/virtualmachines/NAME/vnc
 *
 * Subprotocol `plain.quantix.io` (binary frames, raw bytes both ways). The caller is
 * authenticated (bearer header, or browsers' `base64url.bearer.authorization.k8s.io.TOKEN`
 * subprotocol), authorized (admins only: authorizer.ts), and the VM looked up before anything
 * is upgraded; every refusal is an HTTP response with a Status. The session then runs over the
 * agent's ConsoleSession stream (tunnel.ts) and ends with a close frame whose reason starts
 * with its code: 1000 when the client closed; 4000 `VMStopped: …`, `ConsoleTaken: …`,
 * `AgentDisconnected: …` or `Error: …` otherwise.
 *
 * The agent's tunnel may be on another replica: the request is then forwarded there once
 * (forward.ts, after this replica authenticated and authorized it; that one does it again).
 *
 * Limits: opening a console holds an in-flight place of the user (http/inflight-limit.ts)
 * until the upgrade is answered; an open session holds none, but counts against
 * MAX_CONSOLES_PER_USER (429 past it) and the node's MAX_CONSOLE_SESSIONS_PER_NODE.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Express, Request, Response } from 'express';
import { Gauge } from 'prom-client';
import { WebSocketServer, type WebSocket } from 'ws';
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { ApiError, errors } from '../../lib/apimachinery/status-error.js';
import { authorize, describeRefusal, type RequestAttributes } from '../auth/authorizer.js';
import type { UserInfo } from '../auth/identity.js';
import { toApiError } from '../http/status.js';
import { sendError } from '../http/respond.js';
import { writeUpgradeRefusal, type ApiserverContext } from '../server.js';
import { NotFoundError } from '../storage/errors.js';
import type { ConsoleEndCode, GatewayConsoleSession, TunnelRegistry } from './tunnel.js';
import { type Forwarding, forwardable, wasForwarded } from './forward.js';

export const CONSOLE_SUBPROTOCOL = 'plain.quantix.io';
export const BEARER_SUBPROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';
/** Open console sessions per user on one apiserver replica. */
export const MAX_CONSOLES_PER_USER = 32;
/** The largest WebSocket message a client may send (keystrokes and RFB input are small). */
export const MAX_CLIENT_MESSAGE_BYTES = 1024 * 1024;
/** Past this many bytes queued towards a slow client, the agent's stream is paused (HTTP/2 flow control then holds the agent). */
const CLIENT_HIGH_WATER_BYTES = 1024 * 1024;
/** The agent's frames carry at most 64 KiB; client messages are cut to that size too. */
const FRAME_BYTES = 64 * 1024;

const CONSOLE_PATH = /^\/apis\/quantix\.io\/v1alpha1\/namespaces\/([^/]+)\/virtualmachines\/([^/]+)\/(console|vnc)$/;
const VM_DEF = virtualMachineDefinition as unknown as ResourceDefinition;
const RUNNING_PHASES = new Set(['Running', 'Paused']);

export interface ConsoleTarget {
  namespace: string;
  name: string;
  subresource: 'console' | 'vnc';
  force: boolean;
}

/** The console request a URL names, or undefined for any other path. Throws 400 for a bad query. */
export function parseConsolePath(url: string): ConsoleTarget | undefined {
  const parsed = new URL(url, 'https://localhost');
  const match = CONSOLE_PATH.exec(parsed.pathname);
  if (!match) return undefined;
  const force = parsed.searchParams.get('force');
  if (force !== null && force !== 'true' && force !== 'false') {
    throw errors.badRequest(`force: must be "true" or "false", not ${JSON.stringify(force.slice(0, 50))}`, [{ field: 'force', message: 'Invalid value' }]);
  }
  return {
    namespace: decodeURIComponent(match[1]!),
    name: decodeURIComponent(match[2]!),
    subresource: match[3] as 'console' | 'vnc',
    force: force === 'true',
  };
}

/** The subprotocols a client offered, and the bearer token among them (browsers cannot set headers). */
export function offeredSubprotocols(req: IncomingMessage): { protocols: string[]; token?: string } {
  const protocols = String(req.headers['sec-websocket-protocol'] ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const bearer = protocols.find((p) => p.startsWith(BEARER_SUBPROTOCOL_PREFIX));
  const token = bearer ? Buffer.from(bearer.slice(BEARER_SUBPROTOCOL_PREFIX.length), 'base64url').toString('utf8') : undefined;
  return { protocols, ...(token ? { token } : {}) };
}

/** A close reason: the code, a colon and the message, cut to WebSocket's 123 bytes. */
export function closeReason(code: string, message: string): string {
  let text = `${code}: ${message}`;
  while (Buffer.byteLength(text) > 123) text = text.slice(0, -1);
  return text;
}

/** The express path of the same subresources: a request without `Upgrade: websocket` lands there. */
export const CONSOLE_HTTP_PATH = /^\/apis\/quantix\.io\/v1alpha1\/namespaces\/[^/]+\/virtualmachines\/[^/]+\/(console|vnc)$/;

export function mountConsoleRoute(app: Express, context: ApiserverContext, tunnels: TunnelRegistry, forwarding?: Forwarding): void {
  // Without the upgrade header the request reaches express (after authentication): say what is missing.
  app.all(CONSOLE_HTTP_PATH, (req: Request, res: Response) => {
    const sub = String((req.params as Record<string, string>)[0]);
    sendError(
      res,
      errors.badRequest(`virtualmachines/${sub} is served over WebSocket only: GET with Upgrade: websocket and the subprotocol ${CONSOLE_SUBPROTOCOL}`),
    );
  });

  const wss = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_CLIENT_MESSAGE_BYTES,
    perMessageDeflate: false,
    // Only our subprotocol is echoed, never the bearer one.
    handleProtocols: (protocols) => (protocols.has(CONSOLE_SUBPROTOCOL) ? CONSOLE_SUBPROTOCOL : false),
  });
  const perUser = new Map<string, number>();
  // One gauge per apiserver (its metrics registry is its own).
  new Gauge({
    name: 'quantix_console_sessions',
    help: 'Console sessions this apiserver replica carries to agents, by kind (serial, vnc)',
    labelNames: ['kind'] as const,
    registers: [context.metrics.registry],
    collect() {
      this.set({ kind: 'serial' }, tunnels.consoleSessionCount('serial'));
      this.set({ kind: 'vnc' }, tunnels.consoleSessionCount('vnc'));
    },
  });

  const serve = async (req: IncomingMessage, socket: Duplex, head: Buffer, target: ConsoleTarget) => {
    let release: (() => void) | undefined;
    const refuse = (err: ApiError) => {
      release?.();
      writeUpgradeRefusal(socket, err);
    };
    try {
      if ((req.headers.upgrade ?? '').toLowerCase() !== 'websocket') {
        throw errors.badRequest(`virtualmachines/${target.subresource} is served over WebSocket only (Upgrade: websocket)`);
      }
      const { protocols, token } = offeredSubprotocols(req);
      if (token && !req.headers.authorization) req.headers.authorization = `Bearer ${token}`;
      const user: UserInfo = await context.authenticate(req).catch((err: unknown) => {
        throw err instanceof ApiError ? err : errors.unauthorized();
      });
      release = context.inflight.hold(user);
      const attrs: RequestAttributes = {
        verb: 'get',
        apiGroup: 'quantix.io',
        resource: 'virtualmachines',
        subresource: target.subresource,
        namespace: target.namespace,
        name: target.name,
      };
      const decision = authorize(user, attrs);
      if (!decision.allowed) {
        throw errors.forbidden(describeRefusal(user, attrs, decision.reason), {
          group: 'quantix.io',
          resource: 'virtualmachines',
          kind: 'VirtualMachine',
          name: target.name,
        });
      }
      if (!protocols.includes(CONSOLE_SUBPROTOCOL)) {
        throw errors.badRequest(`the WebSocket subprotocol "${CONSOLE_SUBPROTOCOL}" is required (Sec-WebSocket-Protocol)`);
      }
      const vm = await getVm(context, target.namespace, target.name);
      const node = vm.spec?.nodeName;
      if (!node || !RUNNING_PHASES.has(vm.status?.phase ?? '')) {
        const message = `VM ${target.namespace}/${target.name} is not running (phase ${vm.status?.phase ?? 'unknown'}${node ? '' : ', not bound to a node'}): start it to open its ${target.subresource}`;
        throw new ApiError(409, 'Conflict', message, {
          name: target.name,
          group: 'quantix.io',
          kind: 'virtualmachines',
          causes: [{ reason: 'VMNotRunning', message }],
        });
      }
      if (!tunnels.connected(node)) {
        // The tunnel is on another replica: the request goes on there, once (forward.ts).
        const peer = wasForwarded(req) ? undefined : await forwarding?.peerFor(node);
        if (!peer) throw errors.unavailable(`the agent on node ${node} is not connected to ${wasForwarded(req) ? 'this apiserver' : 'any apiserver'}`);
        if (!forwardable(req)) {
          throw errors.unavailable(
            `the agent on node ${node} is connected to the apiserver at ${peer}; a client certificate cannot be forwarded: connect there`,
          );
        }
        release();
        forwarding!.forwardUpgrade(req, socket, head, peer);
        return;
      }
      const open = perUser.get(user.name) ?? 0;
      if (open >= MAX_CONSOLES_PER_USER) {
        throw errors.tooManyRequests(`user "${user.name}" has ${open} consoles open on this apiserver, the limit is ${MAX_CONSOLES_PER_USER}`, 5);
      }
      const session = await tunnels.openConsole(node, {
        namespace: target.namespace,
        name: target.name,
        domainUuid: vm.status?.domainUUID || vm.metadata.uid!,
        kind: target.subresource === 'console' ? 'serial' : 'vnc',
        force: target.force,
      });
      // The client may be gone by now, or its handshake may be malformed (ws then answers 400
      // and never calls back): either way the session is closed and the place given back.
      let upgraded = false;
      socket.once('close', () => {
        if (upgraded) return;
        session.close();
        release?.();
      });
      if (socket.destroyed) {
        session.close();
        release();
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        upgraded = true;
        release?.();
        perUser.set(user.name, (perUser.get(user.name) ?? 0) + 1);
        bridge(ws, session, () => {
          const left = (perUser.get(user.name) ?? 1) - 1;
          if (left > 0) perUser.set(user.name, left);
          else perUser.delete(user.name);
        });
        context.log.info('console session open', { user: user.name, vm: `${target.namespace}/${target.name}`, kind: target.subresource, node });
      });
    } catch (err) {
      refuse(err instanceof ApiError ? err : toApiError(err));
    }
  };

  context.addUpgradeHandler((req, socket, head) => {
    let target: ConsoleTarget | undefined;
    try {
      target = parseConsolePath(req.url ?? '/');
    } catch (err) {
      writeUpgradeRefusal(socket, err instanceof ApiError ? err : toApiError(err));
      return true;
    }
    if (!target) return false;
    void serve(req, socket, head, target);
    return true;
  });
}

async function getVm(context: ApiserverContext, namespace: string, name: string): Promise<VirtualMachine> {
  try {
    return (await context.stores.get(VM_DEF).get(namespace, name)) as VirtualMachine;
  } catch (err) {
    if (err instanceof NotFoundError) throw errors.notFound({ group: 'quantix.io', resource: 'virtualmachines', kind: 'VirtualMachine', name });
    throw err;
  }
}

/** Carries bytes between the client's WebSocket and the agent's session until either ends. */
function bridge(ws: WebSocket, session: GatewayConsoleSession, onDone: () => void): void {
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    onDone();
  };
  let queued = 0;
  let paused = false;
  session.onData((data) => {
    queued += data.length;
    ws.send(data, { binary: true }, () => {
      queued -= data.length;
      if (paused && queued < CLIENT_HIGH_WATER_BYTES / 2) {
        paused = false;
        session.resume();
      }
    });
    if (!paused && queued >= CLIENT_HIGH_WATER_BYTES) {
      paused = true;
      session.pause();
    }
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return; // text frames are ignored (the contract)
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    let full = false;
    for (let at = 0; at < bytes.length; at += FRAME_BYTES) full = !session.write(bytes.subarray(at, at + FRAME_BYTES)) || full;
    // The agent's stream is full: stop reading the client until it drains (TCP then holds the client).
    if (full && !ws.isPaused) ws.pause();
  });
  session.onDrain(() => {
    if (ws.isPaused) ws.resume();
  });
  ws.on('close', () => {
    session.close();
    finish();
  });
  ws.on('error', () => {
    session.close();
    finish();
  });
  session.onEnd((code: ConsoleEndCode, message: string) => {
    finish();
    if (ws.readyState !== ws.OPEN && ws.readyState !== ws.CONNECTING) return;
    if (code === 'Closed') ws.close(1000, closeReason('Closed', message));
    else ws.close(4000, closeReason(code, message));
  });
}
