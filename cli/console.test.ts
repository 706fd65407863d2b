/**
 * qxctl console and qxctl vnc against a local HTTPS + WebSocket server (the `ws` package)
 * that plays the apiserver's side of the console subresources: TLS with a CA of its own
 * (the kubeconfig's), the bearer token, the subprotocol, Status answers before the upgrade
 * and close codes after it.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { ensureServingCertificates } from '../apiserver/pki/certificates.js';
import { renderKubeconfig } from '../apiserver/pki/kubeconfig.js';
import { eventually } from '../hack/testenv/eventually.js';
import { run } from './app.js';
import type { Io } from './command.js';
import { CONSOLE_SUBPROTOCOL, parseCloseReason, sessionOutcome, splitAtDetach, type TerminalInput } from './console.js';
import { ExitCode } from './errors.js';

const TOKEN = 'console-test-token';
const VM_PATH = '/apis/quantix.io/v1alpha1/namespaces/prod/virtualmachines/web';

describe('Ctrl-] and close reasons (pure)', () => {
  it('forwards the bytes before Ctrl-] and detaches at it', () => {
    expect(splitAtDetach(Buffer.from('ls\r'))).toEqual({ forward: Buffer.from('ls\r'), detach: false });
    expect(splitAtDetach(Buffer.from('ab\x1dcd'))).toEqual({ forward: Buffer.from('ab'), detach: true });
    expect(splitAtDetach(Buffer.from([0x1d]))).toEqual({ forward: Buffer.alloc(0), detach: true });
  });

  it('splits a close reason into its code and message', () => {
    expect(parseCloseReason('VMStopped: domain shut off')).toEqual({ reason: 'VMStopped', message: 'domain shut off' });
    expect(parseCloseReason('ConsoleTaken:')).toEqual({ reason: 'ConsoleTaken', message: '' });
    expect(parseCloseReason('just text: with a colon later')).toEqual({ reason: '', message: 'just text: with a colon later' });
  });

  it.each([
    [{ kind: 'detached', how: 'escape' } as const, ExitCode.OK, /^detached from the console$/],
    [{ kind: 'detached', how: 'stdin-closed' } as const, ExitCode.OK, /end of input/],
    [{ kind: 'closed', code: 1000, reason: '' } as const, ExitCode.OK, /closed by the server$/],
    [{ kind: 'closed', code: 4000, reason: 'VMStopped: domain shut off' } as const, ExitCode.OK, /the VM stopped \(domain shut off\)/],
    [{ kind: 'closed', code: 4000, reason: 'ConsoleTaken: forced by admin' } as const, ExitCode.Conflict, /took the console over \(forced by admin\).*--force/],
    [{ kind: 'closed', code: 4000, reason: 'AgentDisconnected: tunnel lost' } as const, ExitCode.Unavailable, /agent disconnected \(tunnel lost\)/],
    [{ kind: 'closed', code: 4000, reason: 'Error: stream failed' } as const, ExitCode.Generic, /Error: stream failed/],
    [{ kind: 'closed', code: 1006, reason: '' } as const, ExitCode.Unavailable, /connection to the server was lost/],
    [{ kind: 'closed', code: 1011, reason: 'boom' } as const, ExitCode.Generic, /code 1011: boom/],
  ])('%j → exit %i', (end, exitCode, message) => {
    const outcome = sessionOutcome(end);
    expect(outcome.exitCode).toBe(exitCode);
    expect(outcome.message).toMatch(message);
  });
});

/** What the fake apiserver does with the next upgrade. */
type Behaviour =
  | { kind: 'echo-upper' } // a "guest" that echoes input in capitals
  | { kind: 'status'; code: number; status: Record<string, unknown> }
  | { kind: 'close'; code: number; reason: string } // upgrade, send a greeting, then close
  | { kind: 'drop' } // upgrade, then drop the TCP connection
  | { kind: 'no-subprotocol' }
  | { kind: 'rfb' }; // a VNC server: version, then security types

function status(code: number, reason: string, message: string, causeReason?: string) {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    status: 'Failure',
    code,
    reason,
    message,
    ...(causeReason ? { details: { name: 'web', kind: 'virtualmachines', causes: [{ reason: causeReason, message }] } } : {}),
  };
}

class FakeApiserver {
  server!: Server;
  wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    handleProtocols: (protocols) => (protocols.has(CONSOLE_SUBPROTOCOL) ? CONSOLE_SUBPROTOCOL : false),
  });
  behaviour: Behaviour = { kind: 'echo-upper' };
  received: Buffer[] = [];
  upgrades: { url: string; authorization?: string; protocol?: string }[] = [];
  closes: { code: number; reason: string }[] = [];
  vmPhase = 'Running';
  sockets = new Set<WebSocket>();

  async start(cert: { certPem: string; keyPem: string }): Promise<string> {
    this.server = createServer({ cert: cert.certPem, key: cert.keyPem }, (req, res) => this.#rest(req, res));
    this.server.on('upgrade', (req: IncomingMessage, socket, head) => this.#upgrade(req, socket as import('node:net').Socket, head));
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `https://127.0.0.1:${(this.server.address() as { port: number }).port}`;
  }

  #rest(req: IncomingMessage, res: ServerResponse) {
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(res, 401, status(401, 'Unauthorized', 'Unauthorized'));
    if (req.url === VM_PATH) {
      return json(res, 200, {
        apiVersion: 'quantix.io/v1alpha1',
        kind: 'VirtualMachine',
        metadata: { name: 'web', namespace: 'prod' },
        spec: {},
        status: { phase: this.vmPhase },
      });
    }
    json(res, 404, status(404, 'NotFound', `${req.url} not found`));
  }

  #upgrade(req: IncomingMessage, socket: import('node:net').Socket, head: Buffer) {
    this.upgrades.push({ url: req.url ?? '', authorization: req.headers.authorization, protocol: req.headers['sec-websocket-protocol'] as string | undefined });
    const b = this.behaviour;
    if (b.kind === 'status') {
      const body = JSON.stringify(b.status);
      socket.end(
        `HTTP/1.1 ${b.code} Refused\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
      );
      return;
    }
    if (b.kind === 'no-subprotocol') {
      const plain = new WebSocketServer({ noServer: true, handleProtocols: () => false });
      plain.handleUpgrade(req, socket, head, (ws) => this.#track(ws));
      return;
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      this.#track(ws);
      if (b.kind === 'echo-upper') ws.on('message', (data: Buffer) => ws.send(Buffer.from(data.toString('utf8').toUpperCase()), { binary: true }));
      if (b.kind === 'close') {
        ws.send(Buffer.from('login: '), { binary: true });
        ws.close(b.code, b.reason);
      }
      if (b.kind === 'drop') ws.once('message', () => socket.destroy());
      if (b.kind === 'rfb') {
        ws.send(Buffer.from('RFB 003.008\n'), { binary: true });
        ws.once('message', (version: Buffer) => {
          if (version.toString() === 'RFB 003.008\n') ws.send(Buffer.from([1, 1]), { binary: true }); // one type: None
        });
      }
    });
  }

  #track(ws: WebSocket) {
    this.sockets.add(ws);
    ws.on('message', (data: Buffer) => this.received.push(data));
    ws.on('close', (code, reason) => {
      this.sockets.delete(ws);
      this.closes.push({ code, reason: reason.toString() });
    });
  }

  async stop() {
    for (const ws of this.sockets) ws.terminate();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function json(res: ServerResponse, code: number, body: unknown) {
  res.writeHead(code, { 'Content-Type': 'application/json' });
  res.end(JSON.stringify(body));
}

/** A terminal: input the test writes to, raw-mode calls recorded, output collected. */
function terminal(tty: boolean) {
  const input = new PassThrough() as PassThrough & TerminalInput & { rawCalls: boolean[] };
  input.rawCalls = [];
  if (tty) {
    input.isTTY = true;
    input.isRaw = false;
    input.setRawMode = (mode: boolean) => {
      input.rawCalls.push(mode);
      input.isRaw = mode;
      return input;
    };
  }
  const output = new PassThrough();
  let text = '';
  output.on('data', (c: Buffer) => (text += c.toString('utf8')));
  return { input, output, text: () => text };
}

function io(term?: ReturnType<typeof terminal>): Io & { stdout: () => string; stderr: () => string } {
  let out = '';
  let err = '';
  return {
    out: (t) => void (out += `${t}\n`),
    err: (t) => void (err += `${t}\n`),
    isTTY: false,
    readStdin: async () => '',
    terminalIn: term?.input,
    terminalOut: term?.output,
    stdout: () => out,
    stderr: () => err,
  };
}

describe('qxctl console and vnc against a WebSocket server', () => {
  let dir: string;
  const apiserver = new FakeApiserver();
  let kubeconfig: string;
  let otherCaKubeconfig: string;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'qxctl-console-'));
    const certs = ensureServingCertificates(join(dir, 'server'));
    const url = await apiserver.start(certs);
    kubeconfig = join(dir, 'kubeconfig');
    writeFileSync(kubeconfig, renderKubeconfig({ server: url, caCertPem: certs.caCertPem, token: TOKEN, user: 'admin', namespace: 'prod' }));
    // A kubeconfig trusting another CA: the server's certificate must be refused.
    const other = ensureServingCertificates(join(dir, 'other'));
    otherCaKubeconfig = join(dir, 'other.kubeconfig');
    writeFileSync(otherCaKubeconfig, renderKubeconfig({ server: url, caCertPem: other.caCertPem, token: TOKEN, user: 'admin', namespace: 'prod' }));
  });
  afterAll(async () => {
    await apiserver.stop();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    apiserver.received = [];
    apiserver.upgrades = [];
    apiserver.closes = [];
    apiserver.vmPhase = 'Running';
  });

  it('attaches in raw mode, carries bytes both ways, detaches at Ctrl-] and restores the terminal', async () => {
    apiserver.behaviour = { kind: 'echo-upper' };
    const term = terminal(true);
    const out = io(term);
    const exit = run(['console', 'web', '--kubeconfig', kubeconfig, '--force'], { io: out });
    await eventually(() => expect(out.stderr()).toContain('Connected to the serial console of prod/web (taken over). Escape character is ^]'));
    expect(term.input.rawCalls).toEqual([true]);
    expect(apiserver.upgrades).toEqual([{ url: `${VM_PATH}/console?force=true`, authorization: `Bearer ${TOKEN}`, protocol: CONSOLE_SUBPROTOCOL }]);
    term.input.write('echo hi\r');
    await eventually(() => expect(term.text()).toBe('ECHO HI\r'));
    // Ctrl-C is a byte for the guest; only Ctrl-] detaches, and nothing after it is sent.
    term.input.write(Buffer.from('x\x03y\x1dnot sent'));
    expect(await exit).toBe(ExitCode.OK);
    expect(Buffer.concat(apiserver.received).toString()).toBe('echo hi\rx\x03y');
    expect(term.input.rawCalls).toEqual([true, false]);
    expect(out.stderr()).toMatch(/detached from the console\n$/);
    await eventually(() => expect(apiserver.closes).toEqual([{ code: 1000, reason: 'client detached' }]));
  });

  it('works with piped stdin (no TTY, no raw mode): its end detaches', async () => {
    apiserver.behaviour = { kind: 'echo-upper' };
    const term = terminal(false);
    const out = io(term);
    const exit = run(['console', 'web', '--kubeconfig', kubeconfig], { io: out });
    term.input.end('uname\n');
    expect(await exit).toBe(ExitCode.OK);
    expect(apiserver.upgrades[0]!.url).toBe(`${VM_PATH}/console`);
    expect(Buffer.concat(apiserver.received).toString()).toBe('uname\n');
    expect(out.stderr()).toContain('detached from the console (end of input)');
  });

  it('a signal (SIGTERM) detaches: the session closes normally and the terminal is restored', async () => {
    apiserver.behaviour = { kind: 'echo-upper' };
    const term = terminal(true);
    const out = io(term);
    const exit = run(['console', 'web', '--kubeconfig', kubeconfig], { io: out });
    await eventually(() => expect(term.input.rawCalls).toEqual([true]));
    process.emit('SIGTERM');
    expect(await exit).toBe(ExitCode.OK);
    expect(out.stderr()).toContain('detached from the console (signal)');
    expect(term.input.rawCalls).toEqual([true, false]);
    await eventually(() => expect(apiserver.closes).toContainEqual({ code: 1000, reason: 'client detached' }));
  });

  it.each([
    [4000, 'ConsoleTaken: taken over by admin', ExitCode.Conflict, 'another session took the console over (taken over by admin)'],
    [4000, 'VMStopped: domain shut off', ExitCode.OK, 'console closed: the VM stopped (domain shut off)'],
    [4000, 'AgentDisconnected: the agent of node-1 restarted', ExitCode.Unavailable, "the VM's agent disconnected (the agent of node-1 restarted)"],
    [4000, 'Error: libvirt stream failed', ExitCode.Generic, 'console closed by the server: Error: libvirt stream failed'],
  ])('a session the server ends with %i "%s" exits %i, says why and restores the terminal', async (code, reason, exitCode, message) => {
    apiserver.behaviour = { kind: 'close', code, reason };
    const term = terminal(true);
    const out = io(term);
    expect(await run(['console', 'web', '--kubeconfig', kubeconfig], { io: out })).toBe(exitCode);
    expect(term.text()).toBe('login: ');
    expect(out.stderr()).toContain(message);
    expect(term.input.rawCalls).toEqual([true, false]);
  });

  it('a connection lost mid-session exits 8 and restores the terminal', async () => {
    apiserver.behaviour = { kind: 'drop' };
    const term = terminal(true);
    const out = io(term);
    const exit = run(['console', 'web', '--kubeconfig', kubeconfig], { io: out });
    await eventually(() => expect(apiserver.upgrades).toHaveLength(1));
    term.input.write('a');
    expect(await exit).toBe(ExitCode.Unavailable);
    expect(out.stderr()).toContain('the connection to the server was lost');
    expect(term.input.rawCalls).toEqual([true, false]);
  });

  it.each([
    [
      404,
      status(404, 'NotFound', 'virtualmachines.quantix.io "web" not found'),
      ExitCode.NotFound,
      'Error from server (NotFound): virtualmachines.quantix.io "web" not found',
    ],
    [
      409,
      status(409, 'Conflict', 'VM prod/web is not running (phase Stopped)', 'VMNotRunning'),
      ExitCode.Conflict,
      'Error from server (Conflict): VM prod/web is not running',
    ],
    [
      409,
      status(409, 'Conflict', 'the serial console of prod/web is in use by another session; use --force to take it over', 'ConsoleTaken'),
      ExitCode.Conflict,
      'use --force to take it over',
    ],
    [
      403,
      status(403, 'Forbidden', 'User "viewer" cannot get resource "virtualmachines/console" in API group "quantix.io" in the namespace "prod"'),
      ExitCode.Unauthorized,
      'Error from server (Forbidden): User "viewer" cannot get resource "virtualmachines/console"',
    ],
    [503, status(503, 'ServiceUnavailable', 'the agent of node-1 is not connected'), ExitCode.Unavailable, 'Error from server (ServiceUnavailable)'],
    [504, status(504, 'Timeout', 'the agent did not answer in time'), ExitCode.Timeout, 'Error from server (Timeout)'],
  ])('a %i Status before the upgrade is printed as kubectl prints it, with its exit code', async (code, body, exitCode, message) => {
    apiserver.behaviour = { kind: 'status', code, status: body };
    const term = terminal(true);
    const out = io(term);
    expect(await run(['console', 'web', '--kubeconfig', kubeconfig], { io: out })).toBe(exitCode);
    expect(out.stderr()).toContain(message);
    // Refused before attaching: the terminal was never put in raw mode.
    expect(term.input.rawCalls).toEqual([]);
  });

  it('checks the server against the kubeconfig CA (another CA: a TLS error, exit 8)', async () => {
    const out = io(terminal(true));
    expect(await run(['console', 'web', '--kubeconfig', otherCaKubeconfig], { io: out })).toBe(ExitCode.Unavailable);
    expect(out.stderr()).toMatch(/TLS error talking to https:\/\/127\.0\.0\.1:\d+/);
    expect(apiserver.upgrades).toEqual([]);
  });

  it('refuses a server that does not answer with the console subprotocol', async () => {
    apiserver.behaviour = { kind: 'no-subprotocol' };
    const out = io(terminal(false));
    expect(await run(['console', 'web', '--kubeconfig', kubeconfig], { io: out })).toBe(ExitCode.Generic);
    expect(out.stderr()).toContain(`does not speak ${CONSOLE_SUBPROTOCOL}`);
  });

  describe('qxctl vnc', () => {
    /** Runs `qxctl vnc web`, returns the port it printed and the run's promise. */
    async function startVnc(args: string[] = []) {
      const out = io();
      const exit = run(['vnc', 'web', '--kubeconfig', kubeconfig, ...args], { io: out });
      await eventually(() => expect(out.stdout()).toMatch(/^127\.0\.0\.1:\d+\n/));
      return { out, exit, port: Number(/:(\d+)/.exec(out.stdout())![1]) };
    }

    /** A TCP viewer: sends the RFB version once the server's arrives, collects everything. */
    async function viewer(port: number) {
      const tcp = connect(port, '127.0.0.1');
      let got = Buffer.alloc(0);
      tcp.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.toString() === 'RFB 003.008\n') tcp.write('RFB 003.008\n');
      });
      await once(tcp, 'connect');
      return { tcp, got: () => got };
    }

    it('listens on 127.0.0.1, tunnels each connection over its own WebSocket to /vnc (RFB handshake), SIGINT closes cleanly', async () => {
      apiserver.behaviour = { kind: 'rfb' };
      const { out, exit, port } = await startVnc();
      expect(out.stderr()).toContain(`vncviewer 127.0.0.1::${port}`);
      const a = await viewer(port);
      const b = await viewer(port);
      const handshake = Buffer.concat([Buffer.from('RFB 003.008\n'), Buffer.from([1, 1])]);
      await eventually(() => expect(a.got()).toEqual(handshake));
      await eventually(() => expect(b.got()).toEqual(handshake));
      expect(apiserver.upgrades.map((u) => [u.url, u.authorization, u.protocol])).toEqual([
        [`${VM_PATH}/vnc`, `Bearer ${TOKEN}`, CONSOLE_SUBPROTOCOL],
        [`${VM_PATH}/vnc`, `Bearer ${TOKEN}`, CONSOLE_SUBPROTOCOL],
      ]);
      // A viewer leaving closes its WebSocket normally; the tunnel stays for the next one.
      a.tcp.end();
      await eventually(() => expect(apiserver.closes).toContainEqual({ code: 1000, reason: 'viewer disconnected' }));
      expect(apiserver.sockets.size).toBe(1);
      process.emit('SIGINT');
      expect(await exit).toBe(ExitCode.OK);
      await eventually(() => expect(apiserver.closes).toContainEqual({ code: 1000, reason: 'tunnel closed' }));
      await eventually(() => expect(b.tcp.destroyed || b.tcp.readableEnded).toBe(true));
      expect(out.stderr()).toContain('VNC tunnel closed');
    });

    it('a viewer refused for good (403) ends the tunnel with exit 6 and the Status message', async () => {
      apiserver.behaviour = { kind: 'status', code: 403, status: status(403, 'Forbidden', 'User "viewer" cannot get resource "virtualmachines/vnc"') };
      const { out, exit, port } = await startVnc();
      const v = await viewer(port);
      expect(await exit).toBe(ExitCode.Unauthorized);
      expect(out.stderr()).toContain('Error from server (Forbidden): User "viewer" cannot get resource "virtualmachines/vnc"');
      await eventually(() => expect(v.tcp.destroyed || v.tcp.readableEnded).toBe(true));
    });

    it('a refusal that may pass (409) closes that connection only and keeps listening', async () => {
      apiserver.behaviour = { kind: 'status', code: 409, status: status(409, 'Conflict', 'VM prod/web is not running', 'VMNotRunning') };
      const { out, exit, port } = await startVnc();
      await viewer(port);
      await eventually(() => expect(out.stderr()).toContain("a viewer's connection was refused: Error from server (Conflict): VM prod/web is not running"));
      apiserver.behaviour = { kind: 'rfb' };
      const v = await viewer(port);
      await eventually(() => expect(v.got().subarray(0, 12).toString()).toBe('RFB 003.008\n'));
      process.emit('SIGINT');
      expect(await exit).toBe(ExitCode.OK);
    });

    it('says so at once for a VM that is not running, and for a port in use', async () => {
      apiserver.vmPhase = 'Stopped';
      const stopped = io();
      expect(await run(['vnc', 'web', '--kubeconfig', kubeconfig], { io: stopped })).toBe(ExitCode.Conflict);
      expect(stopped.stderr()).toContain('"web" is not running (phase Stopped): start it with `qxctl vm start web`');
      apiserver.vmPhase = 'Running';
      const first = await startVnc();
      const busy = io();
      expect(await run(['vnc', 'web', '--kubeconfig', kubeconfig, '--port', String(first.port)], { io: busy })).toBe(ExitCode.Usage);
      expect(busy.stderr()).toContain(`cannot listen on 127.0.0.1:${first.port}: the port is in use`);
      process.emit('SIGINT');
      expect(await first.exit).toBe(ExitCode.OK);
      expect(apiserver.upgrades).toEqual([]);
    });
  });
});
