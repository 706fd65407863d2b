/**
 * The Console tab's pure logic: the WebSocket URL and subprotocols of a VM's console
 * subresources, and what the tab shows for each way a session can fail or end.
 *
 * Browsers cannot set headers on a WebSocket, so the token travels as the subprotocol
 * `base64url.bearer.authorization.k8s.io.<token>` exactly as Kubernetes accepts it (the
 * server never echoes it back; it echoes `plain.quantix.io`). A browser also never sees the
 * HTTP answer of a refused upgrade (only close code 1006), and the server answers a plain
 * GET of the path with 400 before any other check; so a refusal is diagnosed from a fresh
 * GET of the VM itself (gone, forbidden, not running), and otherwise, for the serial
 * console, put down to another session holding it.
 */
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import type { ApiError } from '../../../lib/apimachinery/status-error.js';

export type ConsoleKind = 'serial' | 'vnc';

export const CONSOLE_SUBPROTOCOL = 'plain.quantix.io';
const BEARER_PROTOCOL_PREFIX = 'base64url.bearer.authorization.k8s.io.';

/** base64url without padding, of UTF-8 text. */
export function base64url(text: string): string {
  const bytes = new TextEncoder().encode(text);
  let binary = '';
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

/** The subprotocols a browser offers: the console's own, then the token. */
export function consoleProtocols(token: string): string[] {
  return [CONSOLE_SUBPROTOCOL, `${BEARER_PROTOCOL_PREFIX}${base64url(token)}`];
}

/** The subresource path: `…/virtualmachines/NAME/console` (serial) or `…/vnc`. */
export function consolePath(namespace: string, name: string, kind: ConsoleKind): string {
  return `/apis/quantix.io/v1alpha1/namespaces/${encodeURIComponent(namespace)}/virtualmachines/${encodeURIComponent(name)}/${kind === 'serial' ? 'console' : 'vnc'}`;
}

/** The wss:// URL on the page's own origin (the apiserver serves the UI). */
export function consoleUrl(origin: { protocol: string; host: string }, namespace: string, name: string, kind: ConsoleKind, force = false): string {
  const scheme = origin.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${origin.host}${consolePath(namespace, name, kind)}${force && kind === 'serial' ? '?force=true' : ''}`;
}

/** What the tab shows instead of (or over) a terminal. */
export type ConsoleState =
  | { kind: 'idle' }
  | { kind: 'connecting' }
  | { kind: 'connected' }
  /** The VM does not run: nothing to connect to (no attempt is made). */
  | { kind: 'stopped'; message: string }
  /** The serial console is held by another session, or was taken over by one: offers take-over. */
  | { kind: 'taken'; message: string }
  /** This user may not open consoles. */
  | { kind: 'forbidden'; message: string }
  /** The session ended or could not start; `message` says why. Offers reconnect. */
  | { kind: 'ended'; message: string };

/** Phases in which a domain exists and runs (a paused VM still has its consoles). */
export function vmConsoleAvailable(vm: Pick<VirtualMachine, 'status'> | undefined): boolean {
  const phase = vm?.status?.phase;
  return phase === 'Running' || phase === 'Paused';
}

/** The state for a VM that is not running, or undefined when it runs. */
export function stoppedState(vm: Pick<VirtualMachine, 'status'> | undefined): ConsoleState | undefined {
  if (vmConsoleAvailable(vm)) return undefined;
  const phase = vm?.status?.phase ?? 'unknown';
  return { kind: 'stopped', message: `The VM is not running (phase ${phase}). Start it to use its console.` };
}

function reasonAndMessage(text: string): { reason: string; message: string } {
  const m = /^([A-Za-z]+):\s*(.*)$/s.exec(text);
  return m ? { reason: m[1]!, message: m[2]! } : { reason: '', message: text };
}

/** The state after a session that was open ends with close `code` and `reason`. */
export function closedState(code: number, reason: string): ConsoleState {
  if (code === 4000) {
    const r = reasonAndMessage(reason);
    const detail = r.message ? ` (${r.message})` : '';
    switch (r.reason) {
      case 'VMStopped':
        return { kind: 'stopped', message: `The VM stopped; the console session ended${detail}.` };
      case 'ConsoleTaken':
        return { kind: 'taken', message: `Another session took the console over${detail}.` };
      case 'AgentDisconnected':
        return { kind: 'ended', message: `The VM's node agent disconnected${detail}. Reconnect when it is back.` };
      default:
        return { kind: 'ended', message: `The server ended the session: ${reason || 'no reason given'}.` };
    }
  }
  if (code === 1000) return { kind: 'ended', message: reason ? `The session ended: ${reason}.` : 'The session ended.' };
  if (code === 1006) return { kind: 'ended', message: 'The connection to the server was lost.' };
  return { kind: 'ended', message: `The session ended (code ${code}${reason ? `: ${reason}` : ''}).` };
}

/**
 * The state for a WebSocket that never opened, from a fresh GET of the VM: `vm` when it
 * answered, `error` when it failed.
 */
export function refusedState(kind: ConsoleKind, probe: { vm?: Pick<VirtualMachine, 'status'>; error?: ApiError }): ConsoleState {
  const { vm, error } = probe;
  if (error) {
    if (error.code === 401 || error.code === 403) return { kind: 'forbidden', message: error.message };
    if (error.code === 404) return { kind: 'ended', message: 'The VM does not exist (it was deleted).' };
    return { kind: 'ended', message: `The console could not be opened, and the VM cannot be read: ${error.message}` };
  }
  const stopped = stoppedState(vm);
  if (stopped) return stopped;
  // The VM runs and this user may write: what is left is the console itself.
  return kind === 'serial'
    ? {
        kind: 'taken',
        message: "The console could not be opened: most likely another session holds it (or the VM's node agent is not connected).",
      }
    : { kind: 'ended', message: "The graphical console could not be opened (the VM's node agent may not be connected)." };
}
