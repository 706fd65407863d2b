/**
 * `qxctl console VM` (the serial console in this terminal) and `qxctl vnc VM` (the graphical
 * console on a local port for any VNC viewer), over the VM's `console` and `vnc` WebSocket
 * subresources (cli/console.ts).
 */
import type { VirtualMachine } from '../../api-types/generated/types.js';
import { resourcePath } from '../../api-types/group-version.js';
import { virtualMachineDefinition } from '../../api-types/registry.js';
import type { ResourceDefinition } from '../../api-types/schema/types.js';
import { flagBool, flagNumber, type Command, type Ctx } from '../command.js';
import { attachTerminal, CONSOLE_SUBPROTOCOL, serveVnc, sessionOutcome } from '../console.js';
import { CliError, ExitCode, formatError } from '../errors.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;

/** Aborted on the first of `signals`; `dispose` removes the handlers. */
function abortOnSignals(signals: NodeJS.Signals[]): { signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const onSignal = () => controller.abort();
  for (const s of signals) process.once(s, onSignal);
  return {
    signal: controller.signal,
    dispose: () => {
      for (const s of signals) process.off(s, onSignal);
    },
  };
}

export const consoleCommand: Command = {
  name: 'console',
  summary: "Attach this terminal to a VM's serial console (Ctrl-] detaches)",
  usage: 'console VM [--force] [flags]',
  description: `
Connects to the first serial port of a running VM through the API (the VM's node agent
opens libvirt's console stream). On a terminal, stdin is put in raw mode: every key,
Ctrl-C included, goes to the guest; Ctrl-] detaches (as in virsh and virtctl) and the
terminal is restored. Piped stdin works too: its bytes are sent, and its end (or a Ctrl-]
byte) detaches.

One session holds a serial console at a time: when another holds it, the server answers
409 ConsoleTaken; --force takes it over (the other session is closed with ConsoleTaken).
Needs write access to the VM (a viewer's request is refused with 403).

Exit codes: 0 detached, or the session ended because the VM stopped; 4 the console is
taken, or was taken over by another session; 8 the VM's agent or the connection was lost;
the usual codes (3 not found, 4 VM not running, 6 forbidden, …) when it cannot attach.`,
  examples: ['qxctl console web', 'qxctl console web -n prod --force', "printf 'root\\n' | qxctl console web"],
  flags: [{ name: 'force', type: 'boolean', description: 'Take the console over from the session that holds it.' }],
  args: { min: 1, max: 1 },
  async run(ctx: Ctx) {
    const name = ctx.args[0]!;
    const client = await ctx.client();
    const namespace = client.namespace;
    const force = flagBool(ctx, 'force');
    const socket = await client.openWebSocket(`${resourcePath(VM, namespace, name)}/console`, {
      query: force ? { force: 'true' } : undefined,
      protocols: [CONSOLE_SUBPROTOCOL],
    });
    const input = ctx.io.terminalIn ?? process.stdin;
    ctx.io.err(`Connected to the serial console of ${namespace}/${name}${force ? ' (taken over)' : ''}. Escape character is ^] (Ctrl-]).`);
    // In raw mode Ctrl-C is a byte for the guest; a SIGINT (kill -INT, or Ctrl-C with piped stdin) detaches.
    const signals = abortOnSignals(['SIGINT', 'SIGTERM', 'SIGHUP']);
    try {
      const end = await attachTerminal(socket, { input, output: ctx.io.terminalOut ?? process.stdout, signal: signals.signal });
      const outcome = sessionOutcome(end, 'console');
      // After raw output the cursor may sit anywhere on the line: start a fresh one.
      if (outcome.message) ctx.io.err(`\r\n${outcome.message}`);
      return outcome.exitCode;
    } finally {
      signals.dispose();
    }
  },
};

export const vncCommand: Command = {
  name: 'vnc',
  summary: "Open a VM's graphical console on a local port for a VNC viewer",
  usage: 'vnc VM [--port N] [flags]',
  description: `
Listens on 127.0.0.1 (only) and carries every connection a VNC viewer makes there to the
VM's VNC display, each over its own WebSocket to the API (the VM's node agent connects to
QEMU's VNC unix socket). Prints the address on stdout and how to connect on stderr, then
runs until interrupted (Ctrl-C closes every connection cleanly).

Needs write access to the VM (a viewer's request is refused with 403). A connection the
server refuses is closed and the refusal printed; after 401, 403 or 404 the command ends
with that error's exit code.`,
  examples: ['qxctl vnc web', 'qxctl vnc web --port 5900   # then: vncviewer 127.0.0.1::5900'],
  flags: [{ name: 'port', type: 'int', valueName: 'N', default: 0, description: 'Local port on 127.0.0.1 (0: any free port).' }],
  args: { min: 1, max: 1 },
  async run(ctx: Ctx) {
    const name = ctx.args[0]!;
    const port = flagNumber(ctx, 'port');
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new CliError(`--port must be 0–65535, not ${port}`, ExitCode.Usage);
    const client = await ctx.client();
    const namespace = client.namespace;
    // Fail at once for a VM that does not exist or does not run, not at the viewer's first connection.
    const vm = await client.get<VirtualMachine>(resourcePath(VM, namespace, name));
    if (vm.status?.phase !== 'Running' && vm.status?.phase !== 'Paused') {
      throw new CliError(
        `virtualmachine.quantix.io "${name}" is not running (phase ${vm.status?.phase ?? 'unknown'}): start it with \`qxctl vm start ${name}\``,
        ExitCode.Conflict,
      );
    }
    const { createWebSocketStream } = await import('ws');
    const path = `${resourcePath(VM, namespace, name)}/vnc`;
    const tunnel = await serveVnc({
      port,
      open: () => client.openWebSocket(path, { protocols: [CONSOLE_SUBPROTOCOL] }),
      wrap: (socket) => createWebSocketStream(socket),
      onConnection: (remote) => ctx.io.err(`viewer connected from ${remote}`),
      onError: (err) => ctx.io.err(`a viewer's connection was refused: ${formatError(err)}`),
    });
    ctx.io.out(`127.0.0.1:${tunnel.port}`);
    ctx.io.err(`VNC of ${namespace}/${name} on 127.0.0.1:${tunnel.port}; connect a viewer, e.g. vncviewer 127.0.0.1::${tunnel.port}. Ctrl-C stops.`);
    const signals = abortOnSignals(['SIGINT', 'SIGTERM', 'SIGHUP']);
    signals.signal.addEventListener('abort', () => void tunnel.close(), { once: true });
    try {
      const err = await tunnel.done;
      if (err) throw err;
      ctx.io.err('VNC tunnel closed');
      return ExitCode.OK;
    } finally {
      signals.dispose();
    }
  },
};
