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
import { waitFor } from '../helpers/wait.js';
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
    await page.getByLabel('Size (GiB)').fill('1');
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

  it('on a phone (390x844): the disk list as card rows with status and actions in sight, every page in the navigation, a dialog that fits', async () => {
    for (const [i, kind] of [
      { activePaths: 1, subnet: 1 },
      { activePaths: 2, subnet: 3 },
      { activePaths: 4, subnet: 3, placement: 'spread' },
    ].entries()) {
      const r = await admin.api('POST', '/api/v1/disks', { name: `phone-datastore-with-a-long-name-${i + 1}`, sizeGb: 10 * (i + 1), ...kind });
      assert.equal(r.status, 201, JSON.stringify(r.json));
    }
    const ctx = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    try {
      const phone = await ctx.newPage();
      await uiLogin(phone, tp.product.url, 'admin', ADMIN_PASSWORD);
      const inView = async (testId: string, what: string) => {
        const box = await phone.getByTestId(testId).boundingBox();
        assert.ok(box, `${what} is shown`);
        assert.ok(
          box.x >= 0 && box.y >= 0 && box.x + box.width <= 390 && box.y + box.height <= 844,
          `${what} inside the 390x844 viewport: ${JSON.stringify(box)}`,
        );
      };
      const pageWidth = () => phone.evaluate(() => document.documentElement.scrollWidth);
      // Every page is reachable from the navigation, without scrolling it sideways.
      for (const n of ['dashboard', 'disks', 'paths', 'nodes', 'users', 'tokens', 'audit', 'settings'] as const) await inView(`nav-${n}`, `the ${n} link`);
      for (const n of ['audit', 'settings', 'users', 'tokens', 'paths', 'nodes', 'dashboard', 'disks'] as const) {
        await navTo(phone, n);
        assert.ok((await pageWidth()) <= 390, `the ${n} page is no wider than the screen (${await pageWidth()} px)`);
      }
      const ids = ((await admin.api('GET', '/api/v1/disks')).json.disks as { id: string }[]).map((d) => d.id);
      for (const id of ids) {
        await phone.getByTestId(`disk-row-${id}`).waitFor();
        await phone.getByTestId(`disk-row-${id}`).scrollIntoViewIfNeeded();
        await inView(`disk-status-${id}`, `disk ${id}'s status`);
        await inView(`disk-menu-${id}`, `disk ${id}'s actions`);
        await inView(`disk-link-${id}`, `disk ${id}'s name`);
      }
      const last = ids[ids.length - 1] as string;
      await waitDiskStatus(phone, last, 'started');
      await phone.evaluate(() => window.scrollTo(0, 0));
      await docShot(phone, 'disk-list-phone.png', { blur: true });
      // The actions are usable: the menu opens in sight and stops the disk.
      await phone.getByTestId(`disk-row-${last}`).scrollIntoViewIfNeeded();
      await phone.getByTestId(`disk-menu-${last}`).click();
      const stop = phone.getByRole('menuitem', { name: 'Stop' });
      await stop.waitFor();
      const sb = await stop.boundingBox();
      assert.ok(sb && sb.x >= 0 && sb.x + sb.width <= 390, `the menu is in sight: ${JSON.stringify(sb)}`);
      await stop.click();
      await phone.getByTestId('confirm-button').click();
      await waitDiskStatus(phone, last, 'stopped');
      // The add-disk dialog fits, its buttons in sight.
      await phone.evaluate(() => window.scrollTo(0, 0));
      await phone.getByRole('button', { name: 'Add disk' }).click();
      await phone.getByTestId('add-disk-dialog').waitFor();
      await inView('add-disk-dialog', 'the add-disk dialog');
      await inView('create-disk', 'the create button');
      assert.ok((await pageWidth()) <= 390);
      await phone.keyboard.press('Escape');
    } finally {
      await ctx.close();
    }
  });

  it('lists every path in one table, searchable and filterable, and moves a selection (1280x800)', async () => {
    // The phone test stopped the last disk: started again, every path served.
    for (const d of (await admin.api('GET', '/api/v1/disks')).json.disks as { id: string; status: string }[])
      if (d.status === 'stopped') assert.equal((await admin.api('POST', `/api/v1/disks/${d.id}/start`)).status, 200);
    await waitFor(async () => ((await admin.api('GET', '/api/v1/paths')).json.paths as { state: string }[]).every((p) => p.state === 'served'), {
      what: 'every path served',
    });
    await navTo(page, 'paths');
    const all = (await admin.api('GET', '/api/v1/paths')).json.paths as { diskId: string; diskName: string; index: number; ip: string; node: string }[];
    const disks = (await admin.api('GET', '/api/v1/disks')).json.disks as { id: string; name: string; pathCount: number }[];
    assert.equal(
      all.length,
      disks.reduce((n, d) => n + d.pathCount, 0),
      'every path of every disk',
    );
    await page.getByTestId('all-paths').waitFor();
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid^="path-row-"]').length === n, all.length);
    // Search by a disk name: only its paths.
    const four = disks.find((d) => d.pathCount === 4) as { id: string; name: string };
    await page.getByTestId('paths-search').fill(four.name);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="path-row-"]').length === 4);
    // By an IP: one row.
    const one = all.find((p) => p.diskId === four.id && p.index === 3) as { ip: string };
    await page.getByTestId('paths-search').fill(one.ip);
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="path-row-"]').length === 1);
    await page.getByTestId(`path-row-${four.id}-3`).waitFor();
    // Filters: a node that holds none, then the state.
    await page.getByTestId('paths-search').fill('');
    await page.getByTestId('paths-node-filter').selectOption('-');
    await page.waitForFunction(() => document.querySelectorAll('[data-testid^="path-row-"]').length === 0);
    await page.getByTestId('paths-node-filter').selectOption('node1');
    await page.getByTestId('paths-state-filter').selectOption('served');
    await page.waitForFunction((n) => document.querySelectorAll('[data-testid^="path-row-"]').length === n, all.length);
    await docShot(page, 'paths-table.png', { blur: true });
    // Select two paths and move them to node1, which serves them: the server refuses each no-op, the page says so.
    await page.getByTestId(`path-select-${four.id}-1`).check();
    await page.getByTestId(`path-select-${four.id}-2`).check();
    await page.getByTestId('paths-selection').getByText('2 selected').waitFor();
    assert.deepEqual(await page.getByTestId('paths-move-to').locator('option').allTextContents(), ['node1']);
    await page.getByTestId('paths-move-selected').click();
    await page.getByTestId('notice').getByText('0 move(s) to node1 done, 2 already there.').waitFor();
    // The single move: the disk from a searchable list, only its paths, only other nodes (none here).
    await page.getByTestId('move-find').fill(four.name);
    await page.waitForFunction((id) => (document.querySelector('[data-testid="move-disk"]') as HTMLSelectElement | null)?.value === id, four.id);
    assert.equal(await page.getByTestId('move-index').locator('option').count(), 4, "only the disk's own paths");
    assert.equal(
      await page
        .getByTestId('move-to')
        .locator('option')
        .allTextContents()
        .then((o) => o.join()),
      'no other node can take it',
    );
    assert.equal(await page.getByTestId('move-submit').isDisabled(), true);
    // The audit log has the refused moves, by the disk's name.
    const audit = await admin.api('GET', `/api/v1/audit?q=${encodeURIComponent(four.name)}`);
    assert.ok(
      audit.json.entries.some(
        (e: { action: string; outcome: string; details: { code?: string } }) => e.action === 'path.move' && e.details.code === 'path_on_node_already',
      ),
    );
  });

  it('the add form: both subnets by default, rules as hints, every error at once without a request, the taken IP names its disk, automatic IPs previewed', async () => {
    await navTo(page, 'disks');
    await page.getByRole('button', { name: 'Add disk' }).click();
    await page.getByTestId('add-disk-form').waitFor();
    // Two paths: both subnets by default; the rules are shown before any error.
    assert.equal(await page.getByTestId('field-activePaths').inputValue(), '2');
    assert.equal(await page.getByTestId('field-subnet-3').isChecked(), true);
    await page.getByText('1 to 64 letters, digits, spaces, dots, dashes or underscores, starting with a letter or digit.').waitFor();
    // The preview: the IPs the server would pick, one per subnet.
    await page.waitForFunction(() =>
      /Automatic IPs now: 127\.118\.1\.\d+, 127\.118\.2\.\d+$/.test(document.querySelector('[data-testid="ip-preview"]')?.textContent ?? ''),
    );
    const shown = ((await page.getByTestId('ip-preview').textContent()) ?? '').replace('Automatic IPs now: ', '').split(', ');
    const api = await admin.api('GET', '/api/v1/disks/ip-preview?activePaths=2&subnet=3');
    assert.deepEqual(
      api.json.ips.map((x: { ip: string }) => x.ip),
      shown,
    );
    // Per-path subnet hints.
    await page.getByTestId('field-ipMode-manual').check();
    assert.equal(await page.getByTestId('hint-path1').textContent(), 'In subnet 1: 127.118.1.0/24');
    assert.equal(await page.getByTestId('hint-path2').textContent(), 'In subnet 2: 127.118.2.0/24');
    // Every fault at once, and no request to add a disk.
    const posts: string[] = [];
    const onRequest = (r: { method(): string; url(): string }) => {
      if (r.method() === 'POST') posts.push(r.url());
    };
    page.on('request', onRequest);
    await page.getByTestId('field-name').fill('-bad name');
    await page.getByTestId('field-sizeGb').fill('0');
    await page.getByTestId('field-path1').fill('127.118.2.50');
    await page.getByTestId('field-path2').fill('300.1.1.1');
    await page.getByTestId('field-auth-chap').check();
    await page.getByTestId('field-chap.user').fill('host1');
    await page.getByTestId('field-chap.password').fill('short');
    await page.getByTestId('create-disk').click();
    await page.getByTestId('error-name').waitFor();
    const errs: Record<string, string> = {};
    for (const f of ['name', 'sizeGb', 'path1', 'path2', 'chap.password']) errs[f] = (await page.getByTestId(`error-${f}`).textContent()) ?? '';
    assert.match(errs.name as string, /Disk name must be 1 to 64 letters/);
    assert.match(errs.sizeGb as string, /greater than 0/);
    assert.match(errs.path1 as string, /Path 1 IP 127\.118\.2\.50 is not a host address of 127\.118\.1\.0\/24/);
    assert.match(errs.path2 as string, /not a valid IPv4 address/);
    assert.match(errs['chap.password'] as string, /12 to 16 printable characters/);
    await docShot(page, 'add-disk-all-errors.png', { blur: true });
    page.off('request', onRequest);
    assert.deepEqual(posts, [], 'nothing was sent to the server');
    // Fixed, but path 1 is an IP another disk serves: the server names that disk.
    const taken = ((await admin.api('GET', '/api/v1/paths')).json.paths as { ip: string; diskId: string; diskName: string; index: number }[]).find((p) =>
      p.ip.startsWith('127.118.1.'),
    ) as { ip: string; diskId: string; diskName: string; index: number };
    await page.getByTestId('field-name').fill('form-ok');
    await page.getByTestId('field-sizeGb').fill('1');
    await page.getByTestId('field-path1').fill(taken.ip);
    await page.getByTestId('field-path2').fill('127.118.2.99');
    await page.getByTestId('field-auth-none').check();
    await page.getByTestId('create-disk').click();
    await page.getByTestId('error-path1').getByText(`path ${taken.index} of disk ${taken.diskId} "${taken.diskName}"`).waitFor();
    await page.keyboard.press('Escape');
    await page.getByTestId('add-disk-dialog').waitFor({ state: 'detached' });
  });
});
