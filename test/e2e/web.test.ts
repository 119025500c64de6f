/**
 * The web UI in real chromium against the real single-node product (embedded stores, real tgtd).
 * Screenshots of the disk list and the add-disk form go to docs/screenshots/ for the README.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { ISCSI_TOOLS, capacity, lunUrl } from '../helpers/iscsi.js';
import { type TestProduct, api, missingTools, startTestProduct } from '../helpers/product.js';

const skip = missingTools([...ISCSI_TOOLS, CHROMIUM]);
const SHOTS = join(import.meta.dirname, '..', '..', 'docs', 'screenshots');

describe('web UI in chromium', { skip }, () => {
  let tp: TestProduct;
  let browser: Browser;
  let page: Page;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build)');
    tp = await startTestProduct(41);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 800 } });
    await page.goto(tp.product.url);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('adds a disk with automatic IPs and sees it turn started without reloading', async () => {
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('web1');
    await page.getByLabel('Size (GB)').fill('10');
    await page.screenshot({ path: join(SHOTS, 'add-disk-form.png') });
    await page.getByTestId('create-disk').click();
    const status = page.getByTestId('disk-status-00001');
    await status.waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="disk-status-00001"]')?.getAttribute('data-status') === 'started', undefined, {
      timeout: 10_000,
    });
    assert.equal(await status.getAttribute('data-status'), 'started');
    // It is really served.
    assert.equal(await capacity(lunUrl('127.41.1.10', 'iqn.2016-05.io.portway.test:00001')), 10 * 1024 ** 3);
  });

  it('adds a disk with manual IPs', async () => {
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('db1');
    await page.getByLabel('Size (GB)').fill('2');
    await page.getByTestId('field-activePaths').selectOption('2');
    await page.getByTestId('field-ipMode-manual').check();
    await page.getByLabel('Path 1 IP').fill('127.41.1.200');
    await page.getByLabel('Path 2 IP').fill('127.41.1.201');
    await page.getByTestId('create-disk').click();
    await page.getByTestId('disk-row-00002').waitFor();
    await page.waitForFunction(() => document.querySelector('[data-testid="disk-status-00002"]')?.getAttribute('data-status') === 'started', undefined, {
      timeout: 10_000,
    });
  });

  it("shows the server's message beside a wrong manual IP", async () => {
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByLabel('Disk name').fill('bad1');
    await page.getByLabel('Size (GB)').fill('1');
    await page.getByTestId('field-activePaths').selectOption('1');
    await page.getByTestId('field-ipMode-manual').check();
    await page.getByLabel('Path 1 IP').fill('10.9.9.9');
    await page.getByTestId('create-disk').click();
    const err = page.getByTestId('error-path1');
    await err.waitFor();
    const text = await err.textContent();
    assert.match(text ?? '', /Path 1 IP 10\.9\.9\.9 is not a host address of 127\.41\.1\.0\/24/);
    await page.screenshot({ path: join(SHOTS, 'add-disk-error.png') });
    // Same IP as a served path: its own message.
    await page.getByLabel('Path 1 IP').fill('127.41.1.200');
    await page.getByTestId('create-disk').click();
    await page.getByText('already used by another path').waitFor();
    await page.keyboard.press('Escape');
    const list = await api(tp.product, 'GET', '/api/v1/disks');
    assert.deepEqual(list.json.disks.map((d: { name: string }) => d.name), ['web1', 'db1']);
  });

  it("opens a disk's paths view with each path's IP and node", async () => {
    await page.getByTestId('disk-paths-00002').click();
    await page.getByTestId('paths-dialog').waitFor();
    assert.equal(await page.getByTestId('path-ip-1').textContent(), '127.41.1.200');
    assert.equal(await page.getByTestId('path-ip-2').textContent(), '127.41.1.201');
    assert.equal(await page.getByTestId('path-node-1').textContent(), 'node1');
    await page.keyboard.press('Escape');
    await page.screenshot({ path: join(SHOTS, 'disk-list.png') });
  });
});
