/**
 * The web UI in real chromium against the real single-node product (embedded stores, real tgtd),
 * with logins on: log in, add disks (automatic and manual IPs, a refused IP), the paths view, edit,
 * stop and delete, the dashboard and the nodes page. The page is never reloaded after login: every
 * status change arrives live. Screenshots for the README go to docs/screenshots/.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { ISCSI_TOOLS, capacity, lunUrl } from '../helpers/iscsi.js';
import { type LoggedIn, type TestProduct, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { docShot, navTo, waitDiskStatus } from './ui.js';

const skip = missingTools([...ISCSI_TOOLS, CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';

describe('web UI in chromium', { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build:web)');
    tp = await startTestProduct(41, withAuth({ adminPassword: ADMIN_PASSWORD }));
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('asks for a login, refuses a wrong password with the server message, then logs in', async () => {
    await page.goto(`${tp.product.url}/disks`);
    // Not logged in: the login page, remembering where the user wanted to go.
    await page.getByTestId('login-form').waitFor();
    assert.match(page.url(), /\/login\?next=%2Fdisks$/);
    await page.getByLabel('User name').fill('admin');
    await page.getByLabel('Password').fill('not-the-password');
    await page.getByTestId('login-submit').click();
    const err = page.getByTestId('login-error');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /wrong|invalid|incorrect/i);
    // The message takes the focus (read out at once), also when React renders it after the next frame.
    await page.waitForFunction(() => document.activeElement?.getAttribute('data-testid') === 'login-error', undefined, { timeout: 3000 });
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByTestId('login-submit').click();
    await page.getByRole('heading', { level: 1, name: 'Disks' }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/disks');
    assert.match((await page.getByTestId('current-user').textContent()) ?? '', /admin/);
  });

  it('adds a disk with automatic IPs and sees it turn started without reloading', async () => {
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('web1');
    await page.getByLabel('Size (GiB)').fill('10');
    await docShot(page, 'add-disk-form.png');
    await page.getByTestId('create-disk').click();
    await page.getByTestId('disk-status-00001').waitFor();
    await waitDiskStatus(page, '00001', 'started');
    // It is really served.
    assert.equal(await capacity(lunUrl('127.41.1.10', 'iqn.2016-05.io.portway.test:00001')), 10 * 1024 ** 3);
  });

  it('adds a disk with manual IPs', async () => {
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('db1');
    await page.getByLabel('Size (GiB)').fill('2');
    await page.getByTestId('field-activePaths').selectOption('2');
    // Two paths default to both subnets; this disk keeps both in subnet 1.
    assert.equal(await page.getByTestId('field-subnet-3').isChecked(), true);
    await page.getByTestId('field-subnet-1').check();
    await page.getByTestId('field-ipMode-manual').check();
    await page.getByLabel('Path 1 IP').fill('127.41.1.200');
    await page.getByLabel('Path 2 IP').fill('127.41.1.201');
    // Shared is the default; choosing spread says what it costs.
    assert.equal(await page.getByTestId('field-placement-shared').isChecked(), true);
    assert.equal(await page.getByTestId('placement-spread-warning').count(), 0);
    await page.getByTestId('field-placement-spread').check();
    assert.match((await page.getByTestId('placement-spread-warning').textContent()) ?? '', /reservations then hold per node/);
    await page.getByTestId('create-disk').click();
    await page.getByTestId('disk-row-00002').waitFor();
    await waitDiskStatus(page, '00002', 'started');
    assert.equal((await admin.api('GET', '/api/v1/disks/00002')).json.disk.placement, 'spread');
  });

  it("shows the server's message beside a wrong manual IP", async () => {
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('bad1');
    await page.getByLabel('Size (GiB)').fill('1');
    await page.getByTestId('field-activePaths').selectOption('1');
    await page.getByTestId('field-ipMode-manual').check();
    await page.getByLabel('Path 1 IP').fill('10.9.9.9');
    await page.getByTestId('create-disk').click();
    const err = page.getByTestId('error-path1');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /Path 1 IP 10\.9\.9\.9 is not a host address of 127\.41\.1\.0\/24/);
    // The field at fault is marked and has the focus.
    assert.equal(await page.getByLabel('Path 1 IP').getAttribute('aria-invalid'), 'true');
    await page.waitForFunction(() => (document.activeElement as HTMLInputElement | null)?.name === 'path1');
    await docShot(page, 'add-disk-error.png');
    // Same IP as a served path: its own message.
    await page.getByLabel('Path 1 IP').fill('127.41.1.200');
    await page.getByTestId('create-disk').click();
    await page.getByText('already used by another path').waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('add-disk-dialog').waitFor({ state: 'detached' });
    const list = await admin.api('GET', '/api/v1/disks');
    assert.deepEqual(
      list.json.disks.map((d: { name: string }) => d.name),
      ['web1', 'db1'],
    );
  });

  it("opens a disk's paths view from the path count, with each path's IP and node", async () => {
    await page.getByTestId('disk-paths-00002').click();
    await page.getByTestId('paths-dialog').waitFor();
    assert.equal(await page.getByTestId('path-ip-1').textContent(), '127.41.1.200');
    assert.equal(await page.getByTestId('path-ip-2').textContent(), '127.41.1.201');
    await page.waitForFunction(() => document.querySelector('[data-testid="path-node-1"]')?.textContent === 'node1');
    assert.equal(await page.getByTestId('path-state-2').getAttribute('data-status'), 'served');
    await page.keyboard.press('Escape');
    await page.getByTestId('paths-dialog').waitFor({ state: 'detached' });
    await docShot(page, 'disk-list.png', { blur: true });
  });

  it('edits a disk from the row menu (keyboard), with the server refusing a shrink beside the size', async () => {
    // Open the row's menu from the keyboard and pick Edit.
    await page.getByTestId('disk-menu-00002').focus();
    await page.keyboard.press('ArrowDown');
    await page.getByRole('menuitem', { name: 'Edit' }).waitFor();
    assert.equal(await page.evaluate(() => document.activeElement?.textContent), 'Edit');
    await page.keyboard.press('Enter');
    await page.getByTestId('edit-disk-form').waitFor();
    await page.getByTestId('edit-sizeGb').fill('1');
    await page.getByTestId('save-disk').click();
    const err = page.getByTestId('error-sizeGb');
    await err.waitFor();
    assert.match((await err.textContent()) ?? '', /can only grow/);
    await page.getByTestId('edit-sizeGb').fill('3');
    await page.getByTestId('edit-name').fill('db1-renamed');
    await page.getByTestId('edit-acl-iqn').check();
    await page.getByTestId('edit-iqn').fill('iqn.1993-08.org.debian:01:host1');
    await page.getByTestId('edit-placement-shared').check();
    await page.getByTestId('placement-change-note').waitFor();
    await page.getByTestId('save-disk').click();
    await page.getByTestId('edit-disk-dialog').waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelector('[data-testid="disk-row-00002"]')?.textContent?.includes('db1-renamed'));
    const d = (await admin.api('GET', '/api/v1/disks/00002')).json.disk;
    assert.equal(d.name, 'db1-renamed');
    assert.equal(d.sizeGb, 3);
    assert.equal(d.acl, 'iqn.1993-08.org.debian:01:host1');
    assert.equal(d.placement, 'shared');
  });

  it('stops and deletes a disk from its page, each after a confirmation', async () => {
    await page.getByTestId('disk-link-00002').click();
    await page.getByRole('heading', { level: 1, name: /db1-renamed/ }).waitFor();
    assert.equal(new URL(page.url()).pathname, '/disks/00002');
    await page.getByTestId('prop-acl').getByText('iqn.1993-08.org.debian:01:host1').waitFor();
    assert.match((await page.getByTestId('prop-placement').textContent()) ?? '', /^Shared/);
    // Delete is refused while the disk runs: the dialog says to stop it first.
    await page.getByTestId('detail-delete').click();
    await page.getByTestId('confirm-blocked').waitFor();
    assert.equal(await page.getByTestId('confirm-button').isDisabled(), true);
    await page.keyboard.press('Escape');
    await page.getByTestId('delete-dialog').waitFor({ state: 'detached' });

    await page.getByTestId('detail-stop').click();
    await page.getByTestId('stop-dialog').waitFor();
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('stop-dialog').waitFor({ state: 'detached' });
    await page.waitForFunction(() => document.querySelector('[data-testid="detail-status"]')?.getAttribute('data-status') === 'stopped', undefined, {
      timeout: 10_000,
    });
    // Stopped: Start is offered instead of Stop.
    await page.getByTestId('detail-start').waitFor();

    await page.getByTestId('detail-delete').click();
    await page.getByTestId('delete-dialog').waitFor();
    const confirm = page.getByTestId('confirm-button');
    assert.equal(await confirm.isDisabled(), true, 'the name must be typed first');
    await page.getByTestId('confirm-input').fill('db1-renamed');
    await confirm.click();
    // Back on the list; the disk is gone (live), and from the server too.
    await page.getByRole('heading', { level: 1, name: 'Disks' }).waitFor();
    await page.getByTestId('disk-row-00002').waitFor({ state: 'detached' });
    assert.equal((await admin.api('GET', '/api/v1/disks/00002')).status, 404);
    await page.getByTestId('notice').getByText('Disk 00002 “db1-renamed” deleted.').waitFor();
  });

  it('shows the dashboard: disks by status, paths served, nodes up, capacity from the storage backend', async () => {
    await navTo(page, 'dashboard');
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="tile-nodes"] .tile-value')?.textContent?.startsWith('1'));
    assert.match((await page.getByTestId('tile-disks').textContent()) ?? '', /Disks1/);
    assert.equal((await page.getByTestId('dash-status-started').textContent())?.replace(/\s/g, ''), 'started1');
    assert.match((await page.getByTestId('tile-paths').textContent()) ?? '', /2 of 2 served/);
    assert.match((await page.getByTestId('tile-nodes').textContent()) ?? '', /1 of 1 up/);
    // Capacity comes from GET /api/v1/cluster/usage (the image store's filesystem here).
    await page.waitForFunction(() => / used$/.test(document.querySelector('[data-testid="tile-capacity"] .tile-value')?.textContent ?? ''));
    await docShot(page, 'dashboard.png');
    // A status links to the filtered disk list.
    await page.getByTestId('dash-status-started').click();
    await page.getByRole('heading', { level: 1, name: 'Disks' }).waitFor();
    assert.equal(new URL(page.url()).search, '?status=started');
    assert.equal(await page.getByTestId('status-filter').inputValue(), 'started');
  });

  it('shows the node on the nodes page, up, with the paths it serves', async () => {
    await navTo(page, 'nodes');
    const row = page.getByTestId('node-row-node1');
    await row.waitFor();
    assert.equal(await page.getByTestId('node-state-node1').getAttribute('data-status'), 'up');
    assert.equal(await page.getByTestId('node-paths-node1').textContent(), '2');
    await page.getByTestId('drain-node1').waitFor();
  });
});
