/** Small waits and reads on the UI, by the test ids the pages carry. */
import type { Locator, Page } from 'playwright-core';

/** The row of the VM table for namespace/name (rendered only while scrolled into view). */
export function vmRow(page: Page, namespace: string, name: string): Locator {
  return page.locator(`[data-testid="vm-table"] [role="row"][data-key="${namespace}/${name}"]`);
}

/** The row keyed `key` of the virtualized table `testId` (image-table, node-table, …). */
export function tableRow(page: Page, testId: string, key: string): Locator {
  return page.locator(`[data-testid="${testId}"] [role="row"][data-key="${key}"]`);
}

export async function cellText(row: Locator, column: string): Promise<string> {
  return (await row.locator(`[data-col="${column}"]`).innerText({ timeout: 1_000 })).trim();
}

export async function badgeState(page: Page): Promise<string | null> {
  return page.getByTestId('connection-badge').getAttribute('data-state');
}

export async function signIn(page: Page, baseUrl: string, token: string): Promise<void> {
  await page.goto(`${baseUrl}/ui/`);
  await page.getByTestId('token-input').fill(token);
  await page.getByTestId('signin-submit').click();
  await page.getByTestId('connection-badge').waitFor();
}

/** Navigates inside the app without a reload (client-side routing via a nav link or history). */
export async function clientNavigate(page: Page, path: string): Promise<void> {
  await page.evaluate((to) => {
    window.history.pushState({}, '', to);
    window.dispatchEvent(new PopStateEvent('popstate'));
  }, `/ui${path}`);
}
