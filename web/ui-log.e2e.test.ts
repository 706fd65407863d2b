/**
 * The browser side of the UI action log and of correlation ids, in Debian's Chromium against
 * the real apiserver + etcd, the controller-manager and sim-driver agents (e2e/cluster.ts):
 * what the page sends is read from Chromium's own network events.
 *
 * - one correlation id per action: a restart's PATCH carries the X-Request-Id its toast shows,
 *   and the apiserver records it on the VM; clicking the id opens the Logs page filtered by it;
 * - the UI action log's batches: POST /logs/ui with the bearer token and the tab's session
 *   id (kept across a reload), the click, the action's start and success with its duration
 *   and correlation id, navigations;
 * - (page hide is in logs.e2e.test.ts: Chromium does not report a keepalive request sent
 *   while the page unloads to playwright, so it is checked where the server writes ui.log.)
 * - a viewer's actions are sent with the viewer's token.
 */
import type { Page, Request } from 'playwright-core';
import { eventually } from '../hack/testenv/eventually.js';
import type { UiLogBatch, UiLogEntry } from './src/logging/ui-log-entry.js';
import { launchBrowser, type Browser } from './e2e/browser.js';
import { startUiCluster, vmYaml, type UiCluster } from './e2e/cluster.js';
import { clientNavigate, signIn } from './e2e/page-helpers.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

interface Sent {
  batch: UiLogBatch;
  authorization: string | undefined;
}

/** Every POST /logs/ui and every PATCH the page makes, as Chromium saw them. */
function recordTraffic(page: Page): { batches: Sent[]; patches: Request[] } {
  const batches: Sent[] = [];
  const patches: Request[] = [];
  page.on('request', (r) => {
    const url = new URL(r.url());
    if (r.method() === 'POST' && url.pathname === '/logs/ui') {
      batches.push({ batch: JSON.parse(r.postData() ?? '{}') as UiLogBatch, authorization: r.headers().authorization });
    }
    if (r.method() === 'PATCH') patches.push(r);
  });
  return { batches, patches };
}

const entries = (sent: Sent[]): UiLogEntry[] => sent.flatMap((s) => s.batch.entries);

describe('UI action log and correlation ids in Chromium', () => {
  let cluster: UiCluster;
  let browser: Browser;

  beforeAll(async () => {
    [cluster, browser] = await Promise.all([startUiCluster(), launchBrowser()]);
    await cluster.must(['apply', '-f', '-'], vmYaml('logged'));
  });

  afterAll(async () => {
    await browser?.close();
    await cluster?.stop();
  });

  it('a restart: its calls share the toast’s correlation id; the log gets the click, start and success; the id opens the Logs page', async () => {
    const page = await browser.newPage();
    const traffic = recordTraffic(page);
    await signIn(page, cluster.baseUrl, cluster.cp.env.tokens.admin);
    await clientNavigate(page, '/vms/default/logged');
    await eventually(async () => (await page.getByTestId('action-restart').isEnabled()) === true, { timeoutMs: 20_000, message: 'logged Running' });
    await page.getByTestId('action-restart').click();
    await page.getByTestId('confirm-ok').click();
    const toast = page.getByTestId('activity-item').filter({ hasText: 'Restarting default/logged' });
    const link = toast.getByTestId('action-correlation-id');
    const id = (await link.getAttribute('data-correlation-id')) ?? '';
    expect(id).toMatch(UUID);
    await eventually(async () => (await toast.getAttribute('data-state')) === 'succeeded', { timeoutMs: 30_000, message: 'restart done' });

    // One write (the restart request, as qxctl's), under the toast's id, which the apiserver recorded with it.
    const restartPatches = traffic.patches.filter((r) => r.url().includes('/virtualmachines/logged'));
    expect(restartPatches.map((r) => r.headers()['x-request-id'])).toEqual([id]);
    expect(await cluster.must(['get', 'vm', 'logged', '-o', 'jsonpath={.metadata.annotations.quantix\\.io/correlation-id}'])).toBe(id);

    const sent = await eventually(
      () => {
        const mine = entries(traffic.batches).filter((e) => e.correlationId === id);
        return mine.some((e) => e.result === 'success') ? traffic.batches : false;
      },
      { timeoutMs: 15_000, message: 'the restart in a POST /logs/ui batch' },
    );
    expect(sent.every((s) => s.authorization === `Bearer ${cluster.cp.env.tokens.admin}`)).toBe(true);
    const sessionId = await page.evaluate(() => sessionStorage.getItem('quantix.ui-session'));
    expect(sessionId).toMatch(UUID);
    expect(sent.every((s) => s.batch.sessionId === sessionId)).toBe(true);
    const all = entries(sent);
    expect(all).toContainEqual(
      expect.objectContaining({
        category: 'vm',
        action: 'restart',
        target: 'default/logged',
        result: 'info',
        message: 'click',
        route: '/ui/vms/default/logged',
      }),
    );
    expect(all).toContainEqual(
      expect.objectContaining({ category: 'vm', action: 'restart', target: 'default/logged', result: 'start', correlationId: id, level: 'info' }),
    );
    const success = all.find((e) => e.correlationId === id && e.result === 'success')!;
    expect(success).toMatchObject({ category: 'vm', action: 'restart', target: 'default/logged' });
    expect(success.durationMs).toBeGreaterThanOrEqual(0);
    expect(all).toContainEqual(expect.objectContaining({ category: 'navigation', action: 'navigate', target: '/ui/vms/default/logged', result: 'info' }));
    expect(all.every((e) => !Number.isNaN(Date.parse(e.time)))).toBe(true);

    await link.click();
    await page.waitForURL((url) => url.pathname === '/ui/logs' && url.searchParams.get('correlationId') === id);
    expect(await page.getByTestId('logs-correlation-id').inputValue()).toBe(id);

    // The session id is the tab's: a reload keeps it.
    await page.reload();
    await page.getByTestId('logs-count').waitFor();
    expect(await page.evaluate(() => sessionStorage.getItem('quantix.ui-session'))).toBe(sessionId);
    await page.close();
  }, 120_000);

  it('a form submit the server refuses: the submit, the create’s start and its error with the correlation id', async () => {
    const page = await browser.newPage();
    const traffic = recordTraffic(page);
    await signIn(page, cluster.baseUrl, cluster.cp.env.tokens.admin);
    await clientNavigate(page, '/vms/new');
    await page.getByTestId('vm-name').fill('Bad_Name');
    await page.getByTestId('disk-0-pool').selectOption('local');
    await page.getByTestId('vm-create').click();
    const toast = page.getByTestId('activity-item').filter({ hasText: 'Creating' });
    await eventually(async () => (await toast.getAttribute('data-state')) === 'failed', { timeoutMs: 15_000, message: 'create refused' });
    const id = (await toast.getByTestId('action-correlation-id').getAttribute('data-correlation-id')) ?? '';
    expect(id).toMatch(UUID);
    const error = await eventually(() => entries(traffic.batches).find((e) => e.correlationId === id && e.result === 'error') ?? false, {
      timeoutMs: 15_000,
      message: 'the error in a batch',
    });
    expect(error).toMatchObject({ level: 'error', category: 'vm', action: 'create', target: 'default/Bad_Name', route: '/ui/vms/new' });
    expect(error.message).toMatch(/Invalid \(422\)/);
    expect(error.durationMs).toBeGreaterThanOrEqual(0);
    const all = entries(traffic.batches);
    expect(all).toContainEqual(expect.objectContaining({ category: 'vm', action: 'submit', result: 'info', message: 'click' }));
    expect(all).toContainEqual(expect.objectContaining({ category: 'vm', action: 'create', result: 'start', correlationId: id }));
    await page.close();
  }, 90_000);

  it('a viewer’s actions are logged, sent with the viewer’s token', async () => {
    const page = await browser.newPage();
    const traffic = recordTraffic(page);
    await signIn(page, cluster.baseUrl, cluster.cp.env.tokens.viewer);
    await clientNavigate(page, '/logs');
    await page.getByTestId('logs-user-actions').check();
    const sent = await eventually(
      () => traffic.batches.find((s) => s.batch.entries.some((e) => e.action === 'filter-user-actions' && e.target === 'true')) ?? false,
      { timeoutMs: 15_000, message: 'the viewer’s toggle in a batch' },
    );
    expect(sent.authorization).toBe(`Bearer ${cluster.cp.env.tokens.viewer}`);
    expect(entries(traffic.batches)).toContainEqual(expect.objectContaining({ category: 'auth', action: 'sign-in', result: 'success', message: 'viewer' }));
    expect(new URL(page.url()).searchParams.get('userActions')).toBe('true');
    await page.close();
  }, 60_000);
});
