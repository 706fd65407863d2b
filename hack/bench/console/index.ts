/**
 * Console keystroke round trip on a real booted guest (the Debian test image under real
 * libvirtd/QEMU, TCG here), through the whole stack, next to `virsh console` on the same VM
 * in the same run.
 *
 * Stack: etcd, apiserver + node gateway, controller-manager, an agent on the LibvirtDriver
 * (hack/testenv/guests.ts). One VM with a root password from cloud-init userData; the bench
 * logs in on the serial console and, at the shell prompt, times keystrokes: one byte sent,
 * until the guest's echo of it comes back (bash's readline echoes it on the serial tty).
 *
 *   quantix  a WebSocket client (the `ws` package, Bearer header, the cluster CA: what qxctl
 *            console does) on `…/virtualmachines/NAME/console`: apiserver → gateway tunnel →
 *            agent → libvirt console stream → QEMU's pty, and back;
 *   virsh    `virsh -c qemu:///system console --force DOMAIN` under `script` (virsh needs a
 *            terminal): libvirt's console stream straight from the host.
 *
 * Sides alternate in BENCH_CONSOLE_ROUNDS rounds (default 4) of BENCH_CONSOLE_KEYS
 * keystrokes each (default 100), one keystroke in flight at a time; the line is cleared with
 * Ctrl-U (untimed) every 20 keys. Reported: p50/p90/p99/max/mean per side in ms, and added =
 * quantix − virsh at p50 and p99. Target: p99 added under 20 ms.
 *
 * Network traffic: 127.0.0.1 only. Everything is named qxtest-… and removed at the end.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { cpus, loadavg } from 'node:os';
import WebSocket from 'ws';
import type { Image, VirtualMachine } from '../../../api-types/generated/types.js';
import { imageDefinition, virtualMachineDefinition } from '../../../api-types/registry.js';
import type { ResourceDefinition } from '../../../api-types/schema/types.js';
import { setLogLevel } from '../../../lib/logging/logger.js';
import { kubectl } from '../../testenv/apiserver.js';
import { eventually } from '../../testenv/eventually.js';
import { type GuestStack, guestTestImage, startGuestStack } from '../../testenv/guests.js';
import { LIBVIRT_URI, qxTestName } from '../../testenv/libvirt.js';
import { logInAsRoot } from '../../testenv/serial-login.js';
import { percentile } from '../stats.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const IMAGE = imageDefinition as unknown as ResourceDefinition;
const ROUNDS = Number(process.env.BENCH_CONSOLE_ROUNDS ?? 4);
const KEYS = Number(process.env.BENCH_CONSOLE_KEYS ?? 100);
const CLEAR_EVERY = 20;
const PASSWORD = 'qx-console-bench';
const TARGET_P99_ADDED_MS = 20;

const t0 = performance.now();
const log = (msg: string) => process.stderr.write(`[bench console +${((performance.now() - t0) / 1000).toFixed(0)}s] ${msg}\n`);
const r2 = (v: number) => Math.round(v * 100) / 100;

/** A console session as the bench drives it: bytes in, everything the guest sent so far. */
interface Session {
  send(bytes: string): void;
  output(): string;
  /** Called after each chunk of output (the echo wait is event-driven: no polling loop competing with the guest for the CPU). */
  onOutput(listener: () => void): () => void;
  close(): Promise<void>;
}

/** Output collection with listeners, shared by both sides. */
function outputBuffer() {
  let out = '';
  const listeners = new Set<() => void>();
  return {
    append(chunk: Buffer) {
      out += chunk.toString('latin1');
      for (const l of listeners) l();
    },
    output: () => out,
    onOutput(listener: () => void) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}

function quantixSession(stack: GuestStack, namespace: string, name: string): Promise<Session> {
  const url = `${stack.cp.env.apiserver.url.replace(/^https/, 'wss')}/apis/quantix.io/v1alpha1/namespaces/${namespace}/virtualmachines/${name}/console?force=true`;
  const ws = new WebSocket(url, ['plain.quantix.io'], {
    ca: stack.cp.env.caCertPem,
    headers: { authorization: `Bearer ${stack.cp.env.tokens.admin}` },
    perMessageDeflate: false,
  });
  const buffer = outputBuffer();
  ws.on('message', (d: Buffer) => buffer.append(d));
  return new Promise((resolve, reject) => {
    ws.once('open', () =>
      resolve({
        send: (bytes) => ws.send(Buffer.from(bytes, 'latin1')),
        output: buffer.output,
        onOutput: buffer.onOutput,
        close: async () => {
          if (ws.readyState === ws.CLOSED) return;
          const closed = new Promise((r) => ws.once('close', r));
          ws.close(1000);
          await closed;
        },
      }),
    );
    ws.once('unexpected-response', (_req, res) => reject(new Error(`console refused: HTTP ${res.statusCode}`)));
    ws.once('error', reject);
  });
}

async function virshSession(domain: string): Promise<Session> {
  // virsh console needs a terminal: `script` gives it a pty; virsh puts it in raw mode.
  const child: ChildProcessWithoutNullStreams = spawn('script', ['-qfec', `virsh -c ${LIBVIRT_URI} console --force ${domain}`, '/dev/null'], {
    stdio: 'pipe',
  });
  const buffer = outputBuffer();
  child.stdout.on('data', (d: Buffer) => buffer.append(d));
  await eventually(() => buffer.output().includes('Escape character'), { timeoutMs: 30_000, message: 'virsh console connected' });
  return {
    send: (bytes) => void child.stdin.write(Buffer.from(bytes, 'latin1')),
    output: buffer.output,
    onOutput: buffer.onOutput,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin.write(Buffer.from([0x1d]));
      // virsh detaches on Ctrl-]; if it does not, the session must not hang the bench.
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Presses Enter until the output since `from` matches (a quiet serial console shows nothing by itself). */
async function waitFor(s: Session, pattern: RegExp, timeoutMs: number, press = '\r'): Promise<void> {
  const from = s.output().length;
  await eventually(
    () => {
      if (pattern.test(s.output().slice(from))) return true;
      if (press) s.send(press);
      throw new Error(`the output ends ${JSON.stringify(s.output().slice(-200))}`);
    },
    { timeoutMs, intervalMs: 2_000, message: `console output matching ${pattern}` },
  );
}

/** Times KEYS keystrokes: each from the send to its echo. */
async function measure(s: Session): Promise<number[]> {
  // A fresh prompt, and nothing else in flight.
  s.send('\x15');
  await waitFor(s, /# $/m, 30_000);
  const samples: number[] = [];
  for (let i = 0; i < KEYS; i++) {
    if (i > 0 && i % CLEAR_EVERY === 0) {
      const before = s.output().length;
      s.send('\x15'); // Ctrl-U: readline clears the line (untimed)
      await eventually(() => s.output().length > before, { timeoutMs: 10_000, intervalMs: 10 });
      await waitForQuiet(s);
    }
    const key = String.fromCharCode(97 + (i % 26));
    const from = s.output().length;
    const started = performance.now();
    s.send(key);
    await echoed(s, key, from);
    samples.push(performance.now() - started);
  }
  s.send('\x15');
  return samples;
}

/** Resolves when `key` shows in the output after `from` (checked on each chunk that arrives). */
function echoed(s: Session, key: string, from: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const done = (err?: Error) => {
      off();
      clearTimeout(timer);
      if (err) reject(err);
      else resolve();
    };
    const off = s.onOutput(() => s.output().indexOf(key, from) >= 0 && done());
    const timer = setTimeout(() => done(new Error(`no echo of ${JSON.stringify(key)} within 10 s`)), 10_000);
    if (s.output().indexOf(key, from) >= 0) done();
  });
}

/** Until the output stops growing for a few loop turns (the echo of Ctrl-U is several bytes). */
async function waitForQuiet(s: Session): Promise<void> {
  let last = -1;
  await eventually(
    () => {
      const n = s.output().length;
      const quiet = n === last;
      last = n;
      return quiet;
    },
    { timeoutMs: 10_000, intervalMs: 20 },
  );
}

function summary(ms: number[]) {
  return {
    samples: ms.length,
    p50: r2(percentile(ms, 50)),
    p90: r2(percentile(ms, 90)),
    p99: r2(percentile(ms, 99)),
    max: r2(Math.max(...ms)),
    mean: r2(ms.reduce((a, b) => a + b, 0) / ms.length),
  };
}

async function main(): Promise<void> {
  setLogLevel(process.env.QUANTIX_LOG_LEVEL ?? 'error');
  const image = await guestTestImage();
  const stack = await startGuestStack({ tag: 'cbench' });
  const ns = qxTestName('cbns');
  const name = qxTestName('cbvm');
  const imageName = qxTestName('cbimg');
  stack.cleanupNamespace(ns);
  try {
    stack.files.serve('/images/debian.qcow2', image.path);
    const apply = async (yaml: string) => {
      const res = await kubectl(stack.cp.env.kubeconfig, ['apply', '-f', '-'], yaml);
      if (res.code !== 0) throw new Error(`kubectl apply: ${res.stderr}`);
    };
    await kubectl(stack.cp.env.kubeconfig, ['create', 'namespace', ns]);
    await apply(
      `apiVersion: quantix.io/v1alpha1\nkind: Image\nmetadata:\n  name: ${imageName}\nspec:\n  source:\n    url: ${stack.files.url}/images/debian.qcow2\n    sha256: ${image.sha256}\n  storagePool: ${stack.pool}\n  nodeNames: [${stack.node}]\n`,
    );
    await eventually(async () => ((await stack.cp.env.apiserver.context.stores.get(IMAGE).get(undefined, imageName)) as Image).status?.phase === 'Ready', {
      timeoutMs: 600_000,
      intervalMs: 1_000,
      message: 'image Ready',
    });
    const userData = `#cloud-config\nchpasswd:\n  expire: false\n  users:\n  - {name: root, password: ${PASSWORD}, type: text}\n`;
    await apply(`apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${name}
  namespace: ${ns}
spec:
  cpu: 1
  memory: 1Gi
  nodeName: ${stack.node}
  disks:
  - name: root
    storagePool: ${stack.pool}
    size: 4Gi
    image: ${imageName}
  cloudInit:
    userData: ${JSON.stringify(userData)}
`);
    const vm = await eventually(
      async () => {
        const v = (await stack.cp.env.apiserver.context.stores.get(VM).get(ns, name)) as VirtualMachine;
        return v.status?.phase === 'Running' && v.status.domainName ? v : false;
      },
      { timeoutMs: 300_000, intervalMs: 1_000, message: 'VM Running' },
    );
    const domain = vm.status!.domainName!;
    log(`VM ${ns}/${name} (domain ${domain}) running; logging in on the serial console`);
    const first = await quantixSession(stack, ns, name);
    await logInAsRoot(first, PASSWORD, { timeoutMs: 1_200_000 });
    await first.close();
    log('logged in');

    const quantix: number[] = [];
    const virsh: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which side goes first, so neither always runs on a warmer guest.
      const order = round % 2 === 0 ? (['quantix', 'virsh'] as const) : (['virsh', 'quantix'] as const);
      for (const side of order) {
        const s = side === 'quantix' ? await quantixSession(stack, ns, name) : await virshSession(domain);
        try {
          (side === 'quantix' ? quantix : virsh).push(...(await measure(s)));
        } finally {
          await s.close();
        }
        log(`round ${round + 1}/${ROUNDS} ${side}: ${KEYS} keys`);
      }
    }
    const q = summary(quantix);
    const v = summary(virsh);
    const added = { p50: r2(q.p50 - v.p50), p99: r2(q.p99 - v.p99) };
    process.stdout.write(
      `${JSON.stringify(
        {
          machine: { cpus: cpus().length, loadavg1: r2(loadavg()[0]!), acceleration: stack.acceleration },
          method: { rounds: ROUNDS, keysPerRound: KEYS, oneInFlight: true },
          quantixMs: q,
          virshConsoleMs: v,
          addedMs: added,
          targetP99AddedMs: TARGET_P99_ADDED_MS,
          targetMet: added.p99 < TARGET_P99_ADDED_MS,
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    await stack.stop();
  }
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`[bench console] failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
