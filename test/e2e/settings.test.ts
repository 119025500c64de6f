/**
 * The settings page in real chromium (logins on): an admin changes the cluster settings (a new automatic
 * range) and sees the new version, the node's agent reaching it, and a refused value beside its field; the
 * backends as they are (sparse files: no Ceph pool shown); a view-only user sees the settings read-only.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type LoggedIn, type TestProduct, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { navTo, uiLogin } from './ui.js';

const skip = missingTools(['tgtd', 'tgtadm', CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';
const VIEWER_PASSWORD = 'Just-Looking-17';
const O = 48;

describe('settings page in chromium', { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build:web)');
    tp = await startTestProduct(O, withAuth({ adminPassword: ADMIN_PASSWORD }));
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    const viewer = await admin.api('POST', '/api/v1/users', { name: 'viewer1', password: VIEWER_PASSWORD, role: 'viewer' });
    assert.equal(viewer.status, 201, JSON.stringify(viewer.json));
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('shows the version, the real backends (no pool on files) and the node on that version', async () => {
    await navTo(page, 'settings');
    await page.getByTestId('settings-editable').waitFor();
    assert.equal(await page.getByTestId('settings-version').textContent(), '1');
    assert.equal(await page.getByTestId('backend-images').textContent(), 'Sparse files on this server');
    assert.equal(await page.getByTestId('backend-coord').textContent(), 'Embedded (this server only)');
    assert.equal(await page.getByTestId('setting-pool').count(), 0, 'no Ceph pool on a file backend');
    await page.getByTestId('settings-node-node1').getByText('1', { exact: true }).waitFor();
  });

  it('an admin changes the automatic range: new version, shown at once, the node reaches it', async () => {
    await page.getByTestId('settings-edit').click();
    await page.getByTestId('edit-subnet1.autoIpFrom').fill(`127.${O}.1.100`);
    await page.getByTestId('edit-subnet1.autoIpTo').fill(`127.${O}.1.120`);
    await page.getByTestId('settings-save').click();
    await page.getByTestId('settings-version').getByText('2', { exact: true }).waitFor();
    assert.match((await page.getByTestId('subnet-row-1').textContent()) ?? '', new RegExp(`127\\.${O}\\.1\\.100 – 127\\.${O}\\.1\\.120`));
    await page.getByTestId('settings-node-node1').getByText('2', { exact: true }).waitFor({ timeout: 15_000 });
    const audit = await admin.api('GET', '/api/v1/audit?limit=20&q=settings.cluster');
    const e = audit.json.entries.find((x: { action: string }) => x.action === 'settings.cluster');
    assert.ok(e, JSON.stringify(audit.json));
    assert.equal(e.details.version, 2);
  });

  it('a refused value is shown beside its field and nothing is saved', async () => {
    await page.getByTestId('settings-edit').click();
    await page.getByTestId('edit-leaseTtlSeconds').fill('1');
    await page.getByTestId('settings-save').click();
    await page
      .getByTestId('cluster-settings-form')
      .getByText(/lease TTL must be a whole number/)
      .waitFor();
    assert.equal(await page.getByTestId('edit-leaseTtlSeconds').getAttribute('aria-invalid'), 'true');
    await page.getByRole('button', { name: 'Cancel' }).click();
    assert.equal(await page.getByTestId('settings-version').textContent(), '2');
  });

  it('a view-only user sees the settings read-only', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    try {
      const vp = await ctx.newPage();
      await uiLogin(vp, tp.product.url, 'viewer1', VIEWER_PASSWORD);
      await navTo(vp, 'settings');
      await vp.getByTestId('settings-readonly').waitFor();
      assert.equal(await vp.getByTestId('settings-edit').count(), 0);
      assert.match((await vp.getByTestId('subnet-row-1').textContent()) ?? '', new RegExp(`127\\.${O}\\.1\\.100`));
    } finally {
      await ctx.close();
    }
  });
});
