import { ApiError } from '../../../lib/apimachinery/status-error.js';
import { base64url, closedState, consolePath, consoleProtocols, consoleUrl, refusedState, stoppedState, vmConsoleAvailable } from './console-view.js';

describe('console URL and subprotocols', () => {
  it('encodes the token as Kubernetes reads the bearer subprotocol (base64url, no padding)', () => {
    // "admin-token?>" has bytes that base64 writes as + and /, and needs padding.
    const token = 'admin-token?>';
    const encoded = base64url(token);
    expect(encoded).not.toMatch(/[+/=]/);
    const padded = encoded.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (encoded.length % 4)) % 4);
    expect(new TextDecoder().decode(Uint8Array.from(atob(padded), (c) => c.charCodeAt(0)))).toBe(token);
    expect(encoded).toBe('YWRtaW4tdG9rZW4_Pg');
    expect(consoleProtocols(token)).toEqual(['plain.quantix.io', `base64url.bearer.authorization.k8s.io.${encoded}`]);
  });

  it('builds wss URLs on the page origin, force for the serial console only', () => {
    const origin = { protocol: 'https:', host: '127.0.0.1:6443' };
    expect(consoleUrl(origin, 'prod', 'web', 'serial')).toBe('wss://127.0.0.1:6443/apis/quantix.io/v1alpha1/namespaces/prod/virtualmachines/web/console');
    expect(consoleUrl(origin, 'prod', 'web', 'serial', true)).toBe(
      'wss://127.0.0.1:6443/apis/quantix.io/v1alpha1/namespaces/prod/virtualmachines/web/console?force=true',
    );
    expect(consoleUrl(origin, 'prod', 'web', 'vnc', true)).toBe('wss://127.0.0.1:6443/apis/quantix.io/v1alpha1/namespaces/prod/virtualmachines/web/vnc');
    expect(consoleUrl({ protocol: 'http:', host: 'h' }, 'a', 'b', 'vnc')).toBe('ws://h/apis/quantix.io/v1alpha1/namespaces/a/virtualmachines/b/vnc');
    expect(consolePath('default', 'a b', 'serial')).toBe('/apis/quantix.io/v1alpha1/namespaces/default/virtualmachines/a%20b/console');
  });
});

describe('console states', () => {
  it('connects only to a running (or paused) VM', () => {
    expect(vmConsoleAvailable({ status: { phase: 'Running' } })).toBe(true);
    expect(vmConsoleAvailable({ status: { phase: 'Paused' } })).toBe(true);
    expect(stoppedState({ status: { phase: 'Running' } })).toBeUndefined();
    expect(stoppedState({ status: { phase: 'Stopped' } })).toEqual({
      kind: 'stopped',
      message: 'The VM is not running (phase Stopped). Start it to use its console.',
    });
    expect(stoppedState({})).toEqual({ kind: 'stopped', message: 'The VM is not running (phase unknown). Start it to use its console.' });
  });

  it.each([
    [4000, 'VMStopped: domain shut off', { kind: 'stopped', message: 'The VM stopped; the console session ended (domain shut off).' }],
    [4000, 'ConsoleTaken: taken over by admin', { kind: 'taken', message: 'Another session took the console over (taken over by admin).' }],
    [4000, 'AgentDisconnected: tunnel lost', { kind: 'ended', message: "The VM's node agent disconnected (tunnel lost). Reconnect when it is back." }],
    [4000, 'Error: stream failed', { kind: 'ended', message: 'The server ended the session: Error: stream failed.' }],
    [1000, '', { kind: 'ended', message: 'The session ended.' }],
    [1006, '', { kind: 'ended', message: 'The connection to the server was lost.' }],
    [1011, 'internal', { kind: 'ended', message: 'The session ended (code 1011: internal).' }],
  ])('close %i "%s" → %j', (code, reason, state) => {
    expect(closedState(code, reason)).toEqual(state);
  });

  const status = (code: number, reason: string, message: string) => new ApiError(code, reason, message);

  it.each([
    [
      { error: status(403, 'Forbidden', 'User "viewer" cannot get virtualmachines') },
      { kind: 'forbidden', message: 'User "viewer" cannot get virtualmachines' },
    ],
    [{ error: status(401, 'Unauthorized', 'Unauthorized') }, { kind: 'forbidden', message: 'Unauthorized' }],
    [{ error: status(404, 'NotFound', 'virtualmachines.quantix.io "web" not found') }, { kind: 'ended', message: 'The VM does not exist (it was deleted).' }],
    [
      { error: status(503, 'ServiceUnavailable', 'etcd unavailable') },
      { kind: 'ended', message: 'The console could not be opened, and the VM cannot be read: etcd unavailable' },
    ],
    [{ vm: { status: { phase: 'Stopped' as const } } }, { kind: 'stopped', message: 'The VM is not running (phase Stopped). Start it to use its console.' }],
  ])('a refused upgrade, the VM read back as %j → %j', (probe, state) => {
    expect(refusedState('serial', probe)).toEqual(state);
  });

  it('a refused upgrade of a running VM: the serial console is most likely held by another session', () => {
    expect(refusedState('serial', { vm: { status: { phase: 'Running' } } }).kind).toBe('taken');
    expect(refusedState('vnc', { vm: { status: { phase: 'Running' } } })).toEqual({
      kind: 'ended',
      message: "The graphical console could not be opened (the VM's node agent may not be connected).",
    });
  });
});
