/**
 * The admin's daily work in real chromium against the real single-node product (embedded stores, real
 * tgtd), logins on: the audit log found by a disk's name after add/stop/delete (1280x800), the disk
 * list and navigation on a phone (390x844). Screenshots for the README go to docs/screenshots/.
 * Runs against its own product (octet 118).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type LoggedIn, type TestProduct, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { docShot, navTo, uiLogin, waitDiskStatus } from './ui.js';

const skip = missingTools(['tgtd', 'tgtadm', CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';

describe("the admin's daily work in chromium", { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build:web)');
    tp = await startTestProduct(118, withAuth({ adminPassword: ADMIN_PASSWORD }));
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('finds a disk in the audit log by its name after add, stop and delete (1280x800)', async () => {
    // A disk that stays, so the search has something to leave out.
    const other = await admin.api('POST', '/api/v1/disks', { name: 'web-other', sizeGb: 1, activePaths: 1, subnet: 1 });
    assert.equal(other.status, 201, JSON.stringify(other.json));
    await navTo(page, 'disks');
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('audit-db1');
    await page.getByLabel('Size (GB)').fill('1');
    await page.getByTestId('create-disk').click();
    await page.getByTestId('add-disk-dialog').waitFor({ state: 'detached' });
    const id = (await admin.api('GET', '/api/v1/disks')).json.disks.find((d: { name: string }) => d.name === 'audit-db1').id as string;
    await waitDiskStatus(page, id, 'started');

    await page.getByTestId(`disk-link-${id}`).click();
    await page.getByTestId('detail-stop').click();
    await page.getByTestId('confirm-button').click();
    await page.waitForFunction(() => document.querySelector('[data-testid="detail-status"]')?.getAttribute('data-status') === 'stopped', undefined, {
      timeout: 10_000,
    });
    await page.getByTestId('detail-delete').click();
    await page.getByTestId('confirm-input').fill('audit-db1');
    await page.getByTestId('confirm-button').click();
    await page.getByRole('heading', { level: 1, name: 'Disks' }).waitFor();

    await navTo(page, 'audit');
    await page.getByTestId('audit-filter').fill('audit-db1');
    await page.waitForFunction(() => document.querySelector('[data-testid="audit-count"]')?.getAttribute('data-search') === 'audit-db1');
    const actions = await page.getByTestId('audit-action').evaluateAll((els) => els.map((e) => e.getAttribute('data-action')));
    assert.deepEqual(actions, ['disk.delete', 'disk.stop', 'disk.create'], 'newest first, nothing about the other disk');
    const disks = await page.getByTestId('audit-disk').allTextContents();
    assert.deepEqual(disks, [`audit-db1 (${id})`, `audit-db1 (${id})`, `audit-db1 (${id})`]);
    const rows = await page.getByTestId('audit-row').allTextContents();
    assert.ok(
      rows.every((r) => r.includes('admin') && r.includes('ok')),
      'who and the outcome',
    );
    assert.ok(
      rows.every((r) => /from 127\.0\.0\.1/.test(r)),
      'from where',
    );
    // By id too (the other disk has another id).
    await page.getByTestId('audit-filter').fill(id);
    await page.waitForFunction((i) => document.querySelector('[data-testid="audit-count"]')?.getAttribute('data-search') === i, id);
    assert.equal(await page.getByTestId('audit-row').count(), 3);
    await page.getByTestId('audit-filter').fill('audit-db1');
    await page.waitForFunction(() => document.querySelector('[data-testid="audit-count"]')?.getAttribute('data-search') === 'audit-db1');
    await docShot(page, 'audit-search.png', { blur: true });
    // The export link carries the search, and serves the same entries to this browser session.
    const href = (await page.getByTestId('audit-export-csv').getAttribute('href')) as string;
    assert.equal(href, '/api/v1/audit/export?format=csv&q=audit-db1');
    const csv = await page.evaluate(async (h) => (await fetch(h)).text(), href);
    assert.equal(csv.trimEnd().split('\r\n').length, 4, 'a header and three entries');
  });
});
