/**
 * Snapshots in the web UI (real chromium, logins on): a disk page lists snapshots; taking one where
 * snapshots are full copies (file images on this machine's ext4) says to stop the disk first; the
 * rollback dialog of a started disk offers to stop it and then rolls back; delete; a viewer sees the
 * list without actions; a snapshot schedule is set in the "Snapshot schedule" box (a bad keep refused
 * beside the field), its first run shows as the last result, paused; a viewer cannot edit it. Runs
 * against its own product (octet 123; the scheduler looks every 0.5 s).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type LoggedIn, type TestProduct, addBody, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { uiLogin } from './ui.js';

const skip = missingTools(['tgtd', 'tgtadm', CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';

describe('snapshots in the web UI (chromium)', { skip, timeout: 180_000 }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;
  let page: Page;
  let id: string;
  const status = async () => (await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.status as string;

  before(async () => {
    tp = await startTestProduct(123, withAuth({ adminPassword: ADMIN_PASSWORD }), { scheduler: { tickMs: 500 } });
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    const created = await admin.api('POST', '/api/v1/disks', addBody('snapui', { activePaths: 1 }));
    assert.equal(created.status, 201, JSON.stringify(created.json));
    id = created.json.disk.id;
    await waitFor(async () => ((await status()) === 'started' ? true : undefined), { what: 'started' });
    const viewer = await admin.api('POST', '/api/v1/users', { name: 'viewer1', password: 'Just-Looking-17', role: 'viewer' });
    assert.equal(viewer.status, 201);
    browser = await launchChromium();
    page = await (await browser.newContext({ viewport: { width: 1280, height: 900 } })).newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  it('take (stop first where snapshots are copies), roll back through the stop offer, delete', async () => {
    await page.goto(`${tp.product.url}/disks/${id}`);
    await page.getByTestId('snapshots-section').waitFor();
    const mode = (await admin.api('GET', `/api/v1/disks/${id}/snapshots`)).json.mode;
    await page.getByTestId('snapshot-mode').waitFor();
    if (mode === 'copy') {
      await page.getByTestId('snapshot-needs-stop').waitFor();
      assert.equal(await page.getByTestId('snapshot-create').isDisabled(), true);
      await page.getByTestId('detail-stop').click();
      await page.getByTestId('confirm-button').click();
      await waitFor(async () => ((await status()) === 'stopped' ? true : undefined), { what: 'stopped' });
      await page.getByTestId('snapshot-needs-stop').waitFor({ state: 'detached' });
    }
    // a bad name: the server's message beside the field
    await page.getByTestId('snapshot-name').fill('bad name');
    await page.getByTestId('snapshot-create').click();
    const err = await page.getByTestId('snapshot-create-error').textContent();
    assert.match(err ?? '', /1-64 letters/);
    await page.getByTestId('snapshot-name').fill('golden');
    await page.getByTestId('snapshot-create').click();
    await page.getByTestId('snapshot-row-golden').waitFor();

    // started disk: the rollback dialog offers to stop it first
    assert.equal((await admin.api('POST', `/api/v1/disks/${id}/start`)).status, 200);
    await waitFor(async () => ((await status()) === 'started' ? true : undefined), { what: 'started' });
    await page.getByTestId('detail-status').and(page.locator('[data-status="started"]')).waitFor();
    await page.getByTestId('snapshot-rollback-golden').click();
    await page.getByTestId('rollback-needs-stop').waitFor();
    await page.getByTestId('confirm-button').click();
    await waitFor(async () => ((await status()) === 'stopped' ? true : undefined), { what: 'stopped by the dialog' });
    // once stopped, the same dialog asks for the name and rolls back
    await page.getByTestId('confirm-input').fill('golden');
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('rollback-dialog').waitFor({ state: 'detached' });
    const audit = (await admin.api('GET', '/api/v1/audit?limit=20')).json;
    assert.ok(JSON.stringify(audit).includes('snapshot.rollback'), 'the rollback is audited');

    await page.getByTestId('snapshot-delete-golden').click();
    await page.getByTestId('confirm-button').click();
    await page.getByTestId('snapshot-row-golden').waitFor({ state: 'detached' });
    assert.deepEqual((await admin.api('GET', `/api/v1/disks/${id}/snapshots`)).json.snapshots, []);
  });

  it('clones a snapshot through the add-disk form into a new disk, which opens', async () => {
    if ((await status()) !== 'stopped') {
      assert.equal((await admin.api('POST', `/api/v1/disks/${id}/stop`)).status, 200);
      await waitFor(async () => ((await status()) === 'stopped' ? true : undefined), { what: 'stopped' });
    }
    assert.equal((await admin.api('POST', `/api/v1/disks/${id}/snapshots`, { name: 'base' })).status, 201);
    await page.goto(`${tp.product.url}/disks/${id}`);
    await page.getByTestId('snapshot-clone-base').click();
    const dialog = page.getByTestId('clone-dialog');
    await dialog.waitFor();
    await dialog.getByTestId('field-name').fill('from-base');
    await dialog.getByRole('button', { name: 'Create clone' }).click();
    await dialog.waitFor({ state: 'detached' });
    const disks = (await admin.api('GET', '/api/v1/disks')).json.disks as { id: string; name: string }[];
    const clone = disks.find((d) => d.name === 'from-base');
    assert.ok(clone, 'the clone is a disk');
    await page.waitForURL(new RegExp(`/disks/${clone.id}$`));
    assert.ok(JSON.stringify((await admin.api('GET', '/api/v1/audit?limit=20')).json).includes('snapshot.clone'), 'the clone is audited');
  });

  it('a viewer sees the snapshots without actions', async () => {
    assert.equal((await admin.api('POST', `/api/v1/disks/${id}/stop`)).status, 200);
    await waitFor(async () => ((await status()) === 'stopped' ? true : undefined), { what: 'stopped' });
    assert.equal((await admin.api('POST', `/api/v1/disks/${id}/snapshots`, { name: 'seen' })).status, 201);
    const ctx = await browser.newContext();
    try {
      const vp = await ctx.newPage();
      await uiLogin(vp, tp.product.url, 'viewer1', 'Just-Looking-17');
      await vp.goto(`${tp.product.url}/disks/${id}`);
      await vp.getByTestId('snapshot-row-seen').waitFor();
      assert.equal(await vp.getByTestId('snapshot-rollback-seen').count(), 0);
      assert.equal(await vp.getByTestId('snapshot-name').count(), 0);
      assert.equal(await vp.getByTestId('snapshot-clone-seen').count(), 0);
    } finally {
      await ctx.close();
    }
  });

  it('sets a snapshot schedule in the box; its first run shows; pause; a viewer cannot edit', async () => {
    if ((await status()) !== 'stopped') {
      assert.equal((await admin.api('POST', `/api/v1/disks/${id}/stop`)).status, 200);
      await waitFor(async () => ((await status()) === 'stopped' ? true : undefined), { what: 'stopped' });
    }
    await page.goto(`${tp.product.url}/disks/${id}`);
    const box = page.getByTestId('snapshot-schedule');
    await box.getByTestId('schedule-none').waitFor();
    await box.getByTestId('schedule-edit').click();
    await box.getByTestId('schedule-every-input').fill('2');
    await box.getByTestId('schedule-unit').selectOption('60');
    await box.getByTestId('schedule-keep-input').fill('0');
    await box.getByTestId('schedule-save').click();
    assert.match((await box.getByTestId('schedule-form-error').textContent()) ?? '', /keep/);
    await box.getByTestId('schedule-keep-input').fill('5');
    await box.getByTestId('schedule-save').click();
    await box.getByTestId('schedule-every').filter({ hasText: 'every 2 hours' }).waitFor();
    assert.match((await box.getByTestId('schedule-keep').textContent()) ?? '', /^5 automatic/);
    const set = (await admin.api('GET', `/api/v1/disks/${id}/snapshot-schedule`)).json;
    assert.equal(set.schedule.intervalMinutes, 120);
    assert.equal(set.schedule.keep, 5);
    assert.equal(set.schedule.createdBy, 'admin');
    // due at once: the first run's snapshot shows as the last result and in the list
    await box
      .getByTestId('schedule-last')
      .filter({ hasText: /took auto-\d{8}-\d{6}/ })
      .waitFor({ timeout: 40_000 });
    await page.locator('[data-testid^="snapshot-row-auto-"]').first().waitFor({ timeout: 20_000 });
    assert.match((await box.getByTestId('schedule-next').textContent()) ?? '', /run by node1/);
    await box.getByTestId('schedule-pause').click();
    await box.getByTestId('schedule-paused').waitFor();
    assert.equal((await admin.api('GET', `/api/v1/disks/${id}/snapshot-schedule`)).json.schedule.enabled, false);
    const audit = JSON.stringify((await admin.api('GET', '/api/v1/audit?limit=30')).json);
    assert.ok(audit.includes('snapshot.schedule.set'), 'the change is audited');

    const ctx = await browser.newContext();
    try {
      const vp = await ctx.newPage();
      await uiLogin(vp, tp.product.url, 'viewer1', 'Just-Looking-17');
      await vp.goto(`${tp.product.url}/disks/${id}`);
      await vp.getByTestId('schedule-every').waitFor();
      assert.equal(await vp.getByTestId('schedule-edit').count(), 0);
      assert.equal(await vp.getByTestId('schedule-pause').count(), 0);
    } finally {
      await ctx.close();
    }
  });
});
