import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Page, TestInfo } from '@playwright/test';
import { test as gatewayTest, expect, ADMIN_KEY } from '../fixtures/gateway';
import { docsFolder } from '../fixtures/paths';

/**
 * Browser tests fail on any uncaught page error and on any Content-Security-Policy violation (the dashboard must
 * run under its own strict policy).
 */
export const test = gatewayTest.extend<{ pageProblems: string[] }>({
  pageProblems: [async ({ page }, use) => {
    const problems: string[] = [];
    page.on('pageerror', (error) => problems.push(`uncaught: ${error.message}`));
    page.on('console', (message) => {
      if (message.type() === 'error' && /Content[- ]Security[- ]Policy/i.test(message.text())) problems.push(`CSP: ${message.text()}`);
    });
    await use(problems);
    expect(problems, 'errors in the page').toEqual([]);
  }, { auto: true }],
});

export { expect, ADMIN_KEY };

/** Signs in with an API key (the administrator's by default) and picks a vhost. */
export async function signIn(page: Page, vhost?: string, { key = ADMIN_KEY, url = '/' } = {}) {
  await page.goto(url);
  await page.getByLabel('API key').fill(key);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await expect(page.getByRole('navigation', { name: 'Sections' })).toBeVisible();
  if (vhost) await chooseVhost(page, vhost);
}

export async function chooseVhost(page: Page, vhost: string) {
  const select = page.getByLabel('Virtual host');
  // The list is loaded at sign-in; a vhost created just before appears there.
  await expect(select.locator(`option[value="${vhost}"]`)).toHaveCount(1);
  await select.selectOption(vhost);
}

/** Opens a section from the navigation and waits for its heading. */
export async function open(page: Page, section: string) {
  await page.getByRole('navigation', { name: 'Sections' }).getByRole('link', { name: section, exact: true }).click();
  await expect(page.getByRole('heading', { level: 1, name: new RegExp(`^${section}`) })).toBeVisible();
}

/** A row of the view's table, by its key (the object's name or binding id). */
export const row = (page: Page, key: string) => page.locator(`tbody tr[data-key="${key}"]`);

/** A cell of a row by column name (data-column). */
export const cell = (page: Page, key: string, column: string) => row(page, key).locator(`[data-column="${column}"]`);

/**
 * Keeps a screenshot with the test's results; a README picture (docs: true) is also copied to docs/ when
 * UPDATE_DOCS_SCREENSHOTS=1.
 */
export async function screenshot(page: Page, testInfo: TestInfo, name: string, { docs = false } = {}) {
  const path = testInfo.outputPath(name);
  // README pictures show the window as a person sees it (the status bar sticks to its bottom); others the whole page.
  await page.screenshot({ path, fullPage: !docs });
  await testInfo.attach(name, { path, contentType: 'image/png' });
  if (docs && process.env.UPDATE_DOCS_SCREENSHOTS === '1') await copyFile(path, join(docsFolder, name));
}
