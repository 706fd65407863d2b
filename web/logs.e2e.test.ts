/**
 * Issue 17's acceptance, end to end, on `make up`'s own script (hack/up.sh with a temp state
 * dir and free ports: the apiserver, controller-manager and agent as the processes a host
 * runs, writing their log files, the audit log and the UI action log into $STATE/logs) and
 * the real libvirt (TCG), with Debian's Chromium:
 *
 * - the chain: Stop on a VM in the UI → the toast shows the action's correlation id →
 *   `qxctl logs --correlation-id ID` returns, in time order, lines from ui, audit,
 *   controller-manager and agent (the libvirt DOMAIN_SHUTDOWN call) → clicking the id opens
 *   the Logs page with the same chain → its CSV export downloads the header and those rows.
 *   The VM has a blank disk: it sits in the BIOS, which is enough for the agent's shutdown
 *   call (no guest boot needed).
 * - a viewer's actions reach the UI action log under the viewer's name;
 * - the page-hide flush reaching ui.log; a bad time on the Logs page shown as the API's Status;
 * - the Logs page with 100,000 lines (a log file of that many in the log dir): virtual rows
 *   (a few dozen in the DOM), scrolling to any line; follow shows a line appended to the file;
 * - a source that does not answer (the agent stopped) named on the Logs page.
 *
 * Run under `flock /tmp/qx-libvirt.lock` (one libvirt user at a time on this machine).
 */
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Page } from 'playwright-core';
import type { LogRecord } from '../lib/logging/record.js';
import { kubectl, run, type CommandResult } from '../hack/testenv/apiserver.js';
import { eventually } from '../hack/testenv/eventually.js';
import { ensureLibvirt, LibvirtCleanup, qxTestName } from '../hack/testenv/libvirt.js';
import { launchBrowser, screenshot, type Browser } from './e2e/browser.js';
import { WEB_ROOT } from './e2e/cluster.js';
import { signIn } from './e2e/page-helpers.js';
import { keepUpStateLogs } from '../hack/testenv/test-logs.js';

const ROOT = resolve(import.meta.dirname, '..');
const SHOTS = join(ROOT, 'test-artifacts', 'screenshots');
const CSV_HEADER = 'time,level,component,node,correlationId,message';
const CHAIN_COMPONENTS = ['ui', 'audit', 'controller-manager', 'agent'];
/** libvirt's shutdown procedure (the agent calls the flags variant: ACPI power button or guest agent). */
const SHUTDOWN = /^DOMAIN_SHUTDOWN(_FLAGS)?$/;
/** LogsTable's row height (px). */
const ROW_HEIGHT = 28;

const stateDir = mkdtempSync(join(tmpdir(), 'quantix-logs-e2e-'));
const downloads = mkdtempSync(join(tmpdir(), 'quantix-logs-dl-'));
const node = qxTestName('lognode');
const pool = qxTestName('logpool');
const ns = qxTestName('logns');
const vm = 'web';
const poolDir = join('/var/lib/libvirt/images', pool);
const cleanup = new LibvirtCleanup();

let env: NodeJS.ProcessEnv | undefined;
let baseUrl = '';
let browser: Browser | undefined;

const qxctl = (args: string[], input?: string): Promise<CommandResult> => run(join(ROOT, 'bin/qxctl'), args, { env, input, timeoutMs: 240_000 });

/** kubectl (the setup) against make up's kubeconfig; throws on a non-zero exit. */
async function must(args: string[], input?: string): Promise<string> {
  const r = await kubectl(join(stateDir, 'kubeconfig'), args, input);
  if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} (exit ${r.code}): ${r.stderr}`);
  return r.stdout;
}

async function freePort(): Promise<number> {
  return new Promise((done) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => done(port));
    });
  });
}

/** A token of tokens.csv (`token,user,uid,"groups"`) by user name, and that user. */
function tokenOf(user: string): { token: string; user: string } {
  const line = readFileSync(join(stateDir, 'tokens.csv'), 'utf8')
    .split('\n')
    .find((l) => l.split(',')[1] === user);
  if (!line) throw new Error(`no ${user} token in tokens.csv`);
  return { token: line.split(',')[0]!, user };
}

/** `qxctl logs -o json`: JSON lines (or one LogList / array), parsed. */
function parseRecords(stdout: string): LogRecord[] {
  const text = stdout.trim();
  if (!text) return [];
  if (text.startsWith('[')) return JSON.parse(text) as LogRecord[];
  try {
    const whole = JSON.parse(text) as { items?: LogRecord[] } & LogRecord;
    return whole.items ?? [whole];
  } catch {
    return text.split('\n').map((l) => JSON.parse(l) as LogRecord);
  }
}

/** RFC 4180 CSV (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
    } else cell += c;
  }
  if (cell || row.length) rows.push([...row, cell]);
  return rows;
}

const isTimeOrdered = (times: string[]) => times.every((t, i) => i === 0 || times[i - 1]! <= t);

interface ShownRow {
  index: number;
  component: string;
  time: string;
  message: string;
  /** The whole record as JSON (the message cell's title). */
  record: string;
}

/** Every row of the Logs page's virtual table, read by scrolling through it a screen at a time. */
async function shownRows(page: Page): Promise<ShownRow[]> {
  const scroller = page.getByTestId('logs-scroll');
  const byIndex = new Map<number, ShownRow>();
  const { total, height } = await scroller.evaluate((el) => ({ total: el.scrollHeight, height: el.clientHeight }));
  for (let top = 0; ; top += height) {
    await scroller.evaluate((el, t) => {
      el.scrollTop = t;
    }, top);
    // The virtualizer renders on the scroll event: wait for the first row of this screen.
    const first = Math.min(Math.floor(top / ROW_HEIGHT), Math.floor(total / ROW_HEIGHT) - 1);
    await page.locator(`[data-testid="logs-table"] [role="row"][data-index="${Math.max(0, first)}"]`).waitFor({ state: 'attached' });
    const rows = await page.locator('[data-testid="logs-table"] [role="row"][data-index]').evaluateAll((els) =>
      els.map((el) => ({
        index: Number(el.getAttribute('data-index')),
        component: el.getAttribute('data-component') ?? '',
        time: (el.querySelector('[data-col="time"]') as HTMLElement).innerText.trim(),
        message: (el.querySelector('[data-col="message"]') as HTMLElement).innerText.trim(),
        record: el.querySelector('[data-col="message"]')?.getAttribute('title') ?? '',
      })),
    );
    for (const r of rows) byIndex.set(r.index, r);
    if (top + height >= total) break;
  }
  return [...byIndex.values()].sort((a, b) => a.index - b.index);
}

async function waitLoaded(page: Page): Promise<number> {
  const count = page.getByTestId('logs-count');
  await eventually(async () => (await count.getAttribute('data-loading')) === 'false', { timeoutMs: 60_000, message: 'the Logs page loaded' });
  return Number(await count.getAttribute('data-count'));
}

beforeAll(async () => {
  await ensureLibvirt();
  const [etcdPort, etcdPeerPort, apiPort, gatewayPort, imagePort] = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  env = {
    QUANTIX_STATE_DIR: stateDir,
    QUANTIX_ETCD_PORT: String(etcdPort),
    QUANTIX_ETCD_PEER_PORT: String(etcdPeerPort),
    QUANTIX_API_PORT: String(apiPort),
    QUANTIX_GATEWAY_PORT: String(gatewayPort),
    QUANTIX_IMAGE_PORT: String(imagePort),
    QUANTIX_NODE_NAME: node,
    QUANTIX_ACCELERATION: 'tcg',
    QUANTIX_SKIP_IMAGE: '1',
    KUBECONFIG: join(stateDir, 'kubeconfig'),
  };
  baseUrl = `https://127.0.0.1:${apiPort}`;
  readFileSync(join(WEB_ROOT, 'index.html')); // the UI is built (vite build) before this suite
  const up = await run('bash', [join(ROOT, 'hack/up.sh')], { env, timeoutMs: 600_000 });
  if (up.code !== 0) throw new Error(`make up failed (${up.code}): ${up.stdout}\n${up.stderr}`);
  mkdirSync(poolDir, { recursive: true });
  cleanup.path(poolDir);
  cleanup.pool(pool);
  cleanup.domain(`${ns}_${vm}`);
  // Namespaces are names only here (no Namespace objects): the VM's is its own.
  await must(
    ['apply', '-f', '-'],
    `apiVersion: quantix.io/v1alpha1
kind: StoragePool
metadata:
  name: ${pool}
spec:
  type: dir
  dir:
    path: ${poolDir}
  assignedNodes: [${node}]
---
apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: ${vm}
  namespace: ${ns}
spec:
  runStrategy: Always
  cpu: 1
  memory: 256Mi
  nodeName: ${node}
  disks:
    - name: root
      storagePool: ${pool}
      size: 1Gi
`,
  );
  await eventually(async () => JSON.parse(await must(['get', 'vm', vm, '-n', ns, '-o', 'json'])).status?.phase === 'Running', {
    timeoutMs: 240_000,
    intervalMs: 1_000,
    message: `${ns}/${vm} Running`,
  });
  browser = await launchBrowser();
}, 900_000);

afterAll(async () => {
  await browser?.close();
  // The domain, the pool and its volumes go with the libvirt clean-up (the agent may be stopped by now).
  if (env) await run('bash', [join(ROOT, 'hack/down.sh')], { env });
  await cleanup.run();
  keepUpStateLogs(stateDir, 'logs-e2e'); // for the run's secrets check
  rmSync(stateDir, { recursive: true, force: true });
  rmSync(downloads, { recursive: true, force: true });
}, 300_000);

describe('one correlation id from the click to the libvirt call', () => {
  let correlationId = '';
  let page: Page;

  it('Stop in the UI: the toast shows the action’s correlation id', async () => {
    page = await browser!.newPage();
    await signIn(page, baseUrl, tokenOf('admin').token);
    await page.goto(`${baseUrl}/ui/vms/${ns}/${vm}`);
    await page.getByTestId('action-stop').click();
    await page.getByTestId('confirm-ok').click();
    const toast = page.getByTestId('activity-item').filter({ hasText: `Stopping ${ns}/${vm}` });
    await toast.waitFor();
    const link = toast.getByTestId('action-correlation-id');
    correlationId = (await link.getAttribute('data-correlation-id')) ?? '';
    expect(correlationId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect((await link.innerText()).trim()).toBe(correlationId);
    await eventually(async () => (await toast.getAttribute('data-state')) === 'succeeded', { timeoutMs: 30_000, message: 'the stop is accepted' });
    // The click goes on: the Logs page filtered by the id.
    await link.click();
    await page.waitForURL((url) => url.pathname === '/ui/logs' && url.searchParams.get('correlationId') === correlationId);
    expect(await page.getByTestId('logs-correlation-id').inputValue()).toBe(correlationId);
  }, 120_000);

  it('qxctl logs --correlation-id: ui, audit, controller-manager and the agent’s DOMAIN_SHUTDOWN, in time order', async () => {
    const records = await eventually(
      async () => {
        const r = await qxctl(['logs', '--correlation-id', correlationId, '-o', 'json']);
        if (r.code !== 0) throw new Error(`qxctl logs (exit ${r.code}): ${r.stderr}`);
        const got = parseRecords(r.stdout);
        const components = new Set(got.map((x) => x.component));
        const shutdown = got.some((x) => x.component === 'agent' && x.message === 'libvirt call' && SHUTDOWN.test(String(x.procedure)));
        // Thrown, not false: a failure then says what the chain had.
        if (!CHAIN_COMPONENTS.every((c) => components.has(c)) || !shutdown) {
          throw new Error(
            `components so far: ${[...components].join(', ') || 'none'}; DOMAIN_SHUTDOWN ${shutdown ? 'seen' : 'not seen'} (stderr: ${r.stderr.trim()})`,
          );
        }
        return got;
      },
      { timeoutMs: 120_000, intervalMs: 1_000, message: `the chain of ${correlationId} in qxctl logs` },
    );
    expect(records.every((r) => r.correlationId === correlationId)).toBe(true);
    expect(isTimeOrdered(records.map((r) => r.time))).toBe(true);
    const shutdown = records.find((r) => r.message === 'libvirt call' && SHUTDOWN.test(String(r.procedure)))!;
    expect(shutdown).toMatchObject({ component: 'agent', node, level: 'info', domain: `${ns}_${vm}`, result: 'ok' });
    expect(records.find((r) => r.component === 'ui' && r.action === 'stop' && r.result === 'start')).toMatchObject({
      category: 'vm',
      target: `${ns}/${vm}`,
      user: 'admin',
    });
    expect(records.some((r) => r.component === 'audit' && r.verb === 'patch' && String(r.message).includes(`virtualmachines ${ns}/${vm}`))).toBe(true);
    // The UI's action comes first; the libvirt call follows what the apiserver and the controllers did.
    const first = (component: string) => records.findIndex((r) => r.component === component);
    expect(first('ui')).toBeLessThan(first('audit'));
    expect(first('audit')).toBeLessThan(records.indexOf(shutdown));
  }, 180_000);

  it('the Logs page shows the same chain, and its CSV export downloads the header and those rows', async () => {
    const rows = await eventually(
      async () => {
        await page.getByTestId('logs-refresh').click();
        await waitLoaded(page);
        const shown = await shownRows(page);
        const components = new Set(shown.map((r) => r.component));
        const shutdown = shown.some((r) => r.component === 'agent' && SHUTDOWN.test(String((JSON.parse(r.record || '{}') as LogRecord).procedure)));
        if (!CHAIN_COMPONENTS.every((c) => components.has(c)) || !shutdown) {
          throw new Error(`components shown: ${[...components].join(', ') || 'none'}; DOMAIN_SHUTDOWN ${shutdown ? 'seen' : 'not seen'}`);
        }
        return shown;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, message: 'the chain on the Logs page' },
    );
    expect(isTimeOrdered(rows.map((r) => r.time))).toBe(true);
    expect(rows.every((r) => (JSON.parse(r.record) as LogRecord).correlationId === correlationId)).toBe(true);
    expect(rows).toHaveLength(Number(await page.getByTestId('logs-count').getAttribute('data-count')));
    // Each component is a badge with its icon, explained in the legend.
    for (const c of CHAIN_COMPONENTS) {
      const badge = page.getByTestId(`legend-${c}`).getByTestId('component-badge');
      expect(await badge.getAttribute('data-component')).toBe(c);
      expect((await page.getByTestId(`legend-${c}`).innerText()).length).toBeGreaterThan(c.length);
    }
    await screenshot(page, join(SHOTS, 'logs-chain.png'));

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByTestId('logs-export-csv').click()]);
    expect(download.suggestedFilename()).toMatch(/^quantix-logs-.*\.csv$/);
    const file = join(downloads, 'chain.csv');
    await download.saveAs(file);
    const csv = parseCsv(readFileSync(file, 'utf8'));
    expect(csv[0]!.join(',')).toBe(CSV_HEADER);
    const body = csv.slice(1);
    expect(body).toHaveLength(rows.length);
    expect(body.map((cells) => cells[0])).toEqual(rows.map((r) => r.time));
    expect(body.map((cells) => cells[2])).toEqual(rows.map((r) => r.component));
    expect(body.every((cells) => cells[4] === correlationId)).toBe(true);
    expect(body.some((cells) => cells[2] === 'agent' && cells[5] === 'libvirt call')).toBe(true);
  }, 120_000);
});

describe('the UI action log', () => {
  it('logs a viewer’s actions under the viewer', async () => {
    const viewer = tokenOf('viewer');
    const page = await browser!.newPage();
    await signIn(page, baseUrl, viewer.token);
    await page.goto(`${baseUrl}/ui/logs?component=ui`);
    await waitLoaded(page);
    await page.getByTestId('logs-refresh').click();
    const entry = await eventually(
      async () => {
        const r = await qxctl(['logs', 'ui', '--grep', 'refresh', '-o', 'json']);
        return parseRecords(r.stdout).find((x) => x.user === viewer.user && x.action === 'refresh') ?? false;
      },
      { timeoutMs: 30_000, intervalMs: 1_000, message: 'the viewer’s click in ui.log' },
    );
    expect(entry).toMatchObject({ component: 'ui', category: 'logs', result: 'info', route: '/ui/logs' });
    expect(typeof entry.sessionId).toBe('string');
    await page.close();
  }, 60_000);
});

describe('bad input on the Logs page', () => {
  it('a time the API cannot read: its Status is shown, naming the parameter', async () => {
    const page = await browser!.newPage();
    await signIn(page, baseUrl, tokenOf('viewer').token);
    await page.goto(`${baseUrl}/ui/logs`);
    await waitLoaded(page);
    await page.getByTestId('logs-since').fill('last tuesday');
    await page.getByTestId('logs-apply').click();
    const error = page.getByTestId('logs-error');
    await error.waitFor();
    expect(await error.innerText()).toMatch(/\(400\).*since/s);
    expect(new URL(page.url()).searchParams.get('since')).toBe('last tuesday');
    await page.close();
  }, 60_000);
});

describe('page hide', () => {
  it('what is buffered when the page goes away reaches ui.log (keepalive fetch with the token)', async () => {
    const page = await browser!.newPage();
    await signIn(page, baseUrl, tokenOf('admin').token);
    await page.goto(`${baseUrl}/ui/logs?component=ui`);
    await waitLoaded(page);
    const marker = qxTestName('hide');
    await page.getByTestId('logs-grep').fill(marker);
    await page.getByTestId('logs-apply').click();
    // At once (well within the 2 s batch interval): only the page-hide flush can send the submit.
    await page.goto('about:blank');
    const entry = await eventually(
      async () => parseRecords((await qxctl(['logs', 'ui', '--grep', marker, '-o', 'json'])).stdout).find((x) => x.action === 'filter') ?? false,
      { timeoutMs: 30_000, intervalMs: 1_000, message: 'the submit sent on page hide in ui.log' },
    );
    expect(entry).toMatchObject({ component: 'ui', category: 'logs', result: 'info', target: expect.stringContaining(marker), user: 'admin' });
    await page.close();
  }, 60_000);
});

describe('the Logs page at 100,000 lines', () => {
  const LINES = 100_000;
  const bulkFile = () => join(stateDir, 'logs', 'e2ebulk.log');
  const start = Date.parse('2026-01-01T00:00:00.000Z');
  const line = (i: number, time = new Date(start + i).toISOString()) =>
    `${JSON.stringify({ time, level: i % 10 === 0 ? 'warn' : 'info', component: 'e2ebulk', node: 'bulk-host', message: `bulk line ${i}` })}\n`;

  it('scrolls through virtual rows, and follow shows a new line', async () => {
    let text = '';
    for (let i = 0; i < LINES; i++) text += line(i);
    writeFileSync(bulkFile(), text);
    const page = await browser!.newPage();
    await signIn(page, baseUrl, tokenOf('admin').token);
    await page.goto(`${baseUrl}/ui/logs?component=e2ebulk&lines=100000`);
    expect(await waitLoaded(page)).toBe(LINES);
    const rendered = page.locator('[data-testid="logs-table"] [role="row"][data-index]');
    // Opens at the newest line; only the rows in view (and a few more) are in the DOM.
    await eventually(async () => (await rendered.filter({ hasText: `bulk line ${LINES - 1}` }).count()) === 1, { message: 'the newest line shown' });
    expect(await rendered.count()).toBeLessThan(100);
    const scroller = page.getByTestId('logs-scroll');
    for (const target of [0, 50_000, 77_777]) {
      await scroller.evaluate(
        (el, [t, rowHeight]) => {
          el.scrollTop = t! * rowHeight!;
        },
        [target, ROW_HEIGHT],
      );
      await eventually(async () => (await page.locator(`[role="row"][data-index="${target}"]`).innerText()).includes(`bulk line ${target}`), {
        message: `row ${target} shown`,
      });
      expect(await rendered.count()).toBeLessThan(100);
    }
    await screenshot(page, join(SHOTS, 'logs-100k.png'));

    await page.getByTestId('logs-follow').check();
    await page.getByTestId('logs-following').waitFor({ timeout: 60_000 });
    appendFileSync(bulkFile(), line(LINES, new Date().toISOString()).replace(`bulk line ${LINES}`, 'bulk line followed'));
    await eventually(async () => (await rendered.filter({ hasText: 'bulk line followed' }).count()) === 1, {
      timeoutMs: 30_000,
      message: 'the appended line shown by follow',
    });
    expect(Number(await page.getByTestId('logs-count').getAttribute('data-count'))).toBe(LINES);
    await page.close();
  }, 240_000);
});

describe('a source that does not answer', () => {
  it('is named on the Logs page, not skipped', async () => {
    // The agent `make up` started (its own process group): gone, its node's logs cannot be read.
    const pid = Number(readFileSync(join(stateDir, 'run', 'agent.pid'), 'utf8'));
    process.kill(-pid, 'SIGTERM');
    const page = await browser!.newPage();
    await signIn(page, baseUrl, tokenOf('viewer').token);
    await page.goto(`${baseUrl}/ui/logs`);
    const source = page.locator(`[data-testid="logs-source"][data-component="agent"][data-node="${node}"]`);
    await eventually(
      async () => {
        await page.getByTestId('logs-refresh').click();
        await waitLoaded(page);
        return (await source.count()) === 1;
      },
      { timeoutMs: 60_000, intervalMs: 1_000, message: `agent on ${node} named as not answering` },
    );
    expect(await source.getAttribute('data-state')).toMatch(/^(unreachable|error)$/);
    expect(await page.getByTestId('logs-sources-notice').innerText()).toContain(`agent on ${node}`);
    // The lines of the sources that answered are still shown.
    expect(Number(await page.getByTestId('logs-count').getAttribute('data-count'))).toBeGreaterThan(0);
    await page.close();
  }, 90_000);
});
