/**
 * The console clients against the real apiserver + node gateway on real etcd, with an agent
 * on the sim driver (its serial console echoes, one session at a time; its VNC sends the
 * RFB greeting): `bin/qxctl console` and `bin/qxctl vnc` as subprocesses, and the VM page's
 * Console tab in real Chromium (the echo in the xterm, the taken state and take-over, a
 * stopped VM, a viewer). The real guest's login prompt and drawn VNC screen are in
 * console.e2e.test.ts.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import path, { join } from 'node:path';
import type { VirtualMachine } from '../api-types/generated/types.js';
import { virtualMachineDefinition } from '../api-types/registry.js';
import type { ResourceDefinition } from '../api-types/schema/types.js';
import { SimDriver } from '../agent/hypervisor/sim/driver.js';
import { eventually } from '../hack/testenv/eventually.js';
import { renderKubeconfig } from '../apiserver/pki/kubeconfig.js';
import {
  startAgent,
  startApiserverReplica,
  startFinalizerStandIn,
  startTestControlPlane,
  type TestAgent,
  type TestControlPlane,
} from '../hack/testenv/agent.js';
import { launchBrowser, screenshot, type Browser } from './e2e/browser.js';
import { WEB_ROOT } from './e2e/cluster.js';
import { signIn } from './e2e/page-helpers.js';

const VM = virtualMachineDefinition as unknown as ResourceDefinition;
const REPO = path.resolve(import.meta.dirname, '..');
const QXCTL = join(REPO, 'bin/qxctl');
const SHOTS = join(REPO, 'test-artifacts', 'screenshots');
const NODE = 'con-sim';
const workDir = mkdtempSync(join(tmpdir(), 'qx-console-sim-'));

let cp: TestControlPlane;
let agent: TestAgent;
let finalizers: { stop(): void };
let browser: Browser;

interface Proc {
  child: ChildProcessWithoutNullStreams;
  out(): string;
  err(): string;
  exit: Promise<number>;
}

function qxctl(args: string[], kubeconfig = cp.env.kubeconfig): Proc {
  const child = spawn(QXCTL, args, { env: { ...process.env, KUBECONFIG: kubeconfig, HOME: workDir }, stdio: 'pipe' });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString('utf8')));
  child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
  // 'close', not 'exit': it fires once stdout and stderr are drained.
  const exit = once(child, 'close').then(([code]) => code as number);
  return { child, out: () => out, err: () => err, exit };
}

const store = () => cp.env.apiserver.context.stores.get(VM);

async function vm(name: string, runStrategy: 'Always' | 'Halted'): Promise<void> {
  await store().create({
    apiVersion: 'quantix.io/v1alpha1',
    kind: 'VirtualMachine',
    metadata: { name, namespace: 'default' },
    spec: { memory: '64Mi', nodeName: NODE, runStrategy },
  });
  const want = runStrategy === 'Always' ? 'Running' : 'Stopped';
  await eventually(async () => ((await store().get('default', name)) as VirtualMachine).status?.phase === want, { message: `${name} ${want}` });
}

const connected = (p: Proc) => eventually(() => /Connected to the serial console/.test(p.err()), { timeoutMs: 30_000, message: 'qxctl console connected' });

beforeAll(async () => {
  cp = await startTestControlPlane({ extra: { webRoot: WEB_ROOT } });
  finalizers = startFinalizerStandIn(cp);
  agent = await startAgent(cp, { driver: new SimDriver({ hostname: NODE }), hostname: NODE, addresses: ['127.0.0.1'] });
  await vm('echo', 'Always');
  await vm('off', 'Halted');
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await agent?.stop();
  finalizers?.stop();
  await cp?.stop();
  rmSync(workDir, { recursive: true, force: true });
});

describe('qxctl console and vnc (sim)', () => {
  it('carries the bytes both ways and detaches at Ctrl-]', async () => {
    const p = qxctl(['console', 'echo']);
    await connected(p);
    p.child.stdin.write('hello\r');
    await eventually(() => expect(p.out()).toBe('hello\r'));
    p.child.stdin.write(Buffer.from('\x1dnot sent'));
    expect(await p.exit).toBe(0);
    // Nothing after Ctrl-] reached the guest (it would have echoed it).
    expect(p.out()).toBe('hello\r');
    expect(p.err()).toContain('detached from the console');
    await eventually(() => expect(agent.agent.consoles.count).toBe(0));
  }, 60_000);

  it('a held console: a second session exits 4 (ConsoleTaken, --force), --force takes it over and the first exits 4', async () => {
    const first = qxctl(['console', 'echo']);
    await connected(first);
    const second = qxctl(['console', 'echo']);
    expect(await second.exit).toBe(4);
    expect(second.err()).toMatch(/Error from server \(Conflict\): .*--force/);
    const forced = qxctl(['console', 'echo', '--force']);
    await eventually(() => /\(taken over\)/.test(forced.err()), { timeoutMs: 30_000 });
    expect(await first.exit).toBe(4);
    expect(first.err()).toContain('another session took the console over');
    forced.child.stdin.end();
    expect(await forced.exit).toBe(0);
  }, 60_000);

  it('the VM stopping ends the session with exit 0 and says so', async () => {
    await vm('stops', 'Always');
    const p = qxctl(['console', 'stops']);
    await connected(p);
    expect(await qxctl(['vm', 'stop', 'stops', '--wait=false']).exit).toBe(0);
    expect(await p.exit).toBe(0);
    expect(p.err()).toContain('console closed: the VM stopped');
  }, 60_000);

  it('bad input: no such VM exits 3, a stopped VM 4 (VMNotRunning), a viewer 6 (403 naming who and what)', async () => {
    const missing = qxctl(['console', 'nope']);
    expect(await missing.exit).toBe(3);
    expect(missing.err()).toMatch(/Error from server \(NotFound\): .*nope/);
    const off = qxctl(['console', 'off']);
    expect(await off.exit).toBe(4);
    expect(off.err()).toMatch(/Error from server \(Conflict\): VM default\/off is not running/);
    const viewer = qxctl(['console', 'echo'], cp.env.viewerKubeconfig);
    expect(await viewer.exit).toBe(6);
    expect(viewer.err()).toMatch(/Error from server \(Forbidden\): .*viewer.*console/);
  }, 60_000);

  it('through a second apiserver replica (the agent is connected to the first)', async () => {
    const replica = await startApiserverReplica(cp);
    try {
      const kubeconfig = join(workDir, 'replica.kubeconfig');
      writeFileSync(kubeconfig, renderKubeconfig({ server: replica.url, caCertPem: cp.env.caCertPem, token: cp.env.tokens.admin, user: 'admin' }));
      const p = qxctl(['console', 'echo'], kubeconfig);
      await connected(p);
      p.child.stdin.write('via the replica\r');
      await eventually(() => expect(p.out()).toBe('via the replica\r'));
      p.child.stdin.end();
      expect(await p.exit).toBe(0);
    } finally {
      await replica.stop();
    }
  }, 60_000);

  it('qxctl vnc: a TCP client gets the RFB greeting through the tunnel; SIGINT ends it with exit 0', async () => {
    const p = qxctl(['vnc', 'echo']);
    const address = await eventually(() => /^127\.0\.0\.1:(\d+)$/m.exec(p.out()) ?? false, { timeoutMs: 30_000 });
    const tcp = connect(Number(address[1]), '127.0.0.1');
    let got = '';
    tcp.on('data', (d: Buffer) => (got += d.toString('latin1')));
    await eventually(() => expect(got).toBe('RFB 003.008\n'));
    tcp.destroy();
    p.child.kill('SIGINT');
    expect(await p.exit).toBe(0);
    expect(p.err()).toContain('VNC tunnel closed');
  }, 60_000);
});

describe('Console tab (sim, Chromium)', () => {
  it('the xterm shows what the guest echoes; a taken console offers take-over; a stopped VM and a viewer get a clear note', async () => {
    const page = await browser.newPage();
    await signIn(page, cp.env.apiserver.url, cp.env.tokens.admin);
    await page.goto(`${cp.env.apiserver.url}/ui/vms/default/echo?tab=console`);
    await eventually(async () => (await page.getByTestId('console-state').getAttribute('data-state')) === 'connected', { timeoutMs: 30_000 });
    await page.getByTestId('console-terminal').click();
    await page.keyboard.type('typed in chromium');
    const rows = page.locator('[data-testid="console-terminal"] .xterm-rows');
    await eventually(async () => expect(await rows.innerText()).toContain('typed in chromium'));
    await screenshot(page, join(SHOTS, 'console-sim-serial.png'));

    // qxctl takes the console over: the tab says so and offers to take it back.
    const cli = qxctl(['console', 'echo', '--force']);
    await connected(cli);
    const note = page.getByTestId('console-message');
    await eventually(async () => expect(await note.getAttribute('data-state')).toBe('taken'));
    expect(await note.innerText()).toContain('Another session took the console over');
    await page.getByTestId('console-takeover').click();
    expect(await cli.exit).toBe(4);
    await eventually(async () => (await page.getByTestId('console-state').getAttribute('data-state')) === 'connected');

    // A refused upgrade (held by qxctl, no force): diagnosed as taken.
    await page.goto(`${cp.env.apiserver.url}/ui/vms/default/echo`);
    const holder = qxctl(['console', 'echo']);
    await connected(holder);
    await page.getByTestId('tab-console').click();
    await eventually(async () => expect(await page.getByTestId('console-message').getAttribute('data-state')).toBe('taken'), { timeoutMs: 30_000 });
    await screenshot(page, join(SHOTS, 'console-sim-taken.png'));
    holder.child.stdin.end();
    expect(await holder.exit).toBe(0);

    await page.goto(`${cp.env.apiserver.url}/ui/vms/default/off?tab=console`);
    await eventually(async () => expect(await page.getByTestId('console-message').getAttribute('data-state')).toBe('stopped'));
    expect(await page.getByTestId('console-message').innerText()).toContain('The VM is not running (phase Stopped)');
    await page.close();

    const viewerPage = await browser.newPage();
    await signIn(viewerPage, cp.env.apiserver.url, cp.env.tokens.viewer);
    await viewerPage.goto(`${cp.env.apiserver.url}/ui/vms/default/echo?tab=console`);
    await eventually(async () => expect(await viewerPage.getByTestId('console-message').getAttribute('data-state')).toBe('forbidden'));
    await viewerPage.close();
  }, 120_000);

  it('noVNC gets the RFB greeting over the tab’s WebSocket (the sim has no screen to draw)', async () => {
    const page = await browser.newPage();
    await signIn(page, cp.env.apiserver.url, cp.env.tokens.admin);
    await page.goto(`${cp.env.apiserver.url}/ui/vms/default/echo?tab=console&console=vnc`);
    await eventually(async () => (await page.getByTestId('console-state').getAttribute('data-state')) === 'connected', { timeoutMs: 30_000 });
    expect(await page.locator('[data-testid="console-screen"] canvas').count()).toBe(1);
    await page.close();
  }, 60_000);
});
