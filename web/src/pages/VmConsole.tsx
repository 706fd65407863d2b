/**
 * The VM page's Console tab: the serial console in xterm.js, the graphical console in noVNC,
 * each over the VM's WebSocket subresource (`console`, `vnc`). Loaded lazily (xterm.js and
 * noVNC are most of its weight) when the tab is opened.
 *
 * States (model/console-view.ts): a VM that does not run is not connected to; a session
 * the server ends shows why (VM stopped, taken over, agent gone); a serial console held by
 * another session offers to take it over (force); every ended session offers reconnect.
 */
import RFB from '@novnc/novnc';
import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { useCallback, useEffect, useRef, useState } from 'react';
import { useSearchParams } from 'react-router';
import type { VirtualMachine } from '../../../api-types/generated/types.js';
import { resourcePath } from '../../../api-types/group-version.js';
import { asApiError } from '../../../lib/apimachinery/status-error.js';
import { VirtualMachines } from '../api/resources.js';
import { useSession } from '../auth/session.js';
import { loadToken } from '../auth/token-store.js';
import { closedState, consoleProtocols, consoleUrl, refusedState, stoppedState, type ConsoleKind, type ConsoleState } from '../model/console-view.js';
import { LoggedButton } from '../logging/LoggedButton.js';

/** One connection attempt: a new one reconnects; force takes the serial console over. */
interface Attempt {
  n: number;
  force: boolean;
}

export default function VmConsole({ vm }: { vm: VirtualMachine }) {
  const { canWrite, client } = useSession();
  const [params, setParams] = useSearchParams();
  const kind: ConsoleKind = params.get('console') === 'vnc' ? 'vnc' : 'serial';
  const namespace = vm.metadata.namespace ?? 'default';
  const name = vm.metadata.name ?? '';
  const stopped = stoppedState(vm);
  const [attempt, setAttempt] = useState<Attempt>({ n: 0, force: false });
  const [state, setState] = useState<ConsoleState>({ kind: 'idle' });

  const selectKind = (k: ConsoleKind) => {
    const next = new URLSearchParams(params);
    if (k === 'serial') next.delete('console');
    else next.set('console', k);
    setParams(next, { replace: true });
    setAttempt((a) => ({ n: a.n + 1, force: false }));
  };

  /** Why an upgrade was refused (a browser never sees the answer): read the VM again. */
  const diagnose = useCallback(
    async (k: ConsoleKind): Promise<ConsoleState> => {
      try {
        return refusedState(k, { vm: await client.get<VirtualMachine>(resourcePath(VirtualMachines, namespace, name)) });
      } catch (err) {
        return refusedState(k, { error: asApiError(err) });
      }
    },
    [client, namespace, name],
  );

  const reconnect = (force: boolean) => setAttempt((a) => ({ n: a.n + 1, force }));
  const live = canWrite && !stopped;
  const shown: ConsoleState = !canWrite
    ? { kind: 'forbidden', message: 'Opening a console needs write access to the VM; this token can only read.' }
    : (stopped ?? state);

  return (
    <div className="card console" data-testid="vm-console">
      <div className="console-bar">
        <div className="segmented">
          <LoggedButton
            logAction="console-serial"
            type="button"
            className={kind === 'serial' ? 'seg-first seg-active' : 'seg-first'}
            onClick={() => selectKind('serial')}
            data-testid="console-serial"
          >
            Serial
          </LoggedButton>
          <LoggedButton
            logAction="console-vnc"
            type="button"
            className={kind === 'vnc' ? 'seg-last seg-active' : 'seg-last'}
            onClick={() => selectKind('vnc')}
            data-testid="console-vnc"
          >
            Graphics (VNC)
          </LoggedButton>
        </div>
        <span className="console-state muted" data-testid="console-state" data-state={shown.kind}>
          {shown.kind === 'connected' ? 'Connected' : shown.kind === 'connecting' ? 'Connecting…' : ''}
        </span>
        <span className="spacer" />
        {live && (
          <LoggedButton logAction="console-reconnect" type="button" onClick={() => reconnect(false)} data-testid="console-reconnect">
            Reconnect
          </LoggedButton>
        )}
        {live && kind === 'serial' && (
          <LoggedButton
            logAction="console-force"
            type="button"
            onClick={() => reconnect(true)}
            data-testid="console-force"
            title="Close the session that holds the serial console and take it over"
          >
            Take over
          </LoggedButton>
        )}
      </div>
      {shown.kind !== 'connected' && shown.kind !== 'connecting' && shown.kind !== 'idle' && (
        <div className={`note console-note console-note-${shown.kind}`} data-testid="console-message" data-state={shown.kind}>
          <strong>{NOTE_TITLES[shown.kind]}</strong> {shown.message}
          {live && shown.kind === 'taken' && (
            <>
              {' '}
              <LoggedButton logAction="console-takeover" type="button" className="small primary" onClick={() => reconnect(true)} data-testid="console-takeover">
                Take over the console
              </LoggedButton>
            </>
          )}
          {live && shown.kind === 'ended' && (
            <>
              {' '}
              <LoggedButton logAction="console-reconnect" type="button" className="small" onClick={() => reconnect(false)}>
                Reconnect
              </LoggedButton>
            </>
          )}
        </div>
      )}
      {live &&
        (kind === 'serial' ? (
          <SerialConsole
            key={`serial-${attempt.n}`}
            url={consoleUrl(location, namespace, name, 'serial', attempt.force)}
            onState={setState}
            diagnose={diagnose}
          />
        ) : (
          <VncConsole key={`vnc-${attempt.n}`} url={consoleUrl(location, namespace, name, 'vnc')} onState={setState} diagnose={diagnose} />
        ))}
      {live && kind === 'serial' && (
        <p className="muted small">
          Keys go to the guest. A serial console shows nothing new until the guest writes: press Enter for a fresh prompt. From a terminal: qxctl console {name}{' '}
          -n {namespace}.
        </p>
      )}
      {live && kind === 'vnc' && (
        <p className="muted small">
          From a VNC viewer on your machine: qxctl vnc {name} -n {namespace}.
        </p>
      )}
    </div>
  );
}

const NOTE_TITLES: Record<Exclude<ConsoleState['kind'], 'idle' | 'connecting' | 'connected'>, string> = {
  stopped: 'VM not running.',
  taken: 'Console in use.',
  forbidden: 'Not allowed.',
  ended: 'Session ended.',
};

interface SessionProps {
  url: string;
  onState(state: ConsoleState): void;
  diagnose(kind: ConsoleKind): Promise<ConsoleState>;
}

/** The session's socket; the token rides in a subprotocol (a browser cannot set headers). */
function openSocket(url: string): WebSocket {
  const socket = new WebSocket(url, consoleProtocols(loadToken() ?? ''));
  socket.binaryType = 'arraybuffer';
  return socket;
}

/**
 * Reports how a socket ended: closedState after it opened, else the diagnosis of the
 * refused upgrade. `ours` is set when the component closed it (unmount, reconnect).
 */
function watchSocket(socket: WebSocket, kind: ConsoleKind, props: SessionProps, ours: () => boolean, onOpen: () => void) {
  let opened = false;
  props.onState({ kind: 'connecting' });
  socket.addEventListener('open', () => {
    opened = true;
    props.onState({ kind: 'connected' });
    onOpen();
  });
  socket.addEventListener('close', (ev) => {
    if (ours()) return;
    if (opened) props.onState(closedState(ev.code, ev.reason));
    else void props.diagnose(kind).then((s) => !ours() && props.onState(s));
  });
}

function SerialConsole(props: SessionProps) {
  const ref = useRef<HTMLDivElement>(null);
  const { url } = props;
  // biome-ignore lint/correctness/useExhaustiveDependencies: one session per mount (the parent remounts to reconnect)
  useEffect(() => {
    const term = new Terminal({ cursorBlink: true, fontSize: 14, rows: 30, scrollback: 5000, theme: { background: '#1e1e1e' } });
    term.open(ref.current!);
    const socket = openSocket(url);
    let closing = false;
    const encoder = new TextEncoder();
    const send = (bytes: Uint8Array) => socket.readyState === WebSocket.OPEN && socket.send(bytes);
    term.onData((data) => send(encoder.encode(data)));
    // Binary input (some mouse reports): one byte per character.
    term.onBinary((data) => send(Uint8Array.from(data, (c) => c.charCodeAt(0))));
    socket.addEventListener('message', (ev) => {
      if (ev.data instanceof ArrayBuffer) term.write(new Uint8Array(ev.data));
    });
    watchSocket(
      socket,
      'serial',
      props,
      () => closing,
      () => term.focus(),
    );
    return () => {
      closing = true;
      socket.close(1000, 'closed in the UI');
      term.dispose();
    };
  }, []);
  return <div ref={ref} className="console-terminal" data-testid="console-terminal" />;
}

function VncConsole(props: SessionProps) {
  const ref = useRef<HTMLDivElement>(null);
  const { url } = props;
  // biome-ignore lint/correctness/useExhaustiveDependencies: one session per mount (the parent remounts to reconnect)
  useEffect(() => {
    const socket = openSocket(url);
    let closing = false;
    // noVNC takes the socket as it is (our subprotocols, our close handling).
    const rfb = new RFB(ref.current!, socket, { shared: true });
    rfb.scaleViewport = true;
    rfb.background = '#1e1e1e';
    watchSocket(
      socket,
      'vnc',
      props,
      () => closing,
      () => undefined,
    );
    return () => {
      closing = true;
      try {
        rfb.disconnect();
      } catch {
        // already disconnected
      }
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) socket.close(1000, 'closed in the UI');
    };
  }, []);
  return <div ref={ref} className="console-screen" data-testid="console-screen" />;
}
