/**
 * The Snapshots section of the VM page in real Chromium, against a real apiserver + etcd,
 * the controller-manager (snapshot controller included) and sim-driver agents: take a
 * snapshot and see it Ready, Restore offered only once the VM is stopped, a restore that
 * succeeds, and a snapshot deleted from the page. Screenshots go to test-artifacts/screenshots/.
 */
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Locator, Page } from 'playwright-core';
import { eventually } from '../hack/testenv/eventually.js';
import { launchBrowser, screenshot, type Browser } from './e2e/browser.js';
import { startUiCluster, vmYaml, type UiCluster } from './e2e/cluster.js';
import { clientNavigate, signIn } from './e2e/page-helpers.js';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const SHOTS = join(REPO, 'test-artifacts', 'screenshots');

async function expectText(locator: Locator, pattern: RegExp): Promise<void> {
  await eventually(async () => pattern.test(await locator.innerText({ timeout: 1_000 })), { timeoutMs: 20_000, message: `text ${pattern}` });
}

describe('VM snapshots in the web UI (Chromium)', () => {
  let cluster: UiCluster;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    [cluster, browser] = await Promise.all([startUiCluster(), launchBrowser()]);
    page = await browser.newPage();
    page.setDefaultTimeout(10_000);
    await cluster.must(['apply', '-f', '-'], vmYaml('snapweb'));
    await eventually(async () => (await cluster.must(['get', 'vm', 'snapweb', '-o', 'jsonpath={.status.phase}'])) === 'Running', { timeoutMs: 30_000 });
    await signIn(page, cluster.baseUrl, cluster.cp.env.tokens.admin);
    await clientNavigate(page, '/vms/default/snapweb');
    await page.getByTestId('vm-snapshots').waitFor();
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  const rows = () => page.locator('[data-testid^="snapshot-row-"]');

  it('takes a snapshot of the running VM: the row turns Ready and FileSystemConsistent', async () => {
    await expectText(page.getByTestId('snapshots-empty'), /No snapshots of this VM/);
    await page.getByTestId('snapshot-take').click();
    await eventually(async () => (await rows().count()) === 1, { timeoutMs: 20_000, message: 'one snapshot row' });
    const row = rows().first();
    await expectText(row, /Ready/);
    await expectText(row, /FileSystemConsistent/);
    const name = (await row.getAttribute('data-testid'))!.replace('snapshot-row-', '');
    expect(name).toMatch(/^snapweb-\d{8}-\d{6}$/);
    expect(await cluster.must(['get', 'vmsnap', name, '-o', 'jsonpath={.status.phase}'])).toBe('Ready');
    // Restore needs a stopped VM: the button says so.
    const restore = page.getByTestId(`snapshot-restore-${name}`);
    expect(await restore.isDisabled()).toBe(true);
    expect(await restore.getAttribute('title')).toBe('Stop the VM to restore it');
    await screenshot(page, join(SHOTS, 'vm-snapshots.png'));
  });

  it('restores the stopped VM from it and shows the restore Succeeded', async () => {
    const name = (await rows().first().getAttribute('data-testid'))!.replace('snapshot-row-', '');
    await cluster.must(['patch', 'vm', 'snapweb', '--type=merge', '-p', '{"spec":{"runStrategy":"Halted"}}']);
    const restore = page.getByTestId(`snapshot-restore-${name}`);
    await eventually(async () => !(await restore.isDisabled()), { timeoutMs: 30_000, message: 'Restore enabled once Stopped' });
    await restore.click();
    await expectText(page.getByTestId('snapshot-last-restore'), new RegExp(`from ${name}\\s*Succeeded`));
    await screenshot(page, join(SHOTS, 'vm-snapshots-restored.png'));
  });

  it('deletes the snapshot after confirmation: the row goes', async () => {
    const name = (await rows().first().getAttribute('data-testid'))!.replace('snapshot-row-', '');
    await page.getByTestId(`snapshot-delete-${name}`).click();
    await page.getByTestId('confirm-ok').click();
    await eventually(async () => (await rows().count()) === 0, { timeoutMs: 20_000, message: 'the snapshot row is gone' });
    const left = await cluster.kubectl(['get', 'vmsnap', name]);
    expect(left.code).not.toBe(0);
    expect(left.stderr).toContain('NotFound');
  });
});
