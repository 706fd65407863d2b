/**
 * The web UI in a real browser (Debian Chromium via playwright-core) against a real
 * apiserver + etcd, the controller-manager and two sim-driver agents. One cluster and one
 * browser for the whole suite; tests run in order and build on each other.
 *
 * Screenshots of every page go to test-artifacts/screenshots/ (git-ignored). With
 * QUANTIX_UPDATE_DOCS_SCREENSHOTS=1 the dashboard and a pool's per-host table are also
 * written to docs/images/ for the README.
 */
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { clusterJoiner } from '../agent/registration/cluster-joiner.js';
import { HostTokenStore } from '../agent/registration/host-token.js';
import { RegistrationServer } from '../agent/registration/server.js';
import { ensureRegistrationCertificate } from '../agent/registration/serving-cert.js';
import { SimDriver } from '../agent/hypervisor/sim/driver.js';
import { startAgent, type TestAgent } from '../hack/testenv/agent.js';
import { eventually } from '../hack/testenv/eventually.js';
import { guidanceFor, type HostJoinErrorCode } from '../lib/host-join/codes.js';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { createServer as createHttpsServer } from 'node:https';
import { createLogger } from '../lib/logging/logger.js';
import { launchBrowser, screenshot, type Browser } from './e2e/browser.js';
import { HOSTS, startUiCluster, vmYaml, type UiCluster } from './e2e/cluster.js';
import { badgeState, cellText, clientNavigate, signIn, tableRow, vmRow } from './e2e/page-helpers.js';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SHOTS = join(REPO, 'test-artifacts', 'screenshots');
const shot = (page: Page, name: string) => screenshot(page, join(SHOTS, `${name}.png`));
/** The brief's bar for a live update: visible within 2 s, without a reload. */
const LIVE_MS = 2_000;
const MiB = 1024 ** 2;
const GiB = 1024 ** 3;
/** An image URL with a password and a signed query: neither may appear on a page. */
const SECRET_URL = 'https://mirror:hunter2@images.example.org/cirros/cirros-0.6.2-x86_64-disk.img?sig=s3cr3t';
const CIRROS_SHA = '7d6355852aeb6dbcd191bcda7cd74f1536cfe5cbf8a10495a7283a8396e4b75b';
const SSH_KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHVpLWUyZS10ZXN0LWtleS1ub3QtYS1yZWFsLW9uZQ e2e@quantix';

describe('web UI in Chromium', () => {
  let cluster: UiCluster;
  let browser: Browser;
  let page: Page;
  /** Content-Security-Policy violations Chromium reported, over the whole run. */
  const cspViolations: string[] = [];

  beforeAll(async () => {
    [cluster, browser] = await Promise.all([startUiCluster(), launchBrowser()]);
    page = await browser.newPage();
    page.on('console', (m) => {
      if (m.type() === 'error' && /Content Security Policy/i.test(m.text())) cspViolations.push(m.text());
    });
    page.setDefaultTimeout(10_000);
    // Workload for the pages: a few VMs from kubectl, one of them labelled.
    await cluster.must(
      ['apply', '-f', '-'],
      [
        vmYaml('web-1', { labels: { app: 'web' }, cpu: 2 }),
        vmYaml('web-2', { labels: { app: 'web' } }),
        vmYaml('db-1', { memory: '2Gi', labels: { app: 'db' } }),
      ].join('---\n'),
    );
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('refuses a wrong token with a readable message, then signs in with the admin token', async () => {
    const response = await page.goto(`${cluster.baseUrl}/ui/`);
    // The page may not be framed, sniffed, or run anything but its own bundle.
    expect(response?.headers()).toMatchObject({
      'content-security-policy': expect.stringContaining("frame-ancestors 'none'"),
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
    });
    expect(response?.headers()['content-security-policy']).toContain("script-src 'self'");
    await page.getByTestId('token-input').fill('not-a-token');
    await page.getByTestId('signin-submit').click();
    await expectText(page.getByTestId('signin-error'), /401 Unauthorized/);
    await shot(page, 'signin-error');

    await page.getByTestId('token-input').fill(cluster.cp.env.tokens.admin);
    await page.getByTestId('signin-submit').click();
    await page.getByTestId('dashboard').waitFor();
    await eventually(async () => (await badgeState(page)) === 'live', { message: 'badge live' });
    expect(await page.getByTestId('role').innerText({ timeout: 1_000 })).toBe('admin');
    // The session survives a reload (sessionStorage).
    await page.reload();
    await page.getByTestId('dashboard').waitFor();
  });

  it('shows the dashboard with counts, capacity and recent events', async () => {
    await eventually(async () => (await page.getByTestId('dash-vm-count').innerText({ timeout: 1_000 })) === '3', { message: '3 VMs on the dashboard' });
    await eventually(async () => /Ready\s*2/.test(await page.getByTestId('dash-node-ready').innerText({ timeout: 1_000 })), {
      message: '2 nodes Ready',
      timeoutMs: 15_000,
    });
    await eventually(async () => /Running\s*3/.test(await page.getByTestId('dash-vm-phases').innerText({ timeout: 1_000 })), {
      message: '3 VMs Running',
      timeoutMs: 20_000,
    });
    await eventually(async () => Number(await page.getByTestId('dash-events').getAttribute('data-rows')) > 0, { message: 'recent events' });
    await dismissToasts(page);
    const path = await shot(page, 'dashboard');
    if (process.env.QUANTIX_UPDATE_DOCS_SCREENSHOTS) docsImage(path, 'dashboard.png');
  });

  it('creates a VM from the form and sees it appear', async () => {
    await nav(page, 'Virtual machines');
    await page.getByTestId('new-vm').click();
    await page.getByTestId('vm-name').fill('from-ui');
    await page.getByTestId('vm-cpu').fill('2');
    await page.getByTestId('vm-memory').fill('1Gi');
    await page.getByTestId('disk-0-pool').selectOption('local');
    await eventually(async () => (await page.locator('[data-testid="placement"] tr[data-fits="true"]').count()) === 2, { message: 'both hosts fit' });
    await shot(page, 'vm-create');
    await page.getByTestId('vm-create').click();
    await page.getByTestId('vm-detail').waitFor();
    await expectText(page.locator('[data-testid="activity-item"][data-state="succeeded"]').first(), /Creating default\/from-ui/);
    const got = await cluster.must(['get', 'vm', 'from-ui', '-o', 'jsonpath={.spec.cpu} {.spec.memory} {.spec.disks[0].storagePool}']);
    expect(got).toBe('2 1Gi local');
    await nav(page, 'Virtual machines');
    await vmRow(page, 'default', 'from-ui').waitFor();
    await eventually(async () => (await cellText(vmRow(page, 'default', 'from-ui'), 'phase')) === 'Running', { message: 'from-ui Running', timeoutMs: 20_000 });
  });

  it('shows the server’s validation errors next to the form field', async () => {
    await clientNavigate(page, '/vms/new');
    await page.getByTestId('vm-name').fill('Bad_Name');
    await page.getByTestId('disk-0-pool').selectOption('local');
    await page.getByTestId('vm-create').click();
    await expectText(page.getByTestId('error-name'), /./);
    await expectText(page.getByTestId('create-error'), /Invalid \(422\)/);
    await shot(page, 'vm-create-invalid');
  });

  it('updates the VM list within 2 s of a kubectl change, without a reload', async () => {
    await clientNavigate(page, '/vms');
    const row = vmRow(page, 'default', 'web-1');
    await row.waitFor();
    await page.evaluate(() => ((window as unknown as { __noReload: number }).__noReload = 1));
    expect(await cellText(row, 'cpu')).toBe('2');
    await cluster.must(['patch', 'vm', 'web-1', '--type', 'merge', '-p', '{"spec":{"cpu":4}}']);
    await eventually(async () => (await cellText(row, 'cpu')) === '4', { timeoutMs: LIVE_MS, intervalMs: 50, message: 'cpu 4 shown' });
    await cluster.must(['delete', 'vm', 'web-2', '--wait=false']);
    await eventually(async () => (await vmRow(page, 'default', 'web-2').count()) === 0, { timeoutMs: 15_000, message: 'web-2 gone' });
    expect(await page.evaluate(() => (window as unknown as { __noReload?: number }).__noReload)).toBe(1);
    await shot(page, 'vms');
  });

  it('filters the VM list through the URL (shareable)', async () => {
    await page.getByTestId('filter-labels').fill('app=web');
    await eventually(async () => page.url().includes('labels=app%3Dweb'));
    await eventually(async () => (await page.locator('[data-testid="vm-table"] [role="row"][data-key]').count()) === 1, { message: 'only web-1' });
    const shared = page.url();
    const other = await browser.newPage();
    await other.goto(shared); // same browser, new tab: a fresh sessionStorage, so sign in again
    await other.getByTestId('token-input').fill(cluster.cp.env.tokens.admin);
    await other.getByTestId('signin-submit').click();
    await eventually(async () => (await other.locator('[data-testid="vm-table"] [role="row"][data-key]').count()) === 1, { message: 'shared URL filters' });
    expect(await other.getByTestId('filter-labels').inputValue()).toBe('app=web');
    await other.close();
    await page.getByTestId('filter-labels').fill('');
  });

  it('stops a VM with confirmation and shows progress and outcome', async () => {
    const row = vmRow(page, 'default', 'db-1');
    await row.getByTestId('action-stop').click();
    await expectText(page.locator('[role="dialog"]'), /Stop default\/db-1\?/);
    await shot(page, 'vm-confirm');
    await page.getByTestId('confirm-ok').click();
    await expectText(page.locator('[data-testid="activity-item"][data-state="succeeded"]').last(), /Stopping default\/db-1/);
    expect(await cluster.must(['get', 'vm', 'db-1', '-o', 'jsonpath={.spec.runStrategy}'])).toBe('Halted');
    await eventually(async () => (await cellText(row, 'phase')) === 'Stopped', { timeoutMs: 15_000, message: 'db-1 Stopped' });
  });

  it('restarts a VM as qxctl does: the restart annotation, the agent counts the restart, the run strategy is untouched', async () => {
    const row = vmRow(page, 'default', 'web-1');
    const before = Number((await cluster.must(['get', 'vm', 'web-1', '-o', 'jsonpath={.status.restartCount}'])) || '0');
    await row.getByTestId('action-restart').click();
    await page.getByTestId('confirm-ok').click();
    const toast = page.locator('[data-testid="activity-item"]').filter({ hasText: 'Restarting default/web-1' });
    await eventually(async () => (await toast.getAttribute('data-state')) === 'succeeded', { timeoutMs: 20_000, message: 'restart done' });
    expect(await toast.innerText()).toMatch(new RegExp(`restarted and running again \\(restart ${before + 1}\\)`));
    expect(Number(await cluster.must(['get', 'vm', 'web-1', '-o', 'jsonpath={.status.restartCount}']))).toBe(before + 1);
    expect(await cluster.must(['get', 'vm', 'web-1', '-o', 'jsonpath={.metadata.annotations.quantix\\.io/restart-requested-at}'])).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(await cluster.must(['get', 'vm', 'web-1', '-o', 'jsonpath={.spec.runStrategy}'])).toBe('Always');
    await eventually(async () => (await cellText(row, 'phase')) === 'Running', { timeoutMs: 15_000, message: 'web-1 Running again' });
  });

  it('clones a stopped VM from its page: a taken name gets the server’s error in the dialog, a new one opens the clone', async () => {
    // A running VM: Clone is disabled and says why.
    await clientNavigate(page, '/vms/default/web-1');
    const running = page.getByTestId('action-clone');
    expect(await running.isDisabled()).toBe(true);
    expect(await running.getAttribute('title')).toMatch(/is not stopped \(running\): stop it first/);

    await clientNavigate(page, '/vms/default/db-1');
    await eventually(async () => !(await page.getByTestId('action-clone').isDisabled()), { timeoutMs: 15_000, message: 'Clone offered for stopped db-1' });
    await page.getByTestId('action-clone').click();
    expect(await page.getByTestId('clone-name').inputValue()).toBe('db-1-clone');
    await page.getByTestId('clone-name').fill('web-1');
    await page.getByTestId('clone-submit').click();
    await expectText(page.getByTestId('clone-error'), /virtualmachines\.quantix\.io "web-1" already exists/);
    await shot(page, 'vm-clone-error');
    await page.getByTestId('clone-name').fill('db-copy');
    await page.getByTestId('clone-submit').click();
    await eventually(async () => new URL(page.url()).pathname === '/ui/vms/default/db-copy', { message: 'the page of the clone' });
    await expectText(page.getByTestId('vm-detail'), /default\/db-copy/);
    const cloneFrom = await cluster.must(['get', 'vm', 'db-copy', '-o', 'jsonpath={.spec.disks[0].cloneFrom.virtualMachine}']);
    expect(cloneFrom).toBe('db-1');
    await shot(page, 'vm-clone');
    await cluster.must(['delete', 'vm', 'db-copy', '--wait=false']);
  });

  it('edits YAML on the detail page and shows the validation error on the field’s line', async () => {
    await clientNavigate(page, '/vms/default/web-1?tab=yaml');
    await page.getByTestId('yaml-edit').click();
    const text = page.getByTestId('yaml-text');
    const yaml = await text.inputValue();
    await text.fill(yaml.replace(/memory: 512Mi/, 'memory: 2GB'));
    await page.getByTestId('yaml-apply').click();
    const inline = page.getByTestId('yaml-inline-error');
    await expectText(inline, /quantity/);
    const line = Number(await inline.getAttribute('data-line'));
    expect((await text.inputValue()).split('\n')[line - 1]).toMatch(/^\s+memory: 2GB$/);
    await shot(page, 'vm-yaml-error');
    // A valid edit applies.
    await text.fill((await text.inputValue()).replace('memory: 2GB', 'memory: 768Mi'));
    await page.getByTestId('yaml-apply').click();
    await eventually(async () => (await cluster.must(['get', 'vm', 'web-1', '-o', 'jsonpath={.spec.memory}'])) === '768Mi', { message: 'applied' });
    await clientNavigate(page, '/vms/default/web-1');
    // Its current use, from the domain statistics its agent samples (VM status.usage).
    await expectText(page.getByTestId('vm-usage'), /Current use[\s\S]*CPU \(\d+ vCPU\)[\s\S]*Memory resident on the host/);
    await shot(page, 'vm-detail');
  });

  it('shows on a VM’s page that it was recovered from a fenced node: from which, when, how often', async () => {
    // status.recovery as the node-lifecycle controller writes it (docs/fencing.md).
    const at = new Date(Date.now() - 10 * 60_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await cluster.must([
      'patch',
      'vm',
      'web-1',
      '--subresource=status',
      '--type',
      'merge',
      '-p',
      JSON.stringify({ status: { recovery: { recoveredFrom: 'hv-gone', count: 2, lastRecoveryTime: at } } }),
    ]);
    await clientNavigate(page, '/vms/default/web-1');
    await expectText(page.getByTestId('vm-recovery'), /^from hv-gone 1[01]m ago \(2 times\)$/);
  });

  it('marks unmanaged and Lost VMs distinctly, with an explanation on hover', async () => {
    // A domain defined on hv-1 behind Quantix's back: the agent reports it host-discovered.
    cluster.drivers[0]!.defineForeignDomain({
      uuid: '6f1c2d3e-0000-4000-8000-00000000abcd',
      name: 'legacy-db',
      vcpus: 2,
      memoryBytes: 1024 ** 3,
      disks: [],
      networks: [],
    });
    // A managed domain removed outside Quantix: the agent's sync reports it missing → Lost.
    const uid = await cluster.must(['get', 'vm', 'from-ui', '-o', 'jsonpath={.metadata.uid}']);
    const holders = await Promise.all(cluster.drivers.map(async (d) => ((await d.listDomains()).some((x) => x.uuid === uid) ? d : undefined)));
    const owner = holders.find((d) => d !== undefined)!;
    await owner.destroyDomain(uid).catch(() => undefined);
    await owner.undefineDomain(uid);
    await clientNavigate(page, '/vms');
    const unmanaged = page.locator('[data-testid="vm-table"] [role="row"].row-unmanaged');
    await eventually(async () => (await unmanaged.count()) === 1, { timeoutMs: 15_000, message: 'an unmanaged row' });
    expect(await unmanaged.locator('[data-flag="unmanaged"]').getAttribute('title')).toMatch(/not created by Quantix/);
    const lost = vmRow(page, 'default', 'from-ui');
    await eventually(async () => (await cellText(lost, 'phase')) === 'Lost', { timeoutMs: 15_000, message: 'from-ui Lost' });
    expect(await lost.getAttribute('class')).toMatch(/row-lost/);
    expect(await lost.locator('[data-flag="lost"]').getAttribute('title')).toMatch(/reports this managed VM missing/);
    await shot(page, 'vms-unmanaged-lost');
  });

  it('shows nodes and cordons one', async () => {
    await nav(page, 'Nodes');
    const row = page.locator('[data-testid="node-table"] [role="row"][data-key="hv-2"]');
    await row.getByTestId('cordon').click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await row.locator('.flag-cordoned').count()) === 1, { timeoutMs: LIVE_MS + 3_000, message: 'cordoned flag' });
    expect(await cluster.must(['get', 'qn', 'hv-2', '-o', 'jsonpath={.spec.unschedulable}'])).toBe('true');
    await shot(page, 'nodes');
    await row.locator('a').first().click();
    await page.getByTestId('node-detail').waitFor();
    await eventually(async () => (await page.locator('[data-testid="node-pools"] tbody tr').count()) === 2, { message: 'two pools on hv-2' });
    // Host telemetry from the agent's heartbeats (Node status.telemetry).
    await expectText(page.getByTestId('node-telemetry'), /Host CPU \(\d+ cores\)[\s\S]*Host memory[\s\S]*Disk/);
    await shot(page, 'node-detail');
    await page.getByTestId('uncordon').click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await page.getByTestId('cordon').count()) === 1);

    // Fence: the confirmation says what a wrong fence costs; the flag and spec follow; unfence.
    await page.getByTestId('fence').click();
    await expectText(page.getByTestId('confirm-dialog'), /a VM running on two hosts corrupts its disks/);
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('node-fenced').waitFor();
    expect(await cluster.must(['get', 'qn', 'hv-2', '-o', 'jsonpath={.spec.fenced}'])).toBe('true');
    await eventually(async () => /Fenced/.test(await cluster.must(['get', 'qn', 'hv-2', '--no-headers'])), { message: 'kubectl shows Fenced' });
    await page.getByTestId('unfence').click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await page.getByTestId('node-fenced').count()) === 0, { message: 'fenced flag gone' });
    expect(await cluster.must(['get', 'qn', 'hv-2', '-o', 'jsonpath={.spec.fenced}'])).toBe('false');
  });

  it('shows a storage pool’s per-host table, including a host where it cannot mount', async () => {
    await nav(page, 'Storage pools');
    await page.getByTestId('pool-table').waitFor();
    await shot(page, 'pools');
    await clientNavigate(page, '/pools/local');
    const hosts = page.getByTestId('pool-hosts');
    await eventually(async () => (await hosts.locator('[data-phase="HEALTHY"]').count()) === HOSTS.length, {
      timeoutMs: 15_000,
      message: 'local healthy on both',
    });
    await dismissToasts(page);
    const path = await shot(page, 'pool-hosts');
    if (process.env.QUANTIX_UPDATE_DOCS_SCREENSHOTS) docsImage(path, 'storage-pool-hosts.png');
    await clientNavigate(page, '/pools/backup');
    await eventually(
      async () =>
        (await page.getByTestId('pool-hosts').locator('tr[data-node="hv-2"] .text-bad').innerText({ timeout: 1_000 })).includes('Connection timed out'),
      { timeoutMs: 15_000, message: 'mount error shown' },
    );
    await shot(page, 'pool-hosts-error');
  });

  it('assigns a pool to a node and unassigns it again', async () => {
    await clientNavigate(page, '/pools/backup?tab=nodes');
    await page.getByTestId('assign-hv-1').click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await cluster.must(['get', 'sp', 'backup', '-o', 'jsonpath={.spec.assignedNodes}'])) === '["hv-1","hv-2"]', {
      message: 'assigned in the API',
    });
    await page.getByTestId('unassign-hv-1').waitFor();
    await clientNavigate(page, '/pools/backup');
    await eventually(async () => (await page.locator('[data-testid="pool-hosts"] tr[data-node="hv-1"] [data-phase="HEALTHY"]').count()) === 1, {
      timeoutMs: 15_000,
      message: 'hv-1 reports backup healthy',
    });
    await clientNavigate(page, '/pools/backup?tab=nodes');
    await page.getByTestId('unassign-hv-1').click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await cluster.must(['get', 'sp', 'backup', '-o', 'jsonpath={.spec.assignedNodes}'])) === '["hv-2"]', {
      message: 'unassigned in the API',
    });
    await page.getByTestId('assign-hv-1').waitFor();
    await shot(page, 'pool-assignment');
  });

  it('browses a pool’s files: a file created on disk is listed', async () => {
    mkdirSync(join(cluster.poolDir, 'local', 'iso'), { recursive: true });
    writeFileSync(join(cluster.poolDir, 'local', 'iso', 'debian-12.iso'), Buffer.alloc(3 * 1024 * 1024));
    writeFileSync(join(cluster.poolDir, 'local', 'notes.txt'), 'hello');
    await clientNavigate(page, '/pools/local?tab=files&node=hv-1');
    const table = page.getByTestId('files-table');
    await table.locator('tr[data-file="notes.txt"]').waitFor();
    await table.locator('tr[data-file="iso"] button').click();
    await eventually(() => page.url().includes('path=iso'));
    const iso = table.locator('tr[data-file="debian-12.iso"]');
    await iso.waitFor();
    expect(await iso.innerText({ timeout: 1_000 })).toMatch(/3Mi/);
    await shot(page, 'pool-files');
  });

  it('creates an Image from the form: the server’s field errors next to the fields, the URL shown without its secrets', async () => {
    await nav(page, 'Images');
    await page.getByTestId('new-image').click();
    await page.getByTestId('image-name').fill('cirros');
    await page.getByTestId('image-url').fill('ftp://images.example.org/cirros.img');
    await page.getByTestId('image-create').click();
    await expectText(page.getByTestId('error-url'), /must be an http or https URL/);
    await expectText(page.getByTestId('create-error'), /Invalid \(422\)/);
    await shot(page, 'image-create-invalid');
    await page.getByTestId('image-url').fill(SECRET_URL);
    await page.getByTestId('image-sha256').fill(CIRROS_SHA);
    await page.getByTestId('image-create').click();
    await page.getByTestId('image-detail').waitFor();
    expect(await page.getByTestId('image-source').innerText()).toBe('https://images.example.org/cirros/cirros-0.6.2-x86_64-disk.img');
    expect(await page.locator('main').innerText()).not.toMatch(/hunter2|s3cr3t/);
    expect(await cluster.must(['get', 'image', 'cirros', '-o', 'jsonpath={.spec.source.url} {.spec.source.sha256}'])).toBe(`${SECRET_URL} ${CIRROS_SHA}`);
    await nav(page, 'Images');
    await tableRow(page, 'image-table', 'cirros').waitFor();
    expect(await page.locator('main').innerText()).not.toMatch(/hunter2|s3cr3t/);
  });

  it('shows an import’s progress from the watch stream: a bar at 40%, then Ready', async () => {
    const row = tableRow(page, 'image-table', 'cirros');
    await row.waitFor();
    await cluster.patchStatus('image', 'cirros', {
      phase: 'Importing',
      nodes: { 'hv-1': { phase: 'Importing', pool: 'local', progress: { step: 'Downloading', bytesDone: 8 * MiB, bytesTotal: 20 * MiB, percent: 40 } } },
    });
    const bar = row.getByRole('progressbar');
    await eventually(async () => (await bar.getAttribute('aria-valuenow', { timeout: 500 })) === '40', {
      timeoutMs: LIVE_MS,
      intervalMs: 50,
      message: 'the list’s bar at 40%',
    });
    expect(await row.getByTestId('image-progress').innerText()).toMatch(/Downloading 40% · 8Mi \/ 20Mi/);
    expect(await bar.locator('.bar-fill').evaluate((el) => (el as HTMLElement).style.width)).toBe('40%');
    expect(await cellText(row, 'phase')).toBe('Importing');
    await dismissToasts(page);
    await shot(page, 'images-progress');

    await row.locator('a').first().click();
    await page.getByTestId('image-detail').waitFor();
    const node = page.locator('[data-testid="image-nodes"] tr[data-node="hv-1"]');
    expect(await node.getByRole('progressbar').getAttribute('aria-valuenow')).toBe('40');
    await shot(page, 'image-progress');

    await cluster.patchStatus('image', 'cirros', {
      phase: 'Ready',
      virtualSizeBytes: 2 * GiB,
      sha256: CIRROS_SHA,
      nodes: {
        'hv-1': {
          phase: 'Ready',
          progress: null,
          path: `${cluster.poolDir}/local/.quantix-images/cirros.qcow2`,
          fileBytes: 21 * MiB,
          virtualSizeBytes: 2 * GiB,
          sha256: CIRROS_SHA,
          verified: true,
          lastUpdated: new Date().toISOString(),
        },
      },
    });
    await eventually(async () => (await page.locator('.page-head [data-phase]').first().getAttribute('data-phase', { timeout: 500 })) === 'Ready', {
      timeoutMs: LIVE_MS,
      message: 'Ready',
    });
    expect(await page.getByRole('progressbar').count()).toBe(0);
    expect(await node.locator('[data-checksum="verified"]').count()).toBe(1);
    expect(await page.getByTestId('image-sha256').innerText()).toBe(CIRROS_SHA);
    await shot(page, 'image-ready');
  });

  it('shows a failed import with its reason and message', async () => {
    await cluster.must(
      ['apply', '-f', '-'],
      'apiVersion: quantix.io/v1alpha1\nkind: Image\nmetadata:\n  name: broken\nspec:\n  source:\n    url: https://images.example.org/missing.qcow2\n',
    );
    await cluster.patchStatus('image', 'broken', {
      phase: 'Failed',
      nodes: { 'hv-2': { phase: 'Failed', reason: 'HTTPError', message: 'GET https://images.example.org/missing.qcow2: 404 Not Found' } },
    });
    await clientNavigate(page, '/images');
    await expectText(tableRow(page, 'image-table', 'broken').getByTestId('image-failure'), /hv-2: HTTPError: GET \S+: 404 Not Found/);
    await clientNavigate(page, '/images/broken');
    await expectText(page.getByTestId('image-failures'), /hv-2: HTTPError: GET \S+: 404 Not Found/);
    await expectText(page.locator('[data-testid="image-nodes"] tr[data-node="hv-2"] [data-testid="node-failure"]'), /^HTTPError: /);
    await shot(page, 'image-failed');
  });

  it('creates a VM whose boot disk starts from an Image, with SSH keys for cloud-init and a port forward', async () => {
    // An image of its own (Ready on hv-2, 2Gi virtual size), so this VM does not count as a user of cirros.
    await cluster.must(
      ['apply', '-f', '-'],
      'apiVersion: quantix.io/v1alpha1\nkind: Image\nmetadata:\n  name: alpine\nspec:\n  source:\n    url: https://images.example.org/alpine.qcow2\n',
    );
    await cluster.patchStatus('image', 'alpine', {
      phase: 'Ready',
      virtualSizeBytes: 2 * GiB,
      nodes: { 'hv-2': { phase: 'Ready', virtualSizeBytes: 2 * GiB, fileBytes: 60 * MiB } },
    });
    await clientNavigate(page, '/vms/new');
    await page.getByTestId('vm-name').fill('from-image');
    await page.locator('#vm-runStrategy').selectOption('Halted');
    await page.getByTestId('disk-0-pool').selectOption('local');
    await page.getByTestId('disk-0-size').fill('1Gi');
    const alpine = page.locator('[data-testid="vm-image"] option[value="alpine"]');
    await eventually(async () => (await alpine.count()) === 1 && (await alpine.innerText()).includes('(2Gi)'), { message: 'alpine offered with its size' });
    await page.getByTestId('vm-image').selectOption('alpine');
    await page.getByTestId('vm-ssh-keys').fill(SSH_KEY);
    await page.getByTestId('vm-network').selectOption('user');
    await page.getByTestId('vm-ssh-port').fill('2223');
    await page.getByTestId('vm-create').click();
    // The boot disk must hold the image (2Gi virtual size).
    await expectText(page.getByTestId('error-disks.0.size'), /At least 2Gi/);
    await page.getByTestId('disk-0-size').fill('4Gi');
    await shot(page, 'vm-create-image');
    await page.getByTestId('vm-create').click();
    await page.getByTestId('vm-detail').waitFor();
    const spec = JSON.parse(await cluster.must(['get', 'vm', 'from-image', '-o', 'jsonpath={.spec}']));
    expect(spec.disks[0]).toMatchObject({ name: 'root', image: 'alpine', storagePool: 'local', size: '4Gi' });
    expect(spec.cloudInit).toEqual({ sshAuthorizedKeys: [SSH_KEY] });
    expect(spec.networks).toEqual([{ name: 'default', type: 'user', portForwards: [{ guestPort: 22, hostPort: 2223 }] }]);
    await expectText(page.getByTestId('disk-image-root'), /alpine/);
    await expectText(page.getByTestId('port-forwards'), /127\.0\.0\.1:2223 → 22\/tcp/);
    await cluster.must(['delete', 'vm', 'from-image', '--wait=false']);
  });

  it('shows a VM’s guest: its IP in the list, interfaces, port forwards, OS, guest agent and TCG', async () => {
    // Bound nowhere (no node has the label): no agent reports it, so the status patched here stays.
    await cluster.must(
      ['apply', '-f', '-'],
      `apiVersion: quantix.io/v1alpha1
kind: VirtualMachine
metadata:
  name: guest-1
  namespace: default
spec:
  runStrategy: Halted
  memory: 512Mi
  nodeSelector:
    quantix.io/e2e-nowhere: "true"
  disks:
    - name: root
      storagePool: local
      size: 4Gi
      image: cirros
  networks:
    - name: default
      type: user
      portForwards:
        - guestPort: 22
          hostPort: 2222
`,
    );
    await clientNavigate(page, '/vms');
    const row = vmRow(page, 'default', 'guest-1');
    await row.waitFor();
    expect(await cellText(row, 'ip')).toBe('—');
    await cluster.patchStatus(
      'vm',
      'guest-1',
      {
        interfaces: [
          {
            name: 'default',
            macAddress: '52:54:00:ab:cd:ef',
            ipAddress: '10.0.2.15',
            ipAddresses: ['10.0.2.15/24', 'fec0::5054:ff:feab:cdef/64'],
            interfaceName: 'eth0',
          },
        ],
        guestOSInfo: { prettyName: 'CirrOS 0.6.2', name: 'CirrOS', kernelRelease: '6.5.0-9-generic', hostname: 'guest-1', machine: 'x86_64' },
        acceleration: 'tcg',
        conditions: [
          {
            type: 'AgentConnected',
            status: 'True',
            reason: 'GuestAgentResponding',
            message: 'qemu-guest-agent answers',
            lastTransitionTime: new Date().toISOString(),
          },
        ],
      },
      'default',
    );
    await eventually(async () => (await cellText(row, 'ip')) === '10.0.2.15', { timeoutMs: LIVE_MS, intervalMs: 50, message: 'IP in the list' });
    await shot(page, 'vms-ip');
    await clientNavigate(page, '/vms/default/guest-1');
    const ifaces = page.getByTestId('vm-interfaces');
    await expectText(ifaces.getByTestId('interface-ips'), /10\.0\.2\.15\/24\s+fec0::5054:ff:feab:cdef\/64/);
    expect(await ifaces.innerText()).toMatch(/52:54:00:ab:cd:ef/);
    expect(await ifaces.innerText()).toMatch(/eth0 in the guest/);
    expect(await ifaces.getByTestId('port-forwards').innerText()).toBe('127.0.0.1:2222 → 22/tcp');
    const guest = page.getByTestId('vm-guest');
    expect(await guest.innerText()).toMatch(/CirrOS 0\.6\.2[\s\S]*6\.5\.0-9-generic[\s\S]*guest-1/);
    expect(await guest.getByTestId('guest-agent').getAttribute('data-state')).toBe('connected');
    expect(await page.locator('.page-head [data-testid="accel-tcg"]').getAttribute('title')).toMatch(/software emulation: slower guests/);
    await expectText(page.getByTestId('disk-image-root'), /cirros/);
    await shot(page, 'vm-guest');
  });

  it('marks a node that runs guests in software emulation with a TCG badge, and lists its bridges', async () => {
    // The sim agents report no acceleration (and a heartbeat without one clears it), so the
    // node whose status says tcg is one registered without an agent.
    await cluster.must(['apply', '-f', '-'], 'apiVersion: quantix.io/v1alpha1\nkind: Node\nmetadata:\n  name: hv-emu\nspec: {}\n');
    await clientNavigate(page, '/nodes');
    const row = tableRow(page, 'node-table', 'hv-emu');
    await row.waitFor();
    await cluster.patchStatus('qn', 'hv-emu', { acceleration: 'tcg', accelerationSource: 'probe: /dev/kvm does not exist', bridges: ['br-lab'] });
    const badge = row.getByTestId('accel-tcg');
    await eventually(async () => (await badge.count()) === 1, { timeoutMs: LIVE_MS, intervalMs: 50, message: 'TCG badge on hv-emu' });
    expect(await badge.innerText()).toBe('TCG');
    expect(await badge.getAttribute('title')).toBe('software emulation: slower guests (probe: /dev/kvm does not exist)');
    expect(await tableRow(page, 'node-table', 'hv-1').getByTestId('accel-tcg').count()).toBe(0);
    await shot(page, 'nodes-tcg');
    await clientNavigate(page, '/nodes/hv-emu');
    await expectText(page.getByTestId('node-acceleration'), /tcg — software emulation: slower guests \(probe: \/dev\/kvm does not exist\)/);
    // hv-2's bridges come from its agent's heartbeats.
    await clientNavigate(page, '/nodes/hv-2');
    await expectText(page.getByTestId('node-bridges'), /br0\s*virbr0/);
    await shot(page, 'node-detail-bridges');
    await cluster.must(['delete', 'qn', 'hv-emu']);
  });

  it('creates a network from the form, shows it per host, assigns it to another node and deletes it', async () => {
    await nav(page, 'Networks');
    await page.getByTestId('new-network').click();
    await page.getByTestId('net-name').fill('lab');
    await page.getByTestId('net-dhcpEnd').fill('192.168.151.250'); // outside 192.168.150.1/24
    await page.getByTestId('net-node-hv-1').check();
    await page.getByTestId('network-create').click();
    await expectText(page.getByTestId('error-dhcpEnd'), /must be inside 192\.168\.150\.1\/24/);
    await shot(page, 'network-create-invalid');
    await page.getByTestId('net-dhcpEnd').fill('192.168.150.250');
    await page.getByTestId('network-create').click();
    await page.getByTestId('network-detail').waitFor();
    expect(await cluster.must(['get', 'network', 'lab', '-o', 'jsonpath={.spec.assignedNodes}'])).toBe('["hv-1"]');
    // hv-1's agent defines and starts it (sim driver) and reports it in its heartbeats.
    const hv1 = page.locator('[data-testid="network-hosts"] tr[data-node="hv-1"]');
    await eventually(async () => (await hv1.locator('[data-phase="Active"]').count()) === 1, { timeoutMs: 15_000, message: 'hv-1 Active' });
    expect(await hv1.innerText()).toMatch(/qx-[0-9a-f]{8}/);
    await eventually(async () => (await page.locator('.page-head [data-phase]').first().getAttribute('data-phase', { timeout: 500 })) === 'Ready', {
      message: 'network Ready',
    });
    await shot(page, 'network-hosts');

    await page.getByTestId('tab-nodes').click();
    await page.getByTestId('assign-hv-2').click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await cluster.must(['get', 'network', 'lab', '-o', 'jsonpath={.spec.assignedNodes}'])) === '["hv-1","hv-2"]', {
      message: 'assigned in the API',
    });
    await page.getByTestId('unassign-hv-2').waitFor();
    await eventually(async () => (await page.locator('[data-testid="network-assignment"] tr[data-node="hv-2"] [data-phase="Active"]').count()) === 1, {
      timeoutMs: 15_000,
      message: 'hv-2 Active',
    });
    await shot(page, 'network-assignment');

    await page.getByTestId('delete-network').click();
    await expectText(page.locator('[role="dialog"]'), /Delete network lab\?/);
    await page.getByTestId('confirm-ok').click();
    await page.getByTestId('network-missing').waitFor();
    expect((await cluster.kubectl(['get', 'network', 'lab'])).stderr).toMatch(/NotFound|not found/);
  });

  it('deletes images: the API’s refusal is shown, and a deletion held while a VM uses the image says so', async () => {
    // Refused: someone else deletes it while the confirmation is open; the API's 404 is shown.
    await clientNavigate(page, '/images/broken');
    await page.getByTestId('delete-image').click();
    await expectText(page.locator('[role="dialog"]'), /Delete image broken\?/);
    await cluster.must(['delete', 'image', 'broken']);
    await page.getByTestId('confirm-ok').click();
    const toast = page.locator('[data-testid="activity-item"]').filter({ hasText: 'Deleting image broken' });
    await eventually(async () => (await toast.getAttribute('data-state', { timeout: 500 })) === 'failed', { message: 'delete refused' });
    expect(await toast.innerText()).toMatch(/NotFound \(404\): .*broken/);

    // Held: the image controller keeps cirros (finalizer) while guest-1's disk starts from it.
    await clientNavigate(page, '/images/cirros');
    await expectText(page.getByTestId('image-used-by'), /^default\/guest-1$/);
    await page.getByTestId('delete-image').click();
    await expectText(page.locator('[role="dialog"]'), /1 VM\(s\) have disks from it: default\/guest-1/);
    await page.getByTestId('confirm-ok').click();
    await expectText(page.getByTestId('deletion-note'), /quantix\.io\/image-in-use[\s\S]*Still used by default\/guest-1/);
    expect(await page.locator('.page-head [data-phase]').first().getAttribute('data-phase')).toBe('Terminating');
    await dismissToasts(page);
    await shot(page, 'image-deleting');
    // Once no VM uses it, the controller lets it go.
    await cluster.must(['delete', 'vm', 'guest-1']);
    await page.getByTestId('image-missing').waitFor();
  });

  it('lists events live and filters them', async () => {
    await nav(page, 'Events');
    await page.getByTestId('event-table').waitFor();
    await eventually(async () => Number(await page.getByTestId('event-table').getAttribute('data-rows')) > 0);
    await page.getByTestId('filter-kind').selectOption('VirtualMachine');
    await eventually(() => page.url().includes('kind=VirtualMachine'));
    await page.getByTestId('filter-object').fill('late-1');
    await eventually(async () => (await page.getByTestId('event-table').getAttribute('data-rows')) === '0', { message: 'no event about late-1 yet' });
    await cluster.must(['apply', '-f', '-'], vmYaml('late-1'));
    // Once the server has an event about late-1, the page shows it within 2 s.
    await eventually(async () => (await cluster.must(['get', 'events', '--field-selector', 'involvedObject.name=late-1', '-o', 'name'])).trim() !== '', {
      timeoutMs: 20_000,
      intervalMs: 200,
      message: 'an event about late-1 on the server',
    });
    await eventually(async () => Number(await page.getByTestId('event-table').getAttribute('data-rows')) > 0, {
      timeoutMs: LIVE_MS,
      message: 'the event on the page',
    });
    await page.getByTestId('filter-object').fill('');
    await shot(page, 'events');
  });

  it('shows "reconnecting" while the apiserver is down and recovers when it is back', async () => {
    await clientNavigate(page, '/vms');
    await vmRow(page, 'default', 'web-1').waitFor();
    await cluster.cp.stopControlPlane();
    await eventually(async () => (await badgeState(page)) === 'reconnecting', { timeoutMs: 10_000, message: 'badge reconnecting' });
    await expectText(page.getByTestId('connection-badge'), /Reconnecting/);
    expect(await vmRow(page, 'default', 'web-1').count()).toBe(1); // last known state stays
    await shot(page, 'reconnecting');
    await cluster.cp.startControlPlane();
    await eventually(async () => (await badgeState(page)) === 'live', { timeoutMs: 20_000, message: 'badge live again' });
    await cluster.must(['patch', 'vm', 'web-1', '--type', 'merge', '-p', '{"spec":{"cpu":6}}']);
    await eventually(async () => (await cellText(vmRow(page, 'default', 'web-1'), 'cpu')) === '6', {
      timeoutMs: 20_000,
      message: 'updates flow after recovery',
    });
  });

  it('adds a host from the Add-host dialog: the fingerprint to confirm, a wrong token’s code and guidance, then every phase to the joined Node', async () => {
    // A host not joined yet: the agent's registration API on 127.0.0.21, whose join is the
    // agent's real one (CA pin, then registration with the bootstrap token through the gateway).
    const dir = mkdtempSync(join(tmpdir(), 'quantix-ui-addhost-'));
    const cert = ensureRegistrationCertificate(dir, 'hv-3', ['127.0.0.21']);
    const tokens = new HostTokenStore(dir);
    const hostToken = tokens.ensure().token;
    let joined: TestAgent | undefined;
    const registration = new RegistrationServer({
      host: '127.0.0.21',
      port: 0,
      certPem: cert.certPem,
      keyPem: cert.keyPem,
      tokens,
      hostname: 'hv-3',
      agentVersion: '0.1.0',
      discover: async () => ({ hostname: 'hv-3', agentVersion: '0.1.0', cpu: { model: 'Sim CPU', count: 8 }, memoryBytes: 32 * GiB, disks: [], nics: [] }),
      joiner: clusterJoiner({
        stateDir: dir,
        startAgent: async (server, joinToken, caPem) => {
          joined = await startAgent(cluster.cp, { driver: new SimDriver({ hostname: 'hv-3' }), hostname: 'hv-3', server, joinToken, caPem });
          return joined.agent.nodeName!;
        },
      }),
      log: createLogger('ui-test-registration'),
    });
    await registration.start();
    const url = `https://127.0.0.21:${registration.port}`;
    try {
      await nav(page, 'Nodes');
      await page.getByTestId('add-host').click();
      const dialog = page.getByTestId('add-host-dialog');
      await page.getByTestId('add-host-url').fill(url);
      await page.getByTestId('add-host-token').fill(hostToken);
      await page.getByTestId('add-host-submit').click();

      // No fingerprint: Ping only, and the one the host presented, to confirm.
      await eventually(async () => (await dialog.getByTestId('add-host-error').getAttribute('data-code')) === 'TLS_ERROR', { message: 'TLS_ERROR shown' });
      expect(await dialog.getByTestId('add-host-presented').innerText()).toBe(cert.fingerprint);
      expect(await dialog.getByTestId('add-host-guidance').innerText()).toBe(guidanceFor('TLS_ERROR'));
      expect(await dialog.locator('[data-phase="Ping"]').getAttribute('data-state')).toBe('failed');
      await shot(page, 'add-host-fingerprint');
      await dialog.getByTestId('add-host-use-fingerprint').click();
      expect(await page.getByTestId('add-host-fingerprint').inputValue()).toBe(cert.fingerprint);

      // A wrong host token: its code and guidance, Ping passed.
      await page.getByTestId('add-host-token').fill('wrong-token-00000-00000-00000');
      await page.getByTestId('add-host-submit').click();
      await eventually(
        async () =>
          (await dialog
            .getByTestId('add-host-error')
            .getAttribute('data-code')
            .catch(() => null)) === 'TOKEN_INVALID',
        {
          message: 'TOKEN_INVALID shown',
        },
      );
      expect(await dialog.getByTestId('add-host-guidance').innerText()).toBe(guidanceFor('TOKEN_INVALID'));
      expect(await dialog.locator('[data-phase="Ping"]').getAttribute('data-state')).toBe('passed');
      expect(await dialog.locator('[data-phase="ValidateToken"]').getAttribute('data-state')).toBe('failed');
      await shot(page, 'add-host-token-invalid');

      // The right token: every phase, then the Node.
      await page.getByTestId('add-host-token').fill(hostToken);
      await page.getByTestId('add-host-submit').click();
      await dialog.getByTestId('add-host-succeeded').waitFor({ timeout: 60_000 });
      expect(await dialog.getByTestId('add-host-succeeded').innerText()).toContain('hv-3');
      for (const phase of ['Ping', 'ValidateToken', 'Discover', 'Complete']) {
        expect({ phase, state: await dialog.locator(`[data-phase="${phase}"]`).getAttribute('data-state') }).toEqual({ phase, state: 'passed' });
      }
      await shot(page, 'add-host-joined');
      expect(await cluster.must(['get', 'qn', 'hv-3', '-o', 'jsonpath={.metadata.name}'])).toBe('hv-3');
      await page.getByTestId('add-host-close').click();
      await tableRow(page, 'node-table', 'hv-3').waitFor();
    } finally {
      await registration.stop();
      await joined?.stop();
      await joined?.agent.options.driver.close();
      rmSync(dir, { recursive: true, force: true });
    }
    // The other tests know two hosts.
    await cluster.must(['delete', 'qn', 'hv-3', '--wait=false']);
  });

  it('shows each way adding a host fails with its code and guidance: a closed port, a silent listener, HTML, an expired token, an old agent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'quantix-ui-addhost-codes-'));
    const log = createLogger('ui-test-registration');
    const discover = async () => ({ hostname: 'hv-x', agentVersion: '0.1.0', cpu: { model: 'Sim CPU', count: 2 }, memoryBytes: GiB, disks: [], nics: [] });
    const noJoin = { join: async () => Promise.reject(new Error('not joined in this test')) };
    const closers: (() => Promise<unknown>)[] = [];
    for (const host of ['html', 'expired', 'old']) mkdirSync(join(dir, host));
    try {
      // A closed port: a listener opened and closed again.
      const closed = createNetServer();
      await new Promise<void>((r) => closed.listen(0, '127.0.0.23', r));
      const closedPort = (closed.address() as AddressInfo).port;
      await new Promise((r) => closed.close(r));
      // A listener that accepts and never answers.
      const silentSockets: Socket[] = [];
      const silent = createNetServer((socket) => silentSockets.push(socket));
      await new Promise<void>((r) => silent.listen(0, '127.0.0.24', r));
      closers.push(async () => {
        for (const socket of silentSockets) socket.destroy();
        await new Promise((r) => silent.close(r));
      });
      // HTTPS answering HTML (a web server where the agent was expected), its fingerprint confirmed.
      const htmlCert = ensureRegistrationCertificate(join(dir, 'html'), 'html-host', ['127.0.0.22']);
      const html = createHttpsServer({ cert: htmlCert.certPem, key: htmlCert.keyPem }, (_req, res) =>
        res.writeHead(200, { 'content-type': 'text/html' }).end('<html>router login</html>'),
      );
      await new Promise<void>((r) => html.listen(0, '127.0.0.22', r));
      closers.push(() => new Promise((r) => html.close(r)));
      // A registration API whose host token has expired, and one of an agent too old to join.
      let now = Date.now();
      const expiredCert = ensureRegistrationCertificate(join(dir, 'expired'), 'hv-expired', ['127.0.0.25']);
      const expiredTokens = new HostTokenStore(join(dir, 'expired'), { now: () => now });
      const expiredToken = expiredTokens.ensure().token;
      now += 2 * 3_600_000;
      const expired = new RegistrationServer({
        host: '127.0.0.25',
        port: 0,
        ...expiredCert,
        tokens: expiredTokens,
        hostname: 'hv-expired',
        agentVersion: '0.1.0',
        discover,
        joiner: noJoin,
        log,
      });
      await expired.start();
      closers.push(() => expired.stop());
      const oldCert = ensureRegistrationCertificate(join(dir, 'old'), 'hv-old', ['127.0.0.26']);
      const oldTokens = new HostTokenStore(join(dir, 'old'));
      const old = new RegistrationServer({
        host: '127.0.0.26',
        port: 0,
        ...oldCert,
        tokens: oldTokens,
        hostname: 'hv-old',
        agentVersion: '0.0.1',
        discover,
        joiner: noJoin,
        log,
      });
      await old.start();
      closers.push(() => old.stop());

      const cases = [
        { code: 'HOST_CONNECTION_FAILED', url: `https://127.0.0.23:${closedPort}`, token: 'any-token', fingerprint: '' },
        { code: 'CONNECTION_TIMEOUT', url: `https://127.0.0.24:${(silent.address() as AddressInfo).port}`, token: 'any-token', fingerprint: '' },
        { code: 'INVALID_RESPONSE', url: `https://127.0.0.22:${(html.address() as AddressInfo).port}`, token: 'any-token', fingerprint: htmlCert.fingerprint },
        { code: 'TOKEN_EXPIRED', url: `https://127.0.0.25:${expired.port}`, token: expiredToken, fingerprint: expiredCert.fingerprint },
        { code: 'HOST_FIRMWARE_OUTDATED', url: `https://127.0.0.26:${old.port}`, token: oldTokens.ensure().token, fingerprint: oldCert.fingerprint },
      ];
      await nav(page, 'Nodes');
      await page.getByTestId('add-host').click();
      const dialog = page.getByTestId('add-host-dialog');
      for (const c of cases) {
        await page.getByTestId('add-host-url').fill(c.url);
        await page.getByTestId('add-host-token').fill(c.token);
        await page.getByTestId('add-host-fingerprint').fill(c.fingerprint);
        await page.getByTestId('add-host-submit').click();
        const shown = await eventually(
          async () => {
            const code = await dialog
              .getByTestId('add-host-error')
              .getAttribute('data-code', { timeout: 1_000 })
              .catch(() => null);
            return code === c.code ? code : false;
          },
          { timeoutMs: 30_000, message: `${c.code} shown for ${c.url}` },
        );
        expect(shown).toBe(c.code);
        expect({ code: c.code, guidance: await dialog.getByTestId('add-host-guidance').innerText() }).toEqual({
          code: c.code,
          guidance: guidanceFor(c.code as HostJoinErrorCode),
        });
      }
      await shot(page, 'add-host-firmware-outdated');
      await page.getByTestId('add-host-close').click();
    } finally {
      for (const close of closers) await close().catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('gives a viewer token no write buttons', async () => {
    const viewer = await browser.newPage();
    await signIn(viewer, cluster.baseUrl, cluster.cp.env.tokens.viewer);
    expect(await viewer.getByTestId('role').innerText({ timeout: 1_000 })).toMatch(/viewer/);
    for (const path of [
      '/vms',
      '/vms/default/web-1',
      '/vms/default/web-1?tab=yaml',
      '/nodes',
      '/nodes/hv-1',
      '/pools/local?tab=nodes',
      '/images',
      '/networks',
    ]) {
      await clientNavigate(viewer, path);
      await viewer.locator('main h1').first().waitFor();
      await eventually(async () => (await viewer.locator('main [role="row"], main table, [data-testid="yaml-editor"]').count()) > 0, {
        message: `content of ${path}`,
      });
      expect({ path, writeButtons: await viewer.locator('[data-write]').count() }).toEqual({ path, writeButtons: 0 });
    }
    await clientNavigate(viewer, '/vms');
    await vmRow(viewer, 'default', 'web-1').waitFor();
    await shot(viewer, 'viewer-vms');
    // Admin sees them on the same page.
    await clientNavigate(page, '/vms');
    expect(await page.locator('[data-write]').count()).toBeGreaterThan(0);
    await viewer.close();
  });

  it('stays responsive with 1,000+ VMs (rows are virtualized)', async () => {
    // Controllers off: this is about the UI, not about scheduling a thousand VMs.
    await cluster.stopControllers();
    const store = cluster.cp.env.apiserver.context.stores.get([...cluster.cp.env.apiserver.context.served.keys()].find((d) => d.plural === 'virtualmachines')!);
    for (let i = 0; i < 1_200; i += 100) {
      await Promise.all(
        Array.from({ length: 100 }, (_, j) =>
          store.create({
            apiVersion: 'quantix.io/v1alpha1',
            kind: 'VirtualMachine',
            metadata: {
              name: `bulk-${String(i + j).padStart(4, '0')}`,
              namespace: 'bulk',
              uid: `bulk-uid-${i + j}`,
              creationTimestamp: new Date().toISOString(),
            },
            spec: { memory: '256Mi', runStrategy: 'Halted' },
          }),
        ),
      );
    }
    await eventually(async () => Number(await page.getByTestId('vm-table').getAttribute('data-rows')) >= 1_200, {
      timeoutMs: 20_000,
      message: '1,200 rows known',
    });
    const inDom = await page.locator('[data-testid="vm-table"] [role="row"][data-key]').count();
    expect(inDom).toBeLessThan(80);
    await page.getByTestId('filter-q').fill('bulk-1199');
    await eventually(async () => (await page.locator('[data-testid="vm-table"] [role="row"][data-key]').count()) === 1, {
      intervalMs: 10,
      message: 'filtered to one',
    });
    await page.getByTestId('filter-q').fill('');
    await page.locator('[data-testid="vm-table"] .vbody').evaluate((el) => (el.scrollTop = el.scrollHeight));
    await eventually(async () => (await page.locator('[data-testid="vm-table"] [role="row"][data-key]').count()) > 0);
    await shot(page, 'vms-1200');
  });

  it('ran every page above under its Content-Security-Policy without a violation', () => {
    expect(cspViolations).toEqual([]);
  });
});

/** Clicks a sidebar link (client-side navigation). */
async function nav(page: Page, name: string): Promise<void> {
  await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name }).click();
}

/** Closes the action toasts so a screenshot shows the page alone. */
async function dismissToasts(page: Page): Promise<void> {
  const close = page.getByRole('button', { name: 'Dismiss' });
  for (let i = 0; i < 10 && (await close.count()) > 0; i++)
    await close
      .first()
      .click({ timeout: 1_000 })
      .catch(() => undefined);
}

async function expectText(locator: import('playwright-core').Locator, pattern: RegExp): Promise<void> {
  await eventually(async () => pattern.test(await locator.innerText({ timeout: 1_000 })), { message: `text ${pattern}` });
}

function docsImage(from: string, name: string): void {
  const dir = join(REPO, 'docs', 'images');
  mkdirSync(dir, { recursive: true });
  copyFileSync(from, join(dir, name));
}
