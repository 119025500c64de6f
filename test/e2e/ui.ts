/** Browser-side helpers shared by the e2e tests (not a test file itself). */
import { join } from 'node:path';
import type { Page } from 'playwright-core';

export const SHOTS = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');

/** Logs in through the login page and waits for the app shell. */
export async function uiLogin(page: Page, baseUrl: string, username: string, password: string): Promise<void> {
  await page.goto(`${baseUrl}/login`);
  await page.getByLabel('User name').fill(username);
  await page.getByLabel('Password').fill(password);
  await page.getByTestId('login-submit').click();
  await page.getByTestId('current-user').waitFor();
}

/** Waits until disk `id`'s row shows `status` (the list updates live; the page is never reloaded). */
export async function waitDiskStatus(page: Page, id: string, status: string, timeout = 10_000): Promise<void> {
  await page.waitForFunction(([i, s]) => document.querySelector(`[data-testid="disk-status-${i}"]`)?.getAttribute('data-status') === s, [id, status] as const, {
    timeout,
  });
}

/** Goes to a page through the side navigation (in-app, no reload). */
export async function navTo(page: Page, name: 'dashboard' | 'disks' | 'paths' | 'nodes' | 'users' | 'tokens' | 'audit' | 'settings'): Promise<void> {
  await page.getByTestId(`nav-${name}`).click();
  await page.waitForFunction((n) => document.querySelector(`[data-testid="nav-${n}"]`)?.getAttribute('aria-current') === 'page', name);
}

/** A request made by the page itself (its session cookie, and the CSRF token from /auth/me). */
export async function pageFetch(page: Page, method: string, path: string, body?: unknown): Promise<{ status: number; json: any }> {
  return page.evaluate(
    async ([m, p, b]) => {
      const me = await (await fetch('/api/v1/auth/me')).json();
      const headers: Record<string, string> = { 'x-csrf-token': me.csrfToken ?? '' };
      if (b !== undefined) headers['content-type'] = 'application/json';
      const r = await fetch(p, { method: m, headers, body: b === undefined ? undefined : JSON.stringify(b) });
      const text = await r.text();
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        json = text;
      }
      return { status: r.status, json };
    },
    [method, path, body] as const,
  );
}

/** A screenshot for the docs: notices hidden (they come and go), focus rings left out. */
export async function docShot(page: Page, file: string, opts: { blur?: boolean } = {}): Promise<void> {
  if (opts.blur) {
    await page.evaluate(() => (document.activeElement as HTMLElement | null)?.blur());
    await page.mouse.move(0, 0);
  }
  await page.screenshot({ path: join(SHOTS, file), style: '.toasts { display: none !important; }' });
}
