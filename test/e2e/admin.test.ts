/**
 * The admin side of the web UI in real chromium, logins on: a view-only user sees no actions and is
 * refused by the API; users, roles, audit log, cluster settings, node drain and undrain, rebalance,
 * logging out. Runs against its own product (octet 42).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type LoggedIn, type TestProduct, addBody, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { navTo, pageFetch, uiLogin } from './ui.js';

const skip = missingTools(['tgtd', 'tgtadm', CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';
const VIEWER_PASSWORD = 'Just-Looking-17';

describe('web UI administration in chromium', { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let adminCtx: BrowserContext;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build:web)');
    tp = await startTestProduct(42, withAuth({ adminPassword: ADMIN_PASSWORD }));
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    const created = await admin.api('POST', '/api/v1/disks', addBody('shared1'));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const viewer = await admin.api('POST', '/api/v1/users', { name: 'viewer1', password: VIEWER_PASSWORD, role: 'viewer' });
    assert.equal(viewer.status, 201, JSON.stringify(viewer.json));
    await waitFor(async () => (await admin.api('GET', '/api/v1/disks/00001')).json.disk?.status === 'started', { what: 'disk 00001 started' });
    browser = await launchChromium();
    adminCtx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await adminCtx.newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('a view-only user sees no add button or actions, and the API refuses them (403)', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      const vp = await ctx.newPage();
      await uiLogin(vp, tp.product.url, 'viewer1', VIEWER_PASSWORD);
      await navTo(vp, 'disks');
      await vp.getByTestId('disk-row-00001').waitFor();
      assert.equal(await vp.getByRole('button', { name: 'Add disk' }).count(), 0);
      assert.equal(await vp.getByTestId('attach-image').count(), 0);
      assert.equal(await vp.getByTestId('disk-menu-00001').count(), 0, 'no row actions');
      assert.equal(await vp.getByTestId('nav-users').count(), 0);
      assert.equal(await vp.getByTestId('nav-audit').count(), 0);
      // The disk page: no action buttons, no path moves.
      await vp.getByTestId('disk-link-00001').click();
      await vp.getByTestId('paths-table').waitFor();
      assert.equal(await vp.getByTestId('detail-stop').count(), 0);
      assert.equal(await vp.getByTestId('move-path-1').count(), 0);
      // The server refuses what the UI hides, from this very browser session.
      const r = await pageFetch(vp, 'POST', '/api/v1/disks', addBody('sneaky'));
      assert.equal(r.status, 403);
      assert.equal(r.json.code, 'forbidden');
      assert.equal(r.json.details.permission, 'AddDisk');
      const del = await pageFetch(vp, 'DELETE', '/api/v1/disks/00001');
      assert.equal(del.status, 403);
      // A page it may not open says so.
      await vp.goto(`${tp.product.url}/users`);
      await vp.getByTestId('no-permission').waitFor();
    } finally {
      await ctx.close();
    }
    assert.equal((await admin.api('GET', '/api/v1/disks')).json.disks.length, 1, 'nothing was added');
  });

  it('adds a user with a role, showing the server message beside a bad password', async () => {
    await navTo(page, 'users');
    await page.getByTestId('user-row-viewer1').waitFor();
    assert.equal(await page.getByTestId('user-role-viewer1').textContent(), 'viewer');
    await page.getByTestId('add-user').click();
    await page.getByTestId('user-name').fill('oper1');
    await page.getByTestId('user-role').selectOption('operator');
    await page.getByTestId('user-password').fill('short');
    await page.getByTestId('user-submit').click();
    const err = page.getByTestId('error-user-password');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /at least 10 characters/);
    await page.getByTestId('user-password').fill('Operating-Now-99');
    await page.getByTestId('user-submit').click();
    await page.getByTestId('user-row-oper1').waitFor();
    assert.equal(await page.getByTestId('user-role-oper1').textContent(), 'operator');
    // Built-in roles are listed with their permissions.
    await page.getByTestId('role-row-viewer').getByText('ViewOnly').waitFor();
    const users = (await admin.api('GET', '/api/v1/users')).json.users.map((u: { name: string }) => u.name).sort();
    assert.deepEqual(users, ['admin', 'oper1', 'viewer1']);
  });

  it('shows the audit log, newest first', async () => {
    await navTo(page, 'audit');
    await page.getByTestId('audit-table').waitFor();
    const first = await page.getByTestId('audit-row').first().textContent();
    assert.match(first ?? '', /user\.create/);
    assert.match(first ?? '', /user:oper1/);
    await page.getByTestId('audit-filter').fill('viewer1');
    await page.getByText('user:viewer1').first().waitFor();
  });

  it('shows the cluster settings (editable for an admin only on request)', async () => {
    await navTo(page, 'settings');
    assert.equal(await page.getByTestId('setting-iqnBase').textContent(), 'iqn.2016-05.io.portway.test');
    assert.match((await page.getByTestId('subnet-row-1').textContent()) ?? '', /127\.42\.1\.0\/24.*127\.42\.1\.10 – 127\.42\.1\.250.*lo/);
    await page.getByTestId('settings-editable').waitFor();
    assert.equal(await page.locator('[data-testid="cluster-settings"] input').count(), 0, 'no form until asked for');
  });

  it('drains and undrains the node, each after a confirmation', async () => {
    await navTo(page, 'nodes');
    await page.getByTestId('node-row-node1').waitFor();
    await page.getByTestId('drain-node1').click();
    await page.getByTestId('drain-dialog').getByText('No other node is up and undrained').waitFor();
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('node-drained-node1').waitFor();
    assert.equal((await admin.api('GET', '/api/v1/nodes')).json.nodes[0].drained, true);
    await page.getByTestId('undrain-node1').click();
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('drain-node1').waitFor();
    assert.equal(await page.getByTestId('node-drained-node1').count(), 0);
    assert.equal((await admin.api('GET', '/api/v1/nodes')).json.nodes[0].drained, false);
  });

  it('moves a path and plans a rebalance on the paths page', async () => {
    await navTo(page, 'paths');
    await page.getByTestId('load-row-node1').waitFor();
    // One node: the move form offers no other node, and the API refuses a move to where the path is.
    await page.getByTestId('move-find').fill('00001');
    await page.waitForFunction(() => (document.querySelector('[data-testid="move-disk"]') as HTMLSelectElement | null)?.value === '00001');
    assert.equal(await page.getByTestId('move-to').isDisabled(), true);
    assert.equal(await page.getByTestId('move-submit').isDisabled(), true);
    const noop = await pageFetch(page, 'POST', '/api/v1/disks/00001/paths/2/move', { node: 'node1' });
    assert.equal(noop.status, 409);
    assert.equal(noop.json.code, 'path_on_node_already');
    await page.getByTestId('rebalance').click();
    await page.getByTestId('rebalance-nothing').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('rebalance-dialog').waitFor({ state: 'detached' });
  });

  it('keeps the disk list usable at 1,000 disks: paging, sorting, filtering, live updates', async (t) => {
    // The list the browser gets is replaced by 1,000 made-up disks (creating 1,000 real ones takes
    // minutes); everything else (login, session, the app) is the real product.
    const statuses = ['started', 'started', 'started', 'starting', 'degraded', 'stopped'] as const;
    const disks = Array.from({ length: 1000 }, (_, i) => {
      const id = String(i + 1).padStart(5, '0');
      const status = statuses[i % statuses.length] as string;
      return {
        id,
        name: `vol-${String(i).padStart(4, '0')}`,
        sizeGb: 1 + (i % 50),
        iqn: `iqn.2016-05.io.portway.test:${id}`,
        createdAt: new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString(),
        pathCount: 2,
        pathsServed: status === 'started' ? 2 : status === 'degraded' ? 1 : 0,
        status,
        acl: '',
        chapUser: '',
        subnet: 1,
      };
    });
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    try {
      await ctx.route(
        (u) => u.pathname === '/api/v1/disks',
        (route) => route.fulfill({ status: 200, contentType: 'application/json', body: JSON.stringify({ disks }) }),
      );
      await ctx.route(
        (u) => u.pathname === '/api/v1/events',
        (route) => route.fulfill({ status: 200, contentType: 'text/event-stream', body: `event: disks\ndata: ${JSON.stringify({ disks })}\n\n` }),
      );
      const lp = await ctx.newPage();
      await uiLogin(lp, tp.product.url, 'admin', ADMIN_PASSWORD);
      let t0 = Date.now();
      await navTo(lp, 'disks');
      await lp.getByTestId('disk-row-00050').waitFor();
      const shown = Date.now() - t0;
      assert.equal(await lp.locator('[data-testid="disk-table"] tbody tr').count(), 50, 'one page of rows, not 1,000');
      assert.equal(await lp.getByTestId('disk-range').textContent(), '1–50 of 1000');
      assert.equal(await lp.getByTestId('pagination').getByText('of 20').count(), 1);

      t0 = Date.now();
      await lp.getByRole('button', { name: /^Name/ }).click();
      await lp.getByRole('button', { name: /^Name/ }).click();
      await lp.waitForFunction(() => document.querySelector('[data-testid="disk-table"] tbody tr')?.textContent?.includes('vol-0999'));
      const sorted = Date.now() - t0;

      t0 = Date.now();
      await lp.getByTestId('disk-filter').fill('vol-099');
      await lp.waitForFunction(() => document.querySelectorAll('[data-testid="disk-table"] tbody tr').length === 10);
      const filtered = Date.now() - t0;
      await lp.getByTestId('disk-filter').fill('');
      await lp.getByTestId('status-filter').selectOption('degraded');
      assert.match((await lp.getByTestId('disk-range').textContent()) ?? '', /^1–50 of 166 \(filtered from 1000\)$/);
      await lp.getByTestId('status-filter').selectOption('');
      await lp.getByTestId('page-select').selectOption({ label: '20' });
      assert.equal(await lp.getByTestId('disk-range').textContent(), '951–1000 of 1000');
      t.diagnostic(`1,000 disks: list shown in ${shown} ms, sorted twice in ${sorted} ms, filtered in ${filtered} ms`);
      assert.ok(shown < 5000 && sorted < 5000 && filtered < 5000, 'the list answers within seconds even on a busy machine');

      // A status change arrives without a reload (here through the polling fallback: the routed
      // event stream ends after one event).
      const last = disks[0] as { status: string; pathsServed: number };
      last.status = 'stopping';
      last.pathsServed = 0;
      await lp.waitForFunction(() => document.querySelector('[data-testid="disk-status-00001"]')?.getAttribute('data-status') === 'stopping', undefined, {
        timeout: 6000,
      });
    } finally {
      await ctx.close();
    }
  });

  it('logs out to the login page; the session no longer works', async () => {
    await page.getByTestId('logout').click();
    await page.getByTestId('login-form').waitFor();
    await page.getByTestId('login-reason').getByText('You have logged out.').waitFor();
    const me = await page.evaluate(async () => (await fetch('/api/v1/auth/me')).status);
    assert.equal(me, 401);
  });
});
