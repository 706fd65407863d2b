/**
 * Debian's Chromium driven by playwright-core (never a downloaded browser), with the flags
 * this machine needs (DESIGN.md): headless, no sandbox as root, no background networking
 * (its connections are refused here), and a fresh profile per run.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = process.env.QUANTIX_CHROMIUM ?? '/usr/bin/chromium';

const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  newPage(): Promise<Page>;
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'quantix-chromium-'));
  // A persistent context is how playwright takes --user-data-dir: a fresh, empty profile.
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: ARGS,
    // The apiserver's certificate is signed by the test CA, which this profile does not trust.
    ignoreHTTPSErrors: true,
    viewport: { width: 1440, height: 900 },
  });
  return {
    context,
    newPage: () => context.newPage(),
    async close() {
      await context.close().catch(() => undefined);
      rmSync(profile, { recursive: true, force: true });
    },
  };
}

/** Saves a full-page screenshot; returns its path. */
export async function screenshot(page: Page, path: string): Promise<string> {
  mkdirSync(dirname(path), { recursive: true });
  await page.screenshot({ path, fullPage: false });
  return path;
}
