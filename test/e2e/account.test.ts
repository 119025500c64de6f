/**
 * Users, roles, API tokens, the single path move and capacity in real chromium against the real
 * single-node product (embedded stores, real tgtd), logins on, at 1280x800 and at 390x844: your own row
 * offers no Delete and the API refuses it; a custom role edited in its dialog (built-in ones read-only);
 * a token created (secret shown once, copied, works), then revoked (refused from then on); the single
 * move offers only the chosen disk's paths and no node already serving them; capacity in GiB with the
 * overcommit warning. Runs against its own product (octet 143).
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { defaultWebDir } from '../../src/app/product.js';
import { CHROMIUM, launchChromium } from '../helpers/browser.js';
import { type LoggedIn, type TestProduct, bearerApi, login, missingTools, startTestProduct, withAuth } from '../helpers/product.js';
import { waitFor } from '../helpers/wait.js';
import { docShot, navTo, pageFetch, uiLogin } from './ui.js';

const skip = missingTools(['tgtd', 'tgtadm', CHROMIUM]);
const ADMIN_PASSWORD = 'Correct-Horse-42';
const GIB = 1024 ** 3;

const VIEWPORTS = [
  { tag: 'desk', width: 1280, height: 800, phone: false },
  { tag: 'phone', width: 390, height: 844, phone: true },
] as const;

describe('users, roles, tokens and the single move in chromium', { skip }, () => {
  let tp: TestProduct;
  let admin: LoggedIn;
  let browser: Browser;

  before(async () => {
    assert.ok(existsSync(join(defaultWebDir(), 'index.html')), 'the web UI is built (npm run build:web)');
    // tgtd control ports must stay below 32768: this octet's default base (20000 + octet * 100) would not.
    tp = await startTestProduct(143, { ...withAuth({ adminPassword: ADMIN_PASSWORD }), tgtControlPortBase: 30_700 });
    admin = await login(tp.product, 'admin', ADMIN_PASSWORD);
    browser = await launchChromium();
    const second = await admin.api('POST', '/api/v1/users', { name: 'root2', password: 'Second-Boss-77', role: 'admin' });
    assert.equal(second.status, 201, JSON.stringify(second.json));
  });
  after(async () => {
    await browser?.close();
    await tp?.cleanup();
  });

  async function open(vp: (typeof VIEWPORTS)[number]): Promise<{ ctx: BrowserContext; page: Page; inView: (testId: string, what: string) => Promise<void> }> {
    const ctx = await browser.newContext({ viewport: { width: vp.width, height: vp.height }, isMobile: vp.phone, hasTouch: vp.phone });
    await ctx.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: tp.product.url });
    const page = await ctx.newPage();
    await uiLogin(page, tp.product.url, 'admin', ADMIN_PASSWORD);
    const inView = async (testId: string, what: string) => {
      const el = page.getByTestId(testId);
      await el.scrollIntoViewIfNeeded();
      const box = await el.boundingBox();
      assert.ok(box, `${what} is shown`);
      assert.ok(
        box.x >= 0 && box.y >= 0 && box.x + box.width <= vp.width && box.y + box.height <= vp.height,
        `${what} inside the ${vp.width}x${vp.height} viewport: ${JSON.stringify(box)}`,
      );
    };
    return { ctx, page, inView };
  }

  for (const vp of VIEWPORTS) {
    it(`your own row offers no Delete, the API refuses it (self_delete); another admin's row does (${vp.width}x${vp.height})`, async () => {
      const { ctx, page, inView } = await open(vp);
      try {
        await navTo(page, 'users');
        await page.getByTestId('user-row-admin').waitFor();
        await page.getByTestId('user-row-root2').waitFor();
        assert.equal(await page.getByTestId('delete-user-admin').count(), 0, 'no Delete on your own row');
        await inView('delete-user-root2', "another user's Delete");
        await inView('edit-user-admin', 'your own Edit');
        const self = await pageFetch(page, 'DELETE', '/api/v1/users/admin');
        assert.equal(self.status, 409);
        assert.equal(self.json.code, 'self_delete');
        assert.match(self.json.message, /your own account/);
        assert.equal((await admin.api('GET', '/api/v1/users/admin')).status, 200, 'still there');
        if (!vp.phone) await docShot(page, 'users-roles.png', { blur: true });
      } finally {
        await ctx.close();
      }
    });

    it(`edits a custom role's permissions in its dialog; built-in roles are read-only (${vp.width}x${vp.height})`, async () => {
      const role = `helpdesk-${vp.tag}`;
      assert.equal((await admin.api('POST', '/api/v1/roles', { name: role, permissions: ['StartStopDisk'] })).status, 201);
      const { ctx, page, inView } = await open(vp);
      try {
        await navTo(page, 'users');
        await page.getByTestId(`role-row-${role}`).waitFor();
        for (const b of ['admin', 'operator', 'viewer']) {
          assert.equal(await page.getByTestId(`edit-role-${b}`).count(), 0, `no Edit on the built-in ${b}`);
          await page.getByTestId(`role-fixed-${b}`).waitFor();
        }
        await inView(`edit-role-${role}`, "the custom role's Edit");
        await page.getByTestId(`edit-role-${role}`).click();
        await page.getByTestId('edit-role-dialog').waitFor();
        assert.equal(await page.getByTestId('role-perm-StartStopDisk').isChecked(), true, 'the current permissions are ticked');
        assert.equal(await page.getByTestId('role-perm-AssignPaths').isChecked(), false);
        await page.getByTestId('role-perm-AssignPaths').check();
        await page.getByTestId('role-perm-StartStopDisk').uncheck();
        await inView('role-submit', 'the Save button');
        await page.getByTestId('role-submit').click();
        await page.getByTestId('edit-role-dialog').waitFor({ state: 'detached' });
        await page.getByTestId('notice').getByText(`Role ${role} saved.`).waitFor();
        await page.getByTestId(`role-row-${role}`).getByText('AssignPaths').waitFor();
        const roles = (await admin.api('GET', '/api/v1/roles')).json.roles as { name: string; permissions: string[] }[];
        assert.deepEqual(roles.find((r) => r.name === role)?.permissions, ['AssignPaths', 'ViewOnly']);
        // No permission ticked: the server's message beside the permissions, the role unchanged.
        await page.getByTestId(`edit-role-${role}`).click();
        await page.getByTestId('role-perm-AssignPaths').uncheck();
        await page.getByTestId('role-perm-ViewOnly').uncheck();
        await page.getByTestId('role-submit').click();
        await page
          .getByTestId('edit-role-dialog')
          .getByText(/non-empty list/)
          .waitFor();
        await page.keyboard.press('Escape');
        const audit = await admin.api('GET', `/api/v1/audit?q=${encodeURIComponent(role)}`);
        assert.ok(
          audit.json.entries.some((e: { action: string; outcome: string }) => e.action === 'role.update' && e.outcome === 'ok'),
          'the change is audited',
        );
      } finally {
        await ctx.close();
      }
    });

    it(`creates an API token (secret shown once, copied, working) and revokes it (${vp.width}x${vp.height})`, async () => {
      const name = `ci-${vp.tag}`;
      const { ctx, page, inView } = await open(vp);
      try {
        await inView('nav-tokens', 'the API tokens link');
        await navTo(page, 'tokens');
        await page.getByRole('heading', { level: 1, name: 'API tokens' }).waitFor();
        await page.getByTestId('create-token').click();
        await page.getByTestId('create-token-dialog').waitFor();
        // An empty name: the server's message beside the field.
        await page.getByTestId('token-submit').click();
        await page.getByTestId('error-token-name').waitFor();
        await page.getByTestId('token-name').fill(name);
        await page.getByTestId('token-submit').click();
        await page.getByTestId('token-created-dialog').waitFor();
        const secret = await page.getByTestId('token-secret').inputValue();
        assert.match(secret, /^pwt_/);
        await inView('token-copy', 'the Copy button');
        await page.getByTestId('token-copy').click();
        await page.getByTestId('token-copied').getByText('Copied to the clipboard.').waitFor();
        assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret);
        if (!vp.phone) await docShot(page, 'token-created.png', { blur: true });
        const me = await bearerApi(tp.product, secret, 'GET', '/api/v1/auth/me');
        assert.equal(me.status, 200);
        assert.equal(me.json.user.name, 'admin');
        await page.getByTestId('token-done').click();
        await page.getByTestId(`token-row-${name}`).waitFor();
        assert.equal(((await page.getByTestId('tokens-table').textContent()) ?? '').includes(secret), false, 'the list never shows the secret');
        // Revoke: after a confirmation, gone from the list and refused.
        await inView(`revoke-token-${name}`, 'Revoke');
        await page.getByTestId(`revoke-token-${name}`).click();
        await page.getByTestId('confirm-button').click();
        await page.getByTestId(`token-row-${name}`).waitFor({ state: 'detached' });
        await page.getByTestId('notice').getByText(`Token ${name} revoked.`).waitFor();
        assert.equal((await bearerApi(tp.product, secret, 'GET', '/api/v1/auth/me')).status, 401);
        const audit = (await admin.api('GET', '/api/v1/audit?q=token')).json.entries as { action: string; details: { name?: string } }[];
        assert.ok(audit.some((e) => e.action === 'token.create' && e.details.name === name));
        assert.ok(audit.some((e) => e.action === 'token.revoke' && e.details.name === name));
      } finally {
        await ctx.close();
      }
    });

    it(`the single move picks the disk from a searchable list, offers only its paths and no node serving it (${vp.width}x${vp.height})`, async () => {
      const name = `move-${vp.tag}`;
      const add = await admin.api('POST', '/api/v1/disks', { name, sizeGb: 1, activePaths: 2, subnet: 3, placement: 'spread' });
      assert.equal(add.status, 201, JSON.stringify(add.json));
      const id = add.json.disk.id as string;
      await waitFor(
        async () =>
          ((await admin.api('GET', '/api/v1/paths')).json.paths as { diskId: string; state: string }[]).filter((p) => p.diskId === id && p.state === 'served')
            .length === 2,
        { what: `both paths of ${name} served` },
      );
      const { ctx, page, inView } = await open(vp);
      try {
        await navTo(page, 'paths');
        await page.getByTestId('move-find').fill(name);
        await page.waitForFunction((i) => (document.querySelector('[data-testid="move-disk"]') as HTMLSelectElement | null)?.value === i, id);
        assert.deepEqual(
          (await page.getByTestId('move-disk').locator('option').allTextContents()).map((t) => t.trim()),
          [`${name} (${id})`],
          'only the disks matching the search',
        );
        const options = await page.getByTestId('move-index').locator('option').allTextContents();
        assert.equal(options.length, 2, "only the disk's own two paths");
        assert.ok(
          options.every((o) => o.includes('on node1')),
          'each with the node serving it',
        );
        assert.deepEqual(await page.getByTestId('move-to').locator('option').allTextContents(), ['no other node can take it'], 'never the node serving it');
        assert.equal(await page.getByTestId('move-submit').isDisabled(), true);
        await inView('move-submit', 'the Move button');
        // A search that matches nothing.
        await page.getByTestId('move-find').fill('no-such-disk-anywhere');
        await page.getByTestId('move-disk').getByText('no disk matches').waitFor({ state: 'attached' });
        // The no-op the form never offers, asked of the API: refused with its code, audited by the disk's name.
        const noop = await pageFetch(page, 'POST', `/api/v1/disks/${id}/paths/1/move`, { node: 'node1' });
        assert.equal(noop.status, 409);
        assert.equal(noop.json.code, 'path_on_node_already');
        assert.equal(noop.json.details.field, 'node');
        const audit = (await admin.api('GET', `/api/v1/audit?q=${name}`)).json.entries as { action: string; details: { code?: string } }[];
        assert.ok(audit.some((e) => e.action === 'path.move' && e.details.code === 'path_on_node_already'));
      } finally {
        await ctx.close();
      }
    });
  }

  it('capacity in GiB on the dashboard, with a warning past 200% of raw capacity (1280x800, 390x844)', async () => {
    const usage = (await admin.api('GET', '/api/v1/cluster/usage')).json as { totalBytes: number };
    assert.ok(usage.totalBytes > 0);
    const provisioned = () => admin.api('GET', '/api/v1/disks').then((r) => (r.json.disks as { sizeGb: number }[]).reduce((n, d) => n + d.sizeGb, 0));
    for (const vp of VIEWPORTS) {
      const { ctx, page } = await open(vp);
      try {
        await navTo(page, 'dashboard');
        await page
          .getByTestId('capacity-provisioned')
          .getByText(`${await provisioned()} GiB provisioned in`)
          .waitFor();
        assert.equal(await page.getByTestId('overcommit-warning').count(), 0, 'a few GiB on the whole filesystem: nothing to say');
        assert.equal(await page.getByTestId('overcommit-note').count(), 0);
      } finally {
        await ctx.close();
      }
    }
    // A thin disk of 2.5 times the raw capacity.
    const big = await admin.api('POST', '/api/v1/disks', { name: 'thin-huge', sizeGb: Math.ceil((2.5 * usage.totalBytes) / GIB), activePaths: 1, subnet: 1 });
    assert.equal(big.status, 201, JSON.stringify(big.json));
    try {
      for (const vp of VIEWPORTS) {
        const { ctx, page, inView } = await open(vp);
        try {
          await navTo(page, 'dashboard');
          await page
            .getByTestId('overcommit-warning')
            .getByText(/Heavily overcommitted\. Provisioned is 2\d\d% of the raw capacity \([\d.]+ GiB\)/)
            .waitFor();
          await inView('overcommit-warning', 'the overcommit warning');
          if (!vp.phone) await docShot(page, 'dashboard-overcommit.png', { blur: true });
        } finally {
          await ctx.close();
        }
      }
    } finally {
      const id = big.json.disk.id as string;
      assert.equal((await admin.api('POST', `/api/v1/disks/${id}/stop`, { force: true })).status, 200);
      await waitFor(async () => (await admin.api('GET', `/api/v1/disks/${id}`)).json.disk.status === 'stopped', { what: 'thin-huge stopped' });
      assert.equal((await admin.api('DELETE', `/api/v1/disks/${id}`)).status, 200);
    }
  });
});
